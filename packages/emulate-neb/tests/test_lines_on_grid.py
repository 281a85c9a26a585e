"""Lines and continuum on a requested wavelength grid: exactness, flux conservation, profiles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emulate_neb import ExactNebularModel

C_AA_PER_S = 2.99792458e18
C_KMS = 299792.458
HB = "H 1 4861.32A"
# Shared shapes, so that the jitted kernels compile once per shape for the whole module.
WAVE_COARSE = jnp.geomspace(3000.0, 6900.0, 40)  # ~6500 km/s pixels
WAVE_FINE = jnp.arange(3000.0, 6900.0, 0.2)  # 12 km/s pixels at 5000 A


def _edges(wave):
    """Pixel edges as documented: midpoints, outer edges mirrored in log wavelength."""
    mid = 0.5 * (wave[1:] + wave[:-1])
    return np.concatenate([[wave[0] ** 2 / mid[0]], mid, [wave[-1] ** 2 / mid[-1]]])


def _dnu(wave):
    e = _edges(np.asarray(wave, dtype=np.float64))
    return C_AA_PER_S / e[:-1] - C_AA_PER_S / e[1:]


def _lines_only(model, wave, log_age, log_zsol, log_u, sigma_kms):
    """Line part of the spectrum of one SSP (1 M_sun): spectrum minus the continuum."""
    em = model.emission(wave, jnp.array([log_age]), jnp.array([1.0]), log_zsol, log_u, sigma_kms)
    cont = jnp.interp(wave, model.wave_aa,
                      model.ssp_cont_lnu_lsun_per_hz(log_age, log_zsol, log_u), left=0, right=0)
    line_part = np.asarray(em.lnu_lsun_per_hz - cont, np.float64)
    return line_part, np.asarray(em.line_lum_lsun, np.float64)


def test_continuum_on_the_grid_wavelengths_is_exact(cloudy_model):
    # 1.35-1.65 micron holds no line (Pa-beta is at 1.282, Br-13 at 1.736 micron): there the
    # spectrum on the grid's own wavelengths is the grid continuum itself.
    w = np.asarray(cloudy_model.wave_aa)
    lw = np.asarray(cloudy_model.line_wave_aa)
    assert not np.any((lw > 1.30e4) & (lw < 1.70e4))
    sel = (w > 1.35e4) & (w < 1.65e4)
    em = cloudy_model.emission(cloudy_model.wave_aa[sel], jnp.array([6.4]), jnp.array([1.0]),
                               -0.7, -2.5, 100.0)
    cont = cloudy_model.ssp_cont_lnu_lsun_per_hz(6.4, -0.7, -2.5)[sel]
    np.testing.assert_allclose(np.asarray(em.lnu_lsun_per_hz), np.asarray(cont), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "wave_kind, sigma_kms",
    [("coarse", 50.0), ("coarse", 400.0), ("fine", 100.0), ("fine", 0.0)],
)
def test_line_flux_is_conserved_on_any_grid(cloudy_model, wave_kind, sigma_kms):
    # Coarse: 40 log-spaced pixels over 3000-6900 A (~6500 km/s each, lines far narrower
    # than a pixel); fine: 0.2 A pixels (12 km/s), lines resolved; sigma 0: each line in
    # one pixel.
    wave = WAVE_COARSE if wave_kind == "coarse" else WAVE_FINE
    line_part, lum = _lines_only(cloudy_model, wave, 6.2, -0.5, -2.5, sigma_kms)
    lw = np.asarray(cloudy_model.line_wave_aa, np.float64)
    edges = _edges(np.asarray(wave, np.float64))
    six_sigma = 6 * lw * max(sigma_kms, 50.0) / C_KMS
    assert not np.any(np.abs(lw - edges[0]) < six_sigma)
    assert not np.any(np.abs(lw - edges[-1]) < six_sigma)
    inside = (lw > edges[0]) & (lw < edges[-1])
    assert inside.sum() > 30
    total = np.sum(line_part * _dnu(wave))
    # Sum over pixels of L_nu * dnu equals the luminosity of the lines inside the range,
    # up to float32 rounding (measured: < 1e-7).
    np.testing.assert_allclose(total, lum[inside].sum(), rtol=1e-6)
    # The trapezoid rule in frequency agrees to second order in the pixel width
    # (relative difference (r - 1)^2 / 4r for log spacing with ratio r).
    nu = C_AA_PER_S / np.asarray(wave, np.float64)
    trap = np.trapezoid(line_part[::-1], nu[::-1])
    r = float(wave[1] / wave[0])
    np.testing.assert_allclose(trap, lum[inside].sum(), rtol=(r - 1) ** 2 / (4 * r) + 1e-6)


def test_line_profile_is_a_gaussian_of_sigma(cloudy_grid):
    # One line on a fine grid: centroid at the vacuum wavelength, variance sigma^2 plus the
    # pixel's own variance (width^2 / 12).
    model = ExactNebularModel(cloudy_grid.select_lines([HB]))
    line_part, lum = _lines_only(model, WAVE_FINE, 6.0, -0.5, -2.5, 150.0)
    w = np.asarray(WAVE_FINE, np.float64)
    flux = line_part * _dnu(WAVE_FINE)
    mean = np.sum(w * flux) / flux.sum()
    var = np.sum((w - mean) ** 2 * flux) / flux.sum()
    lam0 = 4862.678  # H-beta, vacuum
    sigma_aa = lam0 * 150.0 / C_KMS
    assert mean == pytest.approx(lam0, abs=0.01)
    assert np.sqrt(var) == pytest.approx(np.sqrt(sigma_aa**2 + 0.2**2 / 12), rel=1e-3)
    assert flux.sum() == pytest.approx(lum[0], rel=1e-6)


def test_line_window_too_narrow_is_rejected_eagerly(cloudy_grid):
    model = ExactNebularModel(cloudy_grid.select_lines([HB]), line_window_px=5)
    with pytest.raises(ValueError, match="line_window_px"):
        model.emission(WAVE_FINE, jnp.array([6.0]), jnp.array([1.0]), -0.5, -2.5, 150.0)


def test_truncated_window_under_jit_still_conserves_flux(cloudy_grid):
    # Under jit there is no check: the tails beyond the window go to its end pixels.
    model = ExactNebularModel(cloudy_grid.select_lines([HB]), line_window_px=5)
    wave = WAVE_FINE
    f = jax.jit(lambda m, w: m.emission(w, jnp.array([6.0]), jnp.array([1.0]), -0.5, -2.5, 150.0))
    em = f(model, wave)
    cont = jnp.interp(wave, model.wave_aa, model.ssp_cont_lnu_lsun_per_hz(6.0, -0.5, -2.5))
    flux = np.asarray(em.lnu_lsun_per_hz - cont, np.float64) * _dnu(wave)
    assert flux.sum() == pytest.approx(float(em.line_lum_lsun[0]), rel=1e-6)


def test_continuum_between_grid_wavelengths_is_linear_interpolation(cloudy_model):
    # Documented resampling: linear in wavelength (float64 numpy as the reference), here at
    # the midpoints of the grid's samples in the line-free 1.35-1.65 micron range.
    w = np.asarray(cloudy_model.wave_aa, np.float64)
    sel = np.flatnonzero((w > 1.35e4) & (w < 1.65e4))
    mid = 0.5 * (w[sel[:-1]] + w[sel[1:]])
    em = cloudy_model.emission(jnp.asarray(mid), jnp.array([6.4]), jnp.array([1.0]),
                               -0.7, -2.5, 100.0)
    cont = np.asarray(cloudy_model.ssp_cont_lnu_lsun_per_hz(6.4, -0.7, -2.5), np.float64)
    np.testing.assert_allclose(np.asarray(em.lnu_lsun_per_hz), np.interp(mid, w, cont), rtol=1e-5)
