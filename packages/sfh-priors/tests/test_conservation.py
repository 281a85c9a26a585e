"""Mass conservation and float32 precision of mass_in_bins, for every model type.

One jitted mass_in_bins per model type and dtype, reused for every check here (the
inputs keep the same shapes), keeps this file fast.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sfh_priors as sp

_mass_in_bins = jax.jit(sp.mass_in_bins)
_sample = jax.jit(sp.sample)


def _loss_and_masses(model, params, edges, t_univ_yr):
    masses = sp.mass_in_bins(model, params, edges, t_univ_yr)
    return jnp.sum(jnp.log1p(masses)), masses


# Values and parameter gradients from one compiled function per model type (float32).
_masses_and_grads = jax.jit(jax.value_and_grad(_loss_and_masses, argnums=1, has_aux=True))


def _cast(tree, dtype):
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), tree)


def _masses(model, params, edges, t_univ_yr, dtype):
    with jax.enable_x64(dtype == np.float64):
        args = (_cast(model, dtype), _cast(params, dtype), jnp.asarray(edges, dtype),
                jnp.asarray(t_univ_yr, dtype))
        if dtype == np.float64:
            return np.asarray(_mass_in_bins(*args))
        (_, masses), _ = _masses_and_grads(*args)
        return np.asarray(masses)


def test_gradients_are_finite(ssp_edges_yr, case, t_univ_yr):
    model, params = case
    args = (_cast(model, jnp.float32), _cast(params, jnp.float32),
            jnp.asarray(ssp_edges_yr, jnp.float32), jnp.float32(t_univ_yr))
    _, grads = _masses_and_grads(*args)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_bin_masses_add_up_and_young_bins_keep_float32_precision(ssp_edges_yr, case, t_univ_yr):
    model, params = case
    # Inputs rounded to float32 once, so float64 sees exactly the same numbers.
    edges = np.asarray(ssp_edges_yr, np.float32)
    model, params = _cast(model, jnp.float32), _cast(params, jnp.float32)
    total = float(sp.mass_formed_msun(model, params))
    m32 = _masses(model, params, edges, np.float32(t_univ_yr), np.float32)
    m64 = _masses(model, params, edges, np.float32(t_univ_yr), np.float64)
    assert m32.dtype == np.float32 and m64.dtype == np.float64
    assert np.all(m32 >= 0) and np.all(m64 >= 0)
    # Conservation: bin masses are differences of cumulative functions, so their sum
    # telescopes; the only error is rounding of the n_bins differences and of the sum,
    # bounded by n_bins * eps relative.
    n = m32.size
    assert m64.sum() == pytest.approx(total, rel=n * float(np.finfo(np.float64).eps))
    rel32 = n * float(np.finfo(np.float32).eps)
    assert float(m32.sum(dtype=np.float64)) == pytest.approx(total, rel=rel32)
    # The 30 youngest bins (widths 1e5 to 1e6 yr, < 1e-4 of the mass) dominate the UV
    # light: in float32 they keep a relative error of at most a few hundred ulp (float32
    # eps = 1.2e-7), i.e. no cancellation against the total mass.
    young = slice(0, 30)
    nonzero = m64[young] > 0
    np.testing.assert_allclose(m32[young][nonzero], m64[young][nonzero], rtol=3e-5)
    np.testing.assert_array_equal(m32[young][~nonzero], 0.0)


def test_prior_draws_conserve_mass(ssp_edges_yr, case, t_univ_yr):
    model, _ = case
    edges = np.asarray(ssp_edges_yr, np.float32)
    model = _cast(model, jnp.float32)
    for key in jax.random.split(jax.random.key(7), 6):
        params = _sample(key, model)
        masses = _masses(model, params, edges, np.float32(t_univ_yr), np.float32)
        assert np.all(np.isfinite(masses)) and np.all(masses >= 0)
        total = float(sp.mass_formed_msun(model, params))
        assert float(masses.sum(dtype=np.float64)) == pytest.approx(
            total, rel=masses.size * float(np.finfo(np.float32).eps)
        )


def test_no_mass_older_than_the_universe(ssp_edges_yr, case, t_univ_yr):
    model, params = case
    edges = np.asarray(ssp_edges_yr, np.float32)
    t = np.float32(t_univ_yr)
    masses = _masses(model, params, edges, t, np.float32)
    straddling = int(np.searchsorted(edges, t)) - 1  # edges[s] < t <= edges[s + 1]
    assert edges[straddling] < t < edges[straddling + 1]
    np.testing.assert_array_equal(masses[straddling + 1 :], 0.0)
    # The straddling bin holds what formed between its lower edge and t_univ: the same
    # as a bin cut at t_univ (same shapes, so the same compiled function).
    cut = edges.copy()
    cut[straddling + 1 :] = t * (1 + np.arange(1, edges.size - straddling, dtype=np.float32))
    cut[straddling + 1] = t
    cut_masses = _masses(model, params, cut, t, np.float32)
    assert masses[straddling] == pytest.approx(cut_masses[straddling], rel=1e-6)
