"""Parametric SFHs: exact bin masses against independent closed forms (scipy), float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import sfh_priors as sp

T = 1.0e10
M = 1e10


# Jitted once per model type (values are leaves), so parametrised cases reuse the compile.
_mass_in_bins = jax.jit(sp.mass_in_bins)
_sfr = jax.jit(sp.sfr)


def _masses_f64(model, params, edges):
    with jax.enable_x64(True):
        model = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), model)
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        return np.asarray(_mass_in_bins(model, params, jnp.asarray(edges, jnp.float64), T))


def _assert_matches_formed_before(got, edges, formed_before, rtol):
    """Compare bin masses with a reference 'fraction formed before lookback L' function.

    A reference bin is a difference of two cumulative values, so its own round-off is
    ~eps * (F_lo + F_hi) / (F_lo - F_hi) relative: the tolerance adds 10 times that to
    ``rtol`` (the young bins' full relative precision is checked against quadrature in
    ``test_young_bins_match_quadrature``).
    """
    lookback = np.clip(edges, 0.0, T)
    f_lo, f_hi = formed_before(lookback[:-1]), formed_before(lookback[1:])
    ref = M * (f_lo - f_hi)
    eps = np.finfo(np.float64).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        tol = rtol + 10 * eps * (np.abs(f_lo) + np.abs(f_hi)) / np.abs(f_lo - f_hi)
    big = ref > 1e-12 * M
    np.testing.assert_array_less(np.abs(got[big] - ref[big]), tol[big] * ref[big])
    np.testing.assert_allclose(got[~big], ref[~big], atol=1e-11 * M)


def test_constant_bins_are_exact_overlaps(ssp_edges_yr):
    age = 5e9
    got = _masses_f64(sp.Constant(age_max_yr=T), sp.ConstantParams(10.0, age), ssp_edges_yr)
    def formed_before(L):
        return np.clip(age - L, 0, None) / age

    _assert_matches_formed_before(got, ssp_edges_yr, formed_before, 1e-12)


@pytest.mark.parametrize("tau", [1e6, 1e9, 1e11])
def test_tau_bins_match_exponential_closed_form(ssp_edges_yr, tau):
    age = 5e9

    def formed_before(L):  # integral of exp(-(t - t0)/tau) from the onset to lookback L
        return -np.expm1(-np.clip(age - L, 0, None) / tau) / -np.expm1(-age / tau)

    got = _masses_f64(sp.Tau(age_max_yr=T), sp.TauParams(10.0, age, tau), ssp_edges_yr)
    _assert_matches_formed_before(got, ssp_edges_yr, formed_before, 1e-10)


@pytest.mark.parametrize(("age", "tau"), [(5e9, 1e9), (1e7, 1e11), (9e9, 1e7)])
def test_delayed_tau_bins_match_incomplete_gamma(ssp_edges_yr, age, tau):
    def formed_before(L):  # regularised lower incomplete gamma P(2, y), y = time since onset / tau
        return special.gammainc(2, np.clip(age - L, 0, None) / tau) / special.gammainc(2, age / tau)

    model, params = sp.DelayedTau(age_max_yr=T), sp.DelayedTauParams(10.0, age, tau)
    got = _masses_f64(model, params, ssp_edges_yr)
    _assert_matches_formed_before(got, ssp_edges_yr, formed_before, 1e-9)


@pytest.mark.parametrize(("t0", "width"), [(5e9, 0.5), (5e10, 0.3), (1e9, 1.5)])
def test_lognormal_bins_match_normal_cdf(ssp_edges_yr, t0, width):
    def formed_before(L):  # Phi((ln t - ln t0) / width), t = T - L cosmic time
        t = T - L
        with np.errstate(divide="ignore"):
            z = np.where(t > 0, np.log(np.where(t > 0, t, 1.0) / t0) / width, -np.inf)
        return stats.norm.cdf(z) / stats.norm.cdf(np.log(T / t0) / width)

    got = _masses_f64(sp.LogNormal(), sp.LogNormalParams(10.0, t0, width), ssp_edges_yr)
    _assert_matches_formed_before(got, ssp_edges_yr, formed_before, 1e-8)


@pytest.mark.parametrize(
    ("tau", "alpha", "beta"), [(3e9, 3.0, 5.0), (1e9, 30.0, 0.5), (8e9, 1.5, 40.0)]
)
def test_double_power_law_bins_match_incomplete_beta(ssp_edges_yr, tau, alpha, beta):
    # Cumulative mass (alpha > 1): B(s, 1-s) I_v(s, 1-s) / a, v = u^a/(1+u^a), u = t/tau;
    # written with the complementary function above the turnover to keep the tail.
    a = alpha + beta
    s = (beta + 1) / a

    def cumulative(t):
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        pos = t > 0
        log_r = a * np.log(t[pos] / tau)
        full = special.beta(s, 1 - s)
        out[pos] = np.where(
            log_r <= 0,
            full * special.betainc(s, 1 - s, special.expit(log_r)),
            full - full * special.betainc(1 - s, s, special.expit(-log_r)),
        )
        return out

    def formed_before(L):
        return cumulative(T - L) / cumulative(np.array([T]))[0]

    params = sp.DoublePowerLawParams(10.0, tau, alpha, beta)
    got = _masses_f64(sp.DoublePowerLaw(), params, ssp_edges_yr)
    _assert_matches_formed_before(got, ssp_edges_yr, formed_before, 1e-8)


def test_double_power_law_shallow_slopes_match_sfr_quadrature(ssp_edges_yr):
    # alpha < 1 has no finite-total closed form; check the bins against adaptive quadrature
    # of the SFR formula 1 / ((t/tau)^alpha + (t/tau)^-beta), normalised numerically.
    tau, alpha, beta = 3e9, 0.3, 0.05

    def sfr(t):
        return 1.0 / ((t / tau) ** alpha + (t / tau) ** -beta)

    total = integrate.quad(sfr, 0, T, epsabs=0, epsrel=1e-12, limit=500)[0]
    params = sp.DoublePowerLawParams(10.0, tau, alpha, beta)
    got = _masses_f64(sp.DoublePowerLaw(), params, ssp_edges_yr)
    for i in [0, 40, 120, 180, 205]:
        lo, hi = ssp_edges_yr[i], min(ssp_edges_yr[i + 1], T)
        ref = M * integrate.quad(sfr, T - hi, T - lo, epsabs=0, epsrel=1e-12)[0] / total
        assert got[i] == pytest.approx(ref, rel=1e-9)


def test_burst_adds_its_mass_uniformly_over_its_window():
    base = sp.DelayedTau(age_max_yr=T)
    base_params = sp.DelayedTauParams(10.0, 5e9, 1e9)
    model = sp.LateBurst(base=base, burst_duration_yr=2e7)
    params = sp.LateBurstParams(base_params, 0.2, 5e7)
    edges = np.array([0.0, 3e7, 4e7, 5e7, 6e7, T])
    got = _masses_f64(model, params, edges)
    base_masses = _masses_f64(base, base_params, edges)
    burst = M * 0.2 * np.array([0.0, 0.5, 0.5, 0.0, 0.0])  # burst over lookback 30-50 Myr
    np.testing.assert_allclose(got, 0.8 * base_masses + burst, rtol=1e-12)


def test_truncation_removes_recent_mass_and_renormalises():
    base = sp.DelayedTau(age_max_yr=T)
    base_params = sp.DelayedTauParams(10.0, 5e9, 1e9)
    model = sp.Truncated(base=base)
    params = sp.TruncatedParams(base_params, 0.2)  # stops at 0.2 x 5 Gyr = 1 Gyr lookback
    edges = np.array([0.0, 5e8, 1e9, 2e9, 5e9, T])
    got = _masses_f64(model, params, edges)
    base_masses = _masses_f64(base, base_params, edges)
    expected = np.concatenate([[0.0, 0.0], base_masses[2:] * M / base_masses[2:].sum()])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-6)
    assert float(model.truncation_age_yr(params, T)) == pytest.approx(1e9)


def test_sfr_integrates_to_the_bin_masses(ssp_edges_yr):
    # The instantaneous SFR and the bin masses come from the same closed forms.
    model = sp.LogNormal()
    params = sp.LogNormalParams(10.0, 5e9, 0.5)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)

        def sfr(lookback):
            return float(_sfr(model, p64, jnp.asarray(lookback), T))

        got = _masses_f64(model, params, ssp_edges_yr)
        for i in [0, 100, 160, 200]:
            lo, hi = ssp_edges_yr[i], min(ssp_edges_yr[i + 1], T)
            ref = integrate.quad(sfr, lo, hi, epsabs=0, epsrel=1e-11)[0]
            assert got[i] == pytest.approx(ref, rel=1e-9)


_SFR_FORMULAS = {
    # Independent numpy SFR(t) (cosmic time t, unnormalised) for each representative case.
    "tau": (sp.Tau(age_max_yr=T), sp.TauParams(10.0, 5e9, 1e9),
            lambda t: np.where(t >= T - 5e9, np.exp(-(t - (T - 5e9)) / 1e9), 0.0)),
    "delayed_tau": (sp.DelayedTau(age_max_yr=T), sp.DelayedTauParams(10.0, 5e9, 1e9),
                    lambda t: np.where(t >= T - 5e9,
                                       (t - (T - 5e9)) * np.exp(-(t - (T - 5e9)) / 1e9), 0.0)),
    "lognormal": (sp.LogNormal(), sp.LogNormalParams(10.0, 5e9, 0.5),
                  lambda t: np.exp(-np.log(t / 5e9) ** 2 / (2 * 0.25)) / t),
    "double_power_law": (sp.DoublePowerLaw(), sp.DoublePowerLawParams(10.0, 3e9, 3.0, 5.0),
                         lambda t: 1.0 / ((t / 3e9) ** 3.0 + (t / 3e9) ** -5.0)),
}


@pytest.mark.parametrize("name", sorted(_SFR_FORMULAS))
def test_young_bins_match_quadrature(ssp_edges_yr, name):
    # The youngest bins hold ~1e-5 of the mass; adaptive quadrature of the SFR formula over
    # each bin is a reference with full relative precision for them.
    model, params, sfr_of_t = _SFR_FORMULAS[name]
    got = _masses_f64(model, params, ssp_edges_yr)
    total = integrate.quad(sfr_of_t, 0.0, T, points=[T - 5e9, 3e9, 5e9], epsabs=0, epsrel=1e-12,
                           limit=500)[0]
    for i in range(0, 60, 7):
        lo, hi = ssp_edges_yr[i], ssp_edges_yr[i + 1]
        ref = M * integrate.quad(sfr_of_t, T - hi, T - lo, epsabs=0, epsrel=1e-12)[0] / total
        assert got[i] == pytest.approx(ref, rel=1e-9)
