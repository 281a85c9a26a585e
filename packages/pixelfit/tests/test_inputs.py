"""Input handling: bad values are masked and flagged per row, bad inputs raise by name."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import numpyro.distributions as dist
import pytest
import sedcore
import sfh_priors

import pixelfit
from pixelfit import (
    BAND_BAD_ERROR,
    BAND_BAD_FLUX,
    BAND_MISSING,
    ROW_BAD_BANDS,
    ROW_BAD_REDSHIFT,
    ROW_TOO_FEW_BANDS,
)

N_BANDS = 8


def catalog(n=5):
    flux = np.full((n, N_BANDS), 1e-9)
    return flux, 0.1 * flux


def test_bad_values_are_masked_and_flagged(fit):
    flux, err = catalog()
    flux[0, 1] = np.nan
    flux[1, 2] = np.inf
    err[2, 3] = 0.0
    err[2, 4] = np.nan
    flux[3, 5] = -2e-10  # a negative flux is a measurement, kept
    p = pixelfit.prepare_observations(fit, flux, err, redshift=0.5)
    mask = np.asarray(p.obs.mask)[:, 0]
    assert mask.shape == (5, N_BANDS)
    assert not mask[0, 1] and not mask[1, 2] and not mask[2, 3] and not mask[2, 4] and mask[3, 5]
    assert p.band_flags[0, 1] == BAND_BAD_FLUX and p.band_flags[1, 2] == BAND_BAD_FLUX
    assert p.band_flags[2, 3] == BAND_BAD_ERROR and p.band_flags[2, 4] == BAND_BAD_ERROR
    assert p.band_flags[3].sum() == 0 and p.band_flags[4].sum() == 0
    assert list(p.row_flags) == [ROW_BAD_BANDS, ROW_BAD_BANDS, ROW_BAD_BANDS, 0, 0]
    assert list(p.n_bands_used) == [7, 7, 6, 8, 8] and p.fitted.all()
    assert float(p.obs.flux_maggies[3, 0, 5]) == pytest.approx(-2e-10)


def test_rows_with_too_few_bands_or_no_redshift_are_skipped(fit):
    flux, err = catalog(4)
    flux[0, :6] = np.nan  # 2 left
    err[1, :5] = -1.0  # 3 left: fitted with min_bands=3
    p = pixelfit.prepare_observations(fit, flux, err, redshift=[0.5, 0.5, np.nan, 2.5])
    assert list(p.fitted) == [False, True, False, False]
    assert p.row_flags[0] == ROW_BAD_BANDS | ROW_TOO_FEW_BANDS
    assert p.row_flags[1] == ROW_BAD_BANDS
    assert p.row_flags[2] == ROW_BAD_REDSHIFT and p.row_flags[3] == ROW_BAD_REDSHIFT  # z_max = 2
    assert "fitted=1, skipped=3" in repr(p)
    strict = pixelfit.prepare_observations(fit, flux, err, redshift=0.5, min_bands=4)
    assert strict.row_flags[1] == ROW_BAD_BANDS | ROW_TOO_FEW_BANDS


def test_band_order_subsets_and_caller_mask(fit):
    bands = list(fit.band_names)
    flux, err = catalog(2)
    flux[:, :] = np.arange(1, N_BANDS + 1) * 1e-9
    order = [6, 0, 3]  # a subset, shuffled
    mask = np.array([[True, True, False], [True, True, True]])
    p = pixelfit.prepare_observations(
        fit, flux[:, order], err[:, order], bands=[bands[i] for i in order], mask=mask, redshift=0.5
    )
    got = np.asarray(p.obs.flux_maggies)[:, 0]
    np.testing.assert_allclose(got[1, [6, 0, 3]], flux[1, order], rtol=1e-6)
    assert np.isnan(got[1, 1])  # not given
    used = np.asarray(p.obs.mask)[:, 0]
    assert list(used[0]) == [True, False, False, False, False, False, True, False]
    assert p.band_flags[0, 3] == BAND_MISSING and p.band_flags[1, 2] == BAND_MISSING
    assert p.row_flags[0] == ROW_TOO_FEW_BANDS  # missing bands are not "bad" but count


def test_whole_input_errors_name_the_culprit(fit):
    flux, err = catalog(2)
    bands = list(fit.band_names)
    with pytest.raises(ValueError, match=r"band\(s\) \['hst_f999w'\] are not in the model"):
        pixelfit.prepare_observations(
            fit, flux, err, bands=bands[:-1] + ["hst_f999w"], redshift=0.5
        )
    with pytest.raises(
        ValueError, match="flux_err_maggies has shape \\(2, 6\\) but flux_maggies has \\(2, 8\\)"
    ):
        pixelfit.prepare_observations(fit, flux, err[:, :6], redshift=0.5)
    with pytest.raises(ValueError, match="bands names 6 bands but the fluxes have 8 columns"):
        pixelfit.prepare_observations(fit, flux, err, bands=bands[:6], redshift=0.5)
    with pytest.raises(ValueError, match=r"\['galex_NUV'\] more than once"):
        pixelfit.prepare_observations(
            fit, flux, err, bands=[bands[0]] * 2 + bands[2:], redshift=0.5
        )
    with pytest.raises(ValueError, match="redshift is required"):
        pixelfit.prepare_observations(fit, flux, err)
    with pytest.raises(TypeError, match="mask must be boolean"):
        pixelfit.prepare_observations(fit, flux, err, mask=np.ones_like(flux), redshift=0.5)


def test_units(fit):
    flux, err = catalog(1)
    in_ujy = (flux * 3631e6) * u.uJy
    p = pixelfit.prepare_observations(fit, in_ujy, (err * 3631e6) * u.uJy, redshift=0.5)
    np.testing.assert_allclose(np.asarray(p.obs.flux_maggies)[0, 0], flux[0], rtol=1e-6)
    nmgy = pixelfit.prepare_observations(
        fit, flux * 1e9 * u.nanomaggy, err * 1e9 * u.nanomaggy, redshift=0.5
    )
    np.testing.assert_allclose(np.asarray(nmgy.obs.flux_maggies)[0, 0], flux[0], rtol=1e-6)
    with pytest.raises(ValueError, match="flux_maggies has unit mag\\(AB\\), a magnitude"):
        pixelfit.prepare_observations(fit, np.full((1, N_BANDS), 22.0) * u.ABmag, err, redshift=0.5)
    flam = u.erg / u.s / u.cm**2 / u.AA
    with pytest.raises(
        ValueError, match="flux_err_maggies has unit .* not a flux density per unit frequency"
    ):
        pixelfit.prepare_observations(fit, flux, err * flam, redshift=0.5)


def test_from_photometry(fit):
    flux, err = catalog(2)
    flux[1, 0] = np.nan
    phot = sedcore.Photometry(
        flux, err, filters=fit.band_names, mask=np.isfinite(flux), redshift=[0.4, 0.6], id=[7, 8],
        bad_input=~np.isfinite(flux),
    )  # fmt: skip
    p = pixelfit.prepare_photometry(fit, phot)
    assert list(p.ids) == [7, 8] and p.band_flags[1, 0] == BAND_BAD_FLUX
    np.testing.assert_allclose(np.asarray(p.obs.redshift), [0.4, 0.6], rtol=1e-6)


def test_free_redshift_needs_no_redshift(config):
    fit_z = pixelfit.FitModel.create(
        config, sfh_priors.DelayedTau(age_max_yr=1.4e10), z_prior=dist.Uniform(0.0, 2.0)
    )
    flux, err = catalog(2)
    p = pixelfit.prepare_observations(fit_z, flux, err)
    assert p.fitted.all() and np.isnan(np.asarray(p.obs.redshift)).all()


def test_fit_observations_checks_its_keys(fit):
    import jax

    flux, err = catalog(2)
    p = pixelfit.prepare_observations(fit, flux, err, redshift=0.5)
    with pytest.raises(TypeError, match="typed PRNG key"):
        pixelfit.fit_observations(jax.random.PRNGKey(0), fit, p)
    with pytest.raises(ValueError, match=r"one per row \(2,\); got shape \(3,\)"):
        pixelfit.fit_observations(jax.random.split(jax.random.key(0), 3), fit, p)
    with pytest.raises(ValueError, match="num_chains must be an integer >= 1"):
        pixelfit.fit_observations(jax.random.key(0), fit, p, pixelfit.SamplerSettings(num_chains=0))
