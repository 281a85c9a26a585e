"""Cosmology against astropy (Planck18 and other flat Lambda-CDM models)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.cosmology import FlatLambdaCDM, LambdaCDM, Planck18

import sedcore

Z = np.concatenate([[1e-5, 1e-4, 1e-3, 0.01], np.linspace(0.05, 20.0, 200)])
# The requirement is 1e-4 relative over 0 < z < 20; the integration grid is
# designed for ~1e-6, so 1e-4 leaves room only for float32 rounding.
RTOL = 1e-4


def _check(fn, ref, cosmo=None, sed=None):
    got = np.asarray(fn(jnp.asarray(Z), sed), dtype=np.float64)
    np.testing.assert_allclose(got, ref(Z), rtol=RTOL)


def test_planck18_parameters_match_astropy():
    assert sedcore.Cosmology.from_astropy(Planck18) == sedcore.PLANCK18


def test_luminosity_distance_planck18():
    _check(sedcore.luminosity_distance_mpc, lambda z: Planck18.luminosity_distance(z).value)


def test_comoving_distance_planck18():
    _check(sedcore.comoving_distance_mpc, lambda z: Planck18.comoving_distance(z).value)


def test_age_planck18():
    _check(sedcore.age_of_universe_yr, lambda z: Planck18.age(z).to_value("yr"))


def test_lookback_time_planck18():
    _check(sedcore.lookback_time_yr, lambda z: Planck18.lookback_time(z).to_value("yr"))


def test_age_today_planck18_published():
    # Planck 2018 VI Table 2 (TT,TE,EE+lowE+lensing+BAO): age 13.787 +- 0.020 Gyr.
    assert float(sedcore.age_of_universe_yr(0.0)) / 1e9 == pytest.approx(13.787, abs=0.002)


def test_float64_precision(x64):
    got = np.asarray(sedcore.luminosity_distance_mpc(jnp.asarray(Z)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, Planck18.luminosity_distance(Z).value, rtol=1e-5)


@pytest.mark.parametrize(
    "cosmo",
    [
        FlatLambdaCDM(H0=70, Om0=0.3, Tcmb0=0.0),  # no radiation: the textbook case
        FlatLambdaCDM(H0=70, Om0=0.3, Tcmb0=2.725),  # massless neutrinos
        FlatLambdaCDM(H0=73, Om0=0.25, Tcmb0=2.7255, m_nu=[0.05, 0.1, 0.15]),
    ],
)
def test_other_flat_cosmologies(cosmo):
    c = sedcore.Cosmology.from_astropy(cosmo)
    _check(sedcore.luminosity_distance_mpc, lambda z: cosmo.luminosity_distance(z).value, sed=c)
    _check(sedcore.age_of_universe_yr, lambda z: cosmo.age(z).to_value("yr"), sed=c)


def test_einstein_de_sitter_analytic():
    # Omega_m = 1, no radiation: D_C = 2c/H0 (1 - 1/sqrt(1+z)), t = 2/(3 H0) (1+z)^-1.5.
    c = sedcore.Cosmology(h0=70.0, om0=1.0, tcmb0_k=0.0, neff=0.0, m_nu_ev=(0.0, 0.0, 0.0))
    z = np.array([0.1, 1.0, 5.0])
    dh = 299792.458 / 70.0
    np.testing.assert_allclose(
        np.asarray(sedcore.comoving_distance_mpc(z, c)), 2 * dh * (1 - 1 / np.sqrt(1 + z)), rtol=1e-5
    )
    th_yr = 3.0856775814913673e19 / 70.0 / (365.25 * 86400)
    np.testing.assert_allclose(
        np.asarray(sedcore.age_of_universe_yr(z, c)), 2 / 3 * th_yr * (1 + z) ** -1.5, rtol=1e-5
    )


def test_differentiable_in_z_and_vmappable():
    dz = 1e-3
    grad = float(jax.grad(lambda z: sedcore.luminosity_distance_mpc(z))(2.0))
    fd = (Planck18.luminosity_distance(2.0 + dz).value - Planck18.luminosity_distance(2.0 - dz).value) / (2 * dz)
    assert grad == pytest.approx(fd, rel=1e-3)
    batched = jax.jit(jax.vmap(sedcore.age_of_universe_yr))(jnp.array([0.5, 3.0]))
    np.testing.assert_allclose(np.asarray(batched), Planck18.age([0.5, 3.0]).to_value("yr"), rtol=RTOL)


def test_cosmology_is_a_traceable_pytree():
    # Differentiating with respect to H0: D_L is proportional to 1/H0 at fixed Omegas.
    c = sedcore.Cosmology(h0=70.0, om0=0.3, tcmb0_k=0.0, neff=3.046, m_nu_ev=(0.0, 0.0, 0.0))
    d = lambda h0: sedcore.luminosity_distance_mpc(1.0, c._replace(h0=h0))  # noqa: E731
    assert float(jax.grad(d)(70.0)) == pytest.approx(-float(d(70.0)) / 70.0, rel=1e-4)


def test_non_flat_cosmology_rejected():
    with pytest.raises(ValueError, match="flat Lambda-CDM"):
        sedcore.Cosmology.from_astropy(LambdaCDM(H0=70, Om0=0.3, Ode0=0.5))
