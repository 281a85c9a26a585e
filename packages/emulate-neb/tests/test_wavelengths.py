"""Air/vacuum conversion and the vacuum line wavelengths of the built-in grid."""

from __future__ import annotations

import numpy as np
import pytest
from sedpy.observate import vac2air

from emulate_neb import air_to_vacuum_aa, vacuum_to_air_aa

# Vacuum wavelengths (Angstrom) of strong nebular lines, as tabulated in the SDSS
# spectroscopic line list (vacuum, from NIST energy levels); labels are Cloudy's air values.
VACUUM_REFERENCE = {
    "H 1 6562.80A": 6564.61,
    "H 1 4861.32A": 4862.68,
    "H 1 4340.46A": 4341.68,
    "O 3 5006.84A": 5008.24,
    "O 3 4958.91A": 4960.30,
    "N 2 6583.45A": 6585.27,
    "N 2 6548.05A": 6549.86,
    "S 2 6716.44A": 6718.29,
    "S 2 6730.82A": 6732.67,
    "O 2 3726.03A": 3727.09,
    "O 2 3728.81A": 3729.88,
    "O 1 6300.30A": 6302.05,
}


def test_known_lines_convert_to_their_vacuum_wavelengths():
    air = np.array([float(k.split()[-1][:-1]) for k in VACUUM_REFERENCE])
    # Labels and references are rounded to 0.01 A; the two rounding errors allow 0.015 A.
    vac = list(VACUUM_REFERENCE.values())
    np.testing.assert_allclose(air_to_vacuum_aa(air), vac, atol=0.015, rtol=0)


def test_agrees_with_sedpy_iau_vacuum_to_air():
    # sedpy's vac2air is the SDSS statement of the IAU standard (Morton 1991): an
    # independent fit, quoted as good to ~1e-6 relative over the optical/NIR.
    air = np.geomspace(2100.0, 5e4, 200)
    np.testing.assert_allclose(vac2air(air_to_vacuum_aa(air)), air, rtol=2e-6)


def test_round_trip_is_exact():
    air = np.geomspace(2000.0, 1e7, 500)
    np.testing.assert_allclose(vacuum_to_air_aa(air_to_vacuum_aa(air)), air, rtol=1e-12)


def test_below_2000_angstrom_is_unchanged():
    wave = np.array([912.0, 1215.67, 1999.9])
    np.testing.assert_array_equal(air_to_vacuum_aa(wave), wave)
    np.testing.assert_array_equal(vacuum_to_air_aa(wave), wave)


@pytest.mark.parametrize("bad", [[-1.0], [0.0], [np.nan], [np.inf]])
def test_bad_wavelengths_are_rejected(bad):
    with pytest.raises(ValueError, match="wave_air_aa must be finite"):
        air_to_vacuum_aa(bad)


def test_grid_line_wavelengths_are_vacuum(cloudy_grid):
    def wave(label):
        return float(cloudy_grid.line_wave_aa[cloudy_grid.line_index(label)])

    for label, vac in VACUUM_REFERENCE.items():
        assert wave(label) == pytest.approx(vac, abs=0.015)
    # Below 2000 A Cloudy labels are already vacuum: Ly-alpha and C III] stay as labelled.
    assert wave("H 1 1215.67A") == pytest.approx(1215.67, abs=1e-3)
    assert wave("C 3 1908.73A") == pytest.approx(1908.73, abs=1e-3)
