"""The synthesis demo (tools/galaxy_demo.py): a synthesized galaxy observed at three redshifts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    try:
        from tools import galaxy_demo as demo
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("galaxy_demo")
    assert demo.main(["--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["galaxy_demo.ecsv", "galaxy_demo.png"]
    return Table.read(out / "galaxy_demo.ecsv")


@pytest.mark.slow
def test_masses_and_energy(demo_table):
    assert np.allclose(demo_table["mass_formed_msun"], 1e10, rtol=1e-5)
    # BC03 living-star fraction after 0.5 Gyr of rising star formation: between 0.6 and 0.9.
    frac = demo_table["surviving_mass_msun"] / demo_table["mass_formed_msun"]
    assert np.all((frac > 0.6) & (frac < 0.9))
    assert np.all(demo_table["l_absorbed_lsun"] > 0)


@pytest.mark.slow
def test_nebular_lines_brighten_the_band_holding_halpha(demo_table):
    # At z = 6, H-alpha (6565 A vacuum) lands at 4.60 um inside F444W: nebular emission
    # must make that band brighter than the stars alone; at z = 1 F444W sees rest 2.2 um,
    # where nebular emission is a small continuum contribution.
    z6 = demo_table[demo_table["z"] == 6.0][0]
    z1 = demo_table[demo_table["z"] == 1.0][0]
    boost6 = z6["jwst_f444w_ab_stars_only"] - z6["jwst_f444w_ab"]
    boost1 = z1["jwst_f444w_ab_stars_only"] - z1["jwst_f444w_ab"]
    assert boost6 > 0.1
    assert boost6 > 2 * boost1


@pytest.mark.slow
def test_cosmological_dimming_and_lyman_break(demo_table):
    f444 = np.asarray(demo_table["jwst_f444w_ab"])
    assert np.all(np.diff(f444) > 0)  # z = 1, 3, 6: fainter with distance
    z6 = demo_table[demo_table["z"] == 6.0][0]
    assert z6["acs_wfc_f435w_ab"] - z6["jwst_f444w_ab"] > 15  # below the Lyman limit: dark
