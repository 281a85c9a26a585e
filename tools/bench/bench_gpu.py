"""Benchmark on a GPU: the emulators' throughput and pixelfit's vmapped NUTS fits (issues #6, #7).

The GPU machine lent to some sessions (see /work/.library/device) has no BC03 or Cloudy
grids (163 + 101 MB, over its 64 MiB transfer limit), so the work is split in two steps:

1. ``prepare`` (here, on the CPU, with the grids): the same prior draws as
   ``bench_emulator_phot`` / ``bench_emulator_spec`` (NumPy files), the 7 HDF-N filter
   curves, and the demo's `FitModel` (hst_jwst20_phot emulator, 7-bin continuity SFH, 20
   bands) pickled with the large arrays of its synthesis config removed (the grids: the
   emulator's forward model never reads them). ``prepare`` checks that claim: the stripped
   model's log density equals the full model's at 16 prior draws of every demo galaxy,
   bit for bit, and a short fit of two galaxies gives bit-identical draws.
2. ``run`` (on the GPU machine): emulator photometry (20 bands) and rest spectra, single
   galaxy (jit latency) and vmapped over 10^3-10^6 galaxies; spectral-emulator photometry
   in the 7 HDF-N bands; and NUTS fits of the demo catalog (4 chains x (500 + 1000), as
   ``bench_pixelfit``) alone and in vmapped batches of 24 and 240 galaxies (the demo's
   fitted rows repeated). Batches above 10^4 repeat the 10^4 draws: an MLP's cost does not
   depend on its inputs. Writes ``gpu_emulators.json`` and ``gpu_fits.json`` (the
   harness's format, with the machine).

The exact engine is not timed on the GPU (its grids do not travel); its CPU figures are in
benchmarks/results/emulator_{phot,spec}.json.

Run::

    python -m tools.bench.bench_gpu prepare --dir .gpu          # here, ~2 min
    python -m tools.bench.bench_gpu run --dir .gpu --out DIR     # on the GPU machine
    python -m tools.bench.bench_gpu                              # both, where one machine
                                                                 # has the grids and a GPU
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import shutil
import time
from pathlib import Path

import numpy as np

from tools.bench.bench_emulator_phot import prior_draws
from tools.bench.bench_emulator_spec import HDFN, HDFN_BANDS
from tools.bench.harness import Timing, time_call, write_report

_MAX_BYTES = 1_000_000  # config arrays above this are dropped by `strip_grids`
SETTINGS = dict(num_warmup=500, num_draws=1000, num_chains=4)
FIT_BATCHES = (1, 24, 240)
PHOT_SIZES = (1000, 10_000, 100_000, 1_000_000)
SPEC_SIZES = (1000, 10_000, 100_000)


class _JaxToNumpyPickler(pickle.Pickler):
    """Pickles jax arrays as ``jax.numpy.asarray(numpy array)`` (portable across jax versions)."""

    def reducer_override(self, obj):
        import jax

        if isinstance(obj, jax.Array):
            import jax.numpy as jnp

            return (jnp.asarray, (np.asarray(obj),))
        return NotImplemented


def strip_grids(fit):
    """``fit`` with every array of its synthesis config over 1 MB replaced by an empty array.

    Those are the exact engine's tables (SSP spectra, IGM, the nebular continuum grid);
    `prepare` checks that the emulator's forward model never reads them.
    """
    import dataclasses

    import jax

    def small(x):
        return np.zeros((0,), np.float32) if getattr(x, "nbytes", 0) > _MAX_BYTES else x

    return dataclasses.replace(fit, config=jax.tree.map(small, fit.config))


def prepare(folder: Path) -> int:
    import dataclasses

    import jax

    import emulate_sps
    import pixelfit

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = emulate_sps.SimulationRecipe().build_config()
    np.savez(folder / "phot_draws.npz", **prior_draws(emulate_sps.TrainingPrior(), config, 10_000))
    manifest = emulate_sps.emulator_manifest("bc03_rest_spec")
    recipe = emulate_sps.SimulationRecipe.from_dict(manifest["recipe"])
    specs = tuple(str(HDFN / f"{b}.dat") for b in HDFN_BANDS)
    spec_config = dataclasses.replace(recipe, filters=specs).build_config()
    prior = emulate_sps.TrainingPrior.from_dict(manifest["prior"])
    np.savez(folder / "spec_draws.npz", **prior_draws(prior, spec_config, 10_000))
    (folder / "filters").mkdir(exist_ok=True)
    for s in specs:
        shutil.copy(s, folder / "filters")

    fit = pixelfit.build_fit_model(pixelfit.demo_spec())
    lite = strip_grids(fit)
    prepared = pixelfit.prepare_photometry(fit, pixelfit.read_demo_photometry())
    rows = np.flatnonzero(prepared.fitted)
    # The claim the GPU figures rest on: the stripped model computes the same thing.
    ld = jax.jit(jax.vmap(pixelfit.log_density, in_axes=(None, None, 0)))
    worst = 0.0
    for i in rows:
        obs = jax.tree.map(lambda x, i=i: x[i], prepared.obs)
        keys = jax.random.split(jax.random.key(int(i)), 16)
        draws = jax.vmap(lambda k, obs=obs: pixelfit.prior_draw(k, fit, obs))(keys)
        a, b = np.asarray(ld(fit, obs, draws)), np.asarray(ld(lite, obs, draws))
        if not np.array_equal(a, b):
            raise SystemExit(f"stripped model differs at demo row {i}: {a} vs {b}")
        worst = max(worst, float(np.max(np.abs(a - b))))
    short = pixelfit.SamplerSettings(num_warmup=50, num_draws=50, num_chains=2, num_init_steps=20)
    sub = prepared.subset(rows[:2])
    r_full = pixelfit.fit_observations(jax.random.key(0), fit, sub, short, batch_size=2, progress=False)
    r_lite = pixelfit.fit_observations(jax.random.key(0), lite, sub, short, batch_size=2, progress=False)
    same = all(np.array_equal(r_full.posterior[k], r_lite.posterior[k]) for k in r_full.posterior)
    if not same:
        raise SystemExit("stripped model's short fit differs from the full model's")
    with open(folder / "demo_fit.pkl", "wb") as fh:
        _JaxToNumpyPickler(fh).dump(lite)
    with open(folder / "demo_prepared.pkl", "wb") as fh:
        _JaxToNumpyPickler(fh).dump(prepared.subset(rows))
    info = {
        "log_density_checked_rows": len(rows),
        "log_density_draws_per_row": 16,
        "log_density_bitwise_equal": True,
        "short_fit_bitwise_equal": same,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (folder / "prepare.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


def _tile(draws: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    reps = -(-n // len(next(iter(draws.values()))))
    return {k: np.concatenate([v] * reps)[:n] for k, v in draws.items()}


def run(folder: Path, out: Path | None, quick: bool, fits_only: bool = False) -> int:
    import jax

    meta: dict = {"device": f"{jax.devices()[0]} ({jax.devices()[0].device_kind})"}
    tag = "_quick" if quick else ""
    if not fits_only:
        rows: list[Timing] = []
        _emulators(folder, rows, quick, lambda: write_report("gpu_emulators" + tag, rows, meta, results_dir=out))
    fit_rows: list[Timing] = []
    fit_meta = dict(meta)
    _fits(folder, fit_rows, fit_meta, quick,
          lambda: write_report("gpu_fits" + tag, fit_rows, fit_meta, results_dir=out))  # fmt: skip
    return 0


def _emulators(folder: Path, rows: list[Timing], quick: bool, report) -> None:
    import jax
    import jax.numpy as jnp

    import emulate_sps

    phot_sizes = PHOT_SIZES[:2] if quick else PHOT_SIZES
    spec_sizes = SPEC_SIZES[:1] if quick else SPEC_SIZES
    # -- photometric emulator, 20 bands
    em = emulate_sps.load_emulator("hst_jwst20_phot")
    draws = dict(np.load(folder / "phot_draws.npz"))
    one = {k: jnp.asarray(v[0]) for k, v in draws.items()}
    extra = {"emulator": em.name, "bands": len(em.filter_names), "dtype": "float32"}
    rows.append(time_call("emulator photometry 1", jax.jit(emulate_sps.photometry), em, one,
                          repeats=500, extra=extra))  # fmt: skip
    rows.append(time_call("emulator photometry 1, weights closed over",
                          jax.jit(functools.partial(emulate_sps.photometry, em)), one, repeats=500,
                          extra=extra))  # fmt: skip
    many = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))
    for n in phot_sizes:
        b = {k: jnp.asarray(v) for k, v in _tile(draws, n).items()}
        rows.append(time_call(f"emulator photometry vmap {n}", many, em, b, n_items=n, repeats=20,
                              extra={**extra, "batch": n}))  # fmt: skip
    report()
    # -- spectral emulator: rest spectrum, and photometry in the 7 HDF-N bands
    sem = emulate_sps.load_emulator("bc03_rest_spec")
    filters = [str(folder / "filters" / f"{b}.dat") for b in HDFN_BANDS]
    state = emulate_sps.spectral_photometry_state(sem, filters)
    draws = dict(np.load(folder / "spec_draws.npz"))
    one = {k: jnp.asarray(v[0]) for k, v in draws.items()}
    extra = {"emulator": sem.name, "cells": sem.n_cells, "dtype": "float32"}
    for what, f, st in (("rest spectrum", emulate_sps.emulated_rest_spectrum, sem),
                        ("7-band photometry", emulate_sps.spectral_photometry, state)):  # fmt: skip
        rows.append(time_call(f"spectral emulator {what} 1", jax.jit(f), st, one, repeats=500,
                              extra=extra))  # fmt: skip
        many = jax.jit(jax.vmap(f, in_axes=(None, 0)))
        for n in spec_sizes:
            b = {k: jnp.asarray(v) for k, v in _tile(draws, n).items()}
            rows.append(time_call(f"spectral emulator {what} vmap {n}", many, st, b, n_items=n,
                                  repeats=10, extra={**extra, "batch": n}))  # fmt: skip
        report()


def _fits(folder: Path, rows: list[Timing], meta: dict, quick: bool, report) -> None:
    import pixelfit

    # -- pixelfit: the demo galaxies, 20 bands, ~15 parameters, redshift known
    with open(folder / "demo_fit.pkl", "rb") as fh:
        fit = pickle.load(fh)
    with open(folder / "demo_prepared.pkl", "rb") as fh:
        prepared = pickle.load(fh)
    settings = pixelfit.SamplerSettings(**SETTINGS)
    if quick:
        settings = settings._replace(num_warmup=100, num_draws=100)
    from tools.bench.bench_pixelfit import time_fit

    for batch in FIT_BATCHES[:2] if quick else FIT_BATCHES:
        sub = prepared.subset(np.arange(batch) % len(prepared))
        timing, _ = time_fit(f"pixelfit emulator fit, batch {batch}", fit, sub, settings,
                             extra={"forward": "emulator hst_jwst20_phot", "bands": 20,
                                    "galaxies": "demo catalog's fitted rows, repeated"})  # fmt: skip
        rows.append(timing)
        meta[f"pixelfit seconds per galaxy, batch {batch}"] = round(timing.us_per_item / 1e6, 3)
        meta[f"pixelfit galaxies per second, batch {batch}"] = round(timing.items_per_s, 3)
        report()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", nargs="?", choices=("prepare", "run"),
                    help="default: both, on a machine with a GPU (nothing to do without one)")  # fmt: skip
    ap.add_argument("--dir", type=Path, default=Path(".gpu"), help="inputs folder")
    ap.add_argument("--out", type=Path, default=None, help="results folder (run)")
    ap.add_argument("--quick", action="store_true", help="small sizes (a check, run)")
    ap.add_argument("--fits-only", action="store_true", help="time the pixelfit fits only (run)")
    args = ap.parse_args(argv)
    if args.step == "prepare":
        return prepare(args.dir)
    if args.step == "run":
        return run(args.dir, args.out, args.quick, args.fits_only)
    import jax

    if jax.default_backend() == "cpu":  # e.g. `python -m tools.bench` on the CPU machine
        print("bench_gpu: no GPU on this machine; nothing to do (see the module docstring).")
        return 0
    prepare(args.dir)
    return run(args.dir, args.out, args.quick, args.fits_only)


if __name__ == "__main__":
    raise SystemExit(main())
