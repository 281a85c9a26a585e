"""The shipped photometric emulator as the forward model of a fit (one argument swapped)."""

from __future__ import annotations

import emulate_sps
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sfh_priors

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
