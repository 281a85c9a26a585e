"""Benchmark: the photometric emulator against the exact engine, same model, same run.

Both compute 20-band photometry (maggies) of the emulator's model (BC03, 7-bin continuity
SFH at any redshift, Calzetti dust with birth clouds, Cloudy nebular emission, IGM) for
the same galaxies drawn from the training prior: per model (jit of one galaxy: latency)
and vmapped over 10^3 and 10^4 galaxies, and over 10^4 in chunks of 500 (``jax.lax.map``;
throughput). The exact engine is
``emulate_sps.photometry(config, params)``, the emulator ``emulate_sps.photometry(em,
params)``: the same call with one argument swapped.

Run: ``python -m tools.bench.bench_emulator_phot [--emulator NAME_OR_DIR] [--quick]`` from
the repository root (a few minutes on 2 cores). Writes benchmarks/results/emulator_phot.json.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np

from tools.bench.harness import chunked_map, time_call, write_report


def prior_draws(prior, config, n: int) -> dict[str, np.ndarray]:
    """The benchmarks' galaxies: ``n`` draws of ``prior`` (key 123) at log mass 10, float32.

    Shared by bench_emulator_phot, bench_emulator_spec and bench_gpu, so that their figures
    are for the same galaxies.
    """
    import jax

    draws = prior.sample(jax.random.key(123), config, n)
    draws["log_mass"] = np.full(n, 10.0)
    return {k: np.asarray(v, np.float32) for k, v in draws.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emulator", default="hst_jwst20_phot", help="shipped name or folder")
    ap.add_argument("--quick", action="store_true", help="smaller batches (smoke test)")
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp

    import emulate_sps

    em = emulate_sps.load_emulator(args.emulator)
    recipe = emulate_sps.SimulationRecipe()
    if tuple(recipe.filter_names) != em.filter_names:
        raise SystemExit("this benchmark expects an emulator of the default recipe's bands")
    config = recipe.build_config()
    n_max = 1000 if args.quick else 10_000
    batch_all = {k: jnp.asarray(v) for k, v in prior_draws(emulate_sps.TrainingPrior(), config, n_max).items()}
    one = {k: v[0] for k, v in batch_all.items()}
    one_em = jax.jit(emulate_sps.photometry)
    many = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))
    extra = {"bands": len(em.filter_names), "emulator": em.name, "dtype": "float32"}
    rows = [
        time_call("emulator photometry 1", one_em, em, one, repeats=200, extra=extra),
        # The same call with the weights closed over (compile-time constants): the call
        # then passes only the parameters, which is most of the single-galaxy latency.
        time_call("emulator photometry 1, weights closed over",
                  jax.jit(functools.partial(emulate_sps.photometry, em)), one, repeats=2000,
                  extra={**extra, "call": "jax.jit(functools.partial(emulate_sps.photometry, em))"}),
        time_call("exact photometry 1", one_em, config, one, repeats=20, extra=extra),
    ]
    for n in (100, 1000) if args.quick else (1000, 10_000):
        b = {k: v[:n] for k, v in batch_all.items()}
        rows.append(time_call(f"emulator photometry vmap {n}", many, em, b, n_items=n, repeats=10,
                              extra={**extra, "batch": n}))  # fmt: skip
        rows.append(time_call(f"exact photometry vmap {n}", many, config, b, n_items=n,
                              repeats=3, extra={**extra, "batch": n}))  # fmt: skip
    n_big = 1000 if args.quick else 10_000
    # Both engines in chunks of 500 (jax.lax.map over vmapped chunks): the fastest batched
    # form of each on a CPU (bench_emulator_spec.py).
    b = {k: v[:n_big] for k, v in batch_all.items()}
    chunked = jax.jit(chunked_map(emulate_sps.photometry, 500))
    for who, state, reps in (("emulator", em, 10), ("exact", config, 3)):
        rows.append(time_call(f"{who} photometry map {n_big} by 500", chunked, state, b, n_items=n_big,
                              repeats=reps, extra={**extra, "batch": n_big, "chunk": 500}))  # fmt: skip
    by = {r.label: r for r in rows}
    best = {who: min(r.us_per_item for r in rows if r.label.startswith(f"{who} photometry ") and r.n_items > 1)
            for who in ("exact", "emulator")}  # fmt: skip
    meta = {
        "single-galaxy latency, emulator (us; goal <= 50)": round(by["emulator photometry 1"].median_s * 1e6, 1),
        "single-galaxy latency, emulator with its weights closed over (us; goal <= 50)": round(
            by["emulator photometry 1, weights closed over"].median_s * 1e6, 1),
        "ratio exact/emulator per model, batched (goal >= 100)": round(
            by[f"exact photometry vmap {n_big}"].us_per_item / by[f"emulator photometry vmap {n_big}"].us_per_item, 1
        ),
        "ratio exact/emulator per model, both in chunks of 500 (goal >= 100)": round(
            by[f"exact photometry map {n_big} by 500"].us_per_item
            / by[f"emulator photometry map {n_big} by 500"].us_per_item, 1
        ),
        "ratio exact/emulator per model, each at its fastest batched form (goal >= 100)": round(
            best["exact"] / best["emulator"], 1),
        "ratio exact/emulator, single galaxy": round(
            by["exact photometry 1"].median_s / by["emulator photometry 1"].median_s, 1
        ),
        "compared": "emulate_sps.photometry(config) (exact: BC03, continuity SFH, Calzetti+birth "
        "clouds, Cloudy nebular, IGM, 20 bands) vs emulate_sps.photometry(emulator), same draws",
    }  # fmt: skip
    write_report("emulator_phot", rows, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
