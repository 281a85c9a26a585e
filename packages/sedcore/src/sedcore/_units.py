"""Unit conversions: AB magnitudes, maggies, Jansky, f_nu and f_lambda, L_nu to observed flux.

Conventions (DESIGN.md): wavelengths in Angstrom (vacuum); observed fluxes in maggies,
where 1 maggie = 3631 Jy, so ``AB = -2.5 log10(maggies)``; rest-frame luminosity density
in L_sun/Hz (per M_sun formed when it comes from an SSP grid).

The maggie is defined as exactly 3631 Jy (the SDSS convention). Oke & Gunn (1983) wrote the
AB zero point as ``-48.60`` in cgs, i.e. 3630.78 Jy; the two differ by 6.5e-5 mag, below
any photometric calibration. Conversions between AB magnitudes and maggies do not depend
on that constant; only conversions to and from Jansky do.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = [
    "C_AA_PER_S",
    "L_SUN_ERG_S",
    "MPC_CM",
    "MAGGIE_JY",
    "JY_CGS",
    "ab_to_maggies",
    "maggies_to_ab",
    "magerr_to_maggies_err",
    "maggies_err_to_magerr",
    "jy_to_maggies",
    "maggies_to_jy",
    "fnu_cgs_to_maggies",
    "maggies_to_fnu_cgs",
    "fnu_to_flam",
    "flam_to_fnu",
    "lnu_to_fnu_maggies",
]

#: Speed of light in Angstrom per second (exact, SI definition).
C_AA_PER_S = 2.99792458e18
#: Nominal solar luminosity in erg/s (IAU 2015 Resolution B3; astropy.constants.L_sun).
L_SUN_ERG_S = 3.828e33
#: One megaparsec in cm (IAU 2012 astronomical unit and 648000/pi au per pc).
MPC_CM = 3.0856775814913673e24
#: One maggie in Jansky (AB zero point, SDSS convention).
MAGGIE_JY = 3631.0
#: One Jansky in erg s^-1 cm^-2 Hz^-1.
JY_CGS = 1e-23
_MAGGIE_CGS = MAGGIE_JY * JY_CGS
_TWO_P5_OVER_LN10 = 2.5 / 2.302585092994046
# L_sun/Hz seen from 1 Mpc, in maggies: L_sun / (4 pi Mpc^2) / (3631 Jy).
_LNU_TO_MAGGIES_AT_1MPC = L_SUN_ERG_S / (4.0 * 3.141592653589793 * MPC_CM**2) / _MAGGIE_CGS


def ab_to_maggies(mag_ab: ArrayLike) -> jnp.ndarray:
    """AB magnitude to maggies: ``10**(-0.4 * mag_ab)``.

    Args:
        mag_ab: AB magnitudes, any shape.

    Returns:
        Flux in maggies, same shape.
    """
    return jnp.power(10.0, -0.4 * jnp.asarray(mag_ab))


def maggies_to_ab(flux_maggies: ArrayLike) -> jnp.ndarray:
    """Maggies to AB magnitude: ``-2.5 log10(flux)``; non-positive flux gives NaN/inf.

    Args:
        flux_maggies: flux in maggies, any shape.

    Returns:
        AB magnitudes, same shape.
    """
    return -2.5 * jnp.log10(jnp.asarray(flux_maggies))


def magerr_to_maggies_err(flux_maggies: ArrayLike, mag_err: ArrayLike) -> jnp.ndarray:
    """Magnitude error to flux error to first order: ``sigma_f = f * ln(10)/2.5 * sigma_m``."""
    return jnp.abs(jnp.asarray(flux_maggies)) * jnp.asarray(mag_err) / _TWO_P5_OVER_LN10


def maggies_err_to_magerr(flux_maggies: ArrayLike, flux_err: ArrayLike) -> jnp.ndarray:
    """Flux error to magnitude error to first order: ``sigma_m = 2.5/ln(10) * sigma_f / f``."""
    return _TWO_P5_OVER_LN10 * jnp.asarray(flux_err) / jnp.abs(jnp.asarray(flux_maggies))


def jy_to_maggies(flux_jy: ArrayLike) -> jnp.ndarray:
    """Jansky to maggies (1 maggie = 3631 Jy). Multiply uJy by 1e-6, nJy by 1e-9 first."""
    return jnp.asarray(flux_jy) / MAGGIE_JY


def maggies_to_jy(flux_maggies: ArrayLike) -> jnp.ndarray:
    """Maggies to Jansky (1 maggie = 3631 Jy)."""
    return jnp.asarray(flux_maggies) * MAGGIE_JY


def fnu_cgs_to_maggies(fnu_cgs: ArrayLike) -> jnp.ndarray:
    """f_nu in erg s^-1 cm^-2 Hz^-1 to maggies."""
    return jnp.asarray(fnu_cgs) / _MAGGIE_CGS


def maggies_to_fnu_cgs(flux_maggies: ArrayLike) -> jnp.ndarray:
    """Maggies to f_nu in erg s^-1 cm^-2 Hz^-1."""
    return jnp.asarray(flux_maggies) * _MAGGIE_CGS


def fnu_to_flam(wave_aa: ArrayLike, fnu: ArrayLike) -> jnp.ndarray:
    """f_nu to f_lambda: ``f_lambda = f_nu c / lambda^2``.

    Args:
        wave_aa: wavelength in Angstrom, broadcastable against ``fnu``.
        fnu: f_nu in erg s^-1 cm^-2 Hz^-1 (other f_nu units carry through linearly).

    Returns:
        f_lambda in erg s^-1 cm^-2 A^-1 (for cgs input).
    """
    wave_aa = jnp.asarray(wave_aa)
    return jnp.asarray(fnu) * C_AA_PER_S / wave_aa**2


def flam_to_fnu(wave_aa: ArrayLike, flam: ArrayLike) -> jnp.ndarray:
    """f_lambda to f_nu: ``f_nu = f_lambda lambda^2 / c``.

    Args:
        wave_aa: wavelength in Angstrom, broadcastable against ``flam``.
        flam: f_lambda in erg s^-1 cm^-2 A^-1.

    Returns:
        f_nu in erg s^-1 cm^-2 Hz^-1.
    """
    wave_aa = jnp.asarray(wave_aa)
    return jnp.asarray(flam) * wave_aa**2 / C_AA_PER_S


def lnu_to_fnu_maggies(
    lnu_lsun_per_hz: ArrayLike, z: ArrayLike, luminosity_distance_mpc: ArrayLike
) -> jnp.ndarray:
    """Rest-frame L_nu to observed f_nu in maggies for a source at redshift ``z``.

    ``f_nu(lambda_obs = (1+z) lambda_rest) = (1+z) L_nu(lambda_rest) / (4 pi D_L^2)``.
    The ``(1+z)`` factor is the bandwidth compression of f_nu. Use
    `sedcore.luminosity_distance_mpc` for ``D_L`` (the helper
    `sedcore.rest_lnu_to_observed_maggies` does both). For a nearby source at ``z = 0``
    pass its actual distance (e.g. 1e-5 Mpc = 10 pc for absolute magnitudes).

    Args:
        lnu_lsun_per_hz: rest-frame luminosity density in L_sun/Hz (times the mass in
            M_sun if it is per M_sun formed), any shape.
        z: redshift (scalar or broadcastable).
        luminosity_distance_mpc: luminosity distance in Mpc, > 0.

    Returns:
        Observed-frame f_nu in maggies, same shape as ``lnu_lsun_per_hz``.
    """
    # Constants combined in float64 Python arithmetic (L_sun / maggie / Mpc^2 ~ 881), so
    # that float32 evaluation never over- or underflows.
    d_mpc = jnp.asarray(luminosity_distance_mpc)
    return jnp.asarray(lnu_lsun_per_hz) * (1.0 + jnp.asarray(z)) * (_LNU_TO_MAGGIES_AT_1MPC / d_mpc**2)
