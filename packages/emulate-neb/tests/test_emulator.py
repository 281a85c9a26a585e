"""NebularEmulator: shipped weights, files, protocol, accuracy at the nodes, physics,
smoothness across nodes, out-of-domain rule, and a tiny training run.

Accuracy thresholds are the goals of issue 5 (strong lines <= 1% median at every node)
and the figures the manifest records from training, which must be reproduced (not
widened). Physics bands are those of test_physics.py (Case B; see its references).
"""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sedcore
from emulate_neb import (
    EmulatorTrainConfig,
    NebularEmulator,
    load_nebular_emulator,
    node_accuracy,
    save_nebular_emulator,
    shipped_emulators,
    train_nebular_emulator,
)
from emulate_neb._cli import main as cli_main
from emulate_neb._emulator import _weights_dir

HA, HB = "H 1 6562.80A", "H 1 4861.32A"
OIII, NII = "O 3 5006.84A", "N 2 6583.45A"
L_SUN_ERG_S = 3.828e33
CASE_B_HBETA_ERG = 4.76e-13
WAVE_COARSE = jnp.geomspace(3000.0, 6900.0, 40)


@pytest.fixture(scope="module")
def emulator():
    return load_nebular_emulator("cloudy_v25")


@pytest.fixture(scope="module")
def domain_grid(cloudy_grid):
    return cloudy_grid.take_nodes(met_idx=np.arange(5))  # the emulator's domain, Z <= Z_sun


@pytest.fixture()
def shipped_copy(tmp_path):
    dest = tmp_path / "cloudy_v25"
    shutil.copytree(_weights_dir() / "cloudy_v25", dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    return dest, manifest


# --- shipped weights and files ---------------------------------------------------------


def test_shipped_emulator_loads_and_satisfies_the_protocol(emulator):
    assert "cloudy_v25" in shipped_emulators()
    assert isinstance(emulator, NebularEmulator)
    assert isinstance(emulator, sedcore.NebularModel)
    assert len(emulator.line_names) == emulator.line_wave_aa.shape[0] == 124
    assert emulator.max_age_yr == pytest.approx(10**7.4, rel=3e-3)
    em = emulator.emission(WAVE_COARSE, jnp.log10(jnp.geomspace(1e5, 1e9, 60)), jnp.ones(60),
                           -0.5, -2.5, 80.0)
    assert isinstance(em, sedcore.NebularEmission)
    assert em.lnu_lsun_per_hz.shape == (40,) and em.line_lum_lsun.shape == (124,)
    assert np.all(np.isfinite(np.asarray(em.lnu_lsun_per_hz)))
    assert np.all(np.asarray(em.lnu_lsun_per_hz) >= 0)


def test_shipped_weights_are_small_and_described(emulator):
    folder = _weights_dir() / "cloudy_v25"
    manifest = emulator.manifest_dict()
    size = (folder / manifest["weights"]["file"]).stat().st_size
    assert size == manifest["weights"]["bytes"] and size < 8e6
    assert manifest["line_names"] == list(emulator.line_names)
    assert manifest["training"]["holdout"] == "none"
    assert manifest["training"]["n_train_nodes"] == manifest["training"]["n_domain_nodes"]
    assert manifest["domain"]["log_zsol"][1] == pytest.approx(0.0, abs=1e-6)


def test_corrupt_weights_are_rejected_naming_the_file(shipped_copy):
    folder, manifest = shipped_copy
    weights = folder / manifest["weights"]["file"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{weights.name}.*checksum mismatch"):
        load_nebular_emulator(folder)


def test_truncated_weights_are_rejected_naming_the_file(shipped_copy):
    folder, manifest = shipped_copy
    weights = folder / manifest["weights"]["file"]
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{weights.name}.*checksum mismatch"):
        load_nebular_emulator(folder / "manifest.json")


def test_missing_weights_file_is_named(shipped_copy):
    folder, manifest = shipped_copy
    (folder / manifest["weights"]["file"]).unlink()
    with pytest.raises(FileNotFoundError, match=manifest["weights"]["file"]):
        load_nebular_emulator(folder)


def test_manifest_with_another_line_list_is_rejected(shipped_copy):
    folder, manifest = shipped_copy
    manifest["line_names"] = manifest["line_names"][:-1]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    match = r"part 'tables/line_wave_aa' has shape \(124,\).*\(123,\)"
    with pytest.raises(ValueError, match=match):
        load_nebular_emulator(folder)


def test_manifest_of_another_format_version_is_rejected(shipped_copy):
    folder, manifest = shipped_copy
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest.json: emulator format_version 99"):
        load_nebular_emulator(folder)


def test_truncated_manifest_is_rejected_naming_it(shipped_copy):
    folder, _ = shipped_copy
    path = folder / "manifest.json"
    path.write_text(path.read_text()[:200])
    with pytest.raises(ValueError, match="manifest.json: cannot be read as a JSON"):
        load_nebular_emulator(folder)


def test_unknown_name_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a shipped name"):
        load_nebular_emulator("cloudy_v99")
    with pytest.raises(FileNotFoundError, match="no emulator manifest"):
        load_nebular_emulator(tmp_path)


# --- accuracy at every node --------------------------------------------------------------


def test_shipped_accuracy_at_every_node(emulator, domain_grid):
    acc = node_accuracy(emulator, domain_grid)
    recorded = emulator.manifest_dict()["accuracy"]["all_nodes"]
    assert acc["n_nodes"] == recorded["n_nodes"] == 675
    # Issue 5 goal for strong lines (> 1% of H-beta).
    assert acc["lines_strong"]["median"] <= 0.01
    # The manifest's figures are what this emulator does (same grid, float32 rounding).
    for part in ("lines_strong", "continuum"):
        for stat in ("median", "p95"):
            assert acc[part][stat] == pytest.approx(recorded[part][stat], rel=0.02), (part, stat)


def test_grid_checksum_in_manifest_matches_the_grid(emulator, domain_grid):
    from emulate_neb._train import _grid_sha256

    assert emulator.manifest_dict()["grid"]["sha256"] == _grid_sha256(domain_grid)


# --- physics -------------------------------------------------------------------------------


@jax.jit
def _ssp_batch(model, a, z, u):
    return jax.vmap(model.ssp_line_lum_lsun)(a, z, u)


def _ssp(model, a, z, u):
    a, z, u = jnp.broadcast_arrays(*(jnp.asarray(v, jnp.float32) for v in (a, z, u)))
    out = _ssp_batch(model, a.ravel(), z.ravel(), u.ravel())
    return np.asarray(out, np.float64).reshape(a.shape + (-1,))


def test_balmer_decrement_near_case_b_on_and_between_nodes(emulator):
    # As test_physics.test_balmer_decrement_near_case_b (ages <= 10^6.9 yr, Z <= Z_sun,
    # band 2.70-3.05 around Case B 2.75-3.04), at random points between the nodes too.
    rng = np.random.default_rng(3)
    a = rng.uniform(6.0, 6.9, 400)
    z = rng.uniform(float(emulator.log_zsol[0]), 0.0, 400)
    u = rng.uniform(-4.0, 0.0, 400)
    lines = _ssp(emulator, a, z, u)
    ratio = lines[:, emulator.line_names.index(HA)] / lines[:, emulator.line_names.index(HB)]
    assert ratio.min() > 2.70 and ratio.max() < 3.05, (ratio.min(), ratio.max())


def _hbeta_over_case_b(emulator, bc03_ionizing):
    """(Z, log U, BC03 age) L(H-beta) / (Case B x Q(H)), and Q(H), at the BC03 ages."""
    hb = emulator.line_names.index(HB)
    age = bc03_ionizing["age_yr"]
    sel = (age >= 1e6) & (age <= 10**6.9 * 1.0001)
    log_us = np.array([-4.0, -3.0, -2.25, -1.0, 0.0])
    zs = np.asarray(emulator.log_zsol)
    lum = _ssp(emulator, np.log10(age[sel])[None, None, :], zs[:, None, None],
               log_us[None, :, None])[..., hb]
    q = bc03_ionizing["q_h"][:5, sel][:, None, :]
    return lum * L_SUN_ERG_S / (CASE_B_HBETA_ERG * q), lum, q


def test_hbeta_scales_with_ionizing_photon_rate_of_the_ssp(emulator, bc03_ionizing):
    # At the BC03 ages between the nodes (Q(H) falls by up to 1.9 dex): log L(H-beta)
    # against log Q(H) has unit slope, within test_physics' 0.06.
    _, lum, q = _hbeta_over_case_b(emulator, bc03_ionizing)
    for iz in range(5):
        for iu in range(5):
            slope = np.polyfit(np.log10(q[iz, 0]), np.log10(lum[iz, iu]), 1)[0]
            assert abs(slope - 1) < 0.06, (iz, iu, slope)


@pytest.mark.xfail(strict=True, reason=(
    "known limitation of cloudy_v25: between age nodes H-beta overshoots Case B x Q(H) by "
    "up to 24% (Z_sun, log U = -4; the exact model stays below 16%); see docs/emulate-neb.md"))
def test_hbeta_normalisation_between_nodes_within_the_exact_models_band(emulator, bc03_ionizing):
    # test_physics' band for the exact model: 0.85-1.2 (Case B temperature dependence,
    # helium absorption, Wolf-Rayet phase between 0.1-dex age nodes).
    ratio, _, _ = _hbeta_over_case_b(emulator, bc03_ionizing)
    assert 0.85 < ratio.min() and ratio.max() < 1.2, (ratio.min(), ratio.max())


def test_oiii_to_hbeta_rises_with_ionization_parameter(emulator):
    # As for the exact model, on a fine log U grid; each 1/8-dex step may dip by at most
    # the emulator's measured median [OIII] error at the nodes (where the ratio saturates
    # near log U = 0 it changes by < 1% per step: measured dip 0.7% at 0.4 Z_sun, 3 Myr).
    o3, hb = emulator.line_names.index(OIII), emulator.line_names.index(HB)
    err = emulator.manifest_dict()["accuracy"]["all_nodes"]["per_line"][OIII]["median"]
    log_u = np.linspace(-4.0, 0.0, 33)
    for log_zsol in (np.log10(0.02), np.log10(0.2), np.log10(0.4)):
        for log_age in (6.0, 6.3, 6.5):
            lines = _ssp(emulator, log_age, log_zsol, log_u)
            ratio = lines[:, o3] / lines[:, hb]
            assert np.all(ratio[1:] > ratio[:-1] * (1 - err)), (log_zsol, log_age, err, ratio)
            assert ratio[-1] > 10 * ratio[0]


def test_nii_to_halpha_rises_with_metallicity(emulator):
    n2, ha = emulator.line_names.index(NII), emulator.line_names.index(HA)
    log_zsol = np.linspace(float(emulator.log_zsol[0]), 0.0, 25)
    for log_u in (-3.5, -3.0, -2.5, -2.0):
        for log_age in (6.0, 6.3, 6.5):
            lines = _ssp(emulator, log_age, log_zsol, log_u)
            ratio = lines[:, n2] / lines[:, ha]
            assert np.all(np.diff(ratio) > 0), (log_u, log_age, ratio)


def test_lines_scale_with_mass_formed(emulator):
    ages = jnp.array([6.1, 6.45, 6.8])
    one = emulator.line_lum_lsun(ages, jnp.array([1.0, 2.0, 0.5]), -0.5, -2.5)
    many = emulator.line_lum_lsun(ages, jnp.array([3e5, 6e5, 1.5e5]), -0.5, -2.5)
    np.testing.assert_allclose(np.asarray(many), 3e5 * np.asarray(one), rtol=1e-5)


# --- smoothness across nodes -------------------------------------------------------------


def _slope_jump(model, line, axis, point, eps=1e-3):
    """d log L / d x just right of a node minus just left of it (x: axis 0 age, 1 Z, 2 U)."""
    i = model.line_names.index(line)

    def log_lum(p):
        return jnp.log(model.ssp_line_lum_lsun(p[0], p[1], p[2])[i])

    grad = jax.jit(jax.grad(log_lum))
    step = jnp.zeros(3).at[axis].set(eps)
    p = jnp.asarray(point, jnp.float32)
    left, right = grad(p - step)[axis], grad(p + step)[axis]
    return float(right - left), float(left), float(right)


@pytest.mark.parametrize("axis, line", [(0, HB), (1, OIII), (2, OIII), (1, NII)])
def test_no_kink_at_grid_nodes(emulator, cloudy_model, axis, line):
    # At the node (10^6.3 yr, 0.2 Z_sun, log U = -2), slopes 1e-3 either side of the node
    # differ by 2e-3 * (second derivative) for a smooth function: below 0.02 here (second
    # derivatives of log L are below ~10 per dex^2), whereas the multilinear exact model's
    # slope jumps by the change of slope between the two adjacent cells.
    node = (6.3, float(np.log10(0.2)), -2.0)
    jump_emu, left, right = _slope_jump(emulator, line, axis, node)
    jump_exact, el, er = _slope_jump(cloudy_model, line, axis, node)
    assert np.isfinite([left, right]).all()
    assert abs(jump_emu) < 0.02, (jump_emu, left, right)
    assert abs(jump_exact) > 0.05, (jump_exact, el, er)  # the test can see a kink


def test_gradients_are_finite_everywhere_including_edges(emulator):
    @jax.jit
    @jax.grad
    def f(gas, m):
        return jnp.log(m.line_lum_lsun(jnp.array([6.0, 6.3]), jnp.array([1.0, 1.0]),
                                       gas[0], gas[1]).sum())

    z = np.asarray(emulator.log_zsol)
    for point in ((-0.3, -2.0), (z[0], -4.0), (z[-1], 0.0)):
        assert np.all(np.isfinite(np.asarray(f(jnp.array(point), emulator))))


# --- domain rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, z, u", [("log_zsol", 0.2, -2.0), ("log_zsol", -2.5, -2.0),
                                        ("log_u", -0.5, 0.5), ("log_u", -0.5, -4.2)])
def test_gas_parameters_outside_the_domain_are_rejected_eagerly(emulator, name, z, u):
    with pytest.raises(ValueError, match=f"{name}=.*outside the nebular grid"):
        emulator.line_lum_lsun(jnp.array([6.0]), jnp.array([1.0]), z, u)


def test_gas_parameters_outside_the_domain_are_clipped_under_jit(emulator):
    f = jax.jit(lambda m, z, u: m.line_lum_lsun(jnp.array([6.0]), jnp.array([1.0]), z, u))
    m = emulator
    z_lo, z_hi = float(m.log_zsol[0]), float(m.log_zsol[-1])
    np.testing.assert_array_equal(np.asarray(f(m, 1.5, 0.7)), np.asarray(f(m, z_hi, 0.0)))
    np.testing.assert_array_equal(np.asarray(f(m, -3.0, -5.0)), np.asarray(f(m, z_lo, -4.0)))


def test_age_rules_match_the_exact_model(emulator):
    young = emulator.ssp_line_lum_lsun(5.0, -0.5, -2.0)
    np.testing.assert_array_equal(np.asarray(young),
                                  np.asarray(emulator.ssp_line_lum_lsun(6.0, -0.5, -2.0)))
    np.testing.assert_array_equal(np.asarray(emulator.ssp_line_lum_lsun(-np.inf, -0.5, -2.0)),
                                  np.asarray(young))
    assert float(emulator.ssp_line_lum_lsun(7.41, -0.5, -2.0).max()) == 0.0
    assert float(emulator.ssp_line_lum_lsun(np.log10(2.5119e7), -0.5, -2.0).sum()) > 0


# --- training --------------------------------------------------------------------------------

TINY = EmulatorTrainConfig(hidden=(16,), n_pca=3, epochs=20, val_fraction=0.0, eval_every=10)


@pytest.fixture(scope="module")
def tiny_grid(cloudy_grid):
    return cloudy_grid.take_nodes(age_idx=[0, 4, 8], met_idx=[0, 2, 4], u_idx=[0, 4, 8])


def test_tiny_training_is_deterministic_and_round_trips(tiny_grid, tmp_path):
    a = train_nebular_emulator(tiny_grid, TINY, progress=False)
    b = train_nebular_emulator(tiny_grid, TINY, progress=False)
    for ka, kb in zip(a.kernels, b.kernels):
        np.testing.assert_array_equal(np.asarray(ka), np.asarray(kb))
    save_nebular_emulator(a, tmp_path / "emu")
    loaded = load_nebular_emulator(tmp_path / "emu")
    args = (jnp.array([6.2, 6.9]), jnp.array([1.0, 3.0]), -1.0, -2.5)
    np.testing.assert_array_equal(np.asarray(loaded.line_lum_lsun(*args)),
                                  np.asarray(a.line_lum_lsun(*args)))
    m = loaded.manifest_dict()
    assert m["training"]["n_train_nodes"] == 27 and m["training"]["seed"] == 0
    assert m["n_pca"] == 3 and m["architecture"]["hidden"] == [16]


def test_failed_save_leaves_the_previous_pair_loadable(tiny_grid, tmp_path, monkeypatch):
    import emulate_neb._train as train_mod

    first = train_nebular_emulator(tiny_grid, TINY, progress=False)
    save_nebular_emulator(first, tmp_path / "emu")
    second = train_nebular_emulator(tiny_grid, EmulatorTrainConfig(
        hidden=(16,), n_pca=3, epochs=20, val_fraction=0.0, eval_every=10, seed=1),
        progress=False)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(train_mod.json, "dumps", boom)
    with pytest.raises(OSError, match="disk full"):
        save_nebular_emulator(second, tmp_path / "emu")
    monkeypatch.undo()
    files = sorted(p.name for p in (tmp_path / "emu").iterdir())
    assert "manifest.json" in files and not any(f.startswith(".") for f in files)
    loaded = load_nebular_emulator(tmp_path / "emu")  # the old manifest with its own weights
    np.testing.assert_array_equal(np.asarray(loaded.kernels[0]), np.asarray(first.kernels[0]))


def test_train_command_writes_a_loadable_emulator(tiny_grid, tmp_path, capsys):
    from emulate_neb import save_nebular_grid

    grid_file = save_nebular_grid(tiny_grid, tmp_path / "tiny.h5")
    out = tmp_path / "out"
    rc = cli_main(["train", "--grid", str(grid_file), "--out", str(out), "--epochs", "30",
                   "--hidden", "16", "--n-pca", "3", "--val-fraction", "0.2", "--patience", "1",
                   "--holdout", "every-other", "--quiet", "--seed", "7"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "held_out_nodes" in printed and "manifest.json" in printed
    emu = load_nebular_emulator(out)
    m = emu.manifest_dict()
    assert m["training"]["holdout"] == "every-other" and m["training"]["seed"] == 7
    assert m["training"]["n_train_nodes"] == 3 * 2 * 2  # even Z (0, 2) x even U (0, 2)
    assert m["training"]["early_stopping"]["n_val_nodes"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", m["weights"]["file"]]


def test_train_command_rejects_bad_options(tmp_path, capsys):
    assert cli_main(["train", "--out", str(tmp_path), "--hidden", "16,x"]) == 1
    assert "--hidden must be comma-separated" in capsys.readouterr().err
    assert cli_main(["train", "--out", str(tmp_path), "--val-fraction", "0.7"]) == 1
    assert "val_fraction" in capsys.readouterr().err
