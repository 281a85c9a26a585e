"""InferenceData (netCDF) and summary tables (ECSV, FITS), written atomically."""

from __future__ import annotations

import arviz as az
import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table

import pixelfit

pytestmark = pytest.mark.slow

QUANTITIES = (
    "log_mass", "sfh_age_yr", "sfh_tau_yr", "log_zsol", "dust2", "dust_ratio", "dust1", "z",
    "mass_formed_msun", "surviving_mass_msun", "sfr_10myr_msun_per_yr", "sfr_100myr_msun_per_yr",
    "ssfr_100myr_per_yr", "mass_weighted_age_yr",
)  # fmt: skip
UNITS = {
    "log_mass": u.dex(u.solMass), "log_zsol": u.dex, "mass_formed_msun": u.solMass,
    "surviving_mass_msun": u.solMass, "sfr_10myr_msun_per_yr": u.solMass / u.yr,
    "sfr_100myr_msun_per_yr": u.solMass / u.yr, "ssfr_100myr_per_yr": 1 / u.yr,
    "mass_weighted_age_yr": u.yr, "sfh_age_yr": u.yr, "dust2": u.dimensionless_unscaled,
}  # fmt: skip


def test_inference_data_round_trip(results, tmp_path):
    idata = pixelfit.to_inference_data(results, 1)
    path = pixelfit.write_inference_data(idata, tmp_path / "obj" / "row1.nc")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["row1.nc"]
    back = pixelfit.read_inference_data(path)
    assert set(back.groups()) >= {"posterior", "sample_stats", "observed_data", "constant_data"}
    i = results.index(1)
    for name in QUANTITIES:
        np.testing.assert_array_equal(back.posterior[name].values, results.posterior[name][i])
    assert back.posterior["model_maggies"].dims == ("chain", "draw", "band")
    assert list(back.posterior["band"].values) == list(results.fit.band_names)
    assert back.sample_stats["diverging"].dtype == bool
    assert back.sample_stats["lp"].shape == (2, 150)
    flux = back.observed_data["flux_maggies"].values
    assert flux.shape == (1, 8) and np.isnan(flux[0, 2])  # the NaN input is kept, masked
    assert not back.observed_data["mask"].values[0, 2]
    assert back.constant_data["band_flags"].values[2] == pixelfit.BAND_BAD_FLUX
    attrs = back.posterior.attrs
    assert attrs["id"] == "102" and attrs["row"] == 1 and attrs["fit_ok"] in (0, 1)
    assert attrs["rhat_max"] == pytest.approx(results.diagnostics.rhat_max[i])
    # arviz reads it like any other posterior
    assert az.summary(back, var_names=["log_mass"]).shape[0] == 1


def test_summary_table_ecsv_and_fits(results, tmp_path):
    table = pixelfit.summary_table(results)
    assert len(table) == 4 and list(table["id"]) == [101, 102, 103, 104]
    for name in QUANTITIES:
        for p in (16, 50, 84):
            assert f"{name}_p{p}" in table.colnames
    for col in ("rhat_max", "ess_bulk_min", "ess_tail_min", "n_divergent", "fit_ok", "n_bands_used",
                "n_bands_flagged", "flag_bad_bands", "flag_too_few_bands", "flag_bad_redshift", "row_flags"):  # fmt: skip
        assert col in table.colnames
    i = results.index(0)
    np.testing.assert_allclose(
        [table["log_mass_p16"][0], table["log_mass_p50"][0], table["log_mass_p84"][0]],
        np.percentile(results.posterior["log_mass"][i].astype(np.float64), [16, 50, 84]),
    )
    assert (
        np.isnan(table["log_mass_p50"][3])
        and not table["fitted"][3]
        and table["flag_too_few_bands"][3]
    )
    assert table["n_divergent"][3] == -1 and table["n_bands_used"][3] == 2
    assert np.isnan(table["mean_leapfrog_steps"][3])
    assert table["mean_leapfrog_steps"][0] == pytest.approx(np.mean(results.sample_stats["n_steps"][i]))
    assert 1 <= table["mean_leapfrog_steps"][0] <= 2**results.settings.max_num_doublings - 1
    assert (
        table["flag_bad_bands"][1]
        and table["n_bands_flagged"][1] == 1
        and table["n_bands_flagged"][2] == 0
    )

    ecsv = pixelfit.write_summary(table, tmp_path / "summary.ecsv")
    fits = pixelfit.write_summary(table, tmp_path / "summary.fits")
    from_ecsv, from_fits = Table.read(ecsv), Table.read(fits)
    for name, unit in UNITS.items():
        assert from_ecsv[f"{name}_p50"].unit == unit, name
        if "dex" not in str(unit) and unit != u.dimensionless_unscaled:  # FITS: no log units
            assert from_fits[f"{name}_p50"].unit == unit, name
    for back in (from_ecsv, from_fits):
        np.testing.assert_array_equal(
            np.asarray(back["mass_formed_msun_p50"]), np.asarray(table["mass_formed_msun_p50"])
        )
        assert list(back["fit_ok"]) == list(table["fit_ok"])
    assert from_fits.meta["ZFREE"] is False or from_fits.meta["ZFREE"] == 0
    with pytest.raises(ValueError, match="must end in .ecsv or .fits"):
        pixelfit.write_summary(table, tmp_path / "summary.csv")


def test_failed_writes_leave_no_partial_file(results, tmp_path, monkeypatch):
    idata = pixelfit.to_inference_data(results, 0)
    table = pixelfit.summary_table(results)
    old = tmp_path / "old.ecsv"
    pixelfit.write_summary(table, old)
    before = old.read_bytes()

    def half_then_fail(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(az.InferenceData, "to_netcdf", half_then_fail)
    monkeypatch.setattr(Table, "write", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        pixelfit.write_inference_data(idata, tmp_path / "new.nc")
    with pytest.raises(OSError, match="disk full"):
        pixelfit.write_summary(table, tmp_path / "new.fits")
    with pytest.raises(OSError, match="disk full"):
        pixelfit.write_summary(table, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.ecsv"]
    assert old.read_bytes() == before
