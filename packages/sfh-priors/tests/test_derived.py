"""Derived quantities against analytic values (float64), and their gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import sfh_priors as sp

T = 1.0e10
_summarize = jax.jit(sp.summarize)


def _summary64(model, params):
    with jax.enable_x64(True):
        model = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), model)
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        return jax.tree.map(float, _summarize(model, params, jnp.float64(T)))


def test_constant_sfh_derived_quantities():
    age = 4e9
    s = _summary64(sp.Constant(age_max_yr=T), sp.ConstantParams(10.0, age))
    assert s.mass_formed_msun == pytest.approx(1e10)
    assert s.sfr_10myr == pytest.approx(1e10 / age, rel=1e-12)
    assert s.sfr_100myr == pytest.approx(1e10 / age, rel=1e-12)
    assert s.ssfr_100myr == pytest.approx(1 / age, rel=1e-12)
    assert s.mass_weighted_age_yr == pytest.approx(age / 2, rel=1e-12)
    assert s.t50_yr == pytest.approx(age / 2, rel=1e-9)
    assert s.t90_yr == pytest.approx(0.1 * age, rel=1e-9)  # 90% formed by 0.1 age ago


def test_tau_sfh_derived_quantities():
    age, tau = 5e9, 1.5e9
    x = age / tau
    s = _summary64(sp.Tau(age_max_yr=T), sp.TauParams(10.0, age, tau))
    # SFR(L) = M exp((L - age)/tau) / (tau (1 - exp(-x))): mass in the last W years / W.
    for window, value in [(1e7, s.sfr_10myr), (1e8, s.sfr_100myr)]:
        ref = 1e10 * np.exp(-x) * np.expm1(window / tau) / -np.expm1(-x) / window
        assert value == pytest.approx(ref, rel=1e-11)
    # mean lookback = integral L SFR dL / M = age - tau + age / (e^x - 1)
    assert s.mass_weighted_age_yr == pytest.approx(age - tau + age / np.expm1(x), rel=1e-11)
    # t50: half formed before L  <=>  1 - exp(-(age - L)/tau) = (1 - exp(-x)) / 2
    t50 = age + tau * np.log1p(-0.5 * -np.expm1(-x))
    assert s.t50_yr == pytest.approx(t50, rel=1e-9)


def test_delayed_tau_mass_weighted_age_uses_gamma_moments():
    # Mean time since onset for SFR ∝ y e^-y on [0, x]: 2 P(3, x) / P(2, x) (in tau).
    age, tau = 5e9, 1e9
    x = age / tau
    s = _summary64(sp.DelayedTau(age_max_yr=T), sp.DelayedTauParams(10.0, age, tau))
    ref = age - tau * 2 * special.gammainc(3, x) / special.gammainc(2, x)
    assert s.mass_weighted_age_yr == pytest.approx(ref, rel=1e-11)


def test_lognormal_mass_weighted_age_is_the_truncated_lognormal_mean():
    t0, width = 6e9, 0.4
    z_t = np.log(T / t0) / width
    mean_t = t0 * np.exp(width**2 / 2) * stats.norm.cdf(z_t - width) / stats.norm.cdf(z_t)
    s = _summary64(sp.LogNormal(), sp.LogNormalParams(10.0, t0, width))
    assert s.mass_weighted_age_yr == pytest.approx(T - mean_t, rel=1e-11)


def test_double_power_law_derived_quantities_match_quadrature():
    tau, alpha, beta = 4e9, 0.5, 3.0

    def sfr(t):
        return 1.0 / ((t / tau) ** alpha + (t / tau) ** -beta)

    total = integrate.quad(sfr, 0, T, epsabs=0, epsrel=1e-13)[0]
    mean_t = integrate.quad(lambda t: t * sfr(t), 0, T, epsabs=0, epsrel=1e-13)[0] / total
    s = _summary64(sp.DoublePowerLaw(), sp.DoublePowerLawParams(10.0, tau, alpha, beta))
    assert s.mass_weighted_age_yr == pytest.approx(T - mean_t, rel=1e-10)
    sfr100 = 1e10 * integrate.quad(sfr, T - 1e8, T, epsabs=0, epsrel=1e-13)[0] / total / 1e8
    assert s.sfr_100myr == pytest.approx(sfr100, rel=1e-10)


def test_binned_derived_quantities_are_exact_piecewise_integrals():
    edges = np.array([0.0, 1e8, 1e9, T])
    f = np.array([0.2, 0.3, 0.5])
    model = sp.Dirichlet(bin_edges_yr=edges, fractions_of="mass")
    s = _summary64(model, sp.DirichletParams(10.0, f))
    mean_age = np.sum(f * 0.5 * (edges[1:] + edges[:-1]))
    assert s.mass_weighted_age_yr == pytest.approx(mean_age, rel=1e-12)
    assert s.sfr_10myr == pytest.approx(0.2e10 / 1e8, rel=1e-12)
    # half the mass formed before L: within the oldest bin, 0.5 = 0.5 (T - L)/(T - 1e9)
    assert s.t50_yr == pytest.approx(1e9, rel=1e-9)
    assert s.t90_yr == pytest.approx(1e8 - 1e8 * (0.9 - 0.8) / 0.2, rel=1e-9)


def test_formation_time_gradient_matches_finite_differences():
    # t50 is found by bisection, its gradient by the implicit function theorem.
    model = sp.DelayedTau(age_max_yr=T)

    def t50(tau):
        return sp.formation_lookback_yr(model, sp.DelayedTauParams(10.0, 5e9, tau), T, 0.5)

    with jax.enable_x64(True):
        tau = jnp.float64(1.3e9)
        grad = float(jax.jit(jax.grad(t50))(tau))
        h = 1e3
        fd = (float(jax.jit(t50)(tau + h)) - float(jax.jit(t50)(tau - h))) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-6)
