"""Tests of the masked Gaussian / Student-t likelihoods against scipy.stats and analytic forms."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import sedcore
from sedcore import (
    Photometry,
    gaussian_loglike,
    photometry_loglike,
    photometry_student_t_loglike,
    student_t_loglike,
)

RNG = np.random.default_rng(20240611)
N = 9
MODEL = RNG.uniform(0.5, 3.0, N)
FLUX = MODEL + RNG.normal(0.0, 0.3, N)
FLUX[2] = -0.4  # a negative measurement of a faint band is valid data
ERR = RNG.uniform(0.1, 0.5, N)
MASK = np.ones(N, bool)
MASK[[1, 5]] = False

# Float64 comparisons with scipy agree to rounding; 1e-12 relative leaves room for the
# different summation order only.
RTOL64 = 1e-12


def _sigma(err, model, floor=0.0, extra=0.0):
    return np.sqrt(err**2 + (floor * model) ** 2 + extra)


def test_gaussian_matches_scipy_norm_logpdf_float64():
    with jax.enable_x64(True):
        got = gaussian_loglike(MODEL, FLUX, ERR, MASK)
        assert got.dtype == jnp.float64
    want = stats.norm.logpdf(FLUX[MASK], loc=MODEL[MASK], scale=ERR[MASK]).sum()
    np.testing.assert_allclose(float(got), want, rtol=RTOL64)


def test_gaussian_floor_and_extra_var_match_scipy():
    floor, extra = 0.07, RNG.uniform(0.0, 0.05, N)
    with jax.enable_x64(True):
        got = gaussian_loglike(MODEL, FLUX, ERR, MASK, noise_floor=floor, extra_var=extra)
    sigma = _sigma(ERR, MODEL, floor, extra)
    want = stats.norm.logpdf(FLUX[MASK], loc=MODEL[MASK], scale=sigma[MASK]).sum()
    np.testing.assert_allclose(float(got), want, rtol=RTOL64)


def test_student_t_matches_scipy_t_logpdf():
    dof, floor = 3.5, 0.05
    with jax.enable_x64(True):
        got = student_t_loglike(MODEL, FLUX, ERR, MASK, dof=dof, noise_floor=floor)
    sigma = _sigma(ERR, MODEL, floor)
    want = stats.t.logpdf(FLUX[MASK], dof, loc=MODEL[MASK], scale=sigma[MASK]).sum()
    np.testing.assert_allclose(float(got), want, rtol=RTOL64)


def test_student_t_tends_to_gaussian_for_large_dof():
    # The t log-density differs from the normal one by O(r^4 / nu); with nu = 1e9 and
    # |r| < 10 that is < 1e-5 absolute on a sum of order 10.
    with jax.enable_x64(True):
        t = student_t_loglike(MODEL, FLUX, ERR, MASK, dof=1e9)
        g = gaussian_loglike(MODEL, FLUX, ERR, MASK)
    np.testing.assert_allclose(float(t), float(g), atol=1e-5)


def test_masked_bands_contribute_exactly_zero_even_if_nan():
    flux = FLUX.copy()
    err = ERR.copy()
    model = MODEL.copy()
    flux[1], err[1], model[1] = np.nan, -1.0, np.inf
    flux[5], err[5] = np.inf, np.nan
    with jax.enable_x64(True):
        dirty = gaussian_loglike(model, flux, err, MASK, noise_floor=0.1)
        used = np.ones(MASK.sum(), bool)
        clean = gaussian_loglike(MODEL[MASK], FLUX[MASK], ERR[MASK], used, noise_floor=0.1)
    assert float(dirty) == float(clean)


def test_gradients_finite_and_zero_on_masked_bands_with_nan_there():
    model = jnp.asarray(MODEL, jnp.float32).at[1].set(jnp.nan)
    flux = jnp.asarray(FLUX, jnp.float32).at[5].set(jnp.nan)
    err = jnp.asarray(ERR, jnp.float32).at[5].set(0.0)
    for fn in (
        lambda m: gaussian_loglike(m, flux, err, MASK, noise_floor=0.05),
        lambda m: student_t_loglike(m, flux, err, MASK, dof=4.0, noise_floor=0.05),
    ):
        g = np.asarray(jax.grad(fn)(model))
        assert np.all(np.isfinite(g))
        assert g[1] == 0.0 and g[5] == 0.0


def test_gaussian_gradient_includes_log_determinant_of_model_floor():
    # L_i = -0.5 (f - m)^2 / V - 0.5 log V with V = e^2 + s^2 m^2, so
    # dL/dm = (f - m)/V + ((f - m)^2 / V^2 - 1/V) s^2 m  (analytic derivative).
    s = 0.2
    with jax.enable_x64(True):
        loglike = lambda m: gaussian_loglike(m, FLUX, ERR, MASK, noise_floor=s)  # noqa: E731
        g = np.asarray(jax.grad(loglike)(jnp.asarray(MODEL)))
    v = ERR**2 + (s * MODEL) ** 2
    r = FLUX - MODEL
    want = np.where(MASK, r / v + (r**2 / v**2 - 1.0 / v) * s**2 * MODEL, 0.0)
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)


def test_student_t_gradient_in_dof_matches_finite_difference():
    f = lambda nu: student_t_loglike(MODEL, FLUX, ERR, MASK, dof=nu)  # noqa: E731
    with jax.enable_x64(True):
        g = float(jax.grad(f)(4.0))
        h = 1e-6
        fd = (float(f(4.0 + h)) - float(f(4.0 - h))) / (2 * h)
    # Central difference error O(h^2 f''') ~ 1e-12, rounding ~ eps * |f| / h ~ 1e-9.
    np.testing.assert_allclose(g, fd, rtol=1e-7)


def test_float32_inputs_give_float32_close_to_float64():
    f32 = [x.astype(np.float32) for x in (MODEL, FLUX, ERR)]
    got32 = gaussian_loglike(*f32, MASK)
    assert got32.dtype == jnp.float32
    want = stats.norm.logpdf(FLUX[MASK], loc=MODEL[MASK], scale=ERR[MASK]).sum()
    # float32 has ~6e-8 relative rounding per operation over ~10 terms.
    np.testing.assert_allclose(float(got32), want, rtol=1e-5)


def test_sums_over_last_axis_only():
    batch = np.stack([FLUX, FLUX + 0.1])
    with jax.enable_x64(True):
        got = gaussian_loglike(MODEL, batch, ERR, MASK)
        one = gaussian_loglike(MODEL, batch[1], ERR, MASK)
    assert got.shape == (2,)
    assert float(got[1]) == pytest.approx(float(one), rel=1e-14)


def test_jit_and_vmap_over_catalog_match_loop():
    cat = Photometry(
        np.stack([FLUX, FLUX * 1.1, FLUX * 0.9]) * 1e-9,
        np.stack([ERR, ERR, ERR]) * 1e-9,
        filters=tuple(f"b{i}" for i in range(N)),
        mask=np.stack([MASK, np.ones(N, bool), MASK]),
    )
    model = jnp.asarray(MODEL * 1e-9, jnp.float32)
    batched = jax.jit(jax.vmap(lambda obs: photometry_loglike(model, obs, noise_floor=0.05)))(cat)
    loop = [float(photometry_loglike(model, cat[i], noise_floor=0.05)) for i in range(3)]
    np.testing.assert_allclose(np.asarray(batched), loop, rtol=1e-5)


def test_photometry_wrappers_equal_array_functions():
    with jax.enable_x64(True):
        obs = Photometry(FLUX * 1e-9, ERR * 1e-9, filters=tuple("abcdefghi"), mask=MASK)
        m = MODEL * 1e-9
        assert float(photometry_loglike(m, obs, noise_floor=0.02)) == float(
            gaussian_loglike(m, obs.flux_maggies, obs.flux_err_maggies, obs.mask, noise_floor=0.02)
        )
        assert float(photometry_student_t_loglike(m, obs, dof=5.0)) == float(
            student_t_loglike(m, obs.flux_maggies, obs.flux_err_maggies, obs.mask, dof=5.0)
        )


def test_spectrum_loglike_uses_pixel_mask():
    wave = np.linspace(4000.0, 5000.0, N)
    with jax.enable_x64(True):
        spec = sedcore.Spectrum(wave, FLUX, ERR, flux_unit="maggies", mask=MASK)
        got = sedcore.spectrum_loglike(MODEL, spec)
    want = stats.norm.logpdf(FLUX[MASK], loc=MODEL[MASK], scale=ERR[MASK]).sum()
    np.testing.assert_allclose(float(got), want, rtol=RTOL64)


def test_float32_is_enough_for_real_hdfn_fluxes_in_maggies():
    # HDF-N errors reach ~1e-13 maggies (variance ~1e-26): still far above float32's
    # smallest normal number (1.2e-38), so float32 and float64 agree to rounding.
    data = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "hdfn"
    if not (data / "hdfn_fs99_eazy.cat").is_file():
        pytest.skip(f"HDF-N catalog not found under {data} (shared test data absent)")
    kw = dict(filters=None, translate=data / "zphot.translate", zero_point=25.0)
    cat32 = sedcore.read_photometry(data / "hdfn_fs99_eazy.cat", **kw)
    model32 = cat32.flux_maggies * 1.1
    loglike = jax.vmap(lambda m, o: photometry_loglike(m, o, noise_floor=0.05))
    ll32 = np.asarray(loglike(model32, cat32))
    with jax.enable_x64(True):
        cat64 = sedcore.read_photometry(data / "hdfn_fs99_eazy.cat", **kw)
        ll64 = np.asarray(loglike(cat64.flux_maggies * 1.1, cat64))
    assert ll32.dtype == np.float32 and np.all(np.isfinite(ll32))
    # Per-object sums of 7 terms of size up to ~|log(2 pi sigma^2)| ~ 60: float32 rounding
    # of the inputs (6e-8) and of the sum gives ~1e-5 absolute; 1e-4 relative + 1e-3 abs.
    np.testing.assert_allclose(ll32, ll64, rtol=1e-4, atol=1e-3)


# ----------------------------------------------------------------------------- bad input


def test_non_boolean_mask_is_a_type_error():
    with pytest.raises(TypeError, match="mask must be boolean"):
        gaussian_loglike(MODEL, FLUX, ERR, MASK.astype(float))


def test_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"model_flux \(8,\)"):
        gaussian_loglike(MODEL[:8], FLUX, ERR, MASK)


def test_negative_noise_floor_rejected():
    with pytest.raises(ValueError, match="noise_floor"):
        gaussian_loglike(MODEL, FLUX, ERR, MASK, noise_floor=-0.1)


def test_negative_extra_var_rejected():
    with pytest.raises(ValueError, match="extra_var"):
        gaussian_loglike(MODEL, FLUX, ERR, MASK, extra_var=-np.ones(N))


def test_nonpositive_error_on_used_band_rejected():
    err = ERR.copy()
    err[0] = 0.0
    with pytest.raises(ValueError, match="flux_err"):
        gaussian_loglike(MODEL, FLUX, err, MASK)


@pytest.mark.parametrize("dof", [0.0, -2.0, np.inf])
def test_invalid_dof_rejected(dof):
    with pytest.raises(ValueError, match="dof"):
        student_t_loglike(MODEL, FLUX, ERR, MASK, dof=dof)


def test_wrapper_rejects_plain_arrays():
    with pytest.raises(TypeError, match="Photometry"):
        photometry_loglike(MODEL, FLUX)


# ----------------------------------------------------------------------------- properties

# One band count (random masks cover "any subset", including none): every new shape would
# recompile each eager JAX op, which is what dominates this file's run time.
N_PROP = 5
_finite = st.floats(-1e3, 1e3, allow_nan=False)
_pos = st.floats(1e-2, 1e2, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), floor=st.floats(0.0, 0.5))
def test_property_gaussian_equals_scipy_on_unmasked_subset(data, floor):
    n = N_PROP
    model = data.draw(hnp.arrays(np.float64, n, elements=_finite))
    flux = data.draw(hnp.arrays(np.float64, n, elements=_finite))
    err = data.draw(hnp.arrays(np.float64, n, elements=_pos))
    mask = data.draw(hnp.arrays(np.bool_, n))
    with jax.enable_x64(True):
        got = float(gaussian_loglike(model, flux, err, mask, noise_floor=floor))
    sigma = _sigma(err, model, floor)
    want = stats.norm.logpdf(flux[mask], loc=model[mask], scale=sigma[mask]).sum()
    # Residuals up to 2e3 over sigma >= 1e-2 give terms up to ~2e10; 1e-12 relative on the
    # largest term covers rounding of the sum.
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12 * (1 + abs(want)))


@settings(max_examples=25, deadline=None)
@given(data=st.data(), dof=st.floats(0.5, 50.0))
def test_property_student_t_equals_scipy(data, dof):
    n = N_PROP
    model = data.draw(hnp.arrays(np.float64, n, elements=_finite))
    flux = data.draw(hnp.arrays(np.float64, n, elements=_finite))
    err = data.draw(hnp.arrays(np.float64, n, elements=_pos))
    mask = data.draw(hnp.arrays(np.bool_, n))
    with jax.enable_x64(True):
        got = float(student_t_loglike(model, flux, err, mask, dof=dof))
    want = stats.t.logpdf(flux[mask], dof, loc=model[mask], scale=err[mask]).sum()
    assert got == pytest.approx(want, rel=1e-11, abs=1e-11)


def test_float32_gradients_finite_for_fluxes_in_maggies():
    # Faint galaxies in maggies: flux ~1e-10, errors ~5e-12, variances ~1e-23. The
    # float64 gradient is the reference; float32 must agree, not underflow to NaN/inf.
    model, flux, err = jnp.array([1.1e-10, 3e-11]), jnp.array([1e-10, 2.5e-11]), jnp.array([5e-12, 4e-12])
    mask = jnp.array([True, True])
    for floor in (0.0, 0.05):
        g32 = jax.grad(gaussian_loglike)(model, flux, err, mask, noise_floor=floor)
        g32_t = jax.grad(student_t_loglike)(model, flux, err, mask, dof=3.0, noise_floor=floor)
        with jax.enable_x64(True):
            args = [jnp.asarray(np.asarray(a, np.float64)) for a in (model, flux, err)]
            g64 = jax.grad(gaussian_loglike)(*args, mask, noise_floor=floor)
            g64_t = jax.grad(student_t_loglike)(*args, mask, dof=3.0, noise_floor=floor)
        np.testing.assert_allclose(np.asarray(g32), np.asarray(g64), rtol=1e-4)
        np.testing.assert_allclose(np.asarray(g32_t), np.asarray(g64_t), rtol=1e-4)


def test_observation_closed_over_inside_jit():
    obs = sedcore.Photometry([1.0, 2.0], [0.1, 0.1], filters=("a", "b"))
    model = jnp.array([1.1, 1.9])
    jitted = jax.jit(lambda m: sedcore.photometry_loglike(m, obs, noise_floor=jnp.asarray(0.02)))
    eager = sedcore.photometry_loglike(model, obs, noise_floor=0.02)
    assert float(jitted(model)) == pytest.approx(float(eager), rel=1e-6)
