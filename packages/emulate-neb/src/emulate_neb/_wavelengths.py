"""Air to vacuum wavelengths (IAU standard, Morton 2000).

Cloudy labels its lines with vacuum wavelengths below 2000 A and air wavelengths above
(Hazy, the Cloudy manual; e.g. "H  1 6562.80A" is H-alpha in air, 6564.61 A in vacuum).
The project works in vacuum wavelengths throughout (DESIGN.md), so the labels above 2000 A
are converted with the refractive index of standard dry air of Morton (2000, ApJS 130, 403,
eq. 8), the IAU standard for air wavelengths:

    n - 1 = 8.34254e-5 + 2.406147e-2 / (130 - s**2) + 1.5998e-4 / (38.9 - s**2),

with s = 1e4 / lambda_vac in inverse micron, and lambda_air = lambda_vac / n. Because n
depends on the vacuum wavelength, the inverse is solved by fixed-point iteration
(lambda_vac <- lambda_air * n(lambda_vac)), which converges to machine precision in a few
steps since n - 1 ~ 3e-4 varies slowly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["air_to_vacuum_aa", "vacuum_to_air_aa"]

#: Cloudy (and the IAU convention) quote air wavelengths only above this, in Angstrom.
AIR_VACUUM_THRESHOLD_AA = 2000.0


def _refractive_index_minus_one(wave_vac_aa: np.ndarray) -> np.ndarray:
    s2 = (1e4 / wave_vac_aa) ** 2
    return 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)


def _as_wave(wave_aa, name: str) -> np.ndarray:
    wave = np.asarray(wave_aa, dtype=np.float64)
    if not np.all(np.isfinite(wave)) or np.any(wave <= 0):
        raise ValueError(
            f"{name} must be finite wavelengths > 0 in Angstrom; got "
            f"{wave[~(np.isfinite(wave) & (wave > 0))].ravel()[:3].tolist()} among them."
        )
    return wave


def vacuum_to_air_aa(wave_vac_aa) -> np.ndarray:
    """Vacuum to air wavelength (Morton 2000, IAU standard); unchanged below 2000 A.

    Args:
        wave_vac_aa: vacuum wavelengths in Angstrom, any shape, > 0.

    Returns:
        Air wavelengths in Angstrom (numpy float64, same shape); values below 2000 A are
        returned unchanged, following the convention that they are quoted in vacuum.

    Raises:
        ValueError: for non-finite or non-positive wavelengths.
    """
    vac = _as_wave(wave_vac_aa, "wave_vac_aa")
    air = vac / (1.0 + _refractive_index_minus_one(vac))
    return np.where(vac >= AIR_VACUUM_THRESHOLD_AA, air, vac)


def air_to_vacuum_aa(wave_air_aa) -> np.ndarray:
    """Air to vacuum wavelength (inverse of Morton 2000); unchanged below 2000 A.

    Args:
        wave_air_aa: wavelengths in Angstrom as quoted by Cloudy and most optical line
            lists (air above 2000 A, vacuum below), any shape, > 0.

    Returns:
        Vacuum wavelengths in Angstrom (numpy float64, same shape). Round-trips with
        `vacuum_to_air_aa` to better than 1e-12 relative.

    Raises:
        ValueError: for non-finite or non-positive wavelengths.

    Example:
        >>> round(float(air_to_vacuum_aa(6562.80)), 2)   # H-alpha
        6564.61
    """
    air = _as_wave(wave_air_aa, "wave_air_aa")
    vac = air.copy()
    for _ in range(6):  # contraction factor ~1e-6 per step: 6 steps reach float64 precision
        vac = air * (1.0 + _refractive_index_minus_one(vac))
    return np.where(air >= AIR_VACUUM_THRESHOLD_AA, vac, air)
