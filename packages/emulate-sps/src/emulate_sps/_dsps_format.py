"""DSPS-format HDF5 SSP files: read into a `sedcore.SSPGrid`, write from one.

The format is the one ``dsps.data_loaders.load_ssp_templates`` reads (DSPS 0.4; Hearin et
al. 2023, MNRAS 521, 1741), four datasets:

- ``ssp_lgmet`` (n_met,): log10 Z, Z the absolute metal mass fraction;
- ``ssp_lg_age_gyr`` (n_age,): log10 of the SSP age in Gyr;
- ``ssp_wave`` (n_wave,): wavelength in Angstrom;
- ``ssp_flux`` (n_met, n_age, n_wave): L_nu in L_sun/Hz per M_sun formed.

DSPS files carry no surviving-mass fraction, which `sedcore.SSPGrid` needs (it turns mass
formed into stellar mass). Rule used here: the optional dataset ``ssp_surviving_frac``
(n_met, n_age), stellar mass per M_sun formed, is read when present (`write_dsps_hdf5`
always writes it; DSPS ignores extra datasets). Without it, `read_dsps_hdf5` raises a
`ValueError` unless the caller passes ``surviving_mass_frac`` explicitly. There is
deliberately no silent default: a fraction of 1 would overstate the stellar mass of an old
population by a factor of about 2, and a warning is easy to miss in a pipeline. Pass
``surviving_mass_frac=np.ones((n_met, n_age))`` to accept that knowingly.

Solar metallicity: ``log_zsol = ssp_lgmet - log10(z_sun)`` with ``z_sun`` from the argument,
else the file attribute ``z_sun`` (written by `write_dsps_hdf5`), else 0.02 (the sedcore
default; the grid records it, so absolute metallicities are never lost).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import sedcore
from numpy.typing import ArrayLike

from sedcore import SSPGrid

__all__ = ["read_dsps_hdf5", "write_dsps_hdf5", "DSPS_DATASETS"]

#: Datasets every DSPS-format file has.
DSPS_DATASETS = ("ssp_lgmet", "ssp_lg_age_gyr", "ssp_wave", "ssp_flux")
_SURVIVING = "ssp_surviving_frac"
_DEFAULT_Z_SUN = 0.02


def read_dsps_hdf5(
    path: str | os.PathLike,
    *,
    surviving_mass_frac: ArrayLike | None = None,
    z_sun: float | None = None,
    name: str | None = None,
) -> SSPGrid:
    """Read a DSPS-format HDF5 file into a `sedcore.SSPGrid`.

    Args:
        path: the ``.h5`` file.
        surviving_mass_frac: (n_met, n_age) stellar mass per M_sun formed. Required when the
            file has no ``ssp_surviving_frac`` dataset; overrides the dataset when given.
        z_sun: solar metal mass fraction for ``log_zsol``; default: the file attribute
            ``z_sun``, else 0.02.
        name: grid label; default: the file attribute ``name``, else the file stem.

    Returns:
        The grid, ``lnu_lsun_per_hz_per_msun`` (n_met, n_age, n_wave) = ``ssp_flux``,
        ``log_age_yr = ssp_lg_age_gyr + 9``, ``log_zsol = ssp_lgmet - log10(z_sun)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: naming the file and dataset, if the file is not HDF5, lacks a dataset,
            has inconsistent shapes or bad values, or has no surviving fraction and none is
            given.

    Example:
        >>> grid = read_dsps_hdf5("ssp_data_fsps_v3.2_lgmet_age.h5",
        ...                       surviving_mass_frac=frac)  # doctest: +SKIP
    """

    path = Path(path)
    with sedcore.open_hdf5(path, what="DSPS SSP file") as f:
        missing = [k for k in DSPS_DATASETS if k not in f]
        if missing:
            raise ValueError(
                f"{path}: missing DSPS dataset(s) {missing}; a DSPS SSP file has "
                f"{list(DSPS_DATASETS)} (found {sorted(f.keys())})."
            )
        try:
            data = {k: np.asarray(f[k][()], dtype=np.float64) for k in DSPS_DATASETS}
            stored_frac = (
                np.asarray(f[_SURVIVING][()], dtype=np.float64) if _SURVIVING in f else None
            )
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: could not read the datasets ({err}); truncated?") from err
        file_z_sun = f.attrs.get("z_sun")
        file_name = f.attrs.get("name")
    n_met, n_age, n_wave = (data[k].size for k in ("ssp_lgmet", "ssp_lg_age_gyr", "ssp_wave"))
    for key in ("ssp_lgmet", "ssp_lg_age_gyr", "ssp_wave"):
        if data[key].ndim != 1:
            raise ValueError(f"{path}: {key} must be 1-d, got shape {data[key].shape}")
    if data["ssp_flux"].shape != (n_met, n_age, n_wave):
        raise ValueError(
            f"{path}: ssp_flux has shape {data['ssp_flux'].shape}, expected (n_met, n_age, "
            f"n_wave) = ({n_met}, {n_age}, {n_wave}) from ssp_lgmet, ssp_lg_age_gyr, ssp_wave"
        )
    if surviving_mass_frac is not None:
        frac = np.asarray(surviving_mass_frac, dtype=np.float64)
        frac_source = "the surviving_mass_frac argument"
    elif stored_frac is not None:
        frac = stored_frac
        frac_source = f"dataset {_SURVIVING}"
    else:
        raise ValueError(
            f"{path}: no surviving-mass fraction. DSPS files do not store one; add a dataset "
            f"{_SURVIVING!r} of shape ({n_met}, {n_age}) (stellar mass per M_sun formed), or "
            "pass read_dsps_hdf5(path, surviving_mass_frac=...) / an array of ones to treat "
            "mass formed as stellar mass."
        )
    if frac.shape != (n_met, n_age):
        raise ValueError(
            f"{path}: {frac_source} has shape {frac.shape}, expected (n_met, n_age) = "
            f"({n_met}, {n_age})"
        )
    if z_sun is None:
        z_sun = float(file_z_sun) if file_z_sun is not None else _DEFAULT_Z_SUN
    z_sun = float(z_sun)
    if not (0.0 < z_sun < 1.0):
        raise ValueError(f"z_sun must be a metal mass fraction in (0, 1); got {z_sun}")
    if name is None:
        name = _as_str(file_name) if file_name is not None else path.stem
    return SSPGrid.create(
        log_age_yr=data["ssp_lg_age_gyr"] + 9.0,
        log_zsol=data["ssp_lgmet"] - np.log10(z_sun),
        wave_aa=data["ssp_wave"],
        lnu_lsun_per_hz_per_msun=data["ssp_flux"],
        surviving_mass_frac=frac,
        name=name,
        z_sun=z_sun,
        source=str(path),
    )


def write_dsps_hdf5(grid: SSPGrid, path: str | os.PathLike) -> Path:
    """Write ``grid`` as a DSPS-format HDF5 file, atomically (temporary file, then rename).

    Writes the four DSPS datasets (float64) plus ``ssp_surviving_frac`` (n_met, n_age) and
    the attributes ``z_sun`` and ``name``, so `read_dsps_hdf5` restores the grid and
    ``dsps.data_loaders.load_ssp_templates(fn=path)`` reads it.

    Args:
        grid: the grid to write.
        path: destination ``.h5`` file; parent directories are created.

    Returns:
        The path written.

    Raises:
        TypeError: ``grid`` is not a `sedcore.SSPGrid`.
    """
    import h5py

    if not isinstance(grid, SSPGrid):
        raise TypeError(f"grid must be a sedcore.SSPGrid; got {type(grid).__name__}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets = {
        "ssp_lgmet": np.asarray(grid.log_zsol, dtype=np.float64) + np.log10(grid.z_sun),
        "ssp_lg_age_gyr": np.asarray(grid.log_age_yr, dtype=np.float64) - 9.0,
        "ssp_wave": np.asarray(grid.wave_aa, dtype=np.float64),
        "ssp_flux": np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=np.float64),
        _SURVIVING: np.asarray(grid.surviving_mass_frac, dtype=np.float64),
    }
    with sedcore.atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["z_sun"] = float(grid.z_sun)
        f.attrs["name"] = str(grid.name)
        f.attrs["written_by"] = "emulate_sps.write_dsps_hdf5"
        for key, value in datasets.items():
            f.create_dataset(key, data=value)
    return path


def _as_str(x) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)
