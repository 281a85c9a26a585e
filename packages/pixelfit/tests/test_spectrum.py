"""The spectrum likelihood: calibration polynomial, error scaling, inputs and outputs.

The model spectrum is the exact engine's ``observed_spectrum`` (tested in emulate-sps);
here: that pixelfit multiplies it by the calibration of `SpectrumSettings`, scales the
errors, normalises the Gaussian, and wires it into the log density, each checked against
numpy / scipy computed on their own; bad spectra fail with errors naming what is wrong.
"""

from __future__ import annotations

import emulate_sps
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
import sedcore
import sfh_priors

import pixelfit

#: Observed wavelengths of the mock spectra: 4500-7500 A, steps of 5e-4 in ln(lambda)
#: (two pixels per resolution element at R = 1000).
WAVE = np.exp(np.arange(np.log(4500.0), np.log(7500.0), 5.0e-4))
R = 1000.0
CALIB = np.array([0.3, 0.1, -0.05])  # Chebyshev coefficients of ln(calibration)
JITTER = 1.5  # true errors / quoted errors
SNR = 20.0


def spec_config(grid, bands):
    return emulate_sps.SynthesisConfig.create(
        grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), list(bands), z_max=1.0,
        phot_dlnlam=2e-3, igm=None, spectrum_wave_obs_aa=WAVE, spectrum_resolution=R,
        spectrum_sigma_max_kms=400.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sconfig(grid, helpers):
    return spec_config(grid, helpers.BANDS)


@pytest.fixture(scope="module")
def sfit(sconfig):
    return pixelfit.FitModel.create(
        sconfig, sfh_priors.DelayedTau(age_max_yr=1.4e10), spectrum=pixelfit.SpectrumSettings()
    )


def truth_params(helpers):
    return {**helpers.TRUTH_A, "sigma_kms": 150.0}


def chebyshev_calibration(coef):
    x = (2.0 * WAVE - (WAVE[0] + WAVE[-1])) / (WAVE[-1] - WAVE[0])
    return np.exp(np.polynomial.chebyshev.chebval(x, coef))


@pytest.fixture(scope="module")
def mock(sconfig, helpers):
    """Photometry (5% errors, no noise) and a spectrum: the engine's times CALIB, noise
    JITTER times the quoted errors (S/N 20 per pixel), seed 1."""
    p = {k: jnp.asarray(v) for k, v in truth_params(helpers).items()}
    phot = np.asarray(emulate_sps.photometry(sconfig, p), dtype=np.float64)
    intrinsic = np.asarray(jax.jit(emulate_sps.observed_spectrum)(sconfig, p), dtype=np.float64)
    err = intrinsic / SNR
    rng = np.random.default_rng(1)
    flux = intrinsic * chebyshev_calibration(CALIB) + JITTER * err * rng.standard_normal(WAVE.size)
    return dict(phot=phot, intrinsic=intrinsic, flux=flux, err=err)


def spectrum_of(mock, **kw):
    return sedcore.Spectrum(WAVE, mock["flux"], mock["err"], flux_unit="maggies", **kw)


def prepare(sfit, mock, spectrum=None, **kw):
    return pixelfit.prepare_observations(
        sfit, mock["phot"], 0.05 * mock["phot"], redshift=0.5,
        spectrum=spectrum_of(mock) if spectrum is None else spectrum, **kw,
    )  # fmt: skip


def first(prepared):
    return jax.tree.map(lambda a: a[0], prepared.obs)


def test_sites_and_defaults(sfit):
    assert sfit.fits_spectrum
    assert sfit.param_names[-3:] == ("sigma_kms", "spec_calib", "spec_jitter")
    assert sfit.site_names[-2:] == ("spec_calib", "spec_jitter_base")  # jitter in ln
    assert "sigma_kms" not in dict(sfit.fixed)  # free with a spectrum
    np.testing.assert_allclose(sfit.spectrum_wave_aa, WAVE, rtol=1e-6)
    assert sfit.spectrum.basis.shape == (3, WAVE.size)
    np.testing.assert_allclose(np.asarray(sfit.spectrum.prior_sigma), [1.0, 0.2, 0.2])


def test_spectrum_likelihood_matches_numpy(sfit, mock, helpers):
    """Calibrated model and Gaussian log-likelihood (with its -log sigma terms) against
    numpy's Chebyshev series and scipy's normal density; masked pixels drop out."""
    flux = mock["flux"].copy()
    flux[10:20] = np.nan  # masked (sedcore.Spectrum refuses NaN under a True mask)
    use = np.isfinite(flux)
    spec = sedcore.Spectrum(WAVE, flux, mock["err"], flux_unit="maggies", mask=use)
    obs = first(prepare(sfit, mock, spec))
    params = {k: jnp.asarray(v) for k, v in truth_params(helpers).items()}
    coef = np.array([0.2, -0.3, 0.15])
    jitter = 1.7
    model = pixelfit.spectrum_model(sfit, params, jnp.asarray(coef, jnp.float32))
    expect_model = mock["intrinsic"] * chebyshev_calibration(coef)
    np.testing.assert_allclose(np.asarray(model, np.float64), expect_model, rtol=2e-5)
    got = float(pixelfit.spectrum_log_likelihood(sfit, model, jnp.asarray(jitter), obs.spectrum))
    expect = scipy.stats.norm.logpdf(flux[use], expect_model[use], jitter * mock["err"][use]).sum()
    assert use.sum() == WAVE.size - 10
    assert got == pytest.approx(expect, rel=1e-5, abs=0.05)


def test_log_density_includes_the_spectrum(sfit, mock):
    """log density with the spectrum - without it = the spectrum's log-likelihood at the
    constrained values of the same position (the calibration and jitter sites are used)."""
    obs = first(prepare(sfit, mock))
    pos = pixelfit.prior_draw(jax.random.key(3), sfit, obs)
    with_spec = float(pixelfit.log_density(sfit, obs, pos))
    without = float(pixelfit.log_density(sfit, obs._replace(spectrum=None), pos))
    values = pixelfit.constrain(sfit, obs, pos)
    params = pixelfit.engine_params_from(sfit, obs, values)
    model = pixelfit.spectrum_model(sfit, params, values["spec_calib"])
    loglike = float(
        pixelfit.spectrum_log_likelihood(sfit, model, values["spec_jitter"], obs.spectrum)
    )
    assert np.isfinite(loglike)
    assert with_spec - without == pytest.approx(loglike, rel=1e-4, abs=0.5)
    grad = jax.grad(lambda p: pixelfit.log_density(sfit, obs, p))(pos)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad))
    assert np.all(np.asarray(grad["spec_calib"]) != 0)
    assert float(grad["sigma_kms"]) != 0.0


def test_f_lambda_spectra_are_converted(sfit, mock):
    """f_lambda [erg/s/cm2/A] = f_nu c / lambda^2; prepared spectra are in maggies."""
    factor = sedcore.C_AA_PER_S / WAVE**2 * (sedcore.MAGGIE_JY * 1e-23)
    flam = sedcore.Spectrum(WAVE, mock["flux"] * factor, mock["err"] * factor, flux_unit="erg/s/cm2/AA")
    a = first(prepare(sfit, mock)).spectrum
    b = first(prepare(sfit, mock, flam)).spectrum
    np.testing.assert_allclose(np.asarray(b.flux_maggies), np.asarray(a.flux_maggies), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(b.flux_err_maggies), np.asarray(a.flux_err_maggies), rtol=1e-5)


def test_bad_pixels_and_empty_spectra_are_flagged(sfit, mock):
    flux = np.stack([mock["flux"], np.full(WAVE.size, np.nan)])
    err = np.stack([mock["err"], mock["err"]])
    err[0, :5] = 0.0  # non-positive errors: masked by the caller
    mask = np.isfinite(flux) & (err > 0)
    spec = sedcore.Spectrum(np.stack([WAVE, WAVE]), flux, err, flux_unit="maggies", mask=mask)
    prepared = pixelfit.prepare_observations(
        sfit, np.stack([mock["phot"]] * 2), 0.05 * np.stack([mock["phot"]] * 2), redshift=0.5,
        spectrum=spec,
    )  # fmt: skip
    assert list(prepared.n_spectrum_pixels_used) == [WAVE.size - 5, 0]
    assert list(prepared.row_flags & pixelfit.ROW_NO_SPECTRUM) == [0, pixelfit.ROW_NO_SPECTRUM]
    assert list(prepared.fitted) == [True, True]  # photometry alone for the second row
    sub = prepared.subset([1])
    assert np.asarray(sub.obs.spectrum.mask).shape == (1, WAVE.size)


def test_spectrum_input_errors(sfit, config, mock, fit):
    phot, err = mock["phot"], 0.05 * mock["phot"]
    with pytest.raises(ValueError, match="spectrum is required"):
        pixelfit.prepare_observations(sfit, phot, err, redshift=0.5)
    with pytest.raises(ValueError, match="fits photometry only"):
        pixelfit.prepare_observations(fit, phot, err, redshift=0.5, spectrum=spectrum_of(mock))
    shifted = sedcore.Spectrum(WAVE * (1 + 1e-4), mock["flux"], mock["err"], flux_unit="maggies")
    with pytest.raises(ValueError, match="row 0, pixel 0: wavelength"):
        prepare(sfit, mock, shifted)
    short = sedcore.Spectrum(WAVE[:-1], mock["flux"][:-1], mock["err"][:-1], flux_unit="maggies")
    with pytest.raises(ValueError, match="1021 pixels but the config's spectrum_wave_obs_aa has 1022"):
        prepare(sfit, mock, short)
    with pytest.raises(ValueError, match="line-spread function"):
        prepare(sfit, mock, spectrum_of(mock, resolution=3000.0))
    prepare(sfit, mock, spectrum_of(mock, resolution=R))  # the config's: accepted
    with pytest.raises(TypeError, match="sedcore.Spectrum"):
        prepare(sfit, mock, spectrum=(WAVE, mock["flux"]))
    with pytest.raises(ValueError, match="spectrum_wave_obs_aa=wave_aa"):
        pixelfit.FitModel.create(config, sfh_priors.DelayedTau(age_max_yr=1.4e10), spectrum=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(calibration_order=-1), "calibration_order must be an integer >= 0"),
        (dict(calibration_order=1.5), "calibration_order must be an integer >= 0"),
        (dict(normalization_sigma=0.0), "normalization_sigma must be a number > 0"),
        (dict(shape_sigma=float("nan")), "shape_sigma must be a number > 0"),
        (dict(noise_floor=-0.1), "noise_floor must be >= 0"),
        (dict(jitter_prior=pytest), "must be a numpyro distribution"),
    ],
)
def test_settings_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        pixelfit.SpectrumSettings(**kwargs).check()


def test_settings_errors_on_support():
    import numpyro.distributions as dist

    with pytest.raises(ValueError, match="positive support"):
        pixelfit.SpectrumSettings(jitter_prior=dist.Normal(1.0, 0.1)).check()


@pytest.mark.slow
def test_fit_recovers_calibration_jitter_and_dispersion(sconfig, mock, helpers, tmp_path):
    """NUTS on the mock with the stellar population held near the truth (metallicity and
    dust fixed, narrow delayed-tau priors): the calibration coefficients, the error
    scaling, the velocity dispersion and the mass are recovered (truth within 3 posterior
    standard deviations, R-hat < 1.1); outputs and the spectrum plot are written."""
    prior = sfh_priors.DelayedTau(
        age_max_yr=3.5e9, age_min_yr=2.5e9, tau_min_yr=0.8e9, tau_max_yr=1.25e9,
        log_mass_min=10.0, log_mass_max=11.0,
    )  # fmt: skip
    truth = truth_params(helpers)
    sfit = pixelfit.FitModel.create(
        sconfig, prior, spectrum=pixelfit.SpectrumSettings(),
        fixed={k: truth[k] for k in ("log_zsol", "dust2", "dust1")},
    )  # fmt: skip
    prepared = prepare(sfit, mock)
    # A dense mass matrix: the calibration's tilt c_1 trades against age and tau (both
    # change the continuum slope); with a diagonal one these chains had R-hat 2.1.
    settings = pixelfit.SamplerSettings(
        num_warmup=300, num_draws=200, num_chains=2, max_num_doublings=6, dense_mass=True,
        num_init_draws=32, num_init_steps=100,
    )  # fmt: skip
    results = pixelfit.fit_observations(jax.random.key(7), sfit, prepared, settings, progress=False)
    post = results.posterior
    expect = {
        "spec_jitter": JITTER, "sigma_kms": truth["sigma_kms"], "log_mass": truth["log_mass"],
        **{f"spec_calib_{k}": c for k, c in enumerate(CALIB)},
    }  # fmt: skip
    for name, value in expect.items():
        if name.startswith("spec_calib_"):
            draws = post["spec_calib"][0][..., int(name[-1])].ravel()
        else:
            draws = post[name][0].ravel()
        z = (np.mean(draws) - value) / np.std(draws)
        assert abs(z) < 3.0, (name, value, np.mean(draws), np.std(draws))
    assert np.std(post["spec_jitter"][0]) < 0.05  # 1022 pixels pin it to ~2%
    assert results.diagnostics.rhat_max[0] < 1.1
    table = pixelfit.summary_table(results)
    assert table["n_spectrum_pixels_used"][0] == WAVE.size
    assert not table["flag_no_spectrum"][0]
    for col in ("spec_jitter_p50", "spec_calib_2_p50", "sigma_kms_p50"):
        assert np.isfinite(table[col][0])
    idata = pixelfit.to_inference_data(results, 0)
    assert idata.observed_data["spectrum_flux_maggies"].shape == (WAVE.size,)
    np.testing.assert_allclose(idata.observed_data["wave_aa"].values, WAVE, rtol=1e-6)
    pytest.importorskip("matplotlib")
    paths = pixelfit.plot_all(results, 0, tmp_path)
    assert paths["spectrum"].stat().st_size > 10_000
    fig = pixelfit.plot_spectrum(results, 0, n_draws=10)
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    assert {"observed", "model_median", "chi", "calibration"} <= gids
