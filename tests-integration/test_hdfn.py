"""The Hubble Deep Field North catalog through `pixelfit catalog`, free redshift (issue #7).

A subset in CI (the whole catalog is the benchmark tools/bench/bench_hdfn.py): the real
EAZY-format file, its translate file and the seven real filter curves, read exactly as a
user would, fitted through the shipped rest-frame spectral emulator projected through those
curves at each redshift, with short chains. Checks the whole path on real data: columns,
zero point, the -99 convention, negative fluxes kept, every row once, redshift posteriors
inside the prior, the run record.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

ROOT = Path(__file__).resolve().parent.parent
HDFN = ROOT.parent / "shared" / "data" / "hdfn"
FILTERS = [str(HDFN / "filters" / f"{f}.dat") for f in (
    "wfpc2_f300w", "wfpc2_f450w", "wfpc2_f606w", "wfpc2_f814w",
    "kpno_irim_j", "kpno_irim_h", "kpno_irim_k")]  # fmt: skip
EMULATOR = "bc03_rest_spec"
N_ROWS = 6
pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not (HDFN / "hdfn_fs99_eazy.cat").is_file():
        pytest.skip(f"../shared/data/hdfn is not here ({HDFN})")
    pytest.importorskip("bagpipes")
    import emulate_sps

    if EMULATOR not in emulate_sps.shipped_emulators():
        pytest.fail(f"the spectral emulator {EMULATOR!r} is not shipped")
    from pixelfit._cli import main

    tmp = tmp_path_factory.mktemp("hdfn")
    lines = (HDFN / "hdfn_fs99_eazy.cat").read_text().splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    subset = tmp / "hdfn_first_rows.cat"
    subset.write_text("".join(header + body[:N_ROWS]))
    out = tmp / "out"
    argv = [
        "catalog", str(subset), "--out", str(out), "--filters", *FILTERS,
        "--translate", str(HDFN / "zphot.translate"), "--zero-point", "25",
        "--missing-below", "-90", "--id-column", "id", "--free-redshift", "--z-min", "0.01",
        "--z-max", "8", "--emulator", EMULATOR, "--chunk-size", "3", "--batch-size", "3",
        "--chains", "2", "--warmup", "100", "--draws", "100", "--max-doublings", "6",
        "--init-draws", "32", "--init-steps", "100", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    return out, Table.read(subset, format="ascii.commented_header", header_start=0)


def test_every_row_fitted_with_free_redshift(run):
    out, raw = run
    summary = Table.read(out / "summary.ecsv", format="ascii.ecsv")
    assert list(summary["id"]) == list(raw["id"])
    assert summary["fitted"].all()
    assert list(summary["n_bands_used"]) == [7] * N_ROWS
    z16, z50, z84 = (np.asarray(summary[f"z_p{p}"]) for p in (16, 50, 84))
    assert np.all((0.01 <= z16) & (z16 <= z50) & (z50 <= z84) & (z84 <= 8.0))
    assert summary.meta["redshift_free"] is True
    record = json.loads((out / "run.json").read_text())
    assert record["model"]["emulator"] == EMULATOR and record["model"]["free_redshift"]
    assert record["emulator_manifest_sha256"]
    assert len(list((out / "posteriors").iterdir())) == N_ROWS


def test_negative_fluxes_are_kept_as_measurements(run):
    """Faint sources have small negative fluxes: kept, not masked (the -99 rows are)."""
    out, raw = run
    neg = np.asarray(raw["f_f300w"]) < 0
    neg &= np.asarray(raw["f_f300w"]) > -90
    summary = Table.read(out / "summary.ecsv", format="ascii.ecsv")
    assert not np.any(np.asarray(summary["flag_bad_bands"])[neg])
