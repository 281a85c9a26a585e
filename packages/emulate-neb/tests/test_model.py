"""ExactNebularModel: interpolation, population sums, gradients, batching, bad input.

Line profiles on wavelength grids are in test_lines_on_grid.py, float64 behaviour (exact
nodes, gradients against finite differences) in test_float64.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sedcore

from emulate_neb import ExactNebularModel, NebularGrid

HB = "H 1 4861.32A"
# Shared shapes, so that the jitted kernels compile once per shape for the whole module.
WAVE_COARSE = jnp.geomspace(3000.0, 6900.0, 40)  # ~6500 km/s pixels
AGES = jnp.log10(jnp.geomspace(1e5, 1e9, 60))


# --- protocol and shapes ---------------------------------------------------------------


def test_satisfies_sedcore_nebular_protocol(cloudy_model):
    assert isinstance(cloudy_model, sedcore.NebularModel)
    assert len(cloudy_model.line_names) == cloudy_model.line_wave_aa.shape[0] == 124
    assert cloudy_model.max_age_yr == pytest.approx(10**7.4, rel=3e-3)


def test_emission_returns_sedcore_type_and_shapes(cloudy_model):
    em = cloudy_model.emission(WAVE_COARSE, AGES, jnp.ones(60), -0.5, -2.5, 80.0)
    assert isinstance(em, sedcore.NebularEmission)
    assert em.lnu_lsun_per_hz.shape == (40,) and em.line_lum_lsun.shape == (124,)
    spec = np.asarray(em.lnu_lsun_per_hz)
    assert np.all(spec >= 0) and np.all(np.isfinite(spec))


def test_model_is_a_pytree_usable_under_jit(cloudy_model):
    f = jax.jit(lambda m, u: m.line_lum_lsun(jnp.array([6.2]), jnp.array([1.0]), -0.4, u))
    np.testing.assert_allclose(
        np.asarray(f(cloudy_model, -2.0)),
        np.asarray(cloudy_model.ssp_line_lum_lsun(6.2, -0.4, -2.0)), rtol=1e-6)


# --- interpolation ---------------------------------------------------------------------


def test_reproduces_grid_nodes_in_float32(cloudy_grid, cloudy_model, ssp_lines):
    p = cloudy_grid.node_params()
    lines = np.asarray(ssp_lines(cloudy_model, p[:, 0], p[:, 1], p[:, 2]))
    want = np.asarray(cloudy_grid.line_lum_lsun_per_msun).reshape(-1, cloudy_grid.n_lines)
    big = want > 1e-6 * want.max(axis=0)  # float32 keeps ~7 digits of log(L + offset)
    np.testing.assert_allclose(lines[big], want[big], rtol=1e-5)


def test_log_interpolation_between_nodes_is_geometric_mean(cloudy_grid, cloudy_model):
    # Half-way between two age nodes, a line is the geometric mean of its node values
    # (the offset, 1e-10 of the line maximum, is negligible for H-beta).
    hb = cloudy_grid.line_index(HB)
    a0, a1 = (float(x) for x in cloudy_grid.log_age_yr[5:7])
    mid = cloudy_model.ssp_line_lum_lsun(0.5 * (a0 + a1), cloudy_grid.log_zsol[2],
                                         cloudy_grid.log_u[3])
    n0 = float(cloudy_grid.line_lum_lsun_per_msun[5, 2, 3, hb])
    n1 = float(cloudy_grid.line_lum_lsun_per_msun[6, 2, 3, hb])
    assert float(mid[hb]) == pytest.approx(np.sqrt(n0 * n1), rel=1e-5)


def test_continuum_between_nodes_lies_between_node_values(cloudy_grid, cloudy_model):
    z0, z1 = (float(x) for x in cloudy_grid.log_zsol[2:4])
    c = np.asarray(cloudy_model.ssp_cont_lnu_lsun_per_hz(6.3, 0.5 * (z0 + z1), -2.0))
    ua = int(np.argmin(np.abs(np.asarray(cloudy_grid.log_u) + 2.0)))
    n0 = np.asarray(cloudy_grid.cont_lnu_lsun_per_hz_per_msun[3, 2, ua])
    n1 = np.asarray(cloudy_grid.cont_lnu_lsun_per_hz_per_msun[3, 3, ua])
    lo, hi = np.minimum(n0, n1), np.maximum(n0, n1)
    ok = n0 > 1e-6 * n0.max()
    # N * S with N geometric and S linear: within the node envelope up to the spread of N.
    assert np.all(c[ok] >= 0.9 * lo[ok]) and np.all(c[ok] <= 1.1 * hi[ok])


# --- populations -----------------------------------------------------------------------


def test_emission_is_linear_in_mass_per_bin(cloudy_model):
    rng = np.random.default_rng(1)
    m1, m2 = (jnp.asarray(rng.uniform(0, 1e6, 60), dtype=jnp.float32) for _ in range(2))
    e = lambda m: cloudy_model.emission(WAVE_COARSE, AGES, m, -0.3, -2.7, 90.0)  # noqa: E731
    e1, e2, e12 = e(m1), e(m2), e(m1 + 3.0 * m2)
    for f in ("lnu_lsun_per_hz", "line_lum_lsun"):
        a, b, ab = (np.asarray(getattr(x, f), np.float64) for x in (e1, e2, e12))
        np.testing.assert_allclose(ab, a + 3.0 * b, rtol=2e-5, atol=1e-6 * ab.max())


def test_single_bin_population_equals_ssp_times_mass(cloudy_model):
    ages = jnp.array([5.0, 6.35, 7.2, 9.0])
    mass = jnp.array([0.0, 2.5e4, 0.0, 0.0])
    lines = cloudy_model.line_lum_lsun(ages, mass, -1.0, -3.0)
    np.testing.assert_allclose(np.asarray(lines),
                               2.5e4 * np.asarray(cloudy_model.ssp_line_lum_lsun(6.35, -1.0, -3.0)),
                               rtol=1e-5)


def test_ages_beyond_max_age_emit_nothing(cloudy_model):
    old = jnp.log10(jnp.geomspace(10**7.41, 1e10, 60))
    em = cloudy_model.emission(WAVE_COARSE, old, jnp.ones(60), 0.0, -2.0, 50.0)
    assert float(jnp.max(em.lnu_lsun_per_hz)) == 0.0 and float(jnp.max(em.line_lum_lsun)) == 0.0


def test_rounded_oldest_age_still_emits(cloudy_model):
    # BC03 tabulates 10^7.4 yr as 2.5119e7 yr (3e-6 dex above the node).
    lum = cloudy_model.ssp_line_lum_lsun(np.log10(2.5119e7), 0.0, -2.0)
    node = cloudy_model.ssp_line_lum_lsun(7.4, 0.0, -2.0)
    np.testing.assert_allclose(np.asarray(lum), np.asarray(node), rtol=1e-4)
    assert float(lum.sum()) > 0


def test_ages_below_the_youngest_node_use_it(cloudy_model):
    np.testing.assert_array_equal(np.asarray(cloudy_model.ssp_line_lum_lsun(5.0, -0.5, -2.0)),
                                  np.asarray(cloudy_model.ssp_line_lum_lsun(6.0, -0.5, -2.0)))
    np.testing.assert_array_equal(np.asarray(cloudy_model.ssp_line_lum_lsun(-np.inf, -0.5, -2.0)),
                                  np.asarray(cloudy_model.ssp_line_lum_lsun(6.0, -0.5, -2.0)))


# --- gradients -------------------------------------------------------------------------


def test_gradients_are_finite_at_nodes_and_edges(cloudy_model):
    @jax.jit
    @jax.grad
    def f(gas, m):
        return m.line_lum_lsun(jnp.array([6.0, 6.3]), jnp.array([1.0, 1.0]), gas[0], gas[1]).sum()

    z = np.asarray(cloudy_model.log_zsol)
    for point in ((0.0, -2.0), (z[0], -4.0), (z[-1], 0.0)):  # a node, two grid corners
        g = f(jnp.array(point), cloudy_model)
        assert all(np.isfinite(float(v)) for v in g)


# --- batching and dtypes ---------------------------------------------------------------


def test_vmap_over_gas_parameters_matches_a_loop(cloudy_model):
    wave, ages, mass = WAVE_COARSE, AGES, jnp.linspace(0.0, 1.0, 60)
    zs = jnp.array([-1.5, -0.2, 0.3])
    us = jnp.array([-3.7, -1.1, -0.4])
    sig = jnp.array([30.0, 90.0, 200.0])
    batched = jax.jit(jax.vmap(lambda m, z, u, s: m.emission(wave, ages, mass, z, u, s),
                               in_axes=(None, 0, 0, 0)))(cloudy_model, zs, us, sig)
    for i in range(3):
        one = cloudy_model.emission(wave, ages, mass, zs[i], us[i], sig[i])
        np.testing.assert_allclose(np.asarray(batched.lnu_lsun_per_hz[i]),
                                   np.asarray(one.lnu_lsun_per_hz),
                                   rtol=1e-5, atol=1e-7 * float(one.lnu_lsun_per_hz.max()))


# --- out-of-grid and bad input ---------------------------------------------------------


@pytest.mark.parametrize("name, z, u", [("log_zsol", 1.0, -2.0), ("log_zsol", -2.5, -2.0),
                                        ("log_u", 0.0, 0.5), ("log_u", 0.0, -4.2)])
def test_gas_parameters_outside_the_grid_are_rejected_eagerly(cloudy_model, name, z, u):
    with pytest.raises(ValueError, match=f"{name}=.*outside the nebular grid"):
        cloudy_model.line_lum_lsun(jnp.array([6.0]), jnp.array([1.0]), z, u)


def test_gas_parameters_outside_the_grid_are_clipped_under_jit(cloudy_model):
    f = jax.jit(lambda m, z, u: m.line_lum_lsun(jnp.array([6.0]), jnp.array([1.0]), z, u))
    m = cloudy_model
    z_lo, z_hi = float(m.log_zsol[0]), float(m.log_zsol[-1])
    np.testing.assert_array_equal(np.asarray(f(m, 1.5, 0.7)), np.asarray(f(m, z_hi, 0.0)))
    np.testing.assert_array_equal(np.asarray(f(m, -3.0, -5.0)), np.asarray(f(m, z_lo, -4.0)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"wave_aa": jnp.ones((2, 3))}, "wave_aa must be a 1-d array"),
        ({"wave_aa": jnp.array([5000.0, 4000.0, 6000.0])}, "strictly increasing"),
        ({"wave_aa": jnp.array([-1.0, 4000.0])}, "finite and > 0"),
        ({"log_age_yr": jnp.array([[6.0]])}, "log_age_yr must be 1-d"),
        ({"mass_formed_msun": jnp.array([1.0, 2.0])}, "shape of log_age_yr"),
        ({"mass_formed_msun": jnp.array([-1.0])}, "finite and >= 0"),
        ({"log_age_yr": jnp.array([np.nan])}, "log10 ages"),
        ({"log_zsol": jnp.array([0.0, 0.1])}, "log_zsol must be a scalar"),
        ({"log_u": np.nan}, "log_u must be finite"),
        ({"sigma_kms": -5.0}, "sigma_kms must be >= 0"),
    ],
)
def test_bad_emission_input_is_rejected(cloudy_model, kwargs, match):
    args = {"wave_aa": WAVE_COARSE, "log_age_yr": jnp.array([6.0]),
            "mass_formed_msun": jnp.array([1.0]), "log_zsol": 0.0, "log_u": -2.0, "sigma_kms": 50.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cloudy_model.emission(**args)


def test_model_needs_a_grid_and_a_positive_window(cloudy_grid):
    with pytest.raises(TypeError, match="NebularGrid"):
        ExactNebularModel({"log_age_yr": [6.0]})
    with pytest.raises(ValueError, match="line_window_px"):
        ExactNebularModel(cloudy_grid, line_window_px=0)
    assert isinstance(cloudy_grid, NebularGrid)
