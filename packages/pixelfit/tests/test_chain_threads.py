"""One object's chains split over threads (``fit_observations(chain_threads=K)``).

Chain ``c`` takes its start and random numbers from the object's key and ``c`` alone, so
a group of chains run by itself is those chains of the whole fit; the threads' results
are joined along the chain axis. Fits through the shipped emulator (fast to compile).
"""

from __future__ import annotations

import emulate_sps
import jax
import numpy as np
import pytest
import sfh_priors

import pixelfit
from pixelfit import _sampler

pytestmark = pytest.mark.skipif(
    "hst_jwst20_phot" not in emulate_sps.shipped_emulators(), reason="emulator not shipped"
)

SETTINGS = pixelfit.SamplerSettings(
    num_warmup=60, num_draws=40, num_chains=4, max_num_doublings=4, num_init_draws=16,
    num_init_steps=20, num_init_starts=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def setup():
    em = emulate_sps.load_emulator("hst_jwst20_phot")
    config = emulate_sps.SimulationRecipe().build_config()
    fit = pixelfit.FitModel.create(
        config, sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7)),
        forward=emulate_sps.photometry, forward_state=em,
    )  # fmt: skip
    truth = {"z": 2.0, "log_mass": 10.0, "log_zsol": -0.5, "dust2": 0.3, "dust1": 0.3,
             "log_u": -2.5, "gas_log_zsol": -0.5, "sigma_kms": 100.0,
             "sfh_log_sfr_ratios": np.zeros(6, np.float32)}  # fmt: skip
    flux = np.asarray(emulate_sps.photometry(em, truth))[None]
    prepared = pixelfit.prepare_observations(fit, flux, 0.05 * flux, redshift=[2.0])
    return fit, prepared


def test_chain_groups():
    assert _sampler.chain_groups(4, 1) == [(0, 4)]
    assert _sampler.chain_groups(4, 2) == [(0, 2), (2, 4)]
    assert _sampler.chain_groups(4, 3) == [(0, 1), (1, 3), (3, 4)]
    assert _sampler.chain_groups(2, 8) == [(0, 1), (1, 2)]


def test_threads_join_the_groups_of_chains(setup):
    fit, prepared = setup
    key = jax.random.key(3)
    res = pixelfit.fit_observations(key, fit, prepared, SETTINGS, batch_size=1, progress=False,
                                    chain_threads=2)  # fmt: skip
    assert res.posterior["log_mass"].shape == (1, 4, SETTINGS.num_draws)
    assert res.sample_stats["step_size"].shape == (1, 4, SETTINGS.num_draws)
    # The same as each group run by hand (the same compiled programs: bit for bit).
    keys = pixelfit.object_keys(key, np.array([0]))
    run = jax.jit(_sampler.sample_batch, static_argnames=("settings", "chains"))
    for first, stop in ((0, 2), (2, 4)):
        draws = run(keys, fit, prepared.obs, settings=SETTINGS, chains=(first, stop))
        np.testing.assert_array_equal(
            np.asarray(res.sample_stats["lp"][:, first:stop]), np.asarray(draws.log_density)
        )
        np.testing.assert_array_equal(
            np.asarray(res.sample_stats["n_steps"][:, first:stop]), np.asarray(draws.num_steps)
        )
    assert np.isfinite(res.diagnostics.rhat_max[0])


def test_a_chain_alone_is_that_chain_of_the_whole_fit(setup):
    # Few steps, so float rounding (which differs with the number of chains in a call)
    # has no time to grow: chain 1 run alone follows chain 1 of the four.
    fit, prepared = setup
    short = SETTINGS._replace(num_warmup=3, num_draws=2, max_num_doublings=2)
    obs = jax.tree.map(lambda x: x[0], prepared.obs)
    run = jax.jit(_sampler.sample, static_argnames=("settings", "chains"))
    whole = run(jax.random.key(5), fit, obs, settings=short)
    alone = run(jax.random.key(5), fit, obs, settings=short, chains=(1, 2))
    for name, value in whole.position.items():
        np.testing.assert_allclose(np.asarray(alone.position[name])[0], np.asarray(value)[1],
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
    assert not np.allclose(np.asarray(whole.position["sfh.log_mass"])[0],
                           np.asarray(whole.position["sfh.log_mass"])[1])  # fmt: skip


def test_bad_settings_are_refused(setup):
    fit, prepared = setup
    with pytest.raises(ValueError, match="chain_threads must be an integer >= 1"):
        pixelfit.fit_observations(jax.random.key(0), fit, prepared, SETTINGS, chain_threads=0)
    obs = jax.tree.map(lambda x: x[0], prepared.obs)
    with pytest.raises(ValueError, match="chains must be"):
        _sampler.sample(jax.random.key(0), fit, obs, SETTINGS, chains=(2, 5))
