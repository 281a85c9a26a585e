"""FitModel assembly, the numpyro model and its log density (no sampling)."""

from __future__ import annotations

import emulate_sps
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import sedcore
import sfh_priors

import pixelfit


def one_obs(flux, err, mask, z):
    return pixelfit.Observation(
        jnp.asarray(flux, jnp.float32)[None],
        jnp.asarray(err, jnp.float32)[None],
        jnp.asarray(mask)[None],
        jnp.float32(z),
    )


@pytest.fixture(scope="module")
def obs_a(config, helpers):
    flux = helpers.mock_flux(config, helpers.TRUTH_A)
    return one_obs(flux, helpers.REL_ERR * flux, np.ones(flux.size, bool), helpers.TRUTH_A["z"])


def test_sites_and_defaults(fit, config):
    # the log-uniform tau is sampled in its base space, ln tau
    assert fit.site_names == (
        "sfh.log_mass",
        "sfh.age_yr",
        "sfh.tau_yr_base",
        "log_zsol",
        "dust2",
        "dust_ratio",
    )
    assert fit.param_names == (
        "log_mass",
        "sfh_age_yr",
        "sfh_tau_yr",
        "log_zsol",
        "dust2",
        "dust_ratio",
    )
    assert fit.band_names == config.filter_names and not fit.free_redshift
    priors = pixelfit.default_priors(config)
    grid_range = emulate_sps.param_space(config)["log_zsol"]
    assert float(priors["log_zsol"].low) == pytest.approx(grid_range.lower)  # BC03: -2.3
    assert float(priors["log_zsol"].high) == pytest.approx(grid_range.upper)  # BC03: 0.7
    assert (float(priors["dust2"].low), float(priors["dust2"].high)) == (0.0, 4.0)
    ratio = priors["dust_ratio"]
    assert float(ratio.base_dist.loc) == 1.0 and float(ratio.base_dist.scale) == pytest.approx(0.3)
    assert (float(ratio.low), float(ratio.high)) == (0.0, 2.0)


def test_log_density_is_prior_plus_likelihood_plus_jacobian(fit, obs_a):
    """log p(u) = log prior(x(u)) + log L(x(u)) + log|dx/du|, each term computed
    independently: sfh_priors.log_prob, numpyro densities, sedcore.gaussian_loglike and the
    autodiff Jacobian of the constraining map."""
    position = pixelfit.prior_draw(jax.random.key(3), fit, obs_a)
    flat, unravel = jax.flatten_util.ravel_pytree(position)

    def constrained_vector(u):
        x = pixelfit.constrain(fit, obs_a, unravel(u))
        return jnp.stack([x[n] for n in fit.param_names])

    x = pixelfit.constrain(fit, obs_a, position)
    # |det| does not depend on the order of the rows (param_names) or columns (sites)
    log_jac = float(jnp.linalg.slogdet(jax.jacfwd(constrained_vector)(flat))[1])
    t_univ = sedcore.age_of_universe_yr(obs_a.redshift)
    sfh_params = sfh_priors.DelayedTauParams(x["log_mass"], x["sfh_age_yr"], x["sfh_tau_yr"])
    prior = float(sfh_priors.log_prob(sfh_priors.DelayedTau(age_max_yr=t_univ), sfh_params))
    priors = pixelfit.default_priors(fit.config)
    for name in ("log_zsol", "dust2", "dust_ratio"):
        prior += float(priors[name].log_prob(x[name]))
    params = pixelfit.engine_params_from(fit, obs_a, x)
    model = emulate_sps.photometry(fit.config, params)
    like = float(
        sedcore.gaussian_loglike(
            model, obs_a.flux_maggies[0], obs_a.flux_err_maggies[0], obs_a.mask[0], noise_floor=0.05
        )
    )
    got = float(jax.jit(pixelfit.log_density)(fit, obs_a, position))
    assert float(x["dust1"]) == pytest.approx(float(x["dust_ratio"] * x["dust2"]), rel=1e-6)
    # float32 sums of terms of size ~1e2-1e3
    assert got == pytest.approx(prior + like + log_jac, abs=2e-3 * max(1.0, abs(got)))


def test_masked_nan_band_equals_dropped_band(grid, fit, config, helpers):
    """A band masked with NaN under the mask gives the log density and gradient of a model
    built without that band, at prior draws (float32 tolerance)."""
    h = helpers
    flux = h.mock_flux(config, h.TRUTH_A)
    drop = 2
    flux_nan = flux.copy()
    flux_nan[drop] = np.nan
    mask = np.ones(flux.size, bool)
    mask[drop] = False
    obs_nan = one_obs(flux_nan, h.REL_ERR * flux, mask, h.TRUTH_A["z"])
    keep = [i for i in range(flux.size) if i != drop]
    bands = [config.filter_names[i] for i in keep]
    fit_dropped = pixelfit.FitModel.create(
        h.make_config(grid, bands), sfh_priors.DelayedTau(age_max_yr=1.4e10)
    )
    obs_dropped = one_obs(
        flux[keep], h.REL_ERR * flux[keep], np.ones(len(keep), bool), h.TRUTH_A["z"]
    )
    value_and_grad = jax.jit(jax.value_and_grad(pixelfit.log_density, argnums=2))
    for seed in range(4):
        position = pixelfit.prior_draw(jax.random.key(seed), fit, obs_nan)
        v1, g1 = value_and_grad(fit, obs_nan, position)
        v2, g2 = value_and_grad(fit_dropped, obs_dropped, position)
        assert np.isfinite(float(v1)) and all(np.isfinite(np.asarray(g)).all() for g in g1.values())
        assert float(v1) == pytest.approx(float(v2), rel=1e-5, abs=1e-3)
        for k in g1:
            np.testing.assert_allclose(np.asarray(g1[k]), np.asarray(g2[k]), rtol=1e-4, atol=1e-3)


def test_values_under_a_mask_do_not_matter(fit, obs_a):
    """NaN, inf or any number under a False mask: bitwise the same value and gradient."""
    mask = np.asarray(obs_a.mask).copy()
    mask[0, 2] = False
    value_and_grad = jax.jit(jax.value_and_grad(pixelfit.log_density, argnums=2))
    position = pixelfit.prior_draw(jax.random.key(11), fit, obs_a)
    results = []
    for bad in (np.nan, np.inf, 123.0):
        flux = np.asarray(obs_a.flux_maggies).copy()
        err = np.asarray(obs_a.flux_err_maggies).copy()
        flux[0, 2], err[0, 2] = bad, -bad
        obs = obs_a._replace(
            flux_maggies=jnp.asarray(flux),
            flux_err_maggies=jnp.asarray(err),
            mask=jnp.asarray(mask),
        )
        results.append(value_and_grad(fit, obs, position))
    for value, grad in results[1:]:
        assert float(value) == float(results[0][0]) and np.isfinite(float(value))
        for k in grad:
            assert float(grad[k]) == float(results[0][1][k])


def test_prior_draws_respect_the_age_of_the_universe(fit, obs_a, helpers):
    draws = jax.jit(
        jax.vmap(lambda k: pixelfit.constrain(fit, obs_a, pixelfit.prior_draw(k, fit, obs_a)))
    )(jax.random.split(jax.random.key(0), 200))
    t_univ = float(sedcore.age_of_universe_yr(helpers.TRUTH_A["z"]))
    age = np.asarray(draws["sfh_age_yr"])
    assert age.max() <= t_univ * (1 + 1e-5) and age.min() >= 1e7
    assert age.max() > 0.8 * t_univ  # the prior reaches the age of the universe
    assert np.all((np.asarray(draws["dust2"]) >= 0) & (np.asarray(draws["dust2"]) <= 4))


def test_free_redshift(config, obs_a):
    fit_z = pixelfit.FitModel.create(
        config, sfh_priors.DelayedTau(age_max_yr=1.4e10), z_prior=dist.Uniform(0.1, 1.5)
    )
    assert fit_z.free_redshift and fit_z.site_names[0] == "z"
    keys = jax.random.split(jax.random.key(1), 100)
    draws = jax.jit(
        jax.vmap(lambda k: pixelfit.constrain(fit_z, obs_a, pixelfit.prior_draw(k, fit_z, obs_a)))
    )(keys)
    z, age = np.asarray(draws["z"]), np.asarray(draws["sfh_age_yr"])
    assert np.all(age <= np.asarray(sedcore.age_of_universe_yr(z)) * (1 + 1e-5))
    position = pixelfit.prior_draw(jax.random.key(5), fit_z, obs_a)
    assert np.isfinite(float(jax.jit(pixelfit.log_density)(fit_z, obs_a, position)))


def test_create_errors(grid, config):
    prior = sfh_priors.DelayedTau(age_max_yr=1.4e10)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['dust3'\]"):
        pixelfit.FitModel.create(config, prior, priors={"dust3": dist.Uniform(0, 1)})
    with pytest.raises(ValueError, match="prior of 'log_zsol' covers \\[-3, 0\\]"):
        pixelfit.FitModel.create(config, prior, priors={"log_zsol": dist.Uniform(-3.0, 0.0)})
    with pytest.raises(
        ValueError, match="sfh_prior is a Tau but config was built for a DelayedTau"
    ):
        pixelfit.FitModel.create(config, sfh_priors.Tau(age_max_yr=1.4e10))
    with pytest.raises(TypeError, match="numpyro distribution"):
        pixelfit.FitModel.create(config, prior, priors={"dust2": (0, 1)})
    with pytest.raises(ValueError, match="fixed 'dust2' = -1.0 is outside"):
        pixelfit.FitModel.create(config, prior, fixed={"dust2": -1.0})
    with pytest.raises(ValueError, match="noise_floor"):
        pixelfit.FitModel.create(config, prior, noise_floor=-0.1)
    power = emulate_sps.SynthesisConfig.create(
        grid, prior, ["sdss_r0"], z_max=1.0, diffuse_law="power_law", igm=None
    )
    with pytest.raises(ValueError, match=r"no default prior for \['dust_index'\]"):
        pixelfit.FitModel.create(power, prior)
    fixed = pixelfit.FitModel.create(power, prior, fixed={"dust_index": -0.7, "dust1": 0.0})
    assert dict(fixed.fixed) == {"dust_index": -0.7, "dust1": 0.0}
    assert "dust_ratio" not in fixed.site_names and "dust1" not in fixed.site_names
