"""ExactNebularModel with float64 enabled: exact nodes, gradients against finite differences.

The grid is read and the model built with float64 enabled, as a user opting in would do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emulate_neb import ExactNebularModel, load_nebular_grid


@pytest.fixture(scope="module")
def model64(cloudy_cache):
    """The model built from a float64 grid (float64 enabled while building and using it)."""
    with jax.enable_x64(True):
        grid = load_nebular_grid("cloudy", cache_dir=cloudy_cache[0])
        return grid, ExactNebularModel(grid)


def test_reproduces_grid_nodes_exactly_in_float64(model64, ssp_lines, ssp_lines_and_cont):
    grid, model = model64
    with jax.enable_x64(True):
        p = grid.node_params()
        lines = ssp_lines(model, p[:, 0], p[:, 1], p[:, 2])
        idx = np.arange(0, p.shape[0], 23)  # 42 nodes spread over all axes for the continuum
        _, cont = ssp_lines_and_cont(model, p[idx, 0], p[idx, 1], p[idx, 2])
    want = np.asarray(grid.line_lum_lsun_per_msun).reshape(-1, grid.n_lines)
    # Only rounding of log/exp remains: 1e-11 relative, plus float64 rounding of the log
    # offset (1e-10 of each line's maximum), i.e. ~1e-26 of the maximum, for tiny values.
    err = np.abs(np.asarray(lines) - want)
    assert np.all(err <= 1e-11 * want + 1e-20 * want.max(axis=0))
    assert np.all(np.asarray(lines) >= 0)
    want_c = np.asarray(grid.cont_lnu_lsun_per_hz_per_msun).reshape(-1, grid.n_wave)[idx]
    np.testing.assert_allclose(np.asarray(cont), want_c, rtol=1e-11, atol=1e-20 * want_c.max())


def test_gradients_match_finite_differences_between_nodes(model64):
    _, model = model64
    with jax.enable_x64(True):
        wave = jnp.geomspace(3500.0, 7000.0, 400)
        ages = jnp.log10(jnp.geomspace(1e6, 3e7, 30))
        weights = jnp.linspace(0.0, 1.0, 400)  # a generic linear functional of the spectrum

        @jax.jit
        def f(m, log_zsol, log_u, sigma, scale):
            mass = scale * jnp.exp(-((ages - 6.5) ** 2))
            em = m.emission(wave, ages, mass, log_zsol, log_u, sigma)
            return jnp.sum(em.lnu_lsun_per_hz * weights) * 1e12 + jnp.sum(em.line_lum_lsun)

        x = (-0.55, -2.3, 120.0, 1.7)  # between nodes on every axis
        grad = jax.jit(jax.grad(f, argnums=(1, 2, 3, 4)))(model, *x)
        for i, step in enumerate((1e-6, 1e-6, 1e-4, 1e-6)):
            lo, hi = list(x), list(x)
            lo[i] -= step
            hi[i] += step
            fd = (f(model, *hi) - f(model, *lo)) / (2 * step)
            # Central differences in float64: truncation ~ step^2, rounding ~ 1e-16 / step.
            assert np.isfinite(float(grad[i]))
            scale = abs(float(f(model, *x)))
            assert float(grad[i]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9 * scale)


def test_float64_when_enabled(model64):
    _, model = model64
    with jax.enable_x64(True):
        em = model.emission(jnp.geomspace(3000.0, 6900.0, 40), jnp.array([6.1]), jnp.array([1.0]),
                            -1.0, -2.0, 60.0)
        assert em.lnu_lsun_per_hz.dtype == jnp.float64 and em.line_lum_lsun.dtype == jnp.float64
