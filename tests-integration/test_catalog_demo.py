"""The README's main job (tools/demo.py): the built-in demo catalog fitted on Dask.

Runs ``tools.demo --quick`` (6 of the 24 mocks, short chains; same settings and batch shape
as packages/pixelfit/tests/test_catalog.py, so the program compiles once per session) and
checks what a user gets: every row once, flags for the bad input on purpose, the files, and
the truth-vs-posterior table. (Whether the posteriors cover the truths is measured on
converged fits, in tools/bench/bench_calibration.py, not on these short chains.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    pytest.importorskip("bagpipes")
    sys.path.insert(0, str(ROOT))
    try:
        from tools import demo
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("catalog_demo")
    assert demo.main(["--out", str(out), "--quick"]) == 0
    return out


def test_files(demo_out):
    names = {p.name for p in demo_out.iterdir()}
    assert {"summary.ecsv", "summary.fits", "run.json", "demo_recovery.ecsv", "demo_recovery.png",
            "posteriors", "plots", "chunks"} <= names  # fmt: skip
    summary = Table.read(demo_out / "summary.ecsv", format="ascii.ecsv")
    assert list(summary["id"]) == [1, 2, 3, 4, 5, 6]
    plots = {p.name for p in (demo_out / "plots").iterdir()}
    assert plots == {f"{i}_{k}.png" for i in summary["id"] for k in ("sed", "sfh", "corner")}
    for p in (demo_out / "plots").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((demo_out / "posteriors").iterdir())) == 6


def test_flags_and_recovery(demo_out):
    summary = Table.read(demo_out / "summary.ecsv", format="ascii.ecsv")
    # row 3 has a NaN flux, row 5 a negative error: each fitted without that band, flagged
    assert list(np.flatnonzero(summary["flag_bad_bands"])) == [3, 5]
    assert list(summary["n_bands_used"]) == [20, 20, 20, 19, 20, 19]
    rec = Table.read(demo_out / "demo_recovery.ecsv", format="ascii.ecsv")
    truth = Table.read(ROOT / "packages/pixelfit/src/pixelfit/data/demo_catalog.ecsv")[:6]
    # The recovery table is log10 of the summary's percentiles and of the catalog's truths.
    np.testing.assert_allclose(
        rec["surviving_mass_msun_p50"], np.log10(summary["surviving_mass_msun_p50"]), rtol=1e-12
    )
    np.testing.assert_allclose(
        rec["truth_surviving_mass_msun"], np.log10(truth["truth_surviving_mass_msun"]), rtol=1e-12
    )
    np.testing.assert_array_equal(rec["dust2_p16"], summary["dust2_p16"])
    inside = (rec["dust2_p16"] <= rec["truth_dust2"]) & (rec["truth_dust2"] <= rec["dust2_p84"])
    np.testing.assert_array_equal(rec["dust2_in68"], inside)
