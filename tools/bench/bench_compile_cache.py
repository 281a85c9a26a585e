"""Benchmark: one galaxy's fit in a fresh process, without and with the compile cache.

A new process fits one mock galaxy (the `bench_pixelfit` setup: 20 HST+JWST bands, 12
free parameters, the shipped emulator, 4 chains x (500 + 1000)) and times its first call
(tracing + compilation + the fit) and a second one (the fit alone). Run three times, each
in its own process: without the cache, then twice with a new, empty cache folder
(`pixelfit.enable_compile_cache`): the first fills it, the second reads it. What the
cache saves is the first call of the second run against the first call of the first.

Run: ``python -m tools.bench.bench_compile_cache`` from the repository root. Writes
benchmarks/results/compile_cache.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap

from tools.bench.harness import Timing, write_report

CHILD = textwrap.dedent("""
    import json, sys, time
    t_start = time.perf_counter()
    import jax
    import numpy as np
    import emulate_sps, pixelfit, sfh_priors
    if sys.argv[1]:
        pixelfit.enable_compile_cache(sys.argv[1])
    em = emulate_sps.load_emulator("hst_jwst20_phot")
    config = emulate_sps.SimulationRecipe().build_config()
    fit = pixelfit.FitModel.create(config, sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7)),
                                   forward=emulate_sps.photometry, forward_state=em)
    truth = {"z": 2.5, "log_mass": 10.0, "log_zsol": -0.5, "dust2": 0.3, "dust1": 0.3, "log_u": -2.5,
             "gas_log_zsol": -0.5, "sigma_kms": 100.0, "sfh_log_sfr_ratios": np.zeros(6, np.float32)}
    flux = np.asarray(emulate_sps.photometry(config, truth))[None]
    prepared = pixelfit.prepare_observations(fit, flux, 0.05 * flux, redshift=[2.5])
    settings = pixelfit.SamplerSettings(num_warmup=500, num_draws=1000, num_chains=4)
    t0 = time.perf_counter()
    pixelfit.fit_observations(jax.random.key(0), fit, prepared, settings, batch_size=1, progress=False)
    t1 = time.perf_counter()
    res = pixelfit.fit_observations(jax.random.key(0), fit, prepared, settings, batch_size=1, progress=False)
    t2 = time.perf_counter()
    print(json.dumps({"setup_s": t0 - t_start, "first_call_s": t1 - t0, "second_call_s": t2 - t1,
                      "fit_ok": bool(res.diagnostics.fit_ok[0])}))
""")


def run(cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, cache], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_compile_cache_") as folder:
        for label, cache in (("no cache", ""), ("empty cache (filled)", folder), ("cache read", folder)):
            r = run(cache)
            print(f"{label}: first call {r['first_call_s']:.1f} s, second {r['second_call_s']:.1f} s, "
                  f"setup {r['setup_s']:.1f} s", flush=True)  # fmt: skip
            rows.append(Timing(
                label=f"one galaxy, fresh process, {label}", compile_s=r["first_call_s"] - r["second_call_s"],
                median_s=r["second_call_s"], min_s=r["second_call_s"], max_s=r["second_call_s"], repeats=1,
                n_items=1, items_per_s=1.0 / r["second_call_s"], us_per_item=r["second_call_s"] * 1e6,
                extra={**r, "cache": bool(cache)},
            ))  # fmt: skip
    meta = {
        "first call without the cache (s)": round(rows[0].extra["first_call_s"], 1),
        "first call reading the cache (s)": round(rows[2].extra["first_call_s"], 1),
        "saved by the cache (s)": round(rows[0].extra["first_call_s"] - rows[2].extra["first_call_s"], 1),
        "fit": "1 galaxy, 20 bands, 12 free parameters, emulator hst_jwst20_phot, 4 chains x (500 + 1000)",
    }
    write_report("compile_cache", rows, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
