"""Bursty Gaussian-process SFHs: exact sampling and likelihood."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import sfh_priors as sp


@pytest.mark.parametrize("slope", [2.0, 1.5])
def test_long_samples_reproduce_sigma_and_autocorrelation(slope):
    # 16 independent histories of 1200 bins of tau/5 (240 correlation times each). With
    # the known zero mean, sum(x_t x_{t+k}) / (n - k) is an unbiased estimate of the
    # autocovariance; its scatter across histories gives the standard error.
    sigma, tau, n = 0.4, 5e7, 1200
    dt = tau / 5
    edges = jnp.arange(n + 1) * dt
    model = sp.BurstyGP(bin_edges_yr=edges, sigma_dex=sigma, tau_yr=tau, slope=slope)
    keys = jax.random.split(jax.random.key(3), 16)
    draws = jax.jit(jax.vmap(sp.sample, in_axes=(0, None)))(keys, model)
    delta = np.asarray(draws.delta_log_sfr, np.float64)
    lags = np.arange(0, 16)
    acov = np.stack([(delta[:, : n - k] * delta[:, k:]).mean(1) for k in lags], 1)
    mean, se = acov.mean(0), acov.std(0, ddof=1) / np.sqrt(acov.shape[0])
    expected = sigma**2 * np.asarray(sp.log_sfr_autocorrelation(lags * dt, tau, slope))
    assert np.all(np.abs(mean - expected) < 4 * se)
    assert np.sqrt(mean[0]) == pytest.approx(sigma, rel=0.05)


def test_damped_random_walk_correlation_is_exponential():
    lag = np.array([0.0, 1e7, 5e7, 2e8])
    got = np.asarray(sp.log_sfr_autocorrelation(lag, 5e7, 2.0))
    np.testing.assert_allclose(got, np.exp(-lag / 5e7), rtol=1e-6)


def test_log_prob_is_the_multivariate_normal_density():
    edges = jnp.linspace(0.0, 1e9, 21)
    model = sp.BurstyGP(bin_edges_yr=edges, sigma_dex=0.3, tau_yr=1e8, slope=1.7,
                        log_mass_min=8.0, log_mass_max=12.0)
    params = sp.sample(jax.random.key(4), model)
    mid = 0.5 * (np.asarray(edges)[1:] + np.asarray(edges)[:-1])
    lag = np.abs(mid[:, None] - mid[None, :])
    cov = 0.09 * (np.exp(-((lag / 1e8) ** 0.7)) + 1e-6 * np.eye(20))
    gp = stats.multivariate_normal(np.zeros(20), cov)
    gp_density = gp.logpdf(np.asarray(params.delta_log_sfr))
    expected = gp_density - np.log(4.0)  # plus the Uniform(8, 12) log-mass prior
    assert float(sp.log_prob(model, params)) == pytest.approx(expected, rel=1e-4)


def test_masses_follow_ten_to_the_log_sfr_times_bin_width():
    edges = jnp.array([0.0, 1e7, 3e7, 1e8])
    model = sp.BurstyGP(bin_edges_yr=edges, sigma_dex=0.3, tau_yr=1e8)
    delta = np.array([0.2, -0.1, 0.05])
    params = sp.BurstyParams(9.0, jnp.asarray(delta))
    masses = np.asarray(sp.mass_in_bins(model, params, edges, 1e10))
    weights = 10.0**delta * np.diff(np.asarray(edges))
    np.testing.assert_allclose(masses, 1e9 * weights / weights.sum(), rtol=2e-6)
