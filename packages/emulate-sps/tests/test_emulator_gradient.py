"""The emulators' faster gradient (transposed weights, `_make_matmul`'s custom JVP).

Reverse mode multiplies by the stored transposed weights ``layers_t`` instead of letting
XLA transpose ``layers``: same mathematics, so values must be identical and derivatives
of every order equal plain autodiff of the same network to float32 rounding. The stored
transposes must never go stale.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emulate_sps
from emulate_sps import _emulator

pytestmark = pytest.mark.skipif(
    not emulate_sps.shipped_emulators(kind="photometry"), reason="no emulator shipped"
)


@pytest.fixture(scope="module")
def em():
    return emulate_sps.load_emulator(emulate_sps.shipped_emulators(kind="photometry")[0])


def _plain(em, x):  # the same network through plain autodiff (no custom JVP)
    return _emulator._network(em.layers, x)


def _fast(em, x):
    return _emulator._network(em.layers, x, em.layers_t)


def test_transposes_are_the_weights_transposed(em):
    assert len(em.layers_t) == len(em.layers)
    for (w, _), w_t in zip(em.layers, em.layers_t, strict=True):
        np.testing.assert_array_equal(np.asarray(w_t), np.asarray(w).T)
        assert np.asarray(w_t).flags["C_CONTIGUOUS"]


def test_values_and_derivatives_equal_plain_autodiff(em):
    xs = jax.random.normal(jax.random.key(0), (4, em.layers[0][0].shape[0]))
    np.testing.assert_array_equal(np.asarray(_fast(em, xs)), np.asarray(_plain(em, xs)))
    cot = jax.random.normal(jax.random.key(1), (em.layers[-1][0].shape[1],))
    for x in xs:
        def plain(v):
            return _plain(em, v) @ cot

        def fast(v):
            return _fast(em, v) @ cot

        g0, g1 = jax.grad(plain)(x), jax.grad(fast)(x)
        scale = float(jnp.max(jnp.abs(g0)))
        np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=0, atol=1e-5 * scale)
        j0, j1 = jax.jacfwd(lambda v: _plain(em, v))(x), jax.jacfwd(lambda v: _fast(em, v))(x)
        np.testing.assert_allclose(np.asarray(j1), np.asarray(j0), rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(j0))))
        h0, h1 = jax.hessian(plain)(x), jax.hessian(fast)(x)
        np.testing.assert_allclose(np.asarray(h1), np.asarray(h0), rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(h0))))


def test_photometry_gradient_under_jit_and_vmap(em):
    p = {"z": 2.0, "log_mass": 10.0, "log_zsol": -0.5, "dust2": 0.3, "dust1": 0.3, "log_u": -2.0,
         "gas_log_zsol": -0.5, "sigma_kms": 100.0, "sfh_log_sfr_ratios": jnp.zeros(6)}  # fmt: skip
    p = {k: v for k, v in p.items() if k in em.param_names}

    def total(e, dust2):
        return jnp.sum(jnp.log(emulate_sps.photometry(e, {**p, "dust2": dust2})))

    plain = dataclasses.replace(em)
    object.__setattr__(plain, "layers_t", ())  # the network without the custom JVP
    d = jnp.array([0.1, 0.5, 1.2])
    g_fast = jax.jit(jax.vmap(jax.grad(total, argnums=1), in_axes=(None, 0)))(em, d)
    g_plain = jax.jit(jax.vmap(jax.grad(total, argnums=1), in_axes=(None, 0)))(plain, d)
    np.testing.assert_allclose(np.asarray(g_fast), np.asarray(g_plain), rtol=1e-5)


def test_transposes_cannot_go_stale(em):
    doubled = dataclasses.replace(em, layers=tuple((2 * w, b) for w, b in em.layers))
    for (w, _), w_t in zip(doubled.layers, doubled.layers_t, strict=True):
        np.testing.assert_array_equal(np.asarray(w_t), np.asarray(w).T)
    # JAX rebuilds pytrees with placeholder leaves (e.g. vmap's in_axes): no error.
    leaves, treedef = jax.tree.flatten(em)
    jax.tree.unflatten(treedef, [None] * len(leaves))
