"""fit_ok: rank-normalised R-hat, bulk/tail ESS and divergences against their thresholds."""

from __future__ import annotations

import numpy as np

import pixelfit


def chains(rng, n_obj=1, n_chains=4, n_draws=500, rho=0.0):
    """AR(1) chains (autocorrelation rho), shape (n_obj, n_chains, n_draws)."""
    e = rng.normal(size=(n_obj, n_chains, n_draws))
    x = np.empty_like(e)
    x[..., 0] = e[..., 0]
    for t in range(1, n_draws):
        x[..., t] = rho * x[..., t - 1] + np.sqrt(1 - rho**2) * e[..., t]
    return x


def test_good_chains_pass_and_each_failure_is_caught():
    rng = np.random.default_rng(0)
    good = {"a": chains(rng, 5), "b": np.exp(chains(rng, 5))}
    no_div = np.zeros((5, 4, 500), bool)
    d = pixelfit.diagnose(good, no_div)
    assert d.fit_ok.all() and np.all(d.rhat_max < 1.02) and np.all(d.ess_bulk_min > 1000)

    stuck = {k: v.copy() for k, v in good.items()}
    stuck["b"][0, 0] += 3.0  # chain 0 of object 0 sits elsewhere
    slow = {"a": chains(rng, 1, rho=0.995), "b": chains(rng, 1)}
    divergent = no_div.copy()
    divergent[2, 1, :21] = True  # 21 / 2000 > 1%
    nan = {k: v.copy() for k, v in good.items()}
    nan["a"][3, 2, 10] = np.nan
    d = pixelfit.diagnose(stuck, divergent)
    assert list(d.fit_ok) == [False, True, False, True, True]
    assert d.rhat_max[0] > 1.05 and list(d.n_divergent) == [0, 0, 21, 0, 0]
    d_slow = pixelfit.diagnose(slow, no_div[:1])
    assert d_slow.ess_bulk_min[0] < 100 and not d_slow.fit_ok[0]
    assert not pixelfit.diagnose(nan, no_div).fit_ok[3]


def test_thresholds_are_settable():
    rng = np.random.default_rng(1)
    draws = {"a": chains(rng, 1, n_draws=60)}  # ESS ~ 240 < 300
    none = np.zeros((1, 4, 60), bool)
    assert pixelfit.diagnose(draws, none).fit_ok[0]
    assert not pixelfit.diagnose(draws, none, pixelfit.Thresholds(ess_min=300)).fit_ok[0]


def test_against_arviz_directly():
    import arviz as az

    x = chains(np.random.default_rng(2), 2, rho=0.7)
    for i in range(2):
        assert pixelfit.rhat(x)[i] == az.rhat(x[i], method="rank")
        assert pixelfit.ess_bulk(x)[i] == az.ess(x[i], method="bulk")
        assert pixelfit.ess_tail(x)[i] == az.ess(x[i], method="tail")


def test_vector_parameters_are_diagnosed_per_element():
    # A continuity SFH's ratios come as (n_obj, n_chains, n_draws, 6): each element counts
    # as its own parameter, so one stuck element fails the object.
    rng = np.random.default_rng(2)
    ratios = np.stack([chains(rng, 2) for _ in range(6)], axis=-1)
    draws = {"log_mass": chains(rng, 2), "sfh_log_sfr_ratios": ratios}
    none = np.zeros((2, 4, 500), bool)
    assert pixelfit.diagnose(draws, none).fit_ok.all()
    ratios[1, 0, :, 4] += 3.0  # element 4, chain 0 of object 1 sits elsewhere
    d = pixelfit.diagnose(draws, none)
    assert list(d.fit_ok) == [True, False] and d.rhat_max[1] > 1.05
