"""Tests of sedcore.igm_transmission (Inoue et al. 2014 and Madau 1995 mean IGM models)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sedcore import IGM_MODELS, igm_transmission
from sedcore._igm import _INOUE14_LYMAN_SERIES

LYA_AA = 1215.67
LYB_AA = 1025.72

# Numerical tests go through one jitted function: eager dispatch compiles every primitive
# for every new shape, which made this file several times slower. The eager path (and its
# input checks) is exercised by test_jit_matches_eager and the bad-input tests.
_transmission = jax.jit(igm_transmission, static_argnames="model")


def _mean_transmission(z, rest_lo_aa, rest_hi_aa, model="inoue14", n=1201):
    """Mean transmission over a rest-frame window (1 - D of Oke & Korycansky 1982)."""
    wave_rest = jnp.linspace(rest_lo_aa, rest_hi_aa, n)
    return float(jnp.mean(_transmission(wave_rest * (1.0 + z), z, model)))


def _lya_tau_eff(z_abs, model="inoue14"):
    """Model Ly-alpha effective optical depth at absorber redshift z_abs.

    Evaluated at lambda_obs = 1215.67 (1 + z_abs) for a source whose rest frame puts that
    wavelength at 1100 A, between Ly-beta and Ly-alpha, where only Ly-alpha absorbs.
    """
    z_source = (1.0 + z_abs) * LYA_AA / 1100.0 - 1.0
    return -math.log(float(_transmission(LYA_AA * (1.0 + z_abs), z_source, model)))


# --- the coefficient table -------------------------------------------------------------


def test_inoue14_table_has_39_lines_and_published_first_rows():
    # Inoue et al. 2014, Table 2: j = 2 (Ly-alpha) ... 40; Ly-alpha row
    # A_LAF = 1.68976e-2, 2.35379e-3, 1.02611e-4 and A_DLA = 1.61698e-4, 5.38995e-5;
    # A_LAF,j1 of Ly-beta and Ly-gamma 4.69229e-3 and 2.23898e-3.
    table = np.asarray(_INOUE14_LYMAN_SERIES)
    assert table.shape == (39, 6)
    np.testing.assert_array_equal(
        table[0], [1215.670, 1.68976e-2, 2.35379e-3, 1.02611e-4, 1.61698e-4, 5.38995e-5]
    )
    np.testing.assert_array_equal(table[1:3, :2], [[1025.720, 4.69229e-3], [972.537, 2.23898e-3]])


def test_inoue14_table_wavelengths_follow_the_rydberg_formula():
    # lambda_j = lambda_inf / (1 - 1/j^2) with the hydrogen Lyman limit 911.7633 A
    # (R_H = 109677.58 cm^-1). The table's values sit within 0.015 A of it (its rounding
    # to 0.001 A, fine structure ~0.005 A, and a Lyman limit ~0.01 A shorter); a typing
    # error in any of the first five significant digits would exceed 0.02 A.
    table = np.asarray(_INOUE14_LYMAN_SERIES)
    j = np.arange(2, 41)
    rydberg_aa = 911.7633 / (1.0 - 1.0 / j**2)
    np.testing.assert_allclose(table[:, 0], rydberg_aa, rtol=0, atol=0.02)


def test_inoue14_table_columns_join_continuously_at_the_breaks():
    # Eqs. (21)-(22) are continuous at lambda_obs/lambda_j = 2.2, 5.7 (LAF) and 3 (DLA):
    # A_j2 = A_j1 2.2^(1.2-3.7), A_j3 = A_j2 5.7^(3.7-5.5), A_DLA,j2 = A_DLA,j1 3^(2-3).
    # Each coefficient is printed to 6 significant figures (relative rounding <= 5e-6), so
    # a ratio of two may be off by 1e-5; a typing error in any digit shows up larger.
    table = np.asarray(_INOUE14_LYMAN_SERIES)
    np.testing.assert_allclose(table[:, 2] / table[:, 1], 2.2**-2.5, rtol=1e-5)
    np.testing.assert_allclose(table[:, 3] / table[:, 2], 5.7**-1.8, rtol=1e-5)
    np.testing.assert_allclose(table[:, 5] / table[:, 4], 1.0 / 3.0, rtol=1e-5)


# --- exact analytic pieces -------------------------------------------------------------


@pytest.mark.parametrize("z", [1.0, 1.5, 1.8, 3.0, 5.5, 6.0])
def test_inoue14_lyman_alpha_window_equals_analytic_power_laws(z):
    # Between Ly-beta and Ly-alpha in the source frame only the Ly-alpha LAF and DLA terms
    # of Inoue14 Eqs. (21)-(22) act. The chosen z put x = lambda_obs/1215.67 in every
    # regime (x < 2.2, across 2.2, 2.2..3, 3..5.7, across 5.7). Same float64 arithmetic,
    # so the match is to rounding.
    with jax.enable_x64(True):
        wave = np.linspace(LYB_AA * (1 + z) + 0.01, LYA_AA * (1 + z) - 0.01, 997)
        x = wave / LYA_AA
        tau_laf = np.where(
            x < 2.2,
            1.68976e-2 * x**1.2,
            np.where(x < 5.7, 2.35379e-3 * x**3.7, 1.02611e-4 * x**5.5),
        )
        tau_dla = np.where(x < 3.0, 1.61698e-4 * x**2, 5.38995e-5 * x**3)
        trans = _transmission(jnp.asarray(wave), z)
        assert trans.dtype == jnp.float64
        np.testing.assert_allclose(-np.log(np.asarray(trans)), tau_laf + tau_dla, rtol=1e-12)


@pytest.mark.parametrize("z", [0.5, 2.0, 4.0])
def test_madau95_lyman_alpha_window_equals_analytic_power_law(z):
    # Madau 1995: tau = 3.6e-3 (lambda_obs/1216)^3.46 between Ly-beta and Ly-alpha
    # (Lyman-alpha wavelength 1215.67 A here).
    with jax.enable_x64(True):
        wave = np.linspace(LYB_AA * (1 + z) + 0.01, LYA_AA * (1 + z) - 0.01, 501)
        trans = _transmission(jnp.asarray(wave), z, "madau95")
        np.testing.assert_allclose(
            -np.log(np.asarray(trans)), 3.6e-3 * (wave / LYA_AA) ** 3.46, rtol=1e-12
        )


# --- published observations ------------------------------------------------------------

# Ly-alpha effective optical depth measured from quasar spectra:
# Becker et al. 2013, MNRAS 430, 2067: tau_eff = 0.751 ((1+z)/4.5)^2.90 - 0.132
# (2.15 < z < 4.85); Faucher-Giguere et al. 2008, ApJ 681, 831:
# tau_eff = 0.0018 (1+z)^3.92 (2 < z < 4.2). The two measurements differ from each other
# by up to 11% over 2.5 <= z <= 4 (0.887 vs 0.989 at z = 4), so a model that reproduces
# the observations (as Inoue14 state theirs does) cannot be held closer than ~10%.
TAU_EFF_RTOL = 0.10


@pytest.mark.parametrize("z_abs", [2.5, 3.0, 3.5, 4.0, 4.5])
def test_inoue14_lya_tau_eff_matches_becker13(z_abs):
    becker13 = 0.751 * ((1.0 + z_abs) / 4.5) ** 2.90 - 0.132
    assert _lya_tau_eff(z_abs) == pytest.approx(becker13, rel=TAU_EFF_RTOL)


@pytest.mark.parametrize("z_abs", [2.5, 3.0, 3.5, 4.0])
def test_inoue14_lya_tau_eff_matches_faucher_giguere08(z_abs):
    fg08 = 0.0018 * (1.0 + z_abs) ** 3.92
    assert _lya_tau_eff(z_abs) == pytest.approx(fg08, rel=TAU_EFF_RTOL)


def test_inoue14_and_madau95_flux_decrement_agree_at_z3():
    # D_A = 1 - <T> over rest 1050-1170 A. Madau95's Ly-alpha coefficient gives tau_eff 9%
    # above Inoue14's at z = 3 (0.436 vs 0.401), i.e. Delta D_A ~ 0.7 * 0.035 ~ 0.025;
    # 0.05 covers that with a margin and is half the ~0.1 spread between the models that
    # Inoue14 discuss.
    d_a_inoue = 1.0 - _mean_transmission(3.0, 1050.0, 1170.0, "inoue14")
    d_a_madau = 1.0 - _mean_transmission(3.0, 1050.0, 1170.0, "madau95")
    assert abs(d_a_inoue - d_a_madau) < 0.05


# --- limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", IGM_MODELS)
@pytest.mark.parametrize("z", [0.3, 2.0, 6.0, 12.0])
def test_transmission_is_one_redward_of_lyman_alpha(model, z):
    wave = jnp.linspace(LYA_AA * (1 + z) * 1.00001, 30000.0 * (1 + z), 500)
    np.testing.assert_array_equal(np.asarray(_transmission(wave, z, model)), 1.0)


@pytest.mark.parametrize("model", IGM_MODELS)
def test_transmission_is_one_at_z0(model):
    wave = jnp.geomspace(500.0, 30000.0, 2000)
    np.testing.assert_array_equal(np.asarray(_transmission(wave, 0.0, model)), 1.0)


@pytest.mark.parametrize("model", IGM_MODELS)
@pytest.mark.parametrize("z", [5.0, 6.0, 7.0, 8.0])
def test_nearly_opaque_below_the_source_lyman_limit_at_high_z(model, z):
    # At z >= 5 the Lyman-limit mean free path (~14 proper Mpc at z = 5, Worseck et al.
    # 2014) is shorter than the ~19 proper Mpc over which an 880 A photon redshifts to
    # 912 A, and the Lyman-series forest adds tau > 2, so <T> over rest 850-905 A < 0.05
    # (the models give 0.037 and 0.022 at z = 5, falling fast with z).
    assert _mean_transmission(z, 850.0, 905.0, model) < 0.05


@pytest.mark.parametrize("model", IGM_MODELS)
@pytest.mark.parametrize("window_aa", [(1050.0, 1170.0), (920.0, 1015.0)])
def test_mean_transmission_decreases_with_redshift(model, window_aa):
    # More absorbers per unit redshift and a longer path: both D_A (Ly-alpha window) and
    # D_B (Ly-beta window) rise monotonically with source redshift.
    zs = np.arange(0.25, 7.01, 0.25)
    means = np.array([_mean_transmission(z, *window_aa, model) for z in zs])
    assert np.all(np.diff(means) < 0.0)


@pytest.mark.parametrize("z_break", [1.2, 2.0, 4.7])
def test_inoue14_continuous_across_source_redshift_regimes(z_break):
    # Eqs. (25)-(29) switch formula at z_S = 1.2 and 4.7 (LAF) and 2 (DLA); the pieces join
    # to the 4-significant-figure precision of their coefficients (|Delta tau| <= ~5e-4
    # from the rounding of e.g. 0.04696 (1+z)^3 and 0.01779 (1+z)^3.3), so 1e-3 in tau.
    with jax.enable_x64(True):
        wave = jnp.linspace(912.0, 911.8 * (1 + z_break) - 1.0, 2000)
        tau_below = -jnp.log(_transmission(wave, z_break - 1e-9))
        tau_above = -jnp.log(_transmission(wave, z_break + 1e-9))
        assert float(jnp.max(jnp.abs(tau_below - tau_above))) < 1e-3


@pytest.mark.parametrize(
    ("z", "x_break"), [(3.0, 2.2), (3.0, 3.0), (6.0, 2.2), (6.0, 3.0), (6.0, 5.7)]
)
def test_inoue14_continuous_across_continuum_wavelength_breaks(z, x_break):
    # The Lyman-continuum pieces break at lambda_obs / 911.8 A = 2.2, 5.7 (LAF) and 3 (DLA)
    # (each pair has the break blueward of the source Lyman limit); same 4-figure
    # coefficient precision as above, 1e-3 in transmission.
    with jax.enable_x64(True):
        wave = 911.8 * x_break
        jump = _transmission(wave - 1e-6, z) - _transmission(wave + 1e-6, z)
        assert abs(float(jump)) < 1e-3


@settings(max_examples=200, deadline=None)
@given(
    z=st.floats(0.0, 20.0, exclude_min=True),
    wave=hnp.arrays(np.float64, 16, elements=st.floats(500.0, 30000.0)),
)
def test_transmission_in_unit_interval(z, wave):
    for model in IGM_MODELS:
        trans = np.asarray(_transmission(jnp.asarray(wave), z, model))
        assert np.all(np.isfinite(trans))
        assert np.all((trans >= 0.0) & (trans <= 1.0))


# --- JAX transformations and dtypes ----------------------------------------------------


@pytest.mark.parametrize("model", IGM_MODELS)
def test_jit_matches_eager(model):
    # float64 so that the only differences are XLA's reassociations (~1e-15 relative).
    with jax.enable_x64(True):
        wave = jnp.geomspace(700.0, 12000.0, 300)
        eager = igm_transmission(wave, 4.3, model)
        jitted = _transmission(wave, 4.3, model=model)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-10)


@pytest.mark.parametrize("model", IGM_MODELS)
def test_vmap_over_redshift_matches_loop(model):
    # float64 as above: batching must not change the numbers beyond reassociation.
    with jax.enable_x64(True):
        wave = jnp.geomspace(700.0, 12000.0, 500)
        zs = jnp.array([0.0, 0.7, 2.1, 4.9, 7.5])
        batched = jax.jit(jax.vmap(lambda z: igm_transmission(wave, z, model)))(zs)
        assert batched.shape == (5, 500)
        for i, z in enumerate(zs):
            np.testing.assert_allclose(
                np.asarray(batched[i]), np.asarray(_transmission(wave, z, model)), rtol=1e-10
            )


@pytest.mark.parametrize("model", IGM_MODELS)
@pytest.mark.parametrize(("rest_window_aa", "z"), [((1050.0, 1170.0), 3.3), ((600.0, 900.0), 3.3)])
def test_redshift_gradient_matches_finite_difference(model, rest_window_aa, z):
    # On a rest-frame grid the line edges are fixed, so the mean transmission is smooth in
    # z (away from the z_S regime switches); central differences with h = 1e-5 in float64
    # are accurate to ~h^2 * f''' ~ 1e-9, so rtol 1e-6.
    with jax.enable_x64(True):
        wave_rest = jnp.linspace(*rest_window_aa, 1500)

        @jax.jit
        def mean_trans(z_source):
            return jnp.mean(igm_transmission(wave_rest * (1.0 + z_source), z_source, model))

        grad = float(jax.jit(jax.grad(mean_trans))(z))
        h = 1e-5
        fd = float((mean_trans(z + h) - mean_trans(z - h)) / (2 * h))
        assert grad < 0.0
        assert grad == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("model", IGM_MODELS)
def test_float32_default_and_float64_agree(model):
    # The continuum fits reach tau ~ 1 by cancelling terms of size ~100-200, so float32
    # (eps 6e-8) leaves up to ~1e-5 absolute error in tau and less in T = exp(-tau) <= 1;
    # measured worst case over 0.1 < z < 12 is 6e-6. 1e-5 still catches dtype mix-ups.
    wave32 = jnp.geomspace(700.0, 12000.0, 2000)
    trans32 = _transmission(wave32, 5.2, model)
    assert trans32.dtype == jnp.float32
    with jax.enable_x64(True):
        wave64 = jnp.asarray(np.asarray(wave32), dtype=jnp.float64)
        trans64 = _transmission(wave64, 5.2, model)
        assert trans64.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(trans32), np.asarray(trans64), rtol=0, atol=1e-5)


def test_output_shape_follows_wavelength_shape():
    wave = jnp.full((3, 4), 4000.0)
    assert _transmission(wave, 3.0).shape == (3, 4)
    assert _transmission(4000.0, 3.0).shape == ()


def test_integer_wavelengths_are_accepted():
    trans = _transmission(jnp.array([4000, 5000, 6000]), 3.5)
    assert jnp.issubdtype(trans.dtype, jnp.floating)


# --- bad input -------------------------------------------------------------------------


def test_unknown_model_raises_listing_options():
    with pytest.raises(ValueError, match="inoue14.*madau95"):
        igm_transmission(jnp.array([4000.0]), 3.0, model="meiksin06")


def test_non_string_model_raises_type_error():
    with pytest.raises(TypeError, match="model must be a string"):
        igm_transmission(jnp.array([4000.0]), 3.0, model=1)


@pytest.mark.parametrize("z", [-0.1, float("nan"), float("inf")])
def test_bad_concrete_redshift_raises(z):
    with pytest.raises(ValueError, match="z must be a finite redshift >= 0"):
        igm_transmission(jnp.array([4000.0]), z)


def test_non_scalar_redshift_raises_pointing_to_vmap():
    with pytest.raises(ValueError, match="jax.vmap"):
        igm_transmission(jnp.array([4000.0]), jnp.array([1.0, 2.0]))


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_bad_concrete_wavelength_raises(bad):
    with pytest.raises(ValueError, match="wave_obs_aa must be finite and > 0"):
        igm_transmission(jnp.array([4000.0, bad]), 3.0)
