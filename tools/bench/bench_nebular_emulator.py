"""Benchmark: the neural nebular emulator (emulate_neb.NebularEmulator) on the Cloudy grid.

(a) Held-out accuracy, where the truth is known but unseen: an emulator is trained (same
    recipe as the shipped one) on the nodes with metallicity index even AND log U index
    even of the emulator's domain (Z <= Z_sun: Z indices 0, 2, 4 and log U indices 0, 2,
    4, 6, 8; all 15 ages), and predicts the other nodes. Next to it, multilinear
    interpolation from the same nodes (`ExactNebularModel` built on that sub-grid). Median
    and 95th-percentile fractional errors per line (where the line carries > 1% of H-beta
    at that node), pooled over those lines, and for the continuum (912 A - 3 micron).
(b) Accuracy of the shipped emulator (``cloudy_v25``, trained on every node) at every node.
(c) Speed (CPU, float32, jitted, the model passed as an argument): one SSP (one
    (age, Z, U): the unit the published `cue` emulator predicts, ~6 ms each) and 10^4 SSPs
    vmapped, lines only and lines + continuum on the 13216 BC03 wavelengths; and one
    population over the 220 BC03 SSP ages (what the synthesis engine asks for), single and
    10^4 vmapped, next to the exact model on the same inputs.

Run: ``python -m tools.bench.bench_nebular_emulator`` from the repository root (a few
minutes: (a) trains an emulator). ``--held-out-only`` runs (a) alone and writes
``benchmarks/results/nebular_emulator_held_out.json``; ``--skip-held-out`` reuses that
file for (a) in the full report.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from emulate_neb import (
    EmulatorTrainConfig,
    ExactNebularModel,
    load_nebular_emulator,
    load_nebular_grid,
    node_accuracy,
    train_nebular_emulator,
)
from emulate_neb._train import domain_grid, every_other_node_mask

from tools.bench.bench_nebular import bc03_log_ages
from tools.bench.harness import time_call, write_report

N_BATCH = 10_000
CUE_S_PER_PREDICTION = 6e-3  # Li et al. (2024), the published cue emulator, per prediction


def _pct(x):
    return "   -  " if x is None else f"{100 * x:6.2f}"


def held_out(grid) -> dict:
    dom = domain_grid(grid, EmulatorTrainConfig().max_log_zsol)
    mask = every_other_node_mask(dom)
    t0 = time.perf_counter()
    emu = train_nebular_emulator(grid, EmulatorTrainConfig(), train_mask=mask,
                                 holdout="every-other", name="held-out-every-other")
    train_s = time.perf_counter() - t0
    sub = dom.take_nodes(met_idx=np.arange(0, dom.n_met, 2), u_idx=np.arange(0, dom.n_u, 2))
    interp = ExactNebularModel(sub)
    acc_emu = node_accuracy(emu, dom, ~mask)
    acc_int = node_accuracy(interp, dom, ~mask)
    print(f"\n(a) held-out nodes: {int((~mask).sum())} predicted from {int(mask.sum())} "
          f"(training {train_s:.0f} s)")
    print(f"{'line (> 1% H-beta)':<16} {'n':>4}  {'emulator med / p95 %':>21}  "
          f"{'interpolation med / p95 %':>26}")
    for name, e in acc_emu["per_line"].items():
        i = acc_int["per_line"][name]
        print(f"{name:<16} {e['n_nodes']:>4}  {_pct(e['median'])} / {_pct(e['p95'])}       "
              f"{_pct(i['median'])} / {_pct(i['p95'])}")
    for part in ("lines_strong", "lines_0.1-1%", "continuum"):
        e, i = acc_emu[part], acc_int[part]
        print(f"{'ALL ' + part:<21}  {_pct(e['median'])} / {_pct(e['p95'])}       "
              f"{_pct(i['median'])} / {_pct(i['p95'])}")
    n_better = sum(acc_emu["per_line"][k]["median"] <= acc_int["per_line"][k]["median"]
                   for k in acc_emu["per_line"])
    meds = np.array([v["median"] for v in acc_emu["per_line"].values()])
    return {
        "split": "train: Z index even AND log U index even (Z <= Z_sun domain); predict the rest",
        "n_train_nodes": int(mask.sum()), "n_held_out_nodes": int((~mask).sum()),
        "train_s": train_s,
        "emulator": acc_emu, "interpolation": acc_int,
        "emulator_trained_nodes": emu.manifest_dict()["accuracy"]["trained_nodes"],
        "lines_where_emulator_median_le_interpolation": f"{n_better}/{len(meds)}",
        "lines_with_emulator_median_le_2pct": f"{int((meds <= 0.02).sum())}/{len(meds)}",
    }


def shipped(grid, emu) -> dict:
    dom = domain_grid(grid, EmulatorTrainConfig().max_log_zsol)
    acc = node_accuracy(emu, dom)
    print(f"\n(b) shipped {emu.name}, all {acc['n_nodes']} nodes: lines > 1% H-beta median "
          f"{_pct(acc['lines_strong']['median'])}% p95 {_pct(acc['lines_strong']['p95'])}%; "
          f"continuum median {_pct(acc['continuum']['median'])}% p95 "
          f"{_pct(acc['continuum']['p95'])}%")
    worst = sorted(acc["per_line"].items(), key=lambda kv: -kv[1]["median"])[:5]
    print("    worst line medians: " + ", ".join(f"{k} {_pct(v['median'])}%" for k, v in worst))
    return acc


def speed(grid, emu) -> tuple[list, dict]:
    exact = ExactNebularModel(grid)
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.uniform(6.0, 7.4, N_BATCH), jnp.float32)
    z = jnp.asarray(rng.uniform(float(emu.log_zsol[0]), float(emu.log_zsol[-1]), N_BATCH),
                    jnp.float32)
    u = jnp.asarray(rng.uniform(-4.0, 0.0, N_BATCH), jnp.float32)
    s = jnp.asarray(rng.uniform(30.0, 300.0, N_BATCH), jnp.float32)
    log_age = jnp.asarray(bc03_log_ages(), jnp.float32)
    mass = jnp.asarray(rng.uniform(0.0, 1e6, (N_BATCH, log_age.shape[0])), jnp.float32)
    wave = grid.wave_aa

    def ssp_lines(m, a_, z_, u_):
        return m.ssp_line_lum_lsun(a_, z_, u_)

    def ssp_both(m, a_, z_, u_):
        return m.ssp_line_lum_lsun(a_, z_, u_), m.ssp_cont_lnu_lsun_per_hz(a_, z_, u_)

    def pop_lines(m, ms, z_, u_):
        return m.line_lum_lsun(log_age, ms, z_, u_)

    def pop_emission(m, ms, z_, u_, s_):
        return m.emission(wave, log_age, ms, z_, u_, s_)

    results = []
    rows = {}
    # The exact model's batched SSP continuum (one pass over its 945 x 13216 table per SSP)
    # would take minutes; it is timed single only.
    for label, fn, args, one_rep, exact_batch in (
        ("SSP lines", ssp_lines, (a, z, u), 200, True),
        ("SSP lines + continuum (13216 wave)", ssp_both, (a, z, u), 100, False),
        ("population (220 ages) lines", pop_lines, (mass, z, u), 100, True),
        ("population (220 ages) lines + continuum", pop_emission, (mass, z, u, s), 30, True),
    ):
        for model_name, model in (("emulator", emu), ("exact", exact)):
            batch = model_name == "emulator" or exact_batch
            one = jax.jit(fn)
            r1 = time_call(f"{model_name}: {label}, 1", one, model, *(x[0] for x in args),
                           repeats=one_rep, min_time_s=0.5)
            results.append(r1)
            rows[f"{model_name}: {label}, 1"] = r1.median_s
            if batch:
                many = jax.jit(jax.vmap(fn, in_axes=(None,) + (0,) * len(args)))
                rb = time_call(f"{model_name}: {label}, vmap {N_BATCH}", many, model, *args,
                               n_items=N_BATCH, repeats=3)
                results.append(rb)
                rows[f"{model_name}: {label}, vmap {N_BATCH}"] = rb.median_s / N_BATCH
    vs_cue = {k: round(CUE_S_PER_PREDICTION / v, 1) for k, v in rows.items()
              if k.startswith("emulator")}
    return results, {"seconds_per_prediction": rows, "speedup_vs_cue_6ms": vs_cue}


def main() -> None:
    import argparse
    import json

    from tools.bench.harness import RESULTS_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-out-only", action="store_true")
    parser.add_argument("--skip-held-out", action="store_true")
    opts = parser.parse_args()
    grid = load_nebular_grid("cloudy")
    held_path = RESULTS_DIR / "nebular_emulator_held_out.json"
    if opts.held_out_only:
        acc_held = held_out(grid)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        tmp = held_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(acc_held, indent=1) + "\n")
        tmp.replace(held_path)
        print(f"-> {held_path}")
        return
    emu = load_nebular_emulator("cloudy_v25")
    acc_shipped = shipped(grid, emu)
    results, speeds = speed(grid, emu)
    if opts.skip_held_out:
        acc_held = json.loads(held_path.read_text())
    else:
        acc_held = held_out(grid)
    meta = {
        "emulator": emu.name,
        "architecture": emu.manifest_dict()["architecture"],
        "held_out_every_other": acc_held,
        "shipped_all_nodes": acc_shipped,
        "speed": speeds,
        "cue_anchor_s_per_prediction": CUE_S_PER_PREDICTION,
        "notes": ("CPU, float32; the model is a jit argument. 'SSP' = one (age, Z, U), the "
                  "unit cue predicts; 'population' = the 220 BC03 SSP ages of the synthesis "
                  "engine with random masses. Shared 2-core machine: timings are upper bounds."),
    }
    write_report("nebular_emulator", results, meta={k: v for k, v in meta.items()})


if __name__ == "__main__":
    main()
