"""The shipped photometric emulator as the forward model of a fit (one argument swapped)."""

from __future__ import annotations

import emulate_sps
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import sfh_priors
from numpyro.infer.util import potential_energy

import pixelfit

pytestmark = pytest.mark.skipif(
    "hst_jwst20_phot" not in emulate_sps.shipped_emulators(), reason="emulator not shipped"
)


@pytest.fixture(scope="module")
def setup():
    em = emulate_sps.load_emulator("hst_jwst20_phot")
    # The config of the emulator's own recipe gives the parameter layout (and the derived
    # quantities); the emulator gives the fluxes.
    config = emulate_sps.SimulationRecipe().build_config()
    return em, config


def test_emulator_error_is_added_to_the_floor_and_the_density_is_smooth(setup):
    em, config = setup
    prior = sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7))
    fixed = {"gas_log_zsol": -0.5}
    fit = pixelfit.FitModel.create(config, prior, fixed=fixed, forward=emulate_sps.photometry,
                                   forward_state=em)  # fmt: skip
    np.testing.assert_allclose(
        np.asarray(fit.noise_floor), np.hypot(0.05, np.asarray(em.flux_error_frac)), rtol=1e-6
    )
    plain = pixelfit.FitModel.create(config, prior, fixed=fixed, forward=emulate_sps.photometry,
                                     forward_state=em, emulator_error=False)  # fmt: skip
    assert np.allclose(np.asarray(plain.noise_floor), 0.05)
    flux = np.full(em.n_filters, 1e-9)
    obs = pixelfit.Observation(jnp.asarray(flux, jnp.float32)[None],
                               jnp.asarray(0.1 * flux, jnp.float32)[None],
                               jnp.ones((1, em.n_filters), bool), jnp.float32(2.0))  # fmt: skip
    pos = pixelfit.prior_draw(jax.random.key(0), fit, obs)
    value, grad = jax.jit(jax.value_and_grad(pixelfit.log_density, argnums=2))(fit, obs, pos)
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad))


def test_emulator_with_other_bands_is_refused(setup):
    em, _ = setup
    small = emulate_sps.SynthesisConfig.create(
        emulate_sps.load_ssp_grid("bc03"), sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7)),
        ["jwst_f150w", "jwst_f444w"], z_max=15.0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="bands .* are not the config's"):
        pixelfit.FitModel.create(small, sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7)),
                                 forward=emulate_sps.photometry, forward_state=em)  # fmt: skip


def test_continuity_ratios_are_sampled_in_asinh_space_with_the_prior_unchanged(setup):
    """The Student-t SFR ratios are NUTS'd as u = asinh(x / 0.3): the latent site is
    ``sfh.log_sfr_ratios_base``, prior draws of x still follow Student-t(2, 0, 0.3) (KS
    test against scipy), and the prior density in u is the prior of x plus log|dx/du|
    (each term computed independently)."""
    import scipy.stats

    em, config = setup
    prior = sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7))
    fit = pixelfit.FitModel.create(config, prior, forward=emulate_sps.photometry,
                                   forward_state=em)  # fmt: skip
    assert "sfh.log_sfr_ratios_base" in fit.site_names
    assert "sfh.log_sfr_ratios" not in fit.site_names
    z = 2.0
    truth = {"z": z, "log_mass": 10.0, "log_zsol": -0.5, "dust2": 0.3, "dust1": 0.3,
             "log_u": -2.5, "gas_log_zsol": -0.5, "sigma_kms": 100.0,
             "sfh_log_sfr_ratios": np.array([0.2, -0.1, 0.3, 0.0, -0.2, 0.1])}  # fmt: skip
    flux = np.asarray(emulate_sps.photometry(em, truth), np.float32)
    obs = pixelfit.Observation(jnp.asarray(flux)[None], jnp.asarray(0.05 * flux)[None],
                               jnp.ones((1, em.n_filters), bool), jnp.float32(z))  # fmt: skip

    draws = jax.jit(jax.vmap(lambda k: pixelfit.constrain(fit, obs, pixelfit.prior_draw(k, fit, obs))))(
        jax.random.split(jax.random.key(7), 2000)
    )["sfh_log_sfr_ratios"]
    student = scipy.stats.t(df=2, loc=0.0, scale=0.3)
    for i in range(draws.shape[1]):
        assert scipy.stats.kstest(np.asarray(draws[:, i], np.float64), student.cdf).pvalue > 1e-3

    # The prior alone (no likelihood), so that the tolerance is float32 rounding of terms
    # of ~10: a missing log cosh(u) (~0.1-1 per ratio) cannot hide in it.
    def prior_in_u(position):
        return -potential_energy(pixelfit.numpyro_model, (fit, obs), {"likelihood": False}, position)

    priors = dict(fit.priors)  # the defaults cut to the emulator's training box
    for seed in range(3):
        position = pixelfit.prior_draw(jax.random.key(seed), fit, obs)
        flat, unravel = jax.flatten_util.ravel_pytree(position)

        def constrained_vector(u, unravel=unravel):
            x = pixelfit.constrain(fit, obs, unravel(u))
            return jnp.concatenate([jnp.ravel(x[n]) for n in fit.param_names])

        x = pixelfit.constrain(fit, obs, position)
        log_jac = float(jnp.linalg.slogdet(jax.jacfwd(constrained_vector)(flat))[1])
        log_prior = float(sfh_priors.log_prob(
            fit.sfh_prior, sfh_priors.ContinuityParams(x["log_mass"], x["sfh_log_sfr_ratios"])
        ))
        for name in ("log_zsol", "dust2", "dust_ratio", "log_u", "gas_log_zsol"):
            log_prior += float(priors[name].log_prob(x[name]))
        got = float(jax.jit(prior_in_u)(position))
        assert got == pytest.approx(log_prior + log_jac, abs=1e-4 * max(1.0, abs(got)) + 1e-4)

