"""Observation containers (`Photometry`, `Spectrum`) and catalog readers.

`Photometry` and `Spectrum` are immutable JAX pytrees. Their array fields are leaves (so
``jax.vmap``, ``jax.jit`` and ``jax.tree_util`` see them); the filters, the flux unit and the
resolution unit are static metadata (not leaves), so a catalog with a leading object axis
can be mapped with ``jax.vmap(f)(catalog)`` while every object shares one `FilterSet`.

Missing or unusable values are masked, never dropped: every object of a catalog has the
same number of bands, and ``mask`` (True = use) says which ones count.

Readers (`read_photometry`, `read_spectrum`) work in NumPy at the boundary: they check the
whole input (columns, units, counts, file) before converting anything, and then turn bad
values in single rows into masked entries recorded in ``bad_input`` instead of raising, so
that a catalog fitter never stops on one bad row.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import GetAttrKey, register_pytree_with_keys_class
from jax.typing import ArrayLike

from ._units import C_AA_PER_S, JY_CGS, MAGGIE_JY

__all__ = ["Photometry", "Spectrum", "read_photometry", "read_spectrum"]

#: Canonical flux units a `Spectrum` may carry.
_SPECTRUM_FLUX_UNITS = ("maggies", "erg/s/cm2/AA")
#: Conventions for `Spectrum.resolution`.
_RESOLUTION_UNITS = ("R", "sigma_kms")
#: FWHM = 2 sqrt(2 ln 2) sigma for a Gaussian line-spread function.
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_C_KMS = C_AA_PER_S * 1e-13
_MAX_LISTED = 5


# ----------------------------------------------------------------------------- helpers


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _float_leaf(x: Any, name: str) -> Any:
    """A float JAX array (or the tracer unchanged); integers are promoted to float."""
    if _is_tracer(x):
        return x
    if x is None:
        raise TypeError(f"{name} is required, got None.")
    try:
        arr = jnp.asarray(x)
    except TypeError as err:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}: {err}") from None
    if jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == jnp.bool_:
        arr = arr.astype(jnp.result_type(float))
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"{name} must be a real float array, got dtype {arr.dtype}.")
    return arr


def _bool_leaf(x: Any, name: str, shape: tuple[int, ...], default: bool) -> Any:
    if x is None:
        return jnp.full(shape, default, dtype=bool)
    if _is_tracer(x):
        return x
    arr = jnp.asarray(x)
    if arr.dtype != jnp.bool_:
        raise TypeError(
            f"{name} must be boolean (True = use for mask), got dtype {arr.dtype}; "
            f"pass {name}=np.asarray(values, dtype=bool)."
        )
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} like the fluxes, got {arr.shape}.")
    return arr


def _where_listing(bad: np.ndarray, labels: Sequence[str], axis_name: str) -> str:
    """'row 3, band 'f606w'; ...' for the first few True entries of ``bad`` (..., n)."""
    idx = np.argwhere(bad)
    parts = []
    for entry in idx[:_MAX_LISTED]:
        *rows, k = (int(i) for i in entry)
        where = f"{axis_name} {labels[k]!r}" if labels else f"{axis_name} {k}"
        if rows:
            where = f"row {rows[0] if len(rows) == 1 else tuple(rows)}, " + where
        parts.append(where)
    more = f" (and {len(idx) - _MAX_LISTED} more)" if len(idx) > _MAX_LISTED else ""
    return "; ".join(parts) + more


def _band_names_of(filters: Any) -> tuple[str, ...] | None:
    """Band names of a FilterSet-like object, or None when ``filters`` is not one."""
    try:
        from ._filters import FilterSet
    except ImportError:  # pragma: no cover - _filters always ships with sedcore
        FilterSet = ()  # noqa: N806
    if FilterSet and isinstance(filters, FilterSet):
        return tuple(str(n) for n in filters.names)
    return None


class _StaticFilters:
    """Hashable wrapper for the static `filters` field of a pytree's treedef.

    Two wrappers are equal when they hold the same band names and either both are name
    tuples or both hold the very same `FilterSet` object (FilterSets hold arrays, which
    have no usable ``==``). Reusing one FilterSet across a catalog keeps ``jit`` caches warm.
    """

    __slots__ = ("value", "names")

    def __init__(self, value: Any, names: tuple[str, ...]):
        self.value = value
        self.names = names

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _StaticFilters) or self.names != other.names:
            return False
        if isinstance(self.value, tuple) and isinstance(other.value, tuple):
            return True
        return self.value is other.value

    def __hash__(self) -> int:
        return hash(self.names)


def _normalise_filters(filters: Any, n_bands: int | None) -> tuple[Any, tuple[str, ...]]:
    names = _band_names_of(filters)
    if names is not None:
        value = filters
    elif isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence):
        raise TypeError(
            "filters must be a sedcore.FilterSet (from sedcore.load_filters) or a sequence "
            f"of band names, got {type(filters).__name__}."
        )
    else:
        if not all(isinstance(n, str) for n in filters):
            raise TypeError(
                "filters given as a sequence must hold band names (str); to load "
                "transmission curves use sedcore.load_filters first."
            )
        names = tuple(filters)
        value = names
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"band names must be unique, got duplicates {dup}.")
    if n_bands is not None and len(names) != n_bands:
        raise ValueError(
            f"filters has {len(names)} bands {names} but the fluxes have {n_bands} "
            "(last axis); give one filter per flux column, in the same order."
        )
    return value, names


def _redshift_leaf(redshift: Any, batch_shape: tuple[int, ...], dtype: Any) -> Any:
    """Redshift per object: NaN (unknown) when None, else broadcast to the batch shape."""
    if redshift is None:
        return jnp.full(batch_shape, jnp.nan, dtype=dtype)
    redshift = _float_leaf(redshift, "redshift")
    if _is_tracer(redshift):
        return redshift
    try:
        return jnp.broadcast_to(redshift, batch_shape)
    except ValueError:
        raise ValueError(
            f"redshift must be a scalar or have shape {batch_shape} (one per object), got "
            f"{tuple(redshift.shape)}."
        ) from None


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise AttributeError(
        f"{type(self).__name__} is immutable; use .replace({name}=...) to get a modified copy."
    )


# ----------------------------------------------------------------------------- Photometry


@register_pytree_with_keys_class
class Photometry:
    """Broad-band photometry of one object, or of a catalog with a leading object axis.

    Fluxes are f_nu in maggies (1 maggie = 3631 Jy, ``AB = -2.5 log10(flux)``). A catalog is
    the same type with shapes ``(n_obj, n_bands)``; bands not observed or unusable for an
    object are masked (``mask`` False), so shapes are static and never ragged. Negative
    fluxes are valid measurements of faint sources and are kept.

    Construction validates concrete values (not under tracing): shapes match, band count
    equals the number of filters, and where ``mask`` is True the flux is finite and the
    error finite and > 0. Values under a False mask are ignored (NaN allowed there).

    Args:
        flux_maggies: fluxes in maggies, shape ``(..., n_bands)``.
        flux_err_maggies: 1-sigma errors in maggies, same shape.
        filters: a `FilterSet` (one filter per band, same order) or a sequence of band
            names when no transmission curves are needed. Static metadata, not a leaf.
        mask: boolean, same shape; True = use the band. Default: all True.
        redshift: known (e.g. spectroscopic) redshift, shape ``batch_shape`` or scalar;
            NaN (or None) where unknown. Finite values must be > -1.
        id: optional integer object identifiers, shape ``batch_shape``. Kept as a NumPy
            int64 leaf; inside ``jit``/``vmap`` without float64 enabled JAX narrows it to
            int32, so carry large ids outside transformed code (``.replace(id=None)``).
        bad_input: boolean, same shape as the fluxes; True where the source value was
            unusable (NaN/inf flux, non-positive error) and was therefore masked. Set by
            the readers; default all False.

    Attributes:
        flux_maggies, flux_err_maggies, mask, redshift, id, bad_input: as above (redshift is
            always an array of shape ``batch_shape``, NaN where unknown).
        filters: the `FilterSet` or tuple of band names.

    Example:
        >>> obs = Photometry([1e-9, 2e-9], [1e-10, 2e-10], filters=("g", "r"))
        >>> obs.band_names, obs.batch_shape
        (('g', 'r'), ())
    """

    _LEAVES = ("flux_maggies", "flux_err_maggies", "mask", "redshift", "id", "bad_input")
    __slots__ = (*_LEAVES, "_filters")

    def __init__(
        self,
        flux_maggies: ArrayLike,
        flux_err_maggies: ArrayLike,
        *,
        filters: Any,
        mask: ArrayLike | None = None,
        redshift: ArrayLike | None = None,
        id: ArrayLike | None = None,  # noqa: A002 - the natural name for an object id
        bad_input: ArrayLike | None = None,
    ):
        flux = _float_leaf(flux_maggies, "flux_maggies")
        err = _float_leaf(flux_err_maggies, "flux_err_maggies")
        if flux.ndim < 1:
            raise ValueError(
                "flux_maggies must have shape (n_bands,) or (n_obj, n_bands), got a scalar; "
                "wrap a single band as [value]."
            )
        if err.shape != flux.shape:
            raise ValueError(
                f"flux_err_maggies must have the shape of flux_maggies {tuple(flux.shape)}, "
                f"got {tuple(err.shape)}."
            )
        shape = tuple(flux.shape)
        batch_shape = shape[:-1]
        filters_value, names = _normalise_filters(filters, shape[-1])
        mask = _bool_leaf(mask, "mask", shape, True)
        bad_input = _bool_leaf(bad_input, "bad_input", shape, False)

        redshift = _redshift_leaf(redshift, batch_shape, flux.dtype)

        if id is not None and not _is_tracer(id):
            id_arr = np.asarray(id)
            if id_arr.dtype.kind not in "iu":
                raise TypeError(
                    f"id must hold integers (they travel through jax transformations), got "
                    f"dtype {id_arr.dtype}; keep string identifiers in your table and use "
                    "the row index."
                )
            if id_arr.shape != batch_shape:
                raise ValueError(
                    f"id must have shape {batch_shape} (one per object), got {id_arr.shape}."
                )
            id = id_arr.astype(np.int64)

        for name, value in (
            ("flux_maggies", flux),
            ("flux_err_maggies", err),
            ("mask", mask),
            ("redshift", redshift),
            ("id", id),
            ("bad_input", bad_input),
        ):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_filters", _StaticFilters(filters_value, names))
        self._validate_values()

    __setattr__ = _frozen_setattr

    def _validate_values(self) -> None:
        leaves = (self.flux_maggies, self.flux_err_maggies, self.mask, self.redshift)
        if any(_is_tracer(x) for x in leaves):
            return
        mask = np.asarray(self.mask)
        flux = np.asarray(self.flux_maggies)
        err = np.asarray(self.flux_err_maggies)
        names = self.band_names
        bad_flux = mask & ~np.isfinite(flux)
        if bad_flux.any():
            raise ValueError(
                "flux_maggies is NaN or inf where mask is True at "
                f"{_where_listing(bad_flux, names, 'band')}; set mask False there "
                "(read_photometry does this for you)."
            )
        bad_err = mask & ~(np.isfinite(err) & (err > 0))
        if bad_err.any():
            raise ValueError(
                "flux_err_maggies must be finite and > 0 where mask is True; bad at "
                f"{_where_listing(bad_err, names, 'band')}. Set mask False there or fix the errors."
            )
        z = np.asarray(self.redshift)
        bad_z = ~np.isnan(z) & ~(np.isfinite(z) & (z > -1))
        if bad_z.any():
            rows = np.argwhere(np.atleast_1d(bad_z))[:_MAX_LISTED].ravel().tolist()
            raise ValueError(
                f"redshift must be > -1 or NaN (unknown); bad values at rows {rows}: "
                f"{np.atleast_1d(z)[np.atleast_1d(bad_z)][:_MAX_LISTED].tolist()}."
            )

    # -- pytree protocol
    def tree_flatten_with_keys(self):
        children = tuple((GetAttrKey(k), getattr(self, k)) for k in self._LEAVES)
        return children, self._filters

    @classmethod
    def tree_unflatten(cls, aux: _StaticFilters, children: Sequence[Any]) -> Photometry:
        obj = object.__new__(cls)
        for k, v in zip(cls._LEAVES, children):
            object.__setattr__(obj, k, v)
        object.__setattr__(obj, "_filters", aux)
        return obj

    # -- conveniences
    @property
    def filters(self) -> Any:
        """The `FilterSet`, or the tuple of band names when built from names only."""
        return self._filters.value

    @property
    def band_names(self) -> tuple[str, ...]:
        """Band names, in flux-column order."""
        return self._filters.names

    @property
    def n_bands(self) -> int:
        return len(self._filters.names)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Shape of the object axes: ``()`` for one object, ``(n_obj,)`` for a catalog."""
        return tuple(self.flux_maggies.shape[:-1])

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("len() of a single-object Photometry; it has no object axis.")
        return self.batch_shape[0]

    def __getitem__(self, index: Any) -> Photometry:
        """Rows of a catalog: ``cat[3]`` (one object), ``cat[10:20]``, ``cat[bool_array]``."""
        if not self.batch_shape:
            raise TypeError("cannot index a single-object Photometry; it has no object axis.")
        return jax.tree_util.tree_map(lambda x: x[index], self)

    def replace(self, **changes: Any) -> Photometry:
        """A validated copy with some fields replaced, e.g. ``obs.replace(mask=new_mask)``."""
        fields = {k: getattr(self, k) for k in self._LEAVES}
        fields["filters"] = self.filters
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(
                f"Photometry has no field(s) {sorted(unknown)}; fields are {sorted(fields)}."
            )
        fields.update(changes)
        return Photometry(
            fields.pop("flux_maggies"), fields.pop("flux_err_maggies"), **fields
        )

    def __repr__(self) -> str:
        if any(_is_tracer(x) for x in (self.mask, self.redshift)):
            return f"Photometry(batch_shape={self.batch_shape}, bands={self.band_names}, traced)"
        n_used = int(np.sum(np.asarray(self.mask)))
        n_bad = int(np.sum(np.asarray(self.bad_input)))
        n_z = int(np.sum(np.isfinite(np.asarray(self.redshift))))
        return (
            f"Photometry(batch_shape={self.batch_shape}, bands={self.band_names}, "
            f"used={n_used}/{int(np.prod(self.flux_maggies.shape))}, bad_input={n_bad}, "
            f"known_redshifts={n_z})"
        )


# ----------------------------------------------------------------------------- Spectrum


@register_pytree_with_keys_class
class Spectrum:
    """A spectrum of one object (or a batch on a leading axis, padded and masked).

    Args:
        wave_aa: observed-frame vacuum wavelengths in Angstrom, shape ``(..., n_pix)``,
            strictly increasing along the last axis.
        flux: flux density, same shape, in ``flux_unit``.
        flux_err: 1-sigma errors, same shape and unit; finite and > 0 where ``mask``.
        flux_unit: ``"maggies"`` (f_nu / 3631 Jy) or ``"erg/s/cm2/AA"`` (f_lambda). Static.
        mask: boolean, same shape; True = use the pixel. Default: all True.
        resolution: optional line-spread-function width, scalar or shape ``(..., n_pix)``:
            the resolving power ``R = lambda / FWHM`` when ``resolution_unit="R"``, or the
            Gaussian sigma in km/s when ``resolution_unit="sigma_kms"``. None = unknown.
        resolution_unit: ``"R"`` (default) or ``"sigma_kms"``. Static.
        redshift: known redshift (scalar or ``batch_shape``), NaN/None when unknown.

    Example:
        >>> spec = Spectrum([4000.0, 4001.0], [1e-17, 1.1e-17], [1e-18, 1e-18],
        ...                 flux_unit="erg/s/cm2/AA", resolution=2000.0)
    """

    __slots__ = ("wave_aa", "flux", "flux_err", "mask", "resolution", "redshift", "_meta")
    _LEAVES = ("wave_aa", "flux", "flux_err", "mask", "resolution", "redshift")

    def __init__(
        self,
        wave_aa: ArrayLike,
        flux: ArrayLike,
        flux_err: ArrayLike,
        *,
        flux_unit: str,
        mask: ArrayLike | None = None,
        resolution: ArrayLike | None = None,
        resolution_unit: str = "R",
        redshift: ArrayLike | None = None,
    ):
        if flux_unit not in _SPECTRUM_FLUX_UNITS:
            raise ValueError(
                f"flux_unit must be one of {_SPECTRUM_FLUX_UNITS}, got {flux_unit!r}; "
                "read_spectrum converts other astropy units for you."
            )
        if resolution_unit not in _RESOLUTION_UNITS:
            raise ValueError(
                f"resolution_unit must be one of {_RESOLUTION_UNITS}, got {resolution_unit!r}."
            )
        wave = _float_leaf(wave_aa, "wave_aa")
        flux = _float_leaf(flux, "flux")
        err = _float_leaf(flux_err, "flux_err")
        if wave.ndim < 1:
            raise ValueError("wave_aa must have shape (n_pix,) or (n_obj, n_pix), got a scalar.")
        shape = tuple(wave.shape)
        for name, arr in (("flux", flux), ("flux_err", err)):
            if tuple(arr.shape) != shape:
                raise ValueError(
                    f"{name} must have the shape of wave_aa {shape}, got {tuple(arr.shape)}."
                )
        mask = _bool_leaf(mask, "mask", shape, True)
        batch_shape = shape[:-1]
        if resolution is not None:
            resolution = _float_leaf(resolution, "resolution")
            if not _is_tracer(resolution):
                try:
                    jnp.broadcast_shapes(tuple(resolution.shape), shape)
                except ValueError:
                    raise ValueError(
                        f"resolution must be a scalar or broadcast to {shape}, got "
                        f"{tuple(resolution.shape)}."
                    ) from None
        redshift = _redshift_leaf(redshift, batch_shape, flux.dtype)
        for name, value in (
            ("wave_aa", wave),
            ("flux", flux),
            ("flux_err", err),
            ("mask", mask),
            ("resolution", resolution),
            ("redshift", redshift),
        ):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_meta", (flux_unit, resolution_unit))
        self._validate_values()

    __setattr__ = _frozen_setattr

    def _validate_values(self) -> None:
        leaves = (self.wave_aa, self.flux, self.flux_err, self.mask, self.resolution, self.redshift)
        if any(_is_tracer(x) for x in leaves):
            return
        wave = np.asarray(self.wave_aa)
        if not np.all(np.isfinite(wave)):
            bad = ~np.isfinite(wave)
            raise ValueError(
                f"wave_aa must be finite everywhere; bad at {_where_listing(bad, (), 'pixel')}."
            )
        if np.any(wave <= 0):
            raise ValueError(
                f"wave_aa must be > 0 (Angstrom); bad at {_where_listing(wave <= 0, (), 'pixel')}."
            )
        steps = np.diff(wave, axis=-1)
        if np.any(steps <= 0):
            bad = np.concatenate([np.zeros(wave.shape[:-1] + (1,), bool), steps <= 0], axis=-1)
            raise ValueError(
                "wave_aa must be strictly increasing along the last axis; not increasing at "
                f"{_where_listing(bad, (), 'pixel')}. Sort the spectrum (and drop duplicates) "
                "first."
            )
        mask = np.asarray(self.mask)
        flux = np.asarray(self.flux)
        err = np.asarray(self.flux_err)
        bad = mask & ~np.isfinite(flux)
        if bad.any():
            raise ValueError(
                f"flux is NaN or inf where mask is True at {_where_listing(bad, (), 'pixel')}; "
                "set mask False there."
            )
        bad = mask & ~(np.isfinite(err) & (err > 0))
        if bad.any():
            raise ValueError(
                "flux_err must be finite and > 0 where mask is True; bad at "
                f"{_where_listing(bad, (), 'pixel')}."
            )
        if self.resolution is not None:
            res = np.asarray(self.resolution)
            if np.any(~np.isnan(res) & ~(np.isfinite(res) & (res > 0))):
                raise ValueError("resolution must be > 0 or NaN (unknown); got values <= 0 or inf.")
        z = np.asarray(self.redshift)
        if np.any(~np.isnan(z) & ~(np.isfinite(z) & (z > -1))):
            raise ValueError("redshift must be > -1 or NaN (unknown).")

    def tree_flatten_with_keys(self):
        children = tuple((GetAttrKey(k), getattr(self, k)) for k in self._LEAVES)
        return children, self._meta

    @classmethod
    def tree_unflatten(cls, aux: tuple[str, str], children: Sequence[Any]) -> Spectrum:
        obj = object.__new__(cls)
        for k, v in zip(cls._LEAVES, children):
            object.__setattr__(obj, k, v)
        object.__setattr__(obj, "_meta", aux)
        return obj

    @property
    def flux_unit(self) -> str:
        """``"maggies"`` (f_nu) or ``"erg/s/cm2/AA"`` (f_lambda)."""
        return self._meta[0]

    @property
    def resolution_unit(self) -> str:
        """``"R"`` (lambda / FWHM) or ``"sigma_kms"`` (Gaussian sigma in km/s)."""
        return self._meta[1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.wave_aa.shape[:-1])

    @property
    def n_pix(self) -> int:
        return int(self.wave_aa.shape[-1])

    def resolution_sigma_kms(self) -> jnp.ndarray | None:
        """Line-spread-function Gaussian sigma in km/s: ``c / (R * 2 sqrt(2 ln 2))`` from R.

        Returns:
            Array broadcastable to ``wave_aa``, or None when the resolution is unknown.
        """
        if self.resolution is None:
            return None
        if self.resolution_unit == "sigma_kms":
            return self.resolution
        return _C_KMS / (self.resolution * _FWHM_PER_SIGMA)

    def to_maggies(self) -> Spectrum:
        """The same spectrum with f_nu in maggies (``f_nu = f_lambda lambda^2 / c``)."""
        if self.flux_unit == "maggies":
            return self
        factor = jnp.square(self.wave_aa) / C_AA_PER_S / (MAGGIE_JY * JY_CGS)
        return self.replace(
            flux=self.flux * factor, flux_err=self.flux_err * factor, flux_unit="maggies"
        )

    def replace(self, **changes: Any) -> Spectrum:
        """A validated copy with some fields replaced."""
        fields = {k: getattr(self, k) for k in self._LEAVES}
        fields["flux_unit"], fields["resolution_unit"] = self._meta
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(
                f"Spectrum has no field(s) {sorted(unknown)}; fields are {sorted(fields)}."
            )
        fields.update(changes)
        return Spectrum(fields.pop("wave_aa"), fields.pop("flux"), fields.pop("flux_err"), **fields)

    def __repr__(self) -> str:
        return (
            f"Spectrum(batch_shape={self.batch_shape}, n_pix={self.n_pix}, "
            f"flux_unit={self.flux_unit!r}, resolution_unit={self.resolution_unit!r})"
        )


# ----------------------------------------------------------------------------- table input


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"the input {type(source).__name__}"


def _read_table(source: Any, format: str | None):  # noqa: A002
    """An astropy Table from a Table, a structured array / dict, or a file path."""
    from astropy.table import Table

    if isinstance(source, Table):
        table = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"catalog file {str(path)!r} does not exist (or is not a file)."
            )
        fmt = _table_format(path, format)
        import warnings

        try:
            with warnings.catch_warnings():
                # astropy only warns about some truncated FITS files; make that an error.
                warnings.filterwarnings("error", message=".*truncated.*")
                kwargs = {"guess": False} if fmt.startswith("ascii") else {}
                table = Table.read(path, format=fmt, **kwargs)
        except Exception as err:  # any parser failure: name the file, keep the cause
            raise ValueError(
                f"could not read {str(path)!r} as {fmt!r} (is it truncated or in another "
                f"format? pass format=...): {type(err).__name__}: {err}"
            ) from err
    else:
        try:
            table = Table(source)
        except Exception as err:
            raise TypeError(
                "source must be an astropy Table, a path to a FITS/ECSV/ASCII file, or "
                f"something astropy.table.Table accepts; got {type(source).__name__} ({err})."
            ) from err
    if len(table) == 0:
        raise ValueError(f"{_source_name(source)} has no rows.")
    return table


def _table_format(path: Path, format: str | None) -> str:  # noqa: A002
    aliases = {"fits": "fits", "ecsv": "ascii.ecsv", "csv": "ascii.csv"}
    if format is not None:
        if format == "ascii":
            return _ascii_flavour(path)
        return aliases.get(format, format)
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".fits", ".fit", ".fts")):
        return "fits"
    if name.endswith(".ecsv"):
        return "ascii.ecsv"
    if name.endswith(".csv"):
        return "ascii.csv"
    return _ascii_flavour(path)


def _ascii_flavour(path: Path) -> str:
    """Whitespace table: header in a leading ``#`` comment line, or a plain first line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    commented = line.lstrip().startswith("#")
                    return "ascii.commented_header" if commented else "ascii.basic"
    except OSError as err:
        raise ValueError(f"could not read {str(path)!r}: {err}") from err
    raise ValueError(f"{str(path)!r} is empty.")


def _check_columns(table: Any, names: Sequence[str], role: str, source: Any) -> None:
    available = list(table.colnames)
    for name in names:
        if name in available:
            continue
        lower = {c.lower(): c for c in available}
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        if name.lower() in lower and lower[name.lower()] not in close:
            close.insert(0, lower[name.lower()])
        hint = f" Did you mean {close}?" if close else ""
        hint += _comment_header_hint(name, source)
        shown = available if len(available) <= 40 else available[:40] + ["..."]
        raise ValueError(
            f"{role} column {name!r} is not in {_source_name(source)}.{hint} "
            f"Available columns: {shown}."
        )


def _comment_header_hint(name: str, source: Any) -> str:
    """EAZY catalogs repeat the header in translated form (``# id F10 E10 ...``) on a second
    comment line; point there when the user asked for a name from that line."""
    if not isinstance(source, (str, os.PathLike)):
        return ""
    try:
        with open(source, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                if lineno > 50 or not line.lstrip().startswith("#"):
                    break
                if lineno > 1 and name in line.lstrip("# \t").split():
                    return (
                        f" {name!r} appears in comment line {lineno} of the file, but columns are "
                        "named from the first header line; use those names or translate=."
                    )
    except (OSError, UnicodeError):
        pass
    return ""


def _column_unit(col: Any):
    unit = getattr(col, "unit", None)
    if unit is None:
        return None
    import astropy.units as u

    unit = u.Unit(unit)
    if unit == u.dimensionless_unscaled:
        return None
    return unit


def _column_values(col: Any, name: str, source: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, missing, unparseable) of a table column, NumPy, no units."""
    missing = np.zeros(len(col), dtype=bool)
    m = getattr(col, "mask", None)
    if m is not None and m is not np.ma.nomask:
        missing |= np.asarray(m, dtype=bool)
    data = getattr(col, "unmasked", None)  # astropy Masked Quantity
    if data is None:
        data = np.ma.getdata(col)
    if hasattr(data, "value"):
        data = data.value
    data = np.asarray(data)
    if data.ndim != 1:
        raise ValueError(
            f"column {name!r} of {_source_name(source)} has shape {data.shape}; expected one "
            "value per row (multidimensional columns are not supported, split them first)."
        )
    unparseable = np.zeros(len(data), dtype=bool)
    if data.dtype.kind in "fiub":
        values = data.astype(np.float64)
    elif data.dtype.kind in "USO":
        values = np.full(len(data), np.nan)
        for i, item in enumerate(data):
            if missing[i]:
                continue
            try:
                values[i] = float(item.decode() if isinstance(item, bytes) else item)
            except (TypeError, ValueError):
                unparseable[i] = True
        if unparseable.sum() == (~missing).sum():
            raise ValueError(
                f"column {name!r} of {_source_name(source)} is not numeric (dtype {data.dtype}, "
                f"e.g. row 0 = {data[0]!r}); is it the right column?"
            )
    else:
        raise ValueError(
            f"column {name!r} of {_source_name(source)} has non-numeric dtype {data.dtype}."
        )
    return values, missing, unparseable


def _parse_unit(unit: Any, where: str):
    import astropy.units as u

    aliases = {
        "maggie": u.mgy, "maggies": u.mgy, "mgy": u.mgy,
        "nanomaggie": u.nmgy, "nanomaggies": u.nmgy, "nmgy": u.nmgy,
    }
    if isinstance(unit, str) and unit.strip().lower() in aliases:
        return aliases[unit.strip().lower()]
    try:
        return u.Unit(unit)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{where}: cannot interpret {unit!r} as an astropy unit ({err})."
        ) from None


def _maggies_per_unit(unit: Any, where: str) -> float:
    """Factor turning values in ``unit`` (an f_nu flux density or maggies) into maggies."""
    import astropy.units as u

    is_mag = getattr(unit, "physical_type", None) == "magnitude"
    if isinstance(unit, (u.LogUnit, u.MagUnit)) or is_mag:
        raise ValueError(
            f"{where}: unit {unit} is a magnitude, not a flux; convert magnitudes to maggies "
            "first (sedcore.ab_to_maggies, sedcore.magerr_to_maggies_err)."
        )
    try:
        return float(unit.to(u.mgy))
    except u.UnitConversionError:
        pass
    try:
        return float(unit.to(u.Jy)) / MAGGIE_JY
    except u.UnitConversionError:
        pass
    if unit.is_equivalent(u.erg / u.s / u.cm**2 / u.AA):
        raise ValueError(
            f"{where}: unit {unit} is f_lambda, which needs a wavelength to become f_nu; "
            "convert the column to an f_nu unit (Jy, uJy, nJy) or maggies first."
        )
    raise ValueError(
        f"{where}: unit {unit} is not a flux density; expected an f_nu unit (Jy, uJy, nJy, "
        "erg/s/cm2/Hz) or maggies."
    )


def _flux_factors(
    table: Any,
    columns: Sequence[str],
    units: Any,
    zero_point: Any,
    source: Any,
) -> list[float]:
    """Per-column factor from raw values to maggies; raises on any unit problem."""
    n = len(columns)

    def per_band(value: Any, what: str) -> list[Any]:
        if value is None or isinstance(value, (str, float, int)) or not isinstance(value, Sequence):
            return [value] * n
        if len(value) != n:
            raise ValueError(f"{what} has {len(value)} entries but there are {n} flux columns.")
        return list(value)

    unit_list = per_band(units, "units")
    zp_list = per_band(zero_point, "zero_point")
    factors = []
    for name, unit, zp in zip(columns, unit_list, zp_list):
        col_unit = _column_unit(table[name])
        where = f"column {name!r} of {_source_name(source)}"
        if zp is not None:
            if unit is not None:
                raise ValueError(
                    f"give either units= or zero_point= for {where}, not both "
                    f"(got units={unit!r}, zero_point={zp!r})."
                )
            if col_unit is not None:
                raise ValueError(
                    f"{where} carries unit {col_unit} but zero_point={zp!r} was also given; "
                    "drop zero_point to use the column's unit."
                )
            zp = float(zp)
            if not math.isfinite(zp):
                raise ValueError(f"zero_point must be finite, got {zp}.")
            factors.append(10.0 ** (-0.4 * zp))
        elif col_unit is not None:
            if unit is not None and _parse_unit(unit, where) != col_unit:
                raise ValueError(
                    f"unit mismatch: {where} carries unit {col_unit} but units={unit!r} was "
                    "given; drop units= to use the column's unit, or fix the column."
                )
            factors.append(_maggies_per_unit(col_unit, where))
        elif unit is not None:
            factors.append(_maggies_per_unit(_parse_unit(unit, where), where))
        else:
            raise ValueError(
                f"{where} has no unit; pass units= (e.g. astropy.units.uJy, 'maggies') or "
                "zero_point= (AB = zero_point - 2.5 log10(flux))."
            )
    return factors


def _parse_translate(translate: Any) -> tuple[list[str], list[str]]:
    """Flux and error column names from an EAZY-style translate file or mapping.

    Lines read ``column_name  F<n>`` (flux) or ``column_name  E<n>`` (error); others (e.g.
    ``z_spec z_spec``) are ignored. Bands come in the order of their F entries.
    """
    if isinstance(translate, Mapping):
        pairs = [(str(k), str(v)) for k, v in translate.items()]
        where = "translate mapping"
    else:
        path = Path(translate)
        if not path.is_file():
            raise FileNotFoundError(f"translate file {str(path)!r} does not exist.")
        where = f"translate file {str(path)!r}"
        pairs = []
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(
                    f"{where} line {lineno}: expected 'column_name target', got {line!r}."
                )
            pairs.append((parts[0], parts[1]))
    flux: dict[str, str] = {}
    err: dict[str, str] = {}
    for col, target in pairs:
        m = re.fullmatch(r"([FE])(\d+)", target)
        if m is None:
            continue
        kind, num = m.groups()
        book = flux if kind == "F" else err
        if num in book:
            raise ValueError(f"{where}: {target} is assigned twice ({book[num]!r} and {col!r}).")
        book[num] = col
    if not flux:
        raise ValueError(f"{where} maps no column to a flux target F<n>.")
    missing = [f"E{n}" for n in flux if n not in err]
    extra = [f"E{n}" for n in err if n not in flux]
    if missing or extra:
        raise ValueError(
            f"{where}: every flux F<n> needs its error E<n>; without a partner: {missing + extra}."
        )
    return [flux[n] for n in flux], [err[n] for n in flux]


def _object_ids(table: Any, name: str, source: Any) -> np.ndarray:
    col = table[name]
    data = np.asarray(np.ma.getdata(col))
    if data.dtype.kind in "iu":
        return data.astype(np.int64)
    if data.dtype.kind == "f" and np.all(np.isfinite(data)) and np.all(data == np.round(data)):
        return data.astype(np.int64)
    if data.dtype.kind in "US":
        try:
            return np.array([int(x) for x in data], dtype=np.int64)
        except ValueError:
            pass
    raise ValueError(
        f"id column {name!r} of {_source_name(source)} must hold integers, got dtype {data.dtype} "
        f"(e.g. {data[0]!r}); pass id_column=None and use the row index to join results back."
    )


def read_photometry(
    source: Any,
    *,
    filters: Any,
    flux_columns: Sequence[str] | None = None,
    error_columns: Sequence[str] | None = None,
    units: Any = None,
    zero_point: float | Sequence[float] | None = None,
    redshift_column: str | None = None,
    id_column: str | None = None,
    missing_below: float | None = None,
    translate: str | os.PathLike | Mapping[str, str] | None = None,
    format: str | None = None,  # noqa: A002 - astropy's name for it
) -> Photometry:
    """Read a photometric catalog into a `Photometry` with shapes ``(n_obj, n_bands)``.

    Whole-input problems raise before any conversion: unreadable or truncated file (named),
    missing columns (listing the available ones and close matches), mismatched numbers of
    flux, error and filter columns, missing or inconsistent units. Problems in single rows
    never raise: a NaN/inf or unparseable flux, or a NaN/inf/non-positive error, masks that
    band of that row and sets ``bad_input`` there; values below ``missing_below`` and masked
    table entries mean "not observed" and are masked without ``bad_input``. Negative fluxes
    are kept.

    Units, per column, in this order: ``zero_point`` (``maggies = flux * 10**(-0.4 zp)``,
    i.e. ``AB = zp - 2.5 log10(flux)``); else the column's own astropy unit (checked
    against ``units`` if both are given); else ``units``. f_nu units (Jy, uJy, nJy,
    erg/s/cm2/Hz) and maggies (``"maggies"``, ``"nanomaggies"``, ``u.mgy``) are accepted;
    f_lambda and magnitudes are errors.

    Args:
        source: astropy Table/QTable, a path to a FITS (``.fits``, ``.fits.gz``), ECSV,
            CSV or whitespace ASCII file (header as a leading ``#`` line, e.g. EAZY
            catalogs), or anything ``astropy.table.Table`` accepts.
        filters: a `FilterSet`, a sequence of filter specs for `sedcore.load_filters`
            (astro-sedpy names or two-column files), or None to keep band names only
            (the flux column names). One per flux column, same order.
        flux_columns: flux column names (one per band). Give these with
            ``error_columns``, or ``translate``.
        error_columns: 1-sigma error column names, same order and unit as the fluxes.
        units: astropy unit (or string) for columns without one; scalar or per band.
        zero_point: AB zero point of the flux columns; scalar or per band.
        redshift_column: optional column of known redshifts; values that are non-finite,
            negative (catalog sentinels such as -1 or -99) or masked become NaN (unknown).
        id_column: optional integer object-id column.
        missing_below: raw values (before unit conversion) of flux or error below this mean
            "not observed" (e.g. -90 for catalogs using -99).
        translate: EAZY-style translate file or mapping (``f_f300w F10``, ``e_f300w E10``)
            giving the flux/error columns instead of ``flux_columns``/``error_columns``.
        format: file format: ``"fits"``, ``"ecsv"``, ``"csv"``, ``"ascii"`` (whitespace) or
            any astropy ``Table.read`` format; inferred from the file name when None.

    Returns:
        `Photometry` with ``flux_maggies``, ``flux_err_maggies``, ``mask``, ``bad_input`` of
        shape ``(n_obj, n_bands)`` and ``redshift`` (NaN unknown), ``id`` of shape
        ``(n_obj,)``.

    Example:
        >>> cat = read_photometry("hdfn_fs99_eazy.cat", filters=filter_files,
        ...                       translate="zphot.translate", zero_point=25.0,
        ...                       redshift_column="z_spec", id_column="id", missing_below=-90)
    """
    # --- arguments that need no data
    if translate is not None:
        if flux_columns is not None or error_columns is not None:
            raise ValueError("give either translate= or flux_columns=/error_columns=, not both.")
        flux_columns, error_columns = _parse_translate(translate)
    if flux_columns is None or error_columns is None:
        raise ValueError(
            "give flux_columns= and error_columns= (lists of column names), or translate=."
        )
    for name, cols in (("flux_columns", flux_columns), ("error_columns", error_columns)):
        if isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
            raise TypeError(f"{name} must be a list of column names, got {cols!r}.")
    flux_columns, error_columns = list(flux_columns), list(error_columns)
    if len(flux_columns) != len(error_columns):
        raise ValueError(
            f"{len(flux_columns)} flux columns but {len(error_columns)} error columns; "
            "give one error column per flux column, in the same order."
        )
    if filters is not None and _band_names_of(filters) is None:
        if isinstance(filters, (str, bytes, os.PathLike)) or not isinstance(filters, Sequence):
            raise TypeError(
                "filters must be a FilterSet, a list of filter specs for load_filters, or None; "
                f"got {type(filters).__name__}."
            )
    if filters is not None and len(filters) != len(flux_columns):
        raise ValueError(
            f"{len(filters)} filters but {len(flux_columns)} flux columns; give one filter per "
            "flux column, in the same order."
        )
    if missing_below is not None and not math.isfinite(float(missing_below)):
        raise ValueError(f"missing_below must be a finite number, got {missing_below!r}.")

    # --- the table and every whole-input check
    table = _read_table(source, format)
    _check_columns(table, flux_columns, "flux", source)
    _check_columns(table, error_columns, "error", source)
    if redshift_column is not None:
        _check_columns(table, [redshift_column], "redshift", source)
    if id_column is not None:
        _check_columns(table, [id_column], "id", source)
    flux_factor = _flux_factors(table, flux_columns, units, zero_point, source)
    err_factor = _flux_factors(table, error_columns, units, zero_point, source)
    raw = [_column_values(table[c], c, source) for c in flux_columns]
    raw_err = [_column_values(table[c], c, source) for c in error_columns]
    ids = _object_ids(table, id_column, source) if id_column is not None else None

    if filters is None:
        filters = tuple(flux_columns)
    elif _band_names_of(filters) is None:
        from ._filters import load_filters

        filters = load_filters(list(filters))

    # --- conversion; per-row problems become masks
    flux = np.stack([v for v, _, _ in raw], axis=-1)
    err = np.stack([v for v, _, _ in raw_err], axis=-1)
    missing = np.stack([m for _, m, _ in raw], -1) | np.stack([m for _, m, _ in raw_err], -1)
    unparseable = np.stack([p for _, _, p in raw], -1) | np.stack([p for _, _, p in raw_err], -1)
    if missing_below is not None:
        with np.errstate(invalid="ignore"):
            missing |= (flux < missing_below) | (err < missing_below)
    with np.errstate(invalid="ignore"):
        unusable = unparseable | ~np.isfinite(flux) | ~np.isfinite(err) | ~(err > 0)
    bad_input = unusable & ~missing
    mask = ~missing & ~unusable
    # Masked entries keep their converted raw values (e.g. -99 * factor) for inspection.
    flux_maggies = flux * np.asarray(flux_factor)
    err_maggies = err * np.asarray(err_factor)

    redshift = None
    if redshift_column is not None:
        z, z_missing, _ = _column_values(table[redshift_column], redshift_column, source)
        with np.errstate(invalid="ignore"):
            unknown = z_missing | ~np.isfinite(z) | (z < 0)
        redshift = np.where(unknown, np.nan, z)

    return Photometry(
        flux_maggies,
        err_maggies,
        filters=filters,
        mask=mask,
        redshift=redshift,
        id=ids,
        bad_input=bad_input,
    )


def read_spectrum(
    source: Any,
    *,
    wave_column: str,
    flux_column: str,
    error_column: str,
    wave_unit: Any = None,
    flux_unit: Any = None,
    bad_pixel_column: str | None = None,
    resolution: float | str | None = None,
    resolution_unit: str = "R",
    redshift: float | None = None,
    format: str | None = None,  # noqa: A002
) -> Spectrum:
    """Read a one-dimensional spectrum from a table or file into a `Spectrum`.

    f_nu units (Jy, erg/s/cm2/Hz, maggies) become ``flux_unit="maggies"``; f_lambda units
    (e.g. ``1e-17 erg/s/cm2/AA``) become ``"erg/s/cm2/AA"``. Wavelengths must be vacuum
    (convert air wavelengths first) and strictly increasing. Pixels with NaN/inf flux,
    NaN/inf/non-positive error, masked table entries or a nonzero ``bad_pixel_column``
    are masked.

    Args:
        source: astropy Table, or path to a FITS/ECSV/CSV/whitespace-ASCII table.
        wave_column: wavelength column name.
        flux_column: flux-density column name.
        error_column: 1-sigma error column name (same unit as the flux).
        wave_unit: unit of the wavelength column if it carries none (e.g. ``u.AA``,
            ``u.um``, ``"nm"``).
        flux_unit: unit of the flux and error columns if they carry none.
        bad_pixel_column: optional column, nonzero = bad pixel (SDSS/JWST DQ convention).
        resolution: resolving power or sigma (see ``resolution_unit``): a number, a column
            name, or None (unknown).
        resolution_unit: ``"R"`` or ``"sigma_kms"``.
        redshift: known redshift, or None.
        format: file format as in `read_photometry`.

    Returns:
        `Spectrum` of shape ``(n_pix,)``.
    """
    import astropy.units as u

    if resolution_unit not in _RESOLUTION_UNITS:
        raise ValueError(
            f"resolution_unit must be one of {_RESOLUTION_UNITS}, got {resolution_unit!r}."
        )
    table = _read_table(source, format)
    needed = [wave_column, flux_column, error_column]
    if bad_pixel_column is not None:
        needed.append(bad_pixel_column)
    if isinstance(resolution, str):
        needed.append(resolution)
    _check_columns(table, needed, "spectrum", source)

    # wavelength unit
    where = f"column {wave_column!r} of {_source_name(source)}"
    w_unit = _column_unit(table[wave_column])
    if w_unit is not None and wave_unit is not None and _parse_unit(wave_unit, where) != w_unit:
        raise ValueError(
            f"unit mismatch: {where} carries unit {w_unit} but wave_unit={wave_unit!r} was given."
        )
    if w_unit is None:
        if wave_unit is None:
            raise ValueError(f"{where} has no unit; pass wave_unit= (e.g. astropy.units.AA).")
        w_unit = _parse_unit(wave_unit, where)
    if not w_unit.is_equivalent(u.AA):
        raise ValueError(
            f"{where}: unit {w_unit} is not a length; give wavelengths (e.g. Angstrom, um)."
        )
    wave_factor = float(w_unit.to(u.AA))

    # flux unit (flux and error must agree)
    kind = None
    factors = []
    for col in (flux_column, error_column):
        where = f"column {col!r} of {_source_name(source)}"
        c_unit = _column_unit(table[col])
        if c_unit is not None and flux_unit is not None and _parse_unit(flux_unit, where) != c_unit:
            raise ValueError(
                f"unit mismatch: {where} carries unit {c_unit} but flux_unit={flux_unit!r} "
                "was given."
            )
        if c_unit is None:
            if flux_unit is None:
                raise ValueError(
                    f"{where} has no unit; pass flux_unit= (e.g. '1e-17 erg/(s cm2 AA)', u.uJy)."
                )
            c_unit = _parse_unit(flux_unit, where)
        flam = u.erg / u.s / u.cm**2 / u.AA
        if c_unit.is_equivalent(flam):
            this_kind, factor = "erg/s/cm2/AA", float(c_unit.to(flam))
        else:
            this_kind, factor = "maggies", _maggies_per_unit(c_unit, where)
        if kind is not None and this_kind != kind:
            raise ValueError(f"flux and error columns must share a unit type; {where} is {c_unit}.")
        kind = this_kind
        factors.append(factor)

    wave, wave_missing, wave_bad = _column_values(table[wave_column], wave_column, source)
    flux, f_missing, f_bad = _column_values(table[flux_column], flux_column, source)
    err, e_missing, e_bad = _column_values(table[error_column], error_column, source)
    if np.any(wave_missing | wave_bad | ~np.isfinite(wave)):
        row = int(np.argmax(wave_missing | wave_bad | ~np.isfinite(wave)))
        raise ValueError(
            f"{_source_name(source)}: wavelength is missing or not finite at row {row}."
        )
    wave = wave * wave_factor
    steps = np.diff(wave)
    if np.any(steps <= 0):
        row = int(np.argmax(steps <= 0)) + 1
        raise ValueError(
            f"{_source_name(source)}: wavelengths must be strictly increasing; row {row} "
            f"({wave[row]} AA) does not exceed row {row - 1} ({wave[row - 1]} AA). Sort the "
            "table first."
        )
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(flux) & np.isfinite(err) & (err > 0)
        usable = ~(f_missing | f_bad | e_missing | e_bad) & finite
    if bad_pixel_column is not None:
        flags, f_miss, _ = _column_values(table[bad_pixel_column], bad_pixel_column, source)
        usable &= ~f_miss & (flags == 0)
    res = None
    if isinstance(resolution, str):
        res, r_missing, r_bad = _column_values(table[resolution], resolution, source)
        res = np.where(r_missing | r_bad, np.nan, res)
    elif resolution is not None:
        res = float(resolution)
    return Spectrum(
        wave,
        flux * factors[0],
        err * factors[1],
        flux_unit=kind,
        mask=usable,
        resolution=res,
        resolution_unit=resolution_unit,
        redshift=redshift,
    )
