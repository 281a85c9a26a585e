"""NUTS fits of mock galaxies: recovery, batch independence, masks, derived quantities.

All use the session's one compiled batch program (`conftest.results`): rows 0-2 of the
mock catalog fitted together (A; B with a NaN flux in band 2; B with band 2 masked by the
caller over a finite value; rows 1 and 2 share a PRNG key), row 3 skipped.
"""

from __future__ import annotations

import arviz as az
import emulate_sps
import jax
import numpy as np
import pytest
import sedcore
import sfh_priors

import pixelfit

pytestmark = pytest.mark.slow


def test_recovery_of_a_mock_galaxy(results, helpers):
    """Noise-free mock (exact engine, 5% errors, 5% floor): the truth lies inside the
    central 95% interval of log_mass and dust2, for both mocks."""
    assert list(results.rows) == [0, 1, 2]
    for row, truth in ((0, helpers.TRUTH_A), (1, helpers.TRUTH_B)):
        i = results.index(row)
        for name in ("log_mass", "dust2"):
            lo, hi = np.percentile(results.posterior[name][i], [2.5, 97.5])
            assert lo <= truth[name] <= hi, (row, name, lo, hi, truth[name])
    for name, values in results.posterior.items():
        assert np.all(np.isfinite(values)), name
    d = results.diagnostics
    assert np.all(np.isfinite(d.rhat_max)) and np.all(d.rhat_max >= 0.99)
    assert np.all(d.ess_bulk_min > 0) and np.all(d.ess_tail_min > 0)
    assert d.fit_ok.dtype == bool and np.all(d.n_draws == 2 * 150)
    # the starting point is at least as good as the best prior draw
    assert np.all(np.isfinite(results.init_log_density))


def agree_within_mc_error(a, b, name):
    """Posterior medians of two fits of the same object agree within 4 combined Monte
    Carlo standard errors (arviz, from the quantile ESS)."""
    mcse = np.hypot(float(az.mcse(a, method="median")), float(az.mcse(b, method="median")))
    assert abs(np.median(a) - np.median(b)) <= 4.0 * mcse, (name, np.median(a), np.median(b), mcse)


def test_batch_neighbours_do_not_matter(fit, catalog, results, helpers):
    """The same rows permuted within the batch, same keys per object: each object's
    starting point agrees to float32 rounding and its posterior within Monte Carlo error.

    Bitwise equality is not to be had: on a CPU, XLA computes batch lanes in SIMD blocks,
    so an object's gradient changes in the last bit with its position in the batch
    (measured: up to 2e-4 in a gradient of ~1e3), and NUTS amplifies such differences
    chaotically over hundreds of steps. A mix-up between objects (their masses differ by
    1 dex) would fail both checks by far."""
    perm = np.array([2, 0, 1, 3])
    prepared = pixelfit.prepare_observations(
        fit, catalog["flux"][perm], catalog["err"][perm], mask=catalog["mask"][perm],
        redshift=np.asarray(catalog["redshift"])[perm], ids=catalog["ids"][perm],
    )  # fmt: skip
    again = pixelfit.fit_observations(
        helpers.row_keys()[perm],
        fit,
        prepared,
        helpers.SETTINGS,
        batch_size=helpers.BATCH,
        progress=False,
    )
    medians = []
    for new_row, old_row in enumerate(perm[:3]):
        i_new, i_old = again.index(new_row), results.index(old_row)
        assert again.init_log_density[i_new] == pytest.approx(
            results.init_log_density[i_old], rel=1e-5
        )
        for name in ("log_mass", "dust2", "log_zsol", "sfh_age_yr"):
            agree_within_mc_error(
                again.posterior[name][i_new], results.posterior[name][i_old], name
            )
        medians.append(np.median(results.posterior["log_mass"][i_old]))
    assert abs(medians[1] - medians[2]) > 0.5  # rows 0 (A) and 1 (B) are different galaxies


def test_batched_initialisation_matches_each_object_alone(fit, prepared, helpers):
    """A batch of 3 and each object alone (different compiled programs): the
    deterministic initialisation agrees to float32 rounding."""
    settings = helpers.SETTINGS
    keys = jax.random.split(jax.random.key(7), 3)
    obs = jax.tree.map(lambda x: x[:3], prepared.obs)

    def init(key, o):
        return pixelfit.initial_position(key, fit, o, settings)

    batched = jax.jit(jax.vmap(init))(keys, obs)
    alone = jax.jit(init)
    for i in range(3):
        position, ld, best_prior = alone(keys[i], jax.tree.map(lambda x, i=i: x[i], obs))
        assert float(ld) == pytest.approx(float(batched[1][i]), rel=1e-5)
        assert float(best_prior) == pytest.approx(float(batched[2][i]), rel=1e-5)
        assert float(ld) >= float(best_prior)
        for site in position:
            np.testing.assert_allclose(position[site], batched[0][site][i], rtol=1e-3, atol=1e-3)


def test_masked_bands_nan_or_not_give_the_same_posterior(prepared, results):
    """Row 1 has NaN in band 2, row 2 a finite value masked by the caller, same key: same
    starting point and the same posterior within Monte Carlo error (test_model shows
    the log density is bitwise the same), flagged differently."""
    assert prepared.band_flags[1, 2] == pixelfit.BAND_BAD_FLUX
    assert prepared.band_flags[2, 2] == pixelfit.BAND_MISSING
    assert prepared.row_flags[1] == pixelfit.ROW_BAD_BANDS and prepared.row_flags[2] == 0
    i1, i2 = results.index(1), results.index(2)
    assert results.init_log_density[i1] == pytest.approx(results.init_log_density[i2], rel=1e-5)
    for name in ("log_mass", "dust2", "log_zsol", "sfh_age_yr"):
        agree_within_mc_error(results.posterior[name][i1], results.posterior[name][i2], name)


def test_rows_with_too_few_bands_are_skipped(prepared, results):
    assert prepared.row_flags[3] == pixelfit.ROW_BAD_BANDS | pixelfit.ROW_TOO_FEW_BANDS
    assert 3 not in results.rows
    with pytest.raises(ValueError, match="row 3 was not fitted"):
        pixelfit.to_inference_data(results, 3)


def test_derived_quantities_match_the_engine_and_sfh_functions(fit, config, results, helpers):
    """For a few draws: masses from emulate_sps.stellar_masses, SFRs and age from
    sfh_priors at sedcore's age of the universe, photometry from emulate_sps.photometry."""
    i = results.index(0)
    post = results.posterior
    z = helpers.TRUTH_A["z"]
    t_univ = float(sedcore.age_of_universe_yr(z))
    for chain, draw in ((0, 0), (1, 77), (0, 149)):
        p = {name: float(post[name][i, chain, draw]) for name in config.names if name != "z"}
        p["z"] = z
        sfh = sfh_priors.DelayedTauParams(p["log_mass"], p["sfh_age_yr"], p["sfh_tau_yr"])
        model = sfh_priors.DelayedTau(age_max_yr=1.4e10)
        masses = emulate_sps.stellar_masses(config, p)
        expected = {
            "mass_formed_msun": float(masses.mass_formed_msun),
            "surviving_mass_msun": float(masses.surviving_mass_msun),
            "sfr_10myr_msun_per_yr": float(sfh_priors.average_sfr(model, sfh, t_univ, 1e7)),
            "sfr_100myr_msun_per_yr": float(sfh_priors.average_sfr(model, sfh, t_univ, 1e8)),
            "mass_weighted_age_yr": float(sfh_priors.mass_weighted_age_yr(model, sfh, t_univ)),
        }
        expected["ssfr_100myr_per_yr"] = (
            expected["sfr_100myr_msun_per_yr"] / expected["surviving_mass_msun"]
        )
        for name, value in expected.items():
            # float32; t_univ tabulated (4e-6) vs integrated
            assert float(post[name][i, chain, draw]) == pytest.approx(value, rel=2e-4), name
        np.testing.assert_allclose(
            post["model_maggies"][i, chain, draw],
            np.asarray(emulate_sps.photometry(config, p)),
            rtol=2e-5,
        )
        assert float(post["dust1"][i, chain, draw]) == pytest.approx(
            float(post["dust_ratio"][i, chain, draw] * post["dust2"][i, chain, draw]), rel=1e-6
        )
        assert float(post["z"][i, chain, draw]) == pytest.approx(z, rel=1e-7)
