"""Photometric filters and the projection of spectra onto them.

Convention (photon-counting detectors): the band-averaged flux density of a spectrum
``f_nu(lambda)`` through a filter with response ``T(lambda)`` (detector signal per
photon) is

    <f_nu> = int f_nu(lambda) T(lambda) dlambda / lambda  /  int T(lambda) dlambda / lambda,

so a flat ``f_nu`` returns that constant in every band and AB magnitudes follow as
``-2.5 log10(<f_nu> / 3631 Jy)``. Only the shape of ``T`` matters.

Two projection paths:

* `projection_matrix` builds, once and in numpy float64, the exact linear operator for a
  fixed wavelength grid (spectrum and filter curve both piecewise linear, integrated on
  the union of the two grids). Use it for catalogs of spectra on one grid.
* `project_fnu_redshifted` is jit-able and differentiable in the redshift: it evaluates
  the filters at ``wave_rest_aa * (1 + z)`` with ``jnp.interp`` and integrates with the
  trapezoid rule on the spectrum grid. It is the path for the synthesis engine, where
  ``z`` is a traced parameter.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, Union

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Filter",
    "FilterSet",
    "apply_projection",
    "load_filters",
    "project_fnu",
    "project_fnu_redshifted",
    "projection_matrix",
]

# Below this relative segment width h/lambda the log moments use their power series
# (the closed forms lose digits to cancellation there); 16 terms reach 0.05**17 ~ 1e-22.
_SERIES_BELOW = 0.05
_SERIES_TERMS = 16
# Gauss-Legendre order for the per-segment integral of T ln(lambda) / lambda; the
# integrand is smooth on each segment, so 8 nodes are exact to ~1e-12 even for a
# segment spanning a factor of two in wavelength.
_GL_ORDER = 8

_HIGHEST = jax.lax.Precision.HIGHEST

FilterSpec = Union[str, os.PathLike, "Filter"]


# --------------------------------------------------------------------------- helpers


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _is_concrete_float_array(x: Any) -> bool:
    """True for a concrete (not traced) floating-point numpy or JAX array."""
    if _is_tracer(x) or not isinstance(x, (np.ndarray, jax.Array)):
        return False
    return bool(np.issubdtype(x.dtype, np.floating))


def _require_concrete(x: Any, what: str, where: str) -> np.ndarray:
    """Return ``x`` as a float64 numpy array, or raise TypeError if it is traced."""
    if _is_tracer(x):
        raise TypeError(
            f"{where}: {what} is a JAX tracer, but this needs concrete values (it is "
            "computed once in numpy float64). Call it outside jax.jit/vmap/grad and pass "
            "the result in, e.g. build `matrix = projection_matrix(filters, wave_aa)` "
            "outside and use `apply_projection(matrix, fnu)` inside the jitted function."
        )
    return np.asarray(x, dtype=np.float64)


def _check_curve(
    wave: np.ndarray,
    trans: np.ndarray,
    *,
    what: str,
    row: Callable[[int], str],
) -> None:
    """Validate a filter curve; ``row(i)`` names sample ``i`` (e.g. a file line)."""
    if wave.ndim != 1 or trans.ndim != 1:
        raise ValueError(
            f"{what}: wave_aa and transmission must be 1-D, got shapes "
            f"{wave.shape} and {trans.shape}."
        )
    if wave.shape != trans.shape:
        raise ValueError(
            f"{what}: wave_aa and transmission must have the same length, got "
            f"{wave.shape[0]} and {trans.shape[0]}."
        )
    if wave.shape[0] < 2:
        raise ValueError(
            f"{what}: a filter curve needs at least 2 samples, got {wave.shape[0]}."
        )
    for values, label in ((wave, "wavelength"), (trans, "transmission")):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{what}, {row(i)}: {label} is {values[i]!r}; every sample must be "
                f"finite ({bad.size} non-finite {label} value(s) in total). Remove or "
                "fix those rows."
            )
    bad = np.flatnonzero(wave <= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{what}, {row(i)}: wavelength {wave[i]!r} is not positive; wavelengths "
            "must be in Angstrom, > 0."
        )
    step = np.diff(wave)
    bad = np.flatnonzero(step <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        kind = "duplicates" if step[i - 1] == 0 else "is smaller than"
        raise ValueError(
            f"{what}, {row(i)}: wavelength {wave[i]!r} {kind} the previous one "
            f"({wave[i - 1]!r}, {row(i - 1)}); wavelengths must be strictly increasing. "
            "Sort the rows and drop duplicated wavelengths."
        )
    bad = np.flatnonzero(trans < 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{what}, {row(i)}: transmission {trans[i]!r} is negative "
            f"({bad.size} negative value(s) in total); a photon-counting response must "
            "be >= 0. Clip the noise to 0 or drop those rows."
        )
    if not np.any(trans > 0):
        raise ValueError(
            f"{what}: the transmission is zero everywhere; a filter needs some "
            "non-zero response."
        )


def _log_moments(eps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``M_k = int_0^1 t^k eps / (1 + eps t) dt`` for k = 0, 1, 2 (eps > 0, float64).

    On a segment ``[a, a + h]`` with ``lambda = a + h t`` and ``eps = h / a``,
    ``dlambda / lambda = eps dt / (1 + eps t)``, so these are the exact weights for
    integrating a quadratic in ``t`` against ``1 / lambda``.
    """
    eps = np.asarray(eps, dtype=np.float64)
    small = eps < _SERIES_BELOW
    # Closed forms (fine away from 0): M0 = log1p(e), M1 = 1 - M0/e, M2 = 1/2 - M1/e.
    e_big = np.where(small, 1.0, eps)
    m0_big = np.log1p(e_big)
    m1_big = 1.0 - m0_big / e_big
    m2_big = 0.5 - m1_big / e_big
    # Series: eps/(1+eps t) = sum_n (-1)^n eps^(n+1) t^n  ->  M_k = sum_n c_n / (n+k+1).
    e_small = np.where(small, eps, 0.0)
    n = np.arange(_SERIES_TERMS)
    terms = (-1.0) ** n * e_small[..., None] ** (n + 1)
    m_small = [np.sum(terms / (n + k + 1), axis=-1) for k in range(3)]
    m0 = np.where(small, m_small[0], m0_big)
    m1 = np.where(small, m_small[1], m1_big)
    m2 = np.where(small, m_small[2], m2_big)
    return m0, m1, m2


def _support(wave: np.ndarray, trans: np.ndarray) -> tuple[float, float]:
    """Wavelength interval where the piecewise-linear transmission is non-zero."""
    nonzero = np.flatnonzero(trans > 0)
    first = max(int(nonzero[0]) - 1, 0)
    last = min(int(nonzero[-1]) + 1, wave.shape[0] - 1)
    return float(wave[first]), float(wave[last])


def _curve_integrals(wave: np.ndarray, trans: np.ndarray) -> dict[str, float]:
    """Exact integrals of a piecewise-linear ``T`` (float64 numpy).

    Returns ``lin = int T dl``, ``lam = int T l dl``, ``inv = int T / l dl`` and
    ``ln = int T ln(l) / l dl`` (the last by Gauss-Legendre per segment).
    """
    a, b = wave[:-1], wave[1:]
    ta, tb = trans[:-1], trans[1:]
    h, dt = b - a, tb - ta
    lin = np.sum(h * (ta + tb) / 2)
    lam = np.sum(h * (ta * a + (ta * h + dt * a) / 2 + dt * h / 3))
    m0, m1, _ = _log_moments(h / a)
    inv = np.sum(ta * m0 + dt * m1)
    x, w = np.polynomial.legendre.leggauss(_GL_ORDER)
    t = (x + 1) / 2
    lam_t = a[:, None] + h[:, None] * t
    t_t = ta[:, None] + dt[:, None] * t
    ln = np.sum(h[:, None] * (w / 2) * t_t * np.log(lam_t) / lam_t)
    return {"lin": float(lin), "lam": float(lam), "inv": float(inv), "ln": float(ln)}


def _pivot(ints: dict[str, float]) -> float:
    return float(np.sqrt(ints["lam"] / ints["inv"]))


def _effective(ints: dict[str, float]) -> float:
    return float(np.exp(ints["ln"] / ints["inv"]))


def _mean(ints: dict[str, float]) -> float:
    return ints["lam"] / ints["lin"]


# --------------------------------------------------------------------------- Filter


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Filter:
    """One photometric filter curve (a JAX pytree; ``name`` is static).

    Build one from arrays, or load many with `load_filters`. Values are checked when
    the arrays are concrete (not under ``jit``).

    Attributes:
        name: filter name (static pytree metadata).
        wave_aa: wavelengths of the samples, shape ``(n_samples,)``, vacuum Angstrom,
            strictly increasing, > 0.
        transmission: photon-counting response at ``wave_aa`` (detector signal per
            photon; any normalisation), shape ``(n_samples,)``, >= 0, not all zero.
            Linear between samples and zero outside ``[wave_aa[0], wave_aa[-1]]``.

    Example:
        >>> f = Filter("tophat", np.array([4000.0, 4001.0, 4999.0, 5000.0]),
        ...            np.array([0.0, 1.0, 1.0, 0.0]))
        >>> round(f.pivot_wave_aa, 1)
        4490.7
    """

    name: str = dataclasses.field(metadata={"static": True})
    wave_aa: Any
    transmission: Any

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(
                f"Filter name must be a non-empty str, got {self.name!r} "
                f"({type(self.name).__name__})."
            )
        for field in ("wave_aa", "transmission"):
            value = getattr(self, field)
            if isinstance(value, (list, tuple)) or (
                isinstance(value, np.ndarray) and not np.issubdtype(value.dtype, np.floating)
            ):
                object.__setattr__(self, field, np.asarray(value, dtype=np.float64))
        if _is_concrete_float_array(self.wave_aa) and _is_concrete_float_array(
            self.transmission
        ):
            _check_curve(
                np.asarray(self.wave_aa, dtype=np.float64),
                np.asarray(self.transmission, dtype=np.float64),
                what=f"filter {self.name!r}",
                row=lambda i: f"sample {i}",
            )

    def __repr__(self) -> str:
        if _is_concrete_float_array(self.wave_aa):
            w = np.asarray(self.wave_aa)
            return (
                f"Filter({self.name!r}, n_samples={w.shape[0]}, "
                f"wave_aa=[{w[0]:.6g} .. {w[-1]:.6g}])"
            )
        return f"Filter({self.name!r}, wave_aa={self.wave_aa!r})"

    def _integrals(self) -> dict[str, float]:
        where = f"Filter {self.name!r} property"
        return _curve_integrals(
            _require_concrete(self.wave_aa, "wave_aa", where),
            _require_concrete(self.transmission, "transmission", where),
        )

    @property
    def pivot_wave_aa(self) -> float:
        """Pivot wavelength in Angstrom, ``sqrt(int T l dl / int T / l dl)``.

        For photon-counting ``T`` this converts band-averaged ``f_nu`` and ``f_lambda``
        exactly (Tokunaga & Vacca 2005, PASP 117, 421). Exact for piecewise-linear ``T``.
        """
        return _pivot(self._integrals())

    @property
    def effective_wave_aa(self) -> float:
        """Effective wavelength in Angstrom, ``exp(int T ln(l) dl/l / int T dl/l)``.

        The log-mean wavelength of Schneider, Gunn & Hoessel (1983) used by SDSS
        (``wave_effective`` in astro-sedpy).
        """
        return _effective(self._integrals())

    @property
    def mean_wave_aa(self) -> float:
        """Mean wavelength in Angstrom, ``int T l dl / int T dl``."""
        return _mean(self._integrals())


# --------------------------------------------------------------------------- FilterSet


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class FilterSet:
    """Several filters padded to one length, usable inside ``jit``/``vmap``.

    Build with `FilterSet.from_filters` or `load_filters`. Filter ``i`` occupies
    ``wave_aa[i, :n_samples[i]]``; the padding repeats its last wavelength and has
    zero transmission, so ``jnp.interp(x, wave_aa[i], transmission[i], left=0,
    right=0)`` evaluates the filter correctly (except at exactly its last wavelength,
    a single point) and a trapezoid over the padded row equals one over the curve.

    Attributes:
        wave_aa: shape ``(n_filters, n_max)``, vacuum Angstrom.
        transmission: shape ``(n_filters, n_max)``, photon-counting response, >= 0.
        names: filter names, ``n_filters`` unique strings (static).
        n_samples: number of real samples of each filter (static).

    Example:
        >>> filters = load_filters(["sdss_g0", "sdss_r0"])
        >>> len(filters), filters.names
        (2, ('sdss_g0', 'sdss_r0'))
        >>> filters["sdss_r0"].name
        'sdss_r0'
    """

    wave_aa: Any
    transmission: Any
    names: tuple[str, ...] = dataclasses.field(metadata={"static": True})
    n_samples: tuple[int, ...] = dataclasses.field(metadata={"static": True})

    def __post_init__(self) -> None:
        if isinstance(self.names, str) or not all(isinstance(n, str) for n in self.names):
            raise TypeError(f"FilterSet names must be a sequence of str, got {self.names!r}.")
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "n_samples", tuple(int(n) for n in self.n_samples))
        if len(self.names) != len(self.n_samples):
            raise ValueError(
                f"FilterSet: got {len(self.names)} names but {len(self.n_samples)} "
                "n_samples entries; they must match (one per filter)."
            )
        duplicates = sorted({n for n in self.names if self.names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"FilterSet: duplicate filter name(s) {duplicates}; names must be unique. "
                "Pass distinct names, e.g. load_filters(specs, names=[...])."
            )
        if not (
            _is_concrete_float_array(self.wave_aa)
            and _is_concrete_float_array(self.transmission)
        ):
            return
        wave = np.asarray(self.wave_aa, dtype=np.float64)
        trans = np.asarray(self.transmission, dtype=np.float64)
        expected = (len(self.names),)
        if wave.ndim != 2 or wave.shape != trans.shape or wave.shape[:1] != expected:
            raise ValueError(
                f"FilterSet: wave_aa and transmission must both have shape (n_filters, "
                f"n_max) with n_filters={len(self.names)}, got {wave.shape} and "
                f"{trans.shape}."
            )
        for i, (name, n) in enumerate(zip(self.names, self.n_samples)):
            if not 2 <= n <= wave.shape[1]:
                raise ValueError(
                    f"FilterSet: n_samples[{i}] = {n} for filter {name!r} must be in "
                    f"[2, {wave.shape[1]}]."
                )
            _check_curve(
                wave[i, :n], trans[i, :n], what=f"filter {name!r}", row=lambda j: f"sample {j}"
            )
            if np.any(trans[i, n:] != 0):
                raise ValueError(
                    f"FilterSet: filter {name!r} has non-zero transmission in its padding "
                    f"(columns {n}..{wave.shape[1] - 1}); padding must be 0."
                )

    @classmethod
    def from_filters(cls, filters: Sequence[Filter]) -> FilterSet:
        """Pad a sequence of `Filter` to a common length.

        Args:
            filters: one or more `Filter` with unique names.

        Returns:
            A `FilterSet` with float64 numpy arrays of shape ``(n_filters, n_max)``.

        Raises:
            TypeError: an element is not a `Filter`, or its arrays are traced.
            ValueError: empty input or duplicate names.
        """
        filters = list(filters)
        if not filters:
            raise ValueError("FilterSet.from_filters: got no filters; pass at least one.")
        for i, f in enumerate(filters):
            if not isinstance(f, Filter):
                raise TypeError(
                    f"FilterSet.from_filters: element {i} is a {type(f).__name__}, "
                    "expected a Filter (use load_filters for names and files)."
                )
        waves = [
            _require_concrete(f.wave_aa, "wave_aa", f"FilterSet.from_filters({f.name!r})")
            for f in filters
        ]
        transs = [
            _require_concrete(f.transmission, "transmission", f"FilterSet.from_filters({f.name!r})")
            for f in filters
        ]
        n_max = max(w.shape[0] for w in waves)
        wave = np.empty((len(filters), n_max))
        trans = np.zeros((len(filters), n_max))
        for i, (w, t) in enumerate(zip(waves, transs)):
            wave[i, : w.shape[0]] = w
            wave[i, w.shape[0] :] = w[-1]
            trans[i, : t.shape[0]] = t
        return cls(
            wave_aa=wave,
            transmission=trans,
            names=tuple(f.name for f in filters),
            n_samples=tuple(w.shape[0] for w in waves),
        )

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[Filter]:
        return (self[i] for i in range(len(self)))

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, key: int | str) -> Filter:
        """The `Filter` at integer position ``key`` or with name ``key``."""
        if isinstance(key, str):
            if key not in self.names:
                close = difflib.get_close_matches(key, self.names, n=3)
                hint = f" Did you mean {close}?" if close else ""
                raise KeyError(f"no filter named {key!r} in this FilterSet {self.names}.{hint}")
            i = self.names.index(key)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(
                    f"filter index {i} out of range for a FilterSet of {len(self)} filters."
                )
            i %= len(self)
        else:
            raise TypeError(
                f"FilterSet index must be an int or a filter name (str), got "
                f"{type(key).__name__}."
            )
        n = self.n_samples[i]
        return Filter(self.names[i], self.wave_aa[i, :n], self.transmission[i, :n])

    def __repr__(self) -> str:
        return f"FilterSet(names={self.names!r})"

    def _property(self, fn: Callable[[dict[str, float]], float]) -> np.ndarray:
        return np.array([fn(f._integrals()) for f in self])

    @property
    def pivot_wave_aa(self) -> np.ndarray:
        """Pivot wavelengths, shape ``(n_filters,)``, Angstrom (see `Filter`)."""
        return self._property(_pivot)

    @property
    def effective_wave_aa(self) -> np.ndarray:
        """Effective (log-mean) wavelengths, shape ``(n_filters,)``, Angstrom."""
        return self._property(_effective)

    @property
    def mean_wave_aa(self) -> np.ndarray:
        """Mean wavelengths ``int T l dl / int T dl``, shape ``(n_filters,)``, Angstrom."""
        return self._property(_mean)


# --------------------------------------------------------------------------- loading


def _read_curve_file(path: Path) -> Filter:
    """Read a two-column text file (wavelength in Angstrom, transmission)."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(
            f"filter file {path} is not a text file (cannot decode it as UTF-8); expected "
            "two whitespace-separated columns: wavelength in Angstrom, transmission."
        ) from None
    except OSError as err:
        raise OSError(f"cannot read filter file {path}: {err.strerror or err}") from err
    lines, rows = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        parts = content.split()
        if len(parts) != 2:
            raise ValueError(
                f"filter file {path}, line {lineno}: expected 2 columns (wavelength in "
                f"Angstrom, transmission), found {len(parts)}: {line.strip()!r}. The file "
                "may be truncated or have extra columns (e.g. an index column); keep "
                "only wavelength and transmission."
            )
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise ValueError(
                f"filter file {path}, line {lineno}: cannot read two numbers from "
                f"{line.strip()!r}. Comment lines must start with '#'."
            ) from None
        lines.append(lineno)
    if len(rows) < 2:
        raise ValueError(
            f"filter file {path}: found {len(rows)} data row(s), need at least 2 "
            "(wavelength in Angstrom, transmission); is the file empty or truncated?"
        )
    data = np.array(rows, dtype=np.float64)
    _check_curve(
        data[:, 0], data[:, 1], what=f"filter file {path}", row=lambda i: f"line {lines[i]}"
    )
    return Filter(path.stem, data[:, 0], data[:, 1])


def _sedpy_names() -> list[str]:
    from sedpy import observate

    return list(observate.list_available_filters())


def _sedpy_filter(name: str) -> Filter:
    """A filter bundled with astro-sedpy, as sedpy cleans it.

    sedpy drops negative and non-finite samples of its bundled curves (measurement
    noise in e.g. ``sdss_r0`` and the VISTA curves), sorts them and trims long runs of
    zeros; we take the curve as sedpy serves it so magnitudes agree with sedpy.
    """
    from sedpy import observate

    f = observate.Filter(name)
    return Filter(
        name,
        np.array(f.wavelength, dtype=np.float64),
        np.array(f.transmission, dtype=np.float64),
    )


def _unknown_spec_error(spec: str, available: list[str]) -> ValueError:
    stem = Path(spec).stem if (os.sep in spec or "." in spec) else spec
    by_lower = {n.lower(): n for n in available}
    close = [by_lower[c] for c in difflib.get_close_matches(stem.lower(), list(by_lower), n=5)]
    hint = f" Close astro-sedpy names: {close}." if close else ""
    return ValueError(
        f"filter {spec!r} is neither an astro-sedpy filter name nor an existing file.{hint} "
        "All names: sedpy.observate.list_available_filters(); or give the path to a "
        "two-column text file (wavelength in Angstrom, transmission)."
    )


def load_filters(
    specs: FilterSpec | Sequence[FilterSpec], *, names: Sequence[str] | None = None
) -> FilterSet:
    """Load filters by astro-sedpy name, from text files, or from `Filter` objects.

    Each spec is resolved in this order: a `Filter` is used as is; a path to an
    existing file is read as two whitespace-separated columns (wavelength in vacuum
    Angstrom, photon-counting transmission; ``#`` starts a comment) and named after the
    file stem; any other string must be a filter bundled with astro-sedpy (e.g.
    ``"sdss_r0"``, ``"jwst_f150w"``, ``"wfc3_ir_f160w"``; see
    ``sedpy.observate.list_available_filters()``). sedpy's curves are taken as sedpy
    serves them (it drops negative and non-finite samples of its bundled curves); user
    files are checked strictly.

    Args:
        specs: one spec or a sequence of specs (str names, paths, or `Filter`).
        names: optional names replacing the default ones, one per spec.

    Returns:
        A `FilterSet` in the order of ``specs``.

    Raises:
        ValueError: unknown name (with close astro-sedpy names), unreadable or
            truncated file (file and line), non-increasing or duplicate wavelengths,
            negative, NaN or infinite values, all-zero transmission, duplicate names.
        TypeError: a spec of another type.

    Example:
        >>> filters = load_filters(["sdss_u0", "sdss_g0", "jwst_f150w"])
        >>> filters.names
        ('sdss_u0', 'sdss_g0', 'jwst_f150w')
    """
    if isinstance(specs, (str, os.PathLike, Filter)):
        specs = [specs]
    specs = list(specs)
    if not specs:
        raise ValueError("load_filters: got an empty list of filter specs; pass at least one.")
    if names is not None:
        if isinstance(names, str):
            raise TypeError(
                f"load_filters: names must be a sequence of str, got the single string "
                f"{names!r}; wrap it in a list."
            )
        names = list(names)
        if len(names) != len(specs):
            raise ValueError(
                f"load_filters: got {len(names)} names for {len(specs)} specs; give one "
                "name per spec."
            )
        for i, n in enumerate(names):
            if not isinstance(n, str) or not n:
                raise TypeError(f"load_filters: names[{i}] must be a non-empty str, got {n!r}.")
    available: list[str] | None = None
    filters = []
    for i, spec in enumerate(specs):
        if isinstance(spec, Filter):
            f = spec
        elif isinstance(spec, (str, os.PathLike)):
            path = Path(spec)
            if path.is_file():
                f = _read_curve_file(path)
            else:
                if available is None:
                    available = _sedpy_names()
                if isinstance(spec, str) and spec in available:
                    f = _sedpy_filter(spec)
                else:
                    raise _unknown_spec_error(os.fspath(spec), available)
        else:
            raise TypeError(
                f"load_filters: spec {i} is a {type(spec).__name__} ({spec!r}); expected an "
                "astro-sedpy filter name, a path to a two-column text file, or a Filter."
            )
        if names is not None:
            f = dataclasses.replace(f, name=names[i])
        filters.append(f)
    return FilterSet.from_filters(filters)


# --------------------------------------------------------------------------- projection


def _as_filterset(filters: Any, where: str) -> FilterSet:
    if isinstance(filters, Filter):
        return FilterSet.from_filters([filters])
    if not isinstance(filters, FilterSet):
        raise TypeError(
            f"{where}: filters must be a FilterSet or a Filter, got "
            f"{type(filters).__name__}; build one with load_filters([...])."
        )
    return filters


def _check_grid(wave: np.ndarray, argname: str, where: str) -> None:
    if wave.ndim != 1 or wave.shape[0] < 2:
        raise ValueError(
            f"{where}: {argname} must be 1-D with at least 2 wavelengths, got shape "
            f"{wave.shape}."
        )
    bad = np.flatnonzero(~np.isfinite(wave) | (wave <= 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{where}: {argname}[{i}] = {wave[i]!r}; wavelengths must be finite and > 0 "
            "(Angstrom)."
        )
    bad = np.flatnonzero(np.diff(wave) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            f"{where}: {argname} must be strictly increasing, but {argname}[{i}] = "
            f"{wave[i]!r} <= {argname}[{i - 1}] = {wave[i - 1]!r}."
        )


def _coverage_error(name: str, lo: float, hi: float, wave: np.ndarray, extra: str = "") -> str:
    return (
        f"the spectrum grid [{wave[0]:.6g}, {wave[-1]:.6g}] Angstrom{extra} does not "
        f"cover filter {name!r}, whose transmission is non-zero over "
        f"[{lo:.6g}, {hi:.6g}] Angstrom; extend the spectrum grid or drop the filter."
    )


def _projection_row(x: np.ndarray, t: np.ndarray, wave: np.ndarray, name: str) -> np.ndarray:
    """Exact weights of ``<f_nu>`` on the spectrum samples for one filter (float64).

    Both ``f_nu`` (on ``wave``) and ``T`` (on ``x``) are linear between their samples;
    on each interval of the union grid the integrand ``f T / lambda`` is a quadratic
    over ``lambda`` and is integrated exactly with `_log_moments`.
    """
    lo, hi = _support(x, t)
    if wave[0] > lo or wave[-1] < hi:
        raise ValueError("projection_matrix: " + _coverage_error(name, lo, hi, wave))
    pts = np.union1d(x[(x >= lo) & (x <= hi)], wave[(wave > lo) & (wave < hi)])
    a, b = pts[:-1], pts[1:]
    j = np.clip(np.searchsorted(wave, 0.5 * (a + b), side="right") - 1, 0, wave.shape[0] - 2)
    span = wave[j + 1] - wave[j]
    # u: hat function of node j+1 (linear in lambda); 1 - u is node j's.
    ua, ub = (a - wave[j]) / span, (b - wave[j]) / span
    ta, tb = np.interp(a, x, t), np.interp(b, x, t)
    m0, m1, m2 = _log_moments((b - a) / a)
    du, dt = ub - ua, tb - ta
    va, dv = 1.0 - ua, -du
    right = ua * ta * m0 + (ua * dt + du * ta) * m1 + du * dt * m2
    left = va * ta * m0 + (va * dt + dv * ta) * m1 + dv * dt * m2
    n = wave.shape[0]
    row = np.bincount(j, left, minlength=n) + np.bincount(j + 1, right, minlength=n)
    return row / row.sum()


def projection_matrix(filters: FilterSet | Filter, wave_aa: Any) -> jax.Array:
    """Exact linear operator from a sampled ``f_nu`` to band-averaged ``f_nu``.

    Row ``i`` holds the weights such that ``matrix[i] @ fnu`` is the photon-counting
    band average ``int f_nu T dl/l / int T dl/l`` through filter ``i``, where the
    spectrum is linear between its samples and the filter curve linear between its
    own; the integral is exact on the union of both grids, so the result is accurate
    whether the spectrum is finer or coarser than the filter curve. Each row sums to 1
    (to rounding), so a flat ``f_nu`` returns that constant (AB zero points exact).

    Built once in numpy float64 and returned in JAX's default float dtype. For many
    spectra on one grid, build it once and call `apply_projection` (``fnu @
    matrix.T``); inside ``jit`` pass the matrix in rather than rebuilding it.

    Args:
        filters: a `FilterSet` (or one `Filter`) with concrete arrays.
        wave_aa: spectrum wavelengths, shape ``(n_wave,)``, Angstrom, strictly
            increasing, concrete (not traced).

    Returns:
        Array of shape ``(n_filters, n_wave)``, dimensionless.

    Raises:
        TypeError: ``wave_aa`` or the filters are JAX tracers (call it outside jit).
        ValueError: bad grid, or a filter's non-zero transmission is not inside the
            grid (the message names the filter).

    Example:
        >>> filters = load_filters(["sdss_g0", "sdss_r0"])
        >>> wave_aa = np.geomspace(3000.0, 10000.0, 2000)
        >>> matrix = projection_matrix(filters, wave_aa)
        >>> matrix.shape
        (2, 2000)
    """
    where = "projection_matrix"
    filters = _as_filterset(filters, where)
    wave = _require_concrete(wave_aa, "wave_aa", where)
    _check_grid(wave, "wave_aa", where)
    fwave = _require_concrete(filters.wave_aa, "filters.wave_aa", where)
    ftrans = _require_concrete(filters.transmission, "filters.transmission", where)
    rows = [
        _projection_row(fwave[i, :n], ftrans[i, :n], wave, name)
        for i, (name, n) in enumerate(zip(filters.names, filters.n_samples))
    ]
    return jnp.asarray(np.stack(rows), dtype=jnp.result_type(float))


def apply_projection(matrix: Any, fnu: Any) -> jax.Array:
    """Band-averaged ``f_nu`` from a precomputed `projection_matrix`.

    Args:
        matrix: shape ``(n_filters, n_wave)`` from `projection_matrix`.
        fnu: flux density on the matrix's wavelength grid, shape ``(..., n_wave)``,
            any f_nu unit (maggies, Jy, erg/s/cm^2/Hz, L_sun/Hz). It must be finite
            everywhere, also outside the bands (``0 * nan`` is ``nan``).

    Returns:
        Band-averaged f_nu, shape ``(..., n_filters)``, same unit as ``fnu``.

    The matmul runs at full float32 precision (``Precision.HIGHEST``; accelerators
    would otherwise use reduced-precision passes worth ~1e-3 mag).

    Example:
        >>> filters = load_filters(["sdss_g0", "sdss_r0"])
        >>> wave_aa = np.geomspace(3000.0, 10000.0, 2000)
        >>> matrix = projection_matrix(filters, wave_aa)  # once
        >>> fnu_batch = jnp.ones((100, 2000))  # 100 spectra, e.g. in maggies
        >>> jax.jit(apply_projection)(matrix, fnu_batch).shape
        (100, 2)
    """
    matrix = jnp.asarray(matrix)
    fnu = jnp.asarray(fnu)
    if matrix.ndim != 2:
        raise ValueError(
            f"apply_projection: matrix must have shape (n_filters, n_wave), got {matrix.shape}."
        )
    if fnu.ndim < 1 or fnu.shape[-1] != matrix.shape[1]:
        raise ValueError(
            f"apply_projection: fnu must have shape (..., {matrix.shape[1]}) to match the "
            f"matrix's {matrix.shape[1]} wavelengths, got {fnu.shape}."
        )
    return jnp.matmul(fnu, matrix.T, precision=_HIGHEST)


def project_fnu(filters: FilterSet | Filter, wave_aa: Any, fnu: Any) -> jax.Array:
    """Band-averaged ``f_nu`` of spectra through filters (photon-counting convention).

    Builds `projection_matrix` and does one matmul. For many calls on the same grid
    build the matrix once and use `apply_projection(matrix, fnu)` (or ``fnu @
    matrix.T``); this function rebuilds it on every call (or every trace under jit,
    where ``wave_aa`` must be a concrete constant).

    Args:
        filters: a `FilterSet` (or one `Filter`).
        wave_aa: spectrum wavelengths, shape ``(n_wave,)``, Angstrom, concrete.
        fnu: flux density, shape ``(..., n_wave)``, any f_nu unit.

    Returns:
        Band-averaged f_nu, shape ``(..., n_filters)``, same unit as ``fnu``.

    Example:
        >>> filters = load_filters(["sdss_r0"])
        >>> wave_aa = np.geomspace(3000.0, 10000.0, 500)
        >>> project_fnu(filters, wave_aa, np.full(500, 3.0)).round(5)  # flat f_nu
        Array([3.], dtype=float32)
    """
    return apply_projection(projection_matrix(filters, wave_aa), fnu)


def project_fnu_redshifted(
    filters: FilterSet | Filter, wave_rest_aa: Any, fnu_obs: Any, z: Any
) -> jax.Array:
    """Band-averaged ``f_nu`` of a spectrum observed at redshift ``z`` (jit-able in z).

    The spectrum is sampled at observed wavelengths ``wave_rest_aa * (1 + z)``; the
    filters are evaluated there with ``jnp.interp`` and ``int f T dl/l`` is integrated
    with the trapezoid rule in ``ln(lambda)`` on the spectrum grid (the same rule
    normalises, so a flat ``f_nu`` is returned exactly). This assumes the spectrum grid
    resolves the filter curves (true for SSP grids of ~1e4 wavelengths, e.g. 13216
    points from 91 A to 1e6 A agree with `projection_matrix` to < 1e-4 mag); for a
    coarse spectrum use `projection_matrix`. Differentiable in ``fnu_obs`` and ``z``:
    the z-derivative is the exact derivative of the computed sum, which is piecewise
    smooth in z (kinks where a spectrum sample crosses a filter sample, and small jumps
    for a curve that ends at non-zero transmission); it follows the continuous-limit
    derivative to ~1e-4 for smooth curves and ~1% for measured curves sampled about as
    coarsely as the spectrum.

    Filters must lie inside the observed grid. This is checked, and a ValueError
    raised, when ``wave_rest_aa`` and ``z`` are concrete; under ``jit`` a filter is
    silently truncated to the grid (and one entirely outside it returns NaN).

    Args:
        filters: a `FilterSet` (or one `Filter`).
        wave_rest_aa: rest-frame wavelengths, shape ``(n_wave,)``, Angstrom, strictly
            increasing; may be traced.
        fnu_obs: observed-frame flux density at ``wave_rest_aa * (1 + z)``, shape
            ``(..., n_wave)``, any f_nu unit (redshifting of the flux itself is the
            caller's job).
        z: redshift, scalar, may be traced.

    Returns:
        Band-averaged f_nu, shape ``(..., n_filters)``, same unit as ``fnu_obs``.

    Example:
        >>> filters = load_filters(["jwst_f150w", "jwst_f444w"])
        >>> wave_rest_aa = jnp.geomspace(91.0, 1e6, 13216)
        >>> fnu_obs = jnp.ones(13216)  # maggies at wave_rest_aa * (1 + z)
        >>> phot = jax.jit(project_fnu_redshifted)(filters, wave_rest_aa, fnu_obs, 1.5)
        >>> dphot_dz = jax.jacfwd(project_fnu_redshifted, argnums=3)(
        ...     filters, wave_rest_aa, fnu_obs, 1.5)
    """
    where = "project_fnu_redshifted"
    filters = _as_filterset(filters, where)
    wave_rest = jnp.asarray(wave_rest_aa)
    fnu_obs = jnp.asarray(fnu_obs)
    z = jnp.asarray(z)
    if wave_rest.ndim != 1 or wave_rest.shape[0] < 2:
        raise ValueError(
            f"{where}: wave_rest_aa must be 1-D with at least 2 wavelengths, got shape "
            f"{wave_rest.shape}."
        )
    if fnu_obs.ndim < 1 or fnu_obs.shape[-1] != wave_rest.shape[0]:
        raise ValueError(
            f"{where}: fnu_obs must have shape (..., {wave_rest.shape[0]}) to match "
            f"wave_rest_aa, got {fnu_obs.shape}."
        )
    if z.ndim != 0:
        raise ValueError(
            f"{where}: z must be a scalar, got shape {z.shape}; batch over redshifts "
            "with jax.vmap."
        )
    if not (_is_tracer(wave_rest_aa) or _is_tracer(z) or _is_tracer(filters.wave_aa)):
        _check_redshift_coverage(filters, np.asarray(wave_rest_aa, np.float64), float(z))

    wave_obs = wave_rest * (1.0 + z)
    # Trapezoid weights in ln(lambda); d ln(lambda) is the same in both frames.
    dln = jnp.log(wave_rest[1:] / wave_rest[:-1])
    quad = 0.5 * (jnp.pad(dln, (0, 1)) + jnp.pad(dln, (1, 0)))
    trans = jax.vmap(lambda xp, fp: jnp.interp(wave_obs, xp, fp, left=0.0, right=0.0))(
        jnp.asarray(filters.wave_aa), jnp.asarray(filters.transmission)
    )
    weights = trans * quad
    norm = jnp.sum(weights, axis=-1)
    band = jnp.einsum("...w,fw->...f", fnu_obs, weights, precision=_HIGHEST)
    return band / norm


def _check_redshift_coverage(filters: FilterSet, wave_rest: np.ndarray, z: float) -> None:
    where = "project_fnu_redshifted"
    _check_grid(wave_rest, "wave_rest_aa", where)
    if not np.isfinite(z) or z <= -1:
        raise ValueError(f"{where}: z must be finite and > -1, got {z!r}.")
    wave_obs = wave_rest * (1.0 + z)
    fwave = np.asarray(filters.wave_aa, np.float64)
    ftrans = np.asarray(filters.transmission, np.float64)
    for i, (name, n) in enumerate(zip(filters.names, filters.n_samples)):
        lo, hi = _support(fwave[i, :n], ftrans[i, :n])
        if wave_obs[0] > lo or wave_obs[-1] < hi:
            raise ValueError(
                f"{where}: "
                + _coverage_error(name, lo, hi, wave_obs, extra=f" (observed, z={z:g})")
            )
