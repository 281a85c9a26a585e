"""Tests for sedcore._dust against published formulas, tables and analytic limits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sedcore._dust import (
    DUST_LAWS,
    attenuation_tau,
    birth_cloud_fraction,
    calzetti00_k,
    charlot_fall_transmission,
    kriek_conroy13_tau,
    power_law_tau,
    smc_k,
)

# float32 has a relative precision of 1.2e-7; a few operations on O(10) terms that cancel to
# O(1) lose about one digit, so 1e-5 is the float32 agreement with exact float64 formulas.
F32_RTOL = 1e-5


def calzetti00_k_reference(lam_um):
    """Calzetti et al. (2000, ApJ 533, 682) Eq. 4, written out independently (float64)."""
    lam_um = np.asarray(lam_um, dtype=float)
    blue = 2.659 * (-2.156 + 1.509 / lam_um - 0.198 / lam_um**2 + 0.011 / lam_um**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 / lam_um) + 4.05
    return np.where(lam_um <= 0.63, blue, red)


# ----------------------------------------------------------------------------- Calzetti


def test_calzetti_matches_published_formula_in_its_range():
    lam_um = np.geomspace(0.12, 2.2, 301)
    got = np.asarray(calzetti00_k(lam_um * 1e4))
    np.testing.assert_allclose(got, calzetti00_k_reference(lam_um), rtol=F32_RTOL)


@pytest.mark.parametrize(
    ("wave_aa", "k_printed"),
    [
        # Values commonly quoted for the Calzetti et al. (2000) curve, printed to 3 significant
        # figures (so the 1% tolerance is far above their rounding):
        (6563.0, 3.33),  # k'(H-alpha)
        (4861.0, 4.60),  # k'(H-beta)
        (1600.0, 9.97),  # k'(1600 A), used for UV-slope dust corrections
        (1500.0, 10.33),  # k'(1500 A)
        # k'(2.2 um): Eq. 4 gives 2.659 (-1.857 + 1.040 / 2.2) + 4.05 = 0.369
        # (A_K / A_V = 0.091), not 0.44.
        (22000.0, 0.369),
    ],
)
def test_calzetti_printed_values(wave_aa, k_printed):
    assert float(calzetti00_k(wave_aa)) == pytest.approx(k_printed, rel=0.01)


def test_calzetti_v_band_close_to_rv():
    # Eq. 4 at 0.55 um gives 4.048, within 0.1% of R'_V = 4.05 (the fit's rounding).
    assert float(calzetti00_k(5500.0)) == pytest.approx(4.05, rel=1e-3)


@pytest.mark.parametrize(
    ("edge_aa", "log_slope"),
    [
        # |d ln k / d ln lambda| at the edges of the published range, from Eq. 4:
        # 2.659 (1.509 x - 2 0.198 x^2 + 3 0.011 x^3) / k at x = 1/0.12 (0.915) and
        # 2.659 1.040 x / k at x = 1/2.2 (3.41).
        (1200.0, 0.915),
        (22000.0, 3.41),
    ],
)
def test_calzetti_extrapolation_is_continuous_at_range_edges(edge_aa, log_slope):
    # Across +-0.1% in wavelength, ln k changes by the local slope times 0.002 (no jump).
    lo, hi = np.asarray(calzetti00_k(jnp.array([edge_aa * 0.999, edge_aa * 1.001])), dtype=float)
    step = np.log(1.001 / 0.999)
    assert abs(np.log(lo / hi)) == pytest.approx(log_slope * step, rel=0.01)


def test_calzetti_is_finite_and_positive_everywhere():
    k = np.asarray(calzetti00_k(np.geomspace(1.0, 1e7, 2000)))
    assert np.all(np.isfinite(k)) and np.all(k > 0)


def test_calzetti_uv_extrapolation_is_linear_in_inverse_wavelength():
    x = np.array([9.0, 10.0, 12.0])  # micron^-1, all bluer than 0.12 um
    k = np.asarray(calzetti00_k(1e4 / x), dtype=float)
    # Slope of the Eq. 4 polynomial at x = 1/0.12 um^-1 (analytic derivative).
    x0 = 1 / 0.12
    slope = 2.659 * (1.509 - 2 * 0.198 * x0 + 3 * 0.011 * x0**2)
    np.testing.assert_allclose(np.diff(k) / np.diff(x), slope, rtol=1e-4)


def test_calzetti_ir_extrapolation_falls_as_power_law():
    # Beyond 2.2 um, k' = k'(2.2) (lam / 2.2)^-s with s matching Eq. 4's log slope at 2.2 um.
    k22 = 2.659 * (-1.857 + 1.040 / 2.2) + 4.05
    s = 2.659 * 1.040 / 2.2 / k22
    lam_um = np.array([3.0, 5.0, 10.0])
    np.testing.assert_allclose(
        np.asarray(calzetti00_k(lam_um * 1e4)), k22 * (lam_um / 2.2) ** -s, rtol=F32_RTOL
    )


def test_calzetti_tau_normalised_at_5500():
    wave = jnp.array([1500.0, 5500.0, 8000.0])
    tau = np.asarray(attenuation_tau("calzetti", wave, 0.7))
    assert tau[1] == pytest.approx(0.7, rel=1e-6)
    ref = calzetti00_k_reference(np.asarray(wave) / 1e4)
    np.testing.assert_allclose(tau, 0.7 * ref / ref[1], rtol=F32_RTOL)


# ----------------------------------------------------------------------------- SMC

# Gordon et al. (2003, ApJ 594, 279) Table 4, SMC bar average: x = 1/lambda (micron^-1) and
# A(lambda)/A(V), printed to 3 decimals. The first 8 are the K..U photometric points, the rest
# the binned IUE ultraviolet curve.
G03_SMC_X = np.array(
    [0.455, 0.606, 0.800, 1.235, 1.538, 1.818, 2.273, 2.703, 3.375, 3.625, 3.875, 4.125, 4.375,
     4.625, 4.875, 5.125, 5.375, 5.625, 5.875, 6.125, 6.375, 6.625, 6.875, 7.125, 7.375, 7.625,
     7.875, 8.125, 8.375, 8.625]
)  # fmt: skip
G03_SMC_AXAV = np.array(
    [0.110, 0.169, 0.250, 0.567, 0.801, 1.000, 1.374, 1.672, 2.000, 2.220, 2.428, 2.661, 2.947,
     3.161, 3.293, 3.489, 3.637, 3.866, 4.013, 4.243, 4.472, 4.776, 5.000, 5.272, 5.575, 5.795,
     6.074, 6.297, 6.436, 6.992]
)  # fmt: skip
G03_SMC_RV = 2.74


def test_smc_reproduces_g03_optical_nir_table():
    # The optical/NIR curve passes through the tabulated points; agreement is limited by the
    # table's 3-decimal rounding (+-0.0005).
    x = G03_SMC_X[:8]
    axav = np.asarray(smc_k(1e4 / x)) / G03_SMC_RV
    np.testing.assert_allclose(axav, G03_SMC_AXAV[:8], atol=5e-4, rtol=0)


def test_smc_uv_follows_g03_fm_fit():
    # G03 Table 3 FM90 parameters for the SMC bar; FM90 curvature term for x >= 5.9.
    c1, c2, c3, c4, x0, gamma = -4.959, 2.264, 0.389, 0.461, 4.6, 1.0
    x = np.linspace(1 / 0.27, 8.7, 40)
    drude = x**2 / ((x**2 - x0**2) ** 2 + (x * gamma) ** 2)
    y = np.clip(x - 5.9, 0, None)
    e_ratio = c1 + c2 * x + c3 * drude + c4 * (0.5392 * y**2 + 0.05644 * y**3)
    np.testing.assert_allclose(
        np.asarray(smc_k(1e4 / x)), G03_SMC_RV * (1 + e_ratio / G03_SMC_RV), rtol=F32_RTOL
    )


def test_smc_matches_g03_uv_table_within_fit_residuals():
    # G03's FM fit is a smooth fit, so it differs from the binned average by the table's
    # bin-to-bin noise: the last bins jump by 0.14 and 0.56 where neighbours step by ~0.25.
    # Every UV bin agrees within 6% (measured max 5.9% at x = 8.375, rms 1.7%); without
    # the two noisiest last bins within 3% (measured max 2.6%).
    x, table = G03_SMC_X[8:], G03_SMC_AXAV[8:]
    rel = np.asarray(smc_k(1e4 / x)) / G03_SMC_RV / table - 1
    assert np.max(np.abs(rel)) < 0.06
    assert np.max(np.abs(rel[x < 8.3])) < 0.03
    assert np.sqrt(np.mean(rel**2)) < 0.02


def test_smc_is_monotonic_without_bump_and_positive():
    # The SMC bar curve has no 2175 A bump: A(lambda) rises monotonically with 1/lambda.
    x = np.linspace(0.05, 15.0, 3000)
    k = np.asarray(smc_k(1e4 / x))
    assert np.all(np.diff(k) > 0)
    assert np.all(np.isfinite(k)) and np.all(k > 0)


def test_smc_tau_normalised_at_5500():
    assert float(attenuation_tau("smc", 5500.0, 0.4)) == pytest.approx(0.4, rel=1e-6)


# ----------------------------------------------------------------------------- Kriek & Conroy


def test_kriek_conroy_without_tilt_or_bump_is_calzetti():
    wave = jnp.geomspace(900.0, 5e4, 500)
    np.testing.assert_allclose(
        kriek_conroy13_tau(wave, 0.5, delta=0.0, bump_amplitude=0.0),
        attenuation_tau("calzetti", wave, 0.5),
        rtol=F32_RTOL,
    )


@pytest.mark.parametrize("delta", [-0.6, -0.2, 0.0, 0.3])
def test_kriek_conroy_preserves_tau_v_at_5500(delta):
    assert float(kriek_conroy13_tau(5500.0, 0.8, delta)) == pytest.approx(0.8, rel=1e-6)


@pytest.mark.parametrize("delta", [-0.4, 0.0, 0.2])
def test_kriek_conroy_bump_peaks_at_2175_with_published_amplitude(delta):
    # Kriek & Conroy (2013) Eq. 3: E_b = 0.85 - 1.9 delta, Drude profile centred on 2175 A.
    # Remove the normalisation and tilt to get the bump in units of k'.
    wave = jnp.arange(1900.0, 2500.0, 1.0)
    with_bump = kriek_conroy13_tau(wave, 1.0, delta)
    without = kriek_conroy13_tau(wave, 1.0, delta, bump_amplitude=0.0)
    k_v = calzetti00_k_reference(0.55)
    eb = 0.85 - 1.9 * delta
    norm_with = k_v + eb / (1 + ((5500 / 2175 - 2175 / 5500) * 2175 / 350) ** 2)
    tilt = (np.asarray(wave) / 5500.0) ** delta
    bump = (np.asarray(with_bump) * norm_with - np.asarray(without) * k_v) / tilt
    assert float(wave[np.argmax(bump)]) == 2175.0
    assert bump.max() == pytest.approx(eb, rel=1e-4)


def test_kriek_conroy_bump_fwhm_is_350_aa():
    wave = np.arange(1800.0, 2600.0, 0.5)
    with_bump = np.asarray(kriek_conroy13_tau(wave, 1.0, 0.0, bump_amplitude=1.0))
    without = np.asarray(kriek_conroy13_tau(wave, 1.0, 0.0, bump_amplitude=0.0))
    # norms differ by the bump's tiny value at 5500 A; rescale both to k' units.
    k_v = calzetti00_k_reference(0.55)
    d_v = 1 / (1 + ((5500 / 2175 - 2175 / 5500) * 2175 / 350) ** 2)
    bump = with_bump * (k_v + d_v) - without * k_v
    above = wave[bump >= 0.5 * bump.max()]
    # The Drude FWHM in wavelength is 350 A to first order in 350/2175 (exact: 350.8 A).
    assert above[-1] - above[0] == pytest.approx(350.0, abs=2.0)


def test_kriek_conroy_negative_delta_is_steeper():
    wave = jnp.array([1500.0, 5500.0])
    shallow = kriek_conroy13_tau(wave, 1.0, 0.0)
    steep = kriek_conroy13_tau(wave, 1.0, -0.3)
    # The UV/V ratio scales by (1500/5500)^-0.3 = 1.48 from the tilt; the stronger tied bump
    # adds 0.24% at 1500 A (Drude wing 0.043 x 0.57 / k' = 10.3) and 0.08% through the norm.
    assert float(steep[0] / shallow[0]) == pytest.approx((1500 / 5500) ** -0.3, rel=0.005)


# ----------------------------------------------------------------------------- uniform API


@pytest.mark.parametrize("law", DUST_LAWS)
def test_every_law_is_normalised_finite_and_non_negative(law):
    wave = jnp.geomspace(10.0, 1e7, 4000)
    tau = np.asarray(attenuation_tau(law, wave, 1.0))
    assert np.all(np.isfinite(tau)) and np.all(tau >= 0)
    assert float(attenuation_tau(law, 5500.0, 1.3)) == pytest.approx(1.3, rel=1e-6)


def test_power_law_tau_matches_formula():
    wave = np.array([1000.0, 3000.0, 5500.0, 20000.0])
    tau = attenuation_tau("power_law", wave, 0.5, index=-1.3)
    np.testing.assert_allclose(tau, 0.5 * (wave / 5500) ** -1.3, rtol=F32_RTOL)


def test_works_under_jit_and_vmap():
    wave = jnp.geomspace(1000.0, 30000.0, 50)
    f = jax.jit(jax.vmap(lambda t, d: kriek_conroy13_tau(wave, t, d)))
    taus, deltas = jnp.array([0.1, 0.5]), jnp.array([-0.3, 0.1])
    out = f(taus, deltas)
    assert out.shape == (2, 50)
    np.testing.assert_allclose(out[1], kriek_conroy13_tau(wave, 0.5, 0.1), rtol=1e-6)


def test_gradients_match_finite_differences():
    def flux(tau_v, delta):
        return jnp.sum(jnp.exp(-kriek_conroy13_tau(wave, tau_v, delta)))

    with jax.enable_x64(True):
        wave = jnp.asarray(np.array([1200.0, 2175.0, 4000.0, 12000.0]))
        tau_v, delta, h = 0.4, -0.25, 1e-6
        g_tau, g_delta = jax.grad(flux, argnums=(0, 1))(tau_v, delta)
        fd_tau = (flux(tau_v + h, delta) - flux(tau_v - h, delta)) / (2 * h)
        fd_delta = (flux(tau_v, delta + h) - flux(tau_v, delta - h)) / (2 * h)
    # central differences with h = 1e-6 in float64: truncation ~h^2, rounding ~1e-16/h.
    assert float(g_tau) == pytest.approx(float(fd_tau), rel=1e-7)
    assert float(g_delta) == pytest.approx(float(fd_delta), rel=1e-7)
    assert float(g_tau) < 0  # more dust, less light


@pytest.mark.parametrize("law", DUST_LAWS)
def test_float64_when_enabled(law):
    wave32 = np.geomspace(500.0, 1e5, 200)
    tau32 = np.asarray(attenuation_tau(law, wave32, 0.6))
    assert tau32.dtype == np.float32
    with jax.enable_x64(True):
        tau64 = attenuation_tau(law, jnp.asarray(wave32, dtype=jnp.float64), 0.6)
        assert tau64.dtype == jnp.float64
        tau64 = np.asarray(tau64)
    np.testing.assert_allclose(tau32, tau64, rtol=F32_RTOL)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf])
def test_bad_tau_v_raises(bad):
    with pytest.raises(ValueError, match="tau_v"):
        attenuation_tau("calzetti", jnp.array([5000.0]), bad)


@pytest.mark.parametrize("bad", [0.0, -5.0, np.nan])
def test_bad_wavelength_raises(bad):
    with pytest.raises(ValueError, match="wave_aa"):
        smc_k(jnp.array([5000.0, bad]))


def test_unknown_law_raises():
    with pytest.raises(ValueError, match="Unknown dust law 'cardelli'"):
        attenuation_tau("cardelli", 5000.0, 0.1)
    with pytest.raises(TypeError, match="law must be a string"):
        attenuation_tau(3, 5000.0, 0.1)


def test_unknown_parameter_raises():
    with pytest.raises(TypeError, match="unexpected"):
        attenuation_tau("calzetti", 5000.0, 0.1, delta=0.2)


def test_nan_delta_and_vector_tau_raise():
    with pytest.raises(ValueError, match="delta"):
        kriek_conroy13_tau(5000.0, 0.1, np.nan)
    with pytest.raises(ValueError, match="jax.vmap"):
        power_law_tau(5000.0, jnp.array([0.1, 0.2]))


def test_checks_are_skipped_under_tracing():
    # Values are only checked when concrete; under jit a negative tau_v simply flows through.
    out = jax.jit(lambda t: attenuation_tau("calzetti", jnp.array([5500.0]), t))(-1.0)
    assert float(out[0]) == pytest.approx(-1.0)


# ----------------------------------------------------------------------------- Charlot & Fall

WAVE = jnp.geomspace(1000.0, 20000.0, 64)
LOG_AGE = jnp.array([6.0, 6.5, 6.9, 7.0, 7.5, 9.0, 10.0])


def test_old_stars_see_only_the_diffuse_ism():
    trans = charlot_fall_transmission(WAVE, LOG_AGE, 1.0, 0.3)
    expected = np.exp(-0.3 * (np.asarray(WAVE) / 5500) ** -0.7)
    # log age 7.0 is exactly t_split = 1e7 yr and counts as old.
    np.testing.assert_allclose(trans[3:], np.broadcast_to(expected, (4, 64)), rtol=F32_RTOL)


def test_young_stars_see_birth_cloud_and_diffuse_ism():
    trans = charlot_fall_transmission(WAVE, LOG_AGE, 1.0, 0.3, dust1_index=-1.0)
    lam = np.asarray(WAVE) / 5500
    expected = np.exp(-(1.0 * lam**-1.0 + 0.3 * lam**-0.7))
    np.testing.assert_allclose(trans[:3], np.broadcast_to(expected, (3, 64)), rtol=F32_RTOL)


def test_no_dust_is_identity():
    trans = charlot_fall_transmission(WAVE, LOG_AGE, 0.0, 0.0)
    assert trans.shape == (7, 64)
    np.testing.assert_array_equal(trans, 1.0)


def test_diffuse_power_law_slope():
    # Charlot & Fall (2000): tau proportional to lambda^-0.7 by default.
    trans = charlot_fall_transmission(jnp.array([2750.0, 11000.0]), LOG_AGE, 0.0, 0.5)
    tau = -np.log(np.asarray(trans[-1], dtype=float))
    assert np.log(tau[0] / tau[1]) / np.log(2750.0 / 11000.0) == pytest.approx(-0.7, rel=1e-5)


def test_absorbed_energy_is_positive_and_larger_for_young_stars():
    lnu = np.ones((7, 64))  # flat spectrum per age, arbitrary units
    trans = np.asarray(charlot_fall_transmission(WAVE, LOG_AGE, 1.0, 0.3))
    absorbed = np.trapezoid(lnu * (1 - trans), np.asarray(WAVE), axis=1)
    assert np.all((trans > 0) & (trans <= 1))
    assert np.all(absorbed > 0)
    assert absorbed[0] > absorbed[-1]


@pytest.mark.parametrize("law", ["calzetti", "smc"])
def test_named_diffuse_law_is_used(law):
    trans = charlot_fall_transmission(WAVE, LOG_AGE, 0.0, 0.4, diffuse_law=law)
    np.testing.assert_allclose(
        trans[-1], np.exp(-np.asarray(attenuation_tau(law, WAVE, 0.4))), rtol=F32_RTOL
    )


def test_kriek_conroy_diffuse_uses_dust_index_as_delta():
    trans = charlot_fall_transmission(
        WAVE, LOG_AGE, 0.0, 0.4, diffuse_law="kriek_conroy", dust_index=-0.3
    )
    expected = np.exp(-np.asarray(kriek_conroy13_tau(WAVE, 0.4, -0.3)))
    np.testing.assert_allclose(trans[-1], expected, rtol=F32_RTOL)


def test_dust_index_rejected_for_law_without_shape():
    with pytest.raises(TypeError, match="dust_index"):
        charlot_fall_transmission(WAVE, LOG_AGE, 0.1, 0.1, diffuse_law="calzetti", dust_index=0.1)


def test_bin_edges_give_fractional_birth_cloud_weight():
    log_age = jnp.array([6.5, 7.1, 8.0])
    edges = jnp.array([-np.inf, 6.8, 7.3, 9.0])
    frac = np.asarray(birth_cloud_fraction(log_age, 1e7, edges))
    # Bin 2 spans 10^6.8 .. 10^7.3 yr; the part younger than 1e7 yr in linear age:
    expected = (1e7 - 10**6.8) / (10**7.3 - 10**6.8)
    np.testing.assert_allclose(frac, [1.0, expected, 0.0], rtol=1e-5)
    trans = charlot_fall_transmission(WAVE, log_age, 1.0, 0.0, log_age_edges_yr=edges)
    t_bc = np.exp(-(np.asarray(WAVE) / 5500) ** -0.7)
    np.testing.assert_allclose(trans[1], 1 - expected + expected * t_bc, rtol=F32_RTOL)


def test_t_split_gradient_with_bin_edges():
    log_age = jnp.array([6.5, 7.1, 8.0])
    edges = jnp.array([-np.inf, 6.8, 7.3, 9.0])
    g = jax.grad(lambda t: birth_cloud_fraction(log_age, t, edges)[1])(1e7)
    assert float(g) == pytest.approx(1 / (10**7.3 - 10**6.8), rel=1e-4)
    g_step = jax.grad(lambda t: birth_cloud_fraction(log_age, t)[1])(1e7)
    assert float(g_step) == 0.0


def test_charlot_fall_gradient_wrt_dust1_and_dust2():
    with jax.enable_x64(True):
        wave = jnp.asarray(np.geomspace(1000.0, 20000.0, 16))
        log_age = jnp.asarray([6.0, 9.0])

        def lum(d1, d2):
            return jnp.sum(charlot_fall_transmission(wave, log_age, d1, d2))

        g1, g2 = jax.grad(lum, argnums=(0, 1))(0.5, 0.2)
        h = 1e-6
        fd1 = (lum(0.5 + h, 0.2) - lum(0.5 - h, 0.2)) / (2 * h)
        fd2 = (lum(0.5, 0.2 + h) - lum(0.5, 0.2 - h)) / (2 * h)
    assert float(g1) == pytest.approx(float(fd1), rel=1e-7)
    assert float(g2) == pytest.approx(float(fd2), rel=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dust1": -0.1}, "dust1"),
        ({"dust2": np.nan}, "dust2"),
        ({"log_age_yr": jnp.ones((2, 3))}, "log_age_yr"),
        ({"wave_aa": jnp.ones((2, 3))}, "wave_aa"),
        ({"t_split_yr": 0.0}, "t_split_yr"),
        ({"log_age_edges_yr": jnp.array([5.0, 6.0])}, "shape"),
        ({"log_age_edges_yr": jnp.array([5.0, 6.8, 6.6, 7.5, 8.0, 9.2, 9.8, 10.2])}, "increasing"),
        ({"log_age_edges_yr": jnp.array([5.0, 6.1, 6.6, 7.5, 8.0, 9.2, 9.8, 10.2])}, "bracket"),
        ({"diffuse_law": "milky_way"}, "Unknown dust law"),
    ],
)
def test_charlot_fall_bad_input(kwargs, match):
    args = {"wave_aa": WAVE, "log_age_yr": LOG_AGE, "dust1": 0.5, "dust2": 0.2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        charlot_fall_transmission(**args)
