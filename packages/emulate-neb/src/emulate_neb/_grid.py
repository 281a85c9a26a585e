"""`NebularGrid`: nebular line and continuum luminosities on an (age, metallicity, log U) grid.

A photoionization grid (Cloudy runs, one per SSP age, gas metallicity and ionization
parameter, illuminated by the SSP of that age and metallicity) reduced to what the
synthesis engine and the emulator need, per unit stellar mass formed of the ionizing SSP.

HDF5 layout (``save_nebular_grid`` / ``read_nebular_grid``; bring your own grid by writing
this), root attributes ``format = "emulate_neb.NebularGrid"``, ``format_version = 1``,
``name`` (free text), ``z_sun`` (solar metallicity mass fraction that ``log_zsol`` refers
to), and datasets:

- ``log_age_yr`` (n_age,): log10 SSP age in yr, strictly increasing;
- ``log_zsol`` (n_met,): log10(Z / z_sun) of the gas (and of the ionizing SSP), strictly
  increasing;
- ``log_u`` (n_u,): log10 of the dimensionless ionization parameter U, strictly increasing;
- ``line_names`` (n_lines,): UTF-8 strings, unique (Cloudy labels for the built-in grid);
- ``line_wave_aa`` (n_lines,): rest-frame vacuum wavelength of each line, Angstrom;
- ``line_lum_lsun_per_msun`` (n_age, n_met, n_u, n_lines): line luminosity, L_sun per
  M_sun formed;
- ``wave_aa`` (n_wave,): rest-frame vacuum wavelengths of the continuum, Angstrom, strictly
  increasing;
- ``cont_lnu_lsun_per_hz_per_msun`` (n_age, n_met, n_u, n_wave): nebular continuum (no
  lines), L_sun/Hz per M_sun formed.

Every axis needs at least two nodes (interpolation is multilinear). Luminosities must be
finite and >= 0.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import sedcore

__all__ = ["NebularGrid", "save_nebular_grid", "read_nebular_grid", "normalize_line_name"]

_FORMAT = "emulate_neb.NebularGrid"
_FORMAT_VERSION = 1
_AXES = ("log_age_yr", "log_zsol", "log_u")
_ARRAYS = (
    "log_age_yr",
    "log_zsol",
    "log_u",
    "line_wave_aa",
    "line_lum_lsun_per_msun",
    "wave_aa",
    "cont_lnu_lsun_per_hz_per_msun",
)
_DATASETS = (*_ARRAYS, "line_names")


def normalize_line_name(name: str) -> str:
    """Canonical form of a line label: runs of whitespace collapsed to one space, stripped.

    Cloudy pads its labels ("H  1  6562.80A", "O  3  5006.84A"); the grid stores
    "H 1 6562.80A", "O 3 5006.84A", and lookups accept either spelling.
    """
    return " ".join(str(name).split())


@dataclasses.dataclass(frozen=True)
class NebularGrid:
    """Nebular emission grid (a JAX pytree; ``line_names``, ``name``, ``z_sun`` are static).

    Build with `NebularGrid.create` (validates) rather than the raw constructor. Table axes
    are ordered (age, metallicity, log U, line or wavelength).

    Attributes:
        log_age_yr: (n_age,) log10 SSP age in yr, strictly increasing.
        log_zsol: (n_met,) log10(Z / z_sun), strictly increasing.
        log_u: (n_u,) log10 ionization parameter, strictly increasing.
        line_wave_aa: (n_lines,) rest-frame vacuum wavelengths, Angstrom.
        line_lum_lsun_per_msun: (n_age, n_met, n_u, n_lines) line luminosities, L_sun per
            M_sun formed.
        wave_aa: (n_wave,) rest-frame vacuum wavelengths of the continuum, Angstrom.
        cont_lnu_lsun_per_hz_per_msun: (n_age, n_met, n_u, n_wave) nebular continuum,
            L_sun/Hz per M_sun formed.
        line_names: (n_lines,) tuple of unique labels (whitespace-normalised).
        name: label of the source.
        z_sun: solar metallicity (mass fraction) that ``log_zsol`` refers to.
    """

    log_age_yr: jax.Array
    log_zsol: jax.Array
    log_u: jax.Array
    line_wave_aa: jax.Array
    line_lum_lsun_per_msun: jax.Array
    wave_aa: jax.Array
    cont_lnu_lsun_per_hz_per_msun: jax.Array
    line_names: tuple[str, ...] = ()
    name: str = "nebular"
    z_sun: float = 0.02

    @property
    def n_age(self) -> int:
        return self.log_age_yr.shape[0]

    @property
    def n_met(self) -> int:
        return self.log_zsol.shape[0]

    @property
    def n_u(self) -> int:
        return self.log_u.shape[0]

    @property
    def n_lines(self) -> int:
        return self.line_wave_aa.shape[0]

    @property
    def n_wave(self) -> int:
        return self.wave_aa.shape[0]

    @classmethod
    def create(
        cls,
        log_age_yr,
        log_zsol,
        log_u,
        line_names,
        line_wave_aa,
        line_lum_lsun_per_msun,
        wave_aa,
        cont_lnu_lsun_per_hz_per_msun,
        *,
        name: str = "nebular",
        z_sun: float = 0.02,
        source: str = "NebularGrid",
    ) -> "NebularGrid":
        """Validate arrays and build a `NebularGrid` (arrays become JAX arrays).

        Args:
            log_age_yr, log_zsol, log_u, line_wave_aa, line_lum_lsun_per_msun, wave_aa,
                cont_lnu_lsun_per_hz_per_msun: see the class attributes for shapes and units.
            line_names: (n_lines,) sequence of unique labels (whitespace is normalised).
            name: label of the grid.
            z_sun: solar metallicity (mass fraction) for ``log_zsol``.
            source: where the arrays came from (a file name), used in error messages.

        Returns:
            The grid, with arrays in JAX's default float dtype.

        Raises:
            ValueError: naming the field and ``source`` for wrong shapes, axes with fewer
                than two nodes or not strictly increasing, NaN/inf, negative luminosities,
                non-positive wavelengths or duplicate line names.
        """
        arrays = {
            k: np.asarray(v, dtype=np.float64)
            for k, v in {
                "log_age_yr": log_age_yr,
                "log_zsol": log_zsol,
                "log_u": log_u,
                "line_wave_aa": line_wave_aa,
                "line_lum_lsun_per_msun": line_lum_lsun_per_msun,
                "wave_aa": wave_aa,
                "cont_lnu_lsun_per_hz_per_msun": cont_lnu_lsun_per_hz_per_msun,
            }.items()
        }
        for axis in (*_AXES, "wave_aa"):
            a = arrays[axis]
            if a.ndim != 1 or a.size < 2:
                raise ValueError(
                    f"{source}: {axis} must be a 1-d array with at least 2 nodes "
                    f"(interpolation is multilinear), got shape {a.shape}"
                )
            _check_finite(a, axis, source)
            if not np.all(np.diff(a) > 0):
                bad = int(np.flatnonzero(np.diff(a) <= 0)[0])
                raise ValueError(
                    f"{source}: {axis} must be strictly increasing; index {bad + 1} "
                    f"({a[bad + 1]!r}) does not exceed index {bad} ({a[bad]!r}). Sort the grid."
                )
        names = tuple(normalize_line_name(n) for n in line_names)
        lw = arrays["line_wave_aa"]
        if lw.ndim != 1 or lw.size != len(names):
            raise ValueError(
                f"{source}: line_wave_aa has shape {lw.shape}, expected ({len(names)},) "
                "(one wavelength per line name)"
            )
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"{source}: line_names must be unique; duplicated: {dup}")
        _check_finite(lw, "line_wave_aa", source)
        for key in ("line_wave_aa", "wave_aa"):
            if np.any(arrays[key] <= 0):
                idx = int(np.flatnonzero(arrays[key] <= 0)[0])
                raise ValueError(
                    f"{source}: {key} must be > 0 (vacuum Angstrom), got {arrays[key][idx]!r} "
                    f"at index {idx}"
                )
        n_axes = tuple(arrays[a].size for a in _AXES)
        expect = {
            "line_lum_lsun_per_msun": (*n_axes, len(names)),
            "cont_lnu_lsun_per_hz_per_msun": (*n_axes, arrays["wave_aa"].size),
        }
        for key, shape in expect.items():
            if arrays[key].shape != shape:
                raise ValueError(
                    f"{source}: {key} has shape {arrays[key].shape}, expected {shape} "
                    "(n_age, n_met, n_u, n_lines or n_wave) from the axes"
                )
            _check_finite(arrays[key], key, source)
            if np.any(arrays[key] < 0):
                idx = np.argwhere(arrays[key] < 0)[0].tolist()
                raise ValueError(
                    f"{source}: {key} is negative ({arrays[key][tuple(idx)]!r}) at index {idx}; "
                    "luminosities must be >= 0"
                )
        if not (0 < float(z_sun) < 1):
            raise ValueError(f"{source}: z_sun must be a mass fraction in (0, 1), got {z_sun}")
        dtype = jnp.result_type(float)
        return cls(
            **{k: jnp.asarray(v, dtype=dtype) for k, v in arrays.items()},
            line_names=names,
            name=str(name),
            z_sun=float(z_sun),
        )

    def line_index(self, name: str) -> int:
        """Index of a line by its label (any whitespace), e.g. ``"O 3 5006.84A"``.

        Raises:
            KeyError: naming the closest labels when ``name`` is not in the grid.
        """
        key = normalize_line_name(name)
        try:
            return self.line_names.index(key)
        except ValueError:
            close = difflib.get_close_matches(key, self.line_names, n=5, cutoff=0.5)
            raise KeyError(
                f"line {name!r} is not in grid {self.name!r}; closest labels: {close}. "
                "See grid.line_names for all of them."
            ) from None

    def select_lines(self, names) -> "NebularGrid":
        """A grid with only the named lines, in the order given (continuum unchanged).

        Fewer lines make the exact model cheaper when only some are needed.
        """
        idx = np.asarray([self.line_index(n) for n in names], dtype=int)
        if idx.size == 0 or len(set(idx.tolist())) != idx.size:
            raise ValueError(
                f"select_lines: names must be a non-empty list of distinct lines, got {list(names)}"
            )
        return dataclasses.replace(
            self,
            line_wave_aa=self.line_wave_aa[idx],
            line_lum_lsun_per_msun=self.line_lum_lsun_per_msun[..., idx],
            line_names=tuple(self.line_names[i] for i in idx),
        )

    def take_nodes(self, age_idx=None, met_idx=None, u_idx=None) -> "NebularGrid":
        """A sub-grid on a subset of the nodes (e.g. every other node, for held-out tests).

        Args:
            age_idx, met_idx, u_idx: integer indices to keep along each axis (``None``
                keeps all); each must select at least two increasing nodes.

        Returns:
            The sub-grid, validated like any other.
        """
        sel = []
        sizes = (self.n_age, self.n_met, self.n_u)
        for axis, idx, n in zip(_AXES, (age_idx, met_idx, u_idx), sizes):
            sel.append(np.arange(n) if idx is None else np.asarray(idx, dtype=int))
            if sel[-1].ndim != 1 or np.any((sel[-1] < 0) | (sel[-1] >= n)):
                raise ValueError(f"take_nodes: indices for {axis} must be 1-d within [0, {n})")
        mesh = np.ix_(*sel)
        return NebularGrid.create(
            np.asarray(self.log_age_yr)[sel[0]],
            np.asarray(self.log_zsol)[sel[1]],
            np.asarray(self.log_u)[sel[2]],
            self.line_names,
            np.asarray(self.line_wave_aa),
            np.asarray(self.line_lum_lsun_per_msun)[mesh],
            np.asarray(self.wave_aa),
            np.asarray(self.cont_lnu_lsun_per_hz_per_msun)[mesh],
            name=self.name,
            z_sun=self.z_sun,
            source=f"{self.name}.take_nodes",
        )

    def node_params(self) -> jax.Array:
        """(n_age * n_met * n_u, 3) array of (log_age_yr, log_zsol, log_u) per node.

        Rows are in C order, matching ``line_lum_lsun_per_msun.reshape(-1, n_lines)`` and
        ``cont_lnu_lsun_per_hz_per_msun.reshape(-1, n_wave)`` (training sets for emulators).
        """
        a, z, u = jnp.meshgrid(self.log_age_yr, self.log_zsol, self.log_u, indexing="ij")
        return jnp.stack([a.ravel(), z.ravel(), u.ravel()], axis=-1)


jax.tree_util.register_dataclass(
    NebularGrid, data_fields=list(_ARRAYS), meta_fields=["line_names", "name", "z_sun"]
)


def _check_finite(a: np.ndarray, key: str, source: str) -> None:
    if not np.all(np.isfinite(a)):
        idx = np.argwhere(~np.isfinite(a))[0].tolist()
        raise ValueError(
            f"{source}: {key} has a non-finite value ({a[tuple(idx)]!r}) at index {idx}"
        )


def save_nebular_grid(grid: NebularGrid, path: str | os.PathLike) -> Path:
    """Write ``grid`` to HDF5 (layout in the module docstring) atomically.

    The file is written under a temporary name in the same folder and renamed when
    complete, so a reader never sees a half-written grid.

    Args:
        grid: the grid.
        path: destination ``.h5`` file; parent folders are created.

    Returns:
        The path written.
    """
    import h5py

    if not isinstance(grid, NebularGrid):
        raise TypeError(f"save_nebular_grid: grid must be a NebularGrid, got {type(grid).__name__}")
    path = Path(path)
    with sedcore.atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        _write_grid(f, grid)
    return path


def _write_grid(f, grid: NebularGrid, extra_attrs: dict | None = None) -> None:
    import h5py

    f.attrs["format"] = _FORMAT
    f.attrs["format_version"] = _FORMAT_VERSION
    f.attrs["name"] = grid.name
    f.attrs["z_sun"] = grid.z_sun
    for key, value in (extra_attrs or {}).items():
        f.attrs[key] = value
    for key in _ARRAYS:
        f.create_dataset(key, data=np.asarray(getattr(grid, key), dtype=np.float64))
    f.create_dataset(
        "line_names",
        data=np.asarray(grid.line_names, dtype=object),
        dtype=h5py.string_dtype("utf-8"),
    )


def read_nebular_grid(path: str | os.PathLike) -> NebularGrid:
    """Read a `NebularGrid` from an HDF5 file in the layout of the module docstring.

    Args:
        path: the ``.h5`` file (written by `save_nebular_grid` or by your own code).

    Returns:
        The validated grid.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and the dataset if the file is not HDF5, is truncated,
            is not a NebularGrid, lacks a dataset, or has inconsistent shapes or bad values.
    """

    path = Path(path)
    with sedcore.open_hdf5(
        path, what="nebular grid file", hint="Write it with emulate_neb.save_nebular_grid."
    ) as f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != _FORMAT:
            raise ValueError(
                f"{path}: not an emulate-neb NebularGrid file (root attribute format={fmt!r}, "
                f"expected {_FORMAT!r}); see the HDF5 layout in the emulate-neb guide"
            )
        version = int(f.attrs.get("format_version", -1))
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"{path}: NebularGrid format_version {version}, this emulate-neb reads "
                f"{_FORMAT_VERSION}"
            )
        missing = [k for k in _DATASETS if k not in f]
        if missing:
            raise ValueError(
                f"{path}: missing dataset(s) {missing}; a NebularGrid file has {list(_DATASETS)}"
            )
        try:
            arrays = {k: f[k][()] for k in _ARRAYS}
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["line_names"][()]]
        except (OSError, KeyError) as err:
            raise ValueError(f"{path}: could not read datasets ({err}); file truncated?") from err
        name = f.attrs.get("name", path.stem)
        name = name.decode() if isinstance(name, bytes) else str(name)
        z_sun = float(f.attrs.get("z_sun", 0.02))
    return NebularGrid.create(
        arrays["log_age_yr"],
        arrays["log_zsol"],
        arrays["log_u"],
        names,
        arrays["line_wave_aa"],
        arrays["line_lum_lsun_per_msun"],
        arrays["wave_aa"],
        arrays["cont_lnu_lsun_per_hz_per_msun"],
        name=name,
        z_sun=z_sun,
        source=str(path),
    )
