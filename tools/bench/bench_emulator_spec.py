"""Benchmark: the rest-frame spectral emulator against the exact engine, same run.

Same model (BC03, 7-bin continuity SFH at any redshift, Calzetti dust with birth clouds,
Cloudy nebular emission), same galaxies drawn from the training prior, two outputs:

- rest-frame spectrum: ``emulate_sps.rest_spectrum(config, params)`` (native grid) vs
  ``emulate_sps.emulated_rest_spectrum(em, params)`` (the emulator's cells);
- 7-band HDF-N photometry (WFPC2 F300W/F450W/F606W/F814W + KPNO J/H/K, with IGM, at the
  galaxies' redshifts): ``emulate_sps.photometry(config, params)`` vs
  ``emulate_sps.spectral_photometry(state, params)`` through the emulated spectrum.

Per model (jit of one galaxy: latency), vmapped over 10^3 and 10^4 galaxies, and over 10^4
in chunks of 500 (``jax.lax.map(..., batch_size=500)``, both engines), for every shipped
spectral emulator (or those named) in the same run; and the floor of a single call (a jitted
call doing nothing; each network and each basis product alone).

Run: ``python -m tools.bench.bench_emulator_spec [--emulator NAME_OR_DIR ...] [--quick]``
from the repository root (a few minutes on 2 cores). Writes
benchmarks/results/emulator_spec.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from pathlib import Path


from tools.bench.bench_emulator_phot import prior_draws
from tools.bench.harness import chunked_map, time_call, write_report

HDFN = Path("/work/shared/data/hdfn/filters")
HDFN_BANDS = ("wfpc2_f300w", "wfpc2_f450w", "wfpc2_f606w", "wfpc2_f814w",
              "kpno_irim_j", "kpno_irim_h", "kpno_irim_k")  # fmt: skip


#: Galaxies per chunk of the chunked batched calls.
CHUNK = 500


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emulator", nargs="+", default=None,
                    help="shipped names or folders (default: every shipped spectral emulator)")
    ap.add_argument("--quick", action="store_true", help="smaller batches (smoke test)")
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp

    import emulate_sps

    names = args.emulator or emulate_sps.shipped_emulators(kind="spectrum")
    ems = {}
    for name in names:
        em = emulate_sps.load_emulator(name)
        if not isinstance(em, emulate_sps.SpectrumEmulator):
            raise SystemExit(f"{name} is not a spectral emulator")
        ems[em.name] = (em, emulate_sps.emulator_manifest(name))
    manifests = [m for _, m in ems.values()]
    if any(m["recipe"] != manifests[0]["recipe"] or m["prior"] != manifests[0]["prior"] for m in manifests):
        raise SystemExit("the emulators were trained on different models or priors; bench them one at a time")
    recipe = emulate_sps.SimulationRecipe.from_dict(manifests[0]["recipe"])
    specs = tuple(str(HDFN / f"{b}.dat") for b in HDFN_BANDS)
    config = dataclasses.replace(recipe, filters=specs).build_config()
    n_max = 1000 if args.quick else 10_000
    prior = emulate_sps.TrainingPrior.from_dict(manifests[0]["prior"])
    batch_all = {k: jnp.asarray(v) for k, v in prior_draws(prior, config, n_max).items()}
    one = {k: v[0] for k, v in batch_all.items()}
    whats = {"rest spectrum": (emulate_sps.rest_spectrum, emulate_sps.emulated_rest_spectrum),
             "7-band photometry": (emulate_sps.photometry, emulate_sps.spectral_photometry)}  # fmt: skip
    base = {"dtype": "float32", "engine_wavelengths": int(config.wave_aa.shape[0]), "bands": list(HDFN_BANDS)}
    rows = []
    sizes = (100, 1000) if args.quick else (1000, 10_000)
    for what, (f_exact, f_emu) in whats.items():
        for name, (em, _) in ems.items():
            st = em if what == "rest spectrum" else emulate_sps.spectral_photometry_state(em, list(specs))
            extra = {**base, "emulator": name, "emulator_cells": em.n_cells}
            rows.append(time_call(f"{name} {what} 1", jax.jit(f_emu), st, one, repeats=200, extra=extra))
            rows.append(time_call(f"{name} {what} 1, weights closed over", jax.jit(functools.partial(f_emu, st)),
                                  one, repeats=2000, extra={**extra, "call": "jax.jit(functools.partial(f, state))"}))  # fmt: skip
            many_emu = jax.jit(jax.vmap(f_emu, in_axes=(None, 0)))
            for n in sizes:
                b = {k: v[:n] for k, v in batch_all.items()}
                rows.append(time_call(f"{name} {what} vmap {n}", many_emu, st, b, n_items=n, repeats=5,
                                      extra={**extra, "batch": n}))  # fmt: skip
        rows.append(time_call(f"exact {what} 1", jax.jit(f_exact), config, one, repeats=20, extra=base))
        many_exact = jax.jit(jax.vmap(f_exact, in_axes=(None, 0)))
        for n in sizes:
            b = {k: v[:n] for k, v in batch_all.items()}
            # The exact rest spectrum of 10^4 galaxies at once needs ~5 GB; chunks of 10^3.
            if what == "rest spectrum" and n > 1000:
                chunks = [{k: v[i : i + 1000] for k, v in b.items()} for i in range(0, n, 1000)]

                def looped(cfg, _b, chunks=chunks):
                    return [many_exact(cfg, c) for c in chunks]

                rows.append(time_call(f"exact {what} vmap {n}", looped, config, None, n_items=n, repeats=1,
                                      extra={**base, "batch": n, "note": "10 vmapped chunks of 1000"}))  # fmt: skip
            else:
                rows.append(time_call(f"exact {what} vmap {n}", many_exact, config, b, n_items=n, repeats=2,
                                      extra={**base, "batch": n}))  # fmt: skip
        # Chunked: jax.lax.map over chunks of CHUNK galaxies (vmapped inside), both engines.
        # Plain vmap over 10^4 moves each (galaxies x cells) intermediate through memory;
        # chunks keep them in cache (docs/emulate-sps.md, "Many galaxies at once").
        n_big = sizes[-1]
        b = {k: v[:n_big] for k, v in batch_all.items()}
        for name, (em, _) in ems.items():
            st = em if what == "rest spectrum" else emulate_sps.spectral_photometry_state(em, list(specs))
            rows.append(time_call(f"{name} {what} map {n_big} by {CHUNK}", jax.jit(chunked_map(f_emu, CHUNK)), st, b,
                                  n_items=n_big, repeats=5,
                                  extra={**base, "emulator": name, "batch": n_big, "chunk": CHUNK}))  # fmt: skip
        rows.append(time_call(f"exact {what} map {n_big} by {CHUNK}", jax.jit(chunked_map(f_exact, CHUNK)), config, b,
                              n_items=n_big, repeats=2, extra={**base, "batch": n_big, "chunk": CHUNK}))  # fmt: skip
    # Where single-galaxy latency goes: a jitted call doing nothing, and each network alone.
    from emulate_sps._emulator import _network

    x0 = jnp.zeros((3,), jnp.float32)
    rows.append(time_call("floor: jitted call of x + 1", jax.jit(lambda x: x + 1.0), x0, repeats=2000))
    for name, (em, _) in ems.items():
        xin = jnp.zeros((em.layers[0][0].shape[0],), jnp.float32)
        rows.append(time_call(f"floor: {name} network alone, closed over",
                              jax.jit(functools.partial(_network, em.layers, layers_t=em.layers_t)), xin,
                              repeats=2000, extra={"layers": [list(w.shape) for w, _ in em.layers]}))  # fmt: skip
        cin = jnp.zeros((em.n_components,), jnp.float32)
        rows.append(time_call(f"floor: {name} basis product and exp alone, closed over",
                              jax.jit(lambda c, em=em: jnp.exp(em.spec_mean + c @ em.basis)), cin,
                              repeats=2000, extra={"basis": list(em.basis.shape)}))  # fmt: skip
    by = {r.label: r for r in rows}
    meta = {"emulators": list(ems)}
    for what in whats:
        meta[f"{what}: single-galaxy latency, exact (us)"] = round(by[f"exact {what} 1"].median_s * 1e6, 1)
        for name in ems:
            meta[f"{what}: single-galaxy latency, {name} (us)"] = round(by[f"{name} {what} 1"].median_s * 1e6, 1)
            meta[f"{what}: single-galaxy latency, {name} with its weights closed over (us)"] = round(
                by[f"{name} {what} 1, weights closed over"].median_s * 1e6, 1)
            meta[f"{what}: ratio exact/{name} per model, batched {n_big}"] = round(
                by[f"exact {what} vmap {n_big}"].us_per_item / by[f"{name} {what} vmap {n_big}"].us_per_item, 1
            )
            meta[f"{what}: ratio exact/{name} per model, both in chunks of {CHUNK} over {n_big}"] = round(
                by[f"exact {what} map {n_big} by {CHUNK}"].us_per_item
                / by[f"{name} {what} map {n_big} by {CHUNK}"].us_per_item, 1
            )
            best = {who: min(r.us_per_item for r in rows if r.label.startswith(f"{who} {what} ")
                             and r.n_items > 1) for who in ("exact", name)}  # fmt: skip
            meta[f"{what}: ratio exact/{name} per model, each at its fastest batched form"] = round(
                best["exact"] / best[name], 1)
            meta[f"{what}: ratio exact/{name}, single galaxy"] = round(
                by[f"exact {what} 1"].median_s / by[f"{name} {what} 1"].median_s, 1
            )
    meta["latency floor: jitted call of x + 1 (us)"] = round(by["floor: jitted call of x + 1"].median_s * 1e6, 1)
    for name in ems:
        meta[f"latency floor: {name} network alone (us)"] = round(
            by[f"floor: {name} network alone, closed over"].median_s * 1e6, 1)
        meta[f"latency floor: {name} basis product and exp alone (us)"] = round(
            by[f"floor: {name} basis product and exp alone, closed over"].median_s * 1e6, 1)
    meta["compared"] = (
        "exact engine (BC03, continuity SFH, Calzetti+birth clouds, Cloudy nebular; IGM for "
        "photometry) vs each spectral emulator on the same prior draws; photometry in the 7 "
        "HDF-N bands at each galaxy's redshift through the emulated rest spectrum"
    )
    write_report("emulator_spec", rows, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
