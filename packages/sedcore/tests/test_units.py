"""Unit conversions against astropy.units and analytic round trips."""

import astropy.units as u
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sedcore

finite_mag = st.floats(min_value=-10.0, max_value=40.0, allow_nan=False)
positive_flux = st.floats(min_value=1e-20, max_value=1e10, allow_nan=False)


def test_maggie_is_3631_jy():
    assert float(sedcore.maggies_to_jy(1.0)) == pytest.approx(3631.0, rel=1e-7)
    # astropy's AB zero point is Oke & Gunn's 48.60, 3630.78 Jy: 6.5e-5 mag from ours.
    ab0_jy = (0 * u.ABmag).to_value(u.Jy)
    assert abs(2.5 * np.log10(3631.0 / ab0_jy)) < 7e-5


def test_ab_mag_against_astropy():
    mags = np.array([-2.0, 0.0, 15.3, 25.0, 31.4])
    jy = (mags * u.ABmag).to_value(u.Jy)
    # astropy uses 3630.78 Jy, so compare maggies relative to astropy's zero point.
    np.testing.assert_allclose(np.asarray(sedcore.ab_to_maggies(mags)), jy / (0 * u.ABmag).to_value(u.Jy), rtol=1e-6)


@settings(max_examples=200, deadline=None)
@given(finite_mag)
def test_ab_maggies_round_trip(mag):
    back = float(sedcore.maggies_to_ab(sedcore.ab_to_maggies(mag)))
    assert back == pytest.approx(mag, abs=2e-5)  # float32 log/exp


@settings(max_examples=200, deadline=None)
@given(positive_flux)
def test_jy_maggies_round_trip(jy):
    assert float(sedcore.maggies_to_jy(sedcore.jy_to_maggies(jy))) == pytest.approx(jy, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=100.0, max_value=1e7), st.floats(min_value=1e-3, max_value=1e3))
def test_fnu_flam_round_trip(wave, fnu):
    flam = sedcore.fnu_to_flam(wave, fnu)
    assert float(sedcore.flam_to_fnu(wave, flam)) == pytest.approx(fnu, rel=1e-5)


def test_fnu_flam_against_astropy():
    wave = np.array([1500.0, 5500.0, 2.2e4]) * u.AA
    fnu = np.array([1.0, 2.0, 3.0]) * u.uJy
    expect = fnu.to_value(u.erg / u.s / u.cm**2 / u.AA, equivalencies=u.spectral_density(wave))
    got = sedcore.fnu_to_flam(wave.value, fnu.to_value(u.erg / u.s / u.cm**2 / u.Hz))
    np.testing.assert_allclose(np.asarray(got), expect, rtol=1e-5)


def test_fnu_cgs_maggies():
    fnu = (1.0 * u.uJy).to_value(u.erg / u.s / u.cm**2 / u.Hz)
    assert float(sedcore.fnu_cgs_to_maggies(fnu)) == pytest.approx(1e-6 / 3631.0, rel=1e-6)
    assert float(sedcore.maggies_to_fnu_cgs(sedcore.fnu_cgs_to_maggies(fnu))) == pytest.approx(fnu, rel=1e-6)


def test_magnitude_error_propagation_first_order():
    f, m_err = 2.0e-9, 0.1
    f_err = float(sedcore.magerr_to_maggies_err(f, m_err))
    assert f_err == pytest.approx(f * np.log(10) / 2.5 * m_err, rel=1e-6)
    assert float(sedcore.maggies_err_to_magerr(f, f_err)) == pytest.approx(m_err, rel=1e-6)


def test_lnu_to_observed_flux_against_astropy():
    # 1e10 M_sun at 1e-8... i.e. a source of L_nu = 1e20 L_sun/Hz at z = 2.
    z, lnu = 2.0, 1e20
    d_l = 15000.0 * u.Mpc
    expect = ((1 + z) * lnu * u.L_sun / u.Hz / (4 * np.pi * d_l**2)).to_value(u.Jy) / 3631.0
    got = float(sedcore.lnu_to_fnu_maggies(lnu, z, d_l.value))
    assert got == pytest.approx(expect, rel=1e-6)


def test_rest_lnu_to_observed_uses_planck18_distance():
    from astropy.cosmology import Planck18

    z, lnu = 1.5, 3e19
    d_l = Planck18.luminosity_distance(z)
    expect = ((1 + z) * lnu * u.L_sun / u.Hz / (4 * np.pi * d_l**2)).to_value(u.Jy) / 3631.0
    got = float(sedcore.rest_lnu_to_observed_maggies(lnu, z))
    assert got == pytest.approx(expect, rel=1e-4)  # the cosmology tables' tolerance


def test_units_float64_when_enabled(x64):
    m = sedcore.ab_to_maggies(np.float64(23.9))
    assert m.dtype == np.float64
    assert float(sedcore.maggies_to_jy(m)) == pytest.approx(3631.0 * 10 ** (-0.4 * 23.9), rel=1e-12)
