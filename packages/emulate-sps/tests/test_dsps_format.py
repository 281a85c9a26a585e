"""DSPS-format HDF5: round trip, conventions, the surviving-fraction rule, DSPS's own loader."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import emulate_sps
import sedcore

FIELDS = ("log_age_yr", "log_zsol", "wave_aa", "lnu_lsun_per_hz_per_msun", "surviving_mass_frac")


@pytest.fixture
def grid():
    rng = np.random.default_rng(3)
    n_met, n_age, n_wave = 3, 4, 6
    return sedcore.SSPGrid.create(
        log_age_yr=np.linspace(5.5, 10.1, n_age),
        log_zsol=np.array([-1.5, -0.5, 0.2]),
        wave_aa=np.geomspace(100.0, 1e6, n_wave),
        lnu_lsun_per_hz_per_msun=rng.uniform(1e-20, 1e-16, (n_met, n_age, n_wave)),
        surviving_mass_frac=np.tile(np.linspace(1.0, 0.55, n_age), (n_met, 1)),
        name="toy_fsps",
        z_sun=0.019,
    )


def _write_plain_dsps(path, grid, *, z_sun=0.02, with_frac=False):
    """A file as DSPS itself ships them: the four datasets only."""
    with h5py.File(path, "w") as f:
        f["ssp_lgmet"] = np.asarray(grid.log_zsol, dtype=float) + np.log10(z_sun)
        f["ssp_lg_age_gyr"] = np.asarray(grid.log_age_yr, dtype=float) - 9
        f["ssp_wave"] = np.asarray(grid.wave_aa, dtype=float)
        f["ssp_flux"] = np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=float)
        if with_frac:
            f["ssp_surviving_frac"] = np.asarray(grid.surviving_mass_frac, dtype=float)
    return path


def test_round_trip(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "sub" / "ssp.h5")
    back = emulate_sps.read_dsps_hdf5(path)
    assert back.name == "toy_fsps" and back.z_sun == 0.019
    for key in FIELDS:
        # axes pass through log10(z_sun) and -9 in float64: equal to float32 rounding
        np.testing.assert_allclose(
            np.asarray(getattr(back, key)), np.asarray(getattr(grid, key)), rtol=1e-7, atol=0
        )
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["ssp.h5"]  # no temp left


def test_written_file_follows_dsps_conventions(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    with h5py.File(path, "r") as f:
        # log10 of the absolute metal mass fraction, log10 of the age in Gyr, float64
        z_abs = 0.019 * 10 ** np.array([-1.5, -0.5, 0.2])
        np.testing.assert_allclose(f["ssp_lgmet"][()], np.log10(z_abs), rtol=1e-6)
        np.testing.assert_allclose(f["ssp_lg_age_gyr"][()], np.linspace(5.5, 10.1, 4) - 9, atol=1e-6)
        assert f["ssp_flux"].shape == (3, 4, 6) and f["ssp_flux"].dtype == np.float64
        assert f["ssp_surviving_frac"].shape == (3, 4)
        assert f.attrs["z_sun"] == 0.019


def test_failed_write_leaves_nothing(grid, tmp_path, monkeypatch):
    def boom(self, name, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(OSError, match="disk full"):
        emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    assert list(tmp_path.iterdir()) == []


def test_plain_dsps_file_needs_a_surviving_fraction(grid, tmp_path):
    path = _write_plain_dsps(tmp_path / "plain.h5", grid)
    with pytest.raises(ValueError, match=r"plain\.h5: no surviving-mass fraction.*\(3, 4\)"):
        emulate_sps.read_dsps_hdf5(path)


def test_surviving_fraction_argument(grid, tmp_path):
    path = _write_plain_dsps(tmp_path / "plain.h5", grid)
    ones = np.ones((3, 4))
    back = emulate_sps.read_dsps_hdf5(path, surviving_mass_frac=ones)
    np.testing.assert_array_equal(np.asarray(back.surviving_mass_frac), ones)
    # no z_sun attribute: 0.02 (documented default), and the absolute Z is preserved
    assert back.z_sun == 0.02 and back.name == "plain"
    np.testing.assert_allclose(np.asarray(back.log_zsol), np.asarray(grid.log_zsol), atol=1e-6)


def test_surviving_fraction_wrong_shape(grid, tmp_path):
    path = _write_plain_dsps(tmp_path / "plain.h5", grid)
    with pytest.raises(ValueError, match=r"shape \(4, 3\), expected \(n_met, n_age\) = \(3, 4\)"):
        emulate_sps.read_dsps_hdf5(path, surviving_mass_frac=np.ones((4, 3)))


def test_z_sun_argument_overrides(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    back = emulate_sps.read_dsps_hdf5(path, z_sun=0.0142)
    expected = np.asarray(grid.log_zsol, dtype=float) + np.log10(0.019 / 0.0142)
    np.testing.assert_allclose(np.asarray(back.log_zsol), expected, rtol=1e-6)


def test_missing_dataset_is_named(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    with h5py.File(path, "a") as f:
        del f["ssp_wave"]
    with pytest.raises(ValueError, match=r"missing DSPS dataset\(s\) \['ssp_wave'\]"):
        emulate_sps.read_dsps_hdf5(path)


def test_flux_shape_mismatch_is_named(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    with h5py.File(path, "a") as f:
        del f["ssp_flux"]
        f["ssp_flux"] = np.ones((3, 6, 4))
    with pytest.raises(ValueError, match=r"ssp_flux has shape \(3, 6, 4\), expected"):
        emulate_sps.read_dsps_hdf5(path)


def test_non_increasing_axis_is_named(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    with h5py.File(path, "a") as f:
        f["ssp_lg_age_gyr"][2] = f["ssp_lg_age_gyr"][1]
    with pytest.raises(ValueError, match=r"ssp\.h5: log_age_yr must be strictly increasing"):
        emulate_sps.read_dsps_hdf5(path)


def test_truncated_file_is_named(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"ssp\.h5"):
        emulate_sps.read_dsps_hdf5(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nowhere.h5"):
        emulate_sps.read_dsps_hdf5("nowhere.h5")


def test_write_rejects_non_grid(tmp_path):
    with pytest.raises(TypeError, match="sedcore.SSPGrid"):
        emulate_sps.write_dsps_hdf5({"ssp_flux": 1}, tmp_path / "x.h5")


def test_load_ssp_grid_detects_dsps_files(grid, tmp_path):
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    back = emulate_sps.load_ssp_grid(path)
    np.testing.assert_array_equal(
        np.asarray(back.lnu_lsun_per_hz_per_msun), np.asarray(grid.lnu_lsun_per_hz_per_msun)
    )


@pytest.mark.skipif(
    importlib.util.find_spec("dsps") is None, reason="dsps is not installed (bench group)"
)
def test_dsps_loader_reads_what_we_write(grid, tmp_path):
    # `import dsps` switches JAX to float64 for its whole process, so DSPS runs in a child.
    path = emulate_sps.write_dsps_hdf5(grid, tmp_path / "ssp.h5")
    out = tmp_path / "dsps_view.npz"
    code = textwrap.dedent(
        f"""
        import numpy as np
        from dsps.data_loaders import load_ssp_templates
        d = load_ssp_templates(fn={str(path)!r})
        np.savez({str(out)!r}, ssp_lgmet=d.ssp_lgmet, ssp_lg_age_gyr=d.ssp_lg_age_gyr,
                 ssp_wave=d.ssp_wave, ssp_flux=d.ssp_flux)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seen = np.load(out)
    expect = {
        "ssp_lgmet": np.log10(0.019) + np.asarray(grid.log_zsol, dtype=float),
        "ssp_lg_age_gyr": np.asarray(grid.log_age_yr, dtype=float) - 9,
        "ssp_wave": np.asarray(grid.wave_aa, dtype=float),
        "ssp_flux": np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=float),
    }
    for key, value in expect.items():
        np.testing.assert_allclose(seen[key], value, rtol=1e-12, err_msg=key)
