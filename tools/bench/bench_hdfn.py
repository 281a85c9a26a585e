"""Benchmark: the Hubble Deep Field North catalog end to end, free redshift (issue #7).

Reads ``../shared/data/hdfn`` (Fernandez-Soto et al. 1999 as distributed with EAZY: 1067
galaxies, WFPC2 F300W/F450W/F606W/F814W + KPNO J/H/K, AB zero point 25, -99 = not observed;
114 spectroscopic redshifts) with ``sedcore.read_photometry`` and fits it with
``pixelfit.fit_catalog`` exactly as ``pixelfit catalog`` does: a rest-frame spectral
emulator projected through the seven real filter curves at each redshift (the photometric
emulator has fixed bands and the exact engine is ~100x too slow for 1067 free-redshift
fits on this CPU), free redshift Uniform(z_min, z_max), 7-bin continuity SFH, Calzetti dust
with birth clouds, Cloudy nebular emission, 5% noise floor plus the emulator's measured
error. Photometric redshift = posterior median ``z_p50``; against z_spec: NMAD of
dz/(1+z_spec) (1.48 x median |dz/(1+z) - median|) and the outlier fraction
(|dz|/(1+z_spec) > 0.15).

The run is resumable (``--resume``, same ``--out``): the whole catalog takes hours on 2 CPU
cores, so it can be spread over several sessions. ``--spec-z-only`` fits the 114 objects
with a spectroscopic redshift (redshift still free).

Chunks run on a local Dask cluster of ``--workers`` threads (default: one per CPU core);
the fitting time summed over chunks (``fit_seconds_total``) is then about twice the wall
time, and both are reported.

Run: ``python -m tools.bench.bench_hdfn --out DIR [--spec-z-only] [--resume]`` from the
repository root. Writes benchmarks/results/hdfn[_specz].json and hdfn[_specz].png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tools.bench.harness import RESULTS_DIR, ROOT, Timing, write_report

HDFN = ROOT.parent / "shared" / "data" / "hdfn"
FILTER_FILES = ("wfpc2_f300w", "wfpc2_f450w", "wfpc2_f606w", "wfpc2_f814w",
                "kpno_irim_j", "kpno_irim_h", "kpno_irim_k")  # fmt: skip


def read_hdfn(spec_z_only: bool):
    import sedcore

    filters = [str(HDFN / "filters" / f"{f}.dat") for f in FILTER_FILES]
    phot = sedcore.read_photometry(
        HDFN / "hdfn_fs99_eazy.cat", filters=filters, translate=HDFN / "zphot.translate",
        zero_point=25.0, redshift_column="z_spec", id_column="id", missing_below=-90.0,
    )  # fmt: skip
    if spec_z_only:
        from astropy.table import Table

        table = Table.read(HDFN / "hdfn_fs99_eazy.cat", format="ascii.commented_header",
                           header_start=0)  # fmt: skip
        keep = np.asarray(table["z_spec"]) > 0
        phot = sedcore.read_photometry(
            table[keep], filters=filters, translate=HDFN / "zphot.translate", zero_point=25.0,
            redshift_column="z_spec", id_column="id", missing_below=-90.0,
        )  # fmt: skip
    return filters, phot


def record_call(out: Path, wall_s: float | None, workers: int) -> list[dict]:
    """Log this call in ``out/bench_hdfn_calls.json`` (atomic): at its start with
    ``wall_s`` None, then again at its end with the wall time (replacing the start entry).
    A killed call keeps ``wall_s`` None and gets ``wall_s_to_last_chunk`` when a later
    call reads the log. Returns every call's entry."""
    import datetime
    import json
    import os

    import sedcore

    path = Path(out) / "bench_hdfn_calls.json"
    calls = json.loads(path.read_text()) if path.exists() else []
    # A killed call: its time up to the last chunk it finished (the chunk files' mtimes),
    # which is the time that produced rows; work lost at the kill is neither timed nor kept.
    starts = [datetime.datetime.fromisoformat(c["utc_start"]).timestamp() for c in calls]
    chunk_times = sorted(f.stat().st_mtime for f in (Path(out) / "chunks").glob("chunk_*.ecsv"))
    for i, c in enumerate(calls):
        if c["wall_s"] is None and c.get("pid") != os.getpid():
            end = starts[i + 1] if i + 1 < len(calls) else float("inf")
            mine = [t for t in chunk_times if starts[i] <= t < end]
            c["wall_s_to_last_chunk"] = round(max(mine) - starts[i], 3) if mine else 0.0
    if wall_s is None:
        calls.append({"utc_start": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      "wall_s": None, "workers": workers, "pid": os.getpid()})  # fmt: skip
    else:
        mine = [c for c in calls if c.get("pid") == os.getpid() and c["wall_s"] is None]
        mine[-1]["wall_s"] = round(wall_s, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sedcore.atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(calls, indent=1))
    return calls


def _call_seconds(call: dict) -> float | None:
    """A call's wall time, or a killed call's time up to its last finished chunk."""
    return call["wall_s"] if call["wall_s"] is not None else call.get("wall_s_to_last_chunk")


def _mean_steps(table, fitted: np.ndarray) -> float:
    """Mean of the fitted rows' ``mean_leapfrog_steps`` (NaN where a chunk lacks it)."""
    if "mean_leapfrog_steps" not in table.colnames:
        return float("nan")
    steps = np.ma.filled(np.ma.asarray(table["mean_leapfrog_steps"], dtype=np.float64), np.nan)
    return float(np.nanmean(steps[fitted])) if np.isfinite(steps[fitted]).any() else float("nan")


def photo_z_stats(z_phot: np.ndarray, z_spec: np.ndarray) -> dict[str, float]:
    dz = (z_phot - z_spec) / (1.0 + z_spec)
    nmad = 1.48 * np.median(np.abs(dz - np.median(dz)))
    return {
        "n": int(dz.size),
        "nmad": float(nmad),
        "outlier_fraction": float(np.mean(np.abs(dz) > 0.15)),
        "bias_median": float(np.median(dz)),
    }


def plot(path: Path, z_spec, z_phot, lo, hi, ok, stats, z_all=None, ok_all=None) -> None:
    """z_phot against z_spec; with ``z_all`` (every fitted row's z_phot) a second panel,
    the photometric-redshift distribution of the whole catalog."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if z_all is None:
        fig, ax = plt.subplots(figsize=(6, 6))
    else:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 6))
        bins = np.linspace(0.0, max(6.0, float(np.nanmax(z_all))), 41)
        ax2.hist(z_all, bins=bins, histtype="step", color="k", label=f"all fitted ({z_all.size})")
        ax2.hist(z_all[ok_all], bins=bins, histtype="step", color="C0",
                 label=f"fit_ok ({int(ok_all.sum())})")  # fmt: skip
        ax2.hist(z_spec, bins=bins, histtype="stepfilled", color="C1", alpha=0.4,
                 label=f"z_spec ({z_spec.size})")  # fmt: skip
        ax2.set_xlabel("redshift (z_phot: posterior median)")
        ax2.set_ylabel("objects")
        ax2.set_title("HDF-N, whole catalog", fontsize=9)
        ax2.legend(fontsize=8)
    for sel, style in ((ok, dict(color="C0", label="fit_ok")),
                       (~ok, dict(color="C3", mfc="none", label="not converged"))):  # fmt: skip
        ax.errorbar(z_spec[sel], z_phot[sel], yerr=[z_phot[sel] - lo[sel], hi[sel] - z_phot[sel]],
                    fmt="o", ms=3, lw=0.6, **style)  # fmt: skip
    top = max(6.0, float(np.nanmax(hi)) * 1.05)
    x = np.linspace(0, top, 50)
    ax.plot(x, x, "k-", lw=0.8)
    for s in (-0.15, 0.15):
        ax.plot(x, x + s * (1 + x), "k:", lw=0.8)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("z_spec")
    ax.set_ylabel("z_phot (posterior median, 16-84%)")
    ax.set_title(f"HDF-N, {stats['n']} spectroscopic redshifts: NMAD {stats['nmad']:.3f}, "
                 f"outliers {stats['outlier_fraction']:.1%}", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="run folder (fit_catalog layout)")
    ap.add_argument("--emulator", default="bc03_rest_spec", help="spectral emulator name")
    ap.add_argument("--spec-z-only", action="store_true")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--z-min", type=float, default=0.01)
    ap.add_argument("--z-max", type=float, default=8.0)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rows", type=int, default=None, help="fit only the first ROWS rows")
    ap.add_argument("--target-accept", type=float, default=None,
                    help="target acceptance rate of the step-size adaptation (default: pixelfit's)")
    ap.add_argument("--workers", type=int, default=None,
                    help="threads of the local Dask cluster (default pixelfit's: one per CPU core)")
    args = ap.parse_args(argv)

    import pixelfit
    from pixelfit._catalog import default_workers

    if args.workers is None:
        args.workers = default_workers()
    filters, phot = read_hdfn(args.spec_z_only)
    if args.rows is not None:
        import jax

        phot = jax.tree.map(lambda a: a[: args.rows], phot)  # every leaf has the row axis
    spec = pixelfit.ModelSpec(filters=tuple(filters), emulator=args.emulator, free_redshift=True,
                              z_min=args.z_min, z_max=args.z_max)  # fmt: skip
    settings = pixelfit.SamplerSettings(num_warmup=args.warmup, num_draws=args.draws,
                                        num_chains=args.chains)  # fmt: skip
    if args.target_accept is not None:
        settings = settings._replace(target_acceptance_rate=args.target_accept)
    record_call(args.out, None, args.workers)
    t0 = time.perf_counter()
    table = pixelfit.fit_catalog(
        phot, spec, args.out, settings=settings, chunk_size=args.chunk_size,
        batch_size=args.batch_size, resume=args.resume, posteriors=False, workers=args.workers,
        source=str(HDFN / "hdfn_fs99_eazy.cat") + (" (z_spec > 0 rows)" if args.spec_z_only else ""),
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    calls = record_call(args.out, seconds, args.workers)
    z_spec = np.asarray(phot.redshift, np.float64)
    has = np.isfinite(z_spec) & np.asarray(table["fitted"])
    z_phot = np.asarray(table["z_p50"], np.float64)
    fitted = np.asarray(table["fitted"])
    stats = photo_z_stats(z_phot[has], z_spec[has])
    ok = np.asarray(table["fit_ok"])
    stats_ok = photo_z_stats(z_phot[has & ok], z_spec[has & ok])
    n_fit = int(np.sum(table["fitted"]))
    result = {
        **{f"photo_z_{k}": v for k, v in stats.items()},
        **{f"photo_z_fit_ok_{k}": v for k, v in stats_ok.items()},
        "n_rows": len(table), "n_fitted": n_fit, "fit_ok_fraction": float(ok[table["fitted"]].mean()),
        "settings": settings._asdict(), "emulator": args.emulator, "z_prior": [args.z_min, args.z_max],
        "workers": args.workers,
        "seconds_this_call": seconds,
        "wall_seconds_all_calls": float(sum(_call_seconds(c) or 0.0 for c in calls)), "calls": calls,
        "calls_without_wall_time": sum(_call_seconds(c) is None for c in calls),  # killed, untimed
        "fit_seconds_total_all_runs": float(table.meta["fit_seconds_total"]),
        "rows_flagged": {c: int(np.sum(table[c])) for c in table.colnames if c.startswith("flag_")},
        "n_divergent_median_fitted": float(np.median(np.asarray(table["n_divergent"])[fitted])),
        # What the fits cost whatever the CPU's speed: compare runs (A/B) by it, not by seconds alone.
        # (NaN for chunks written before the column existed, when an old folder is resumed.)
        "mean_leapfrog_steps_fitted": _mean_steps(table, fitted),
        "z_phot_quantiles_fitted": dict(zip(("p10", "p50", "p90"), np.percentile(z_phot[fitted], [10, 50, 90]).tolist(), strict=True)),
    }  # fmt: skip
    print(f"photo-z on {stats['n']} z_spec: NMAD {stats['nmad']:.4f}, outliers "
          f"{stats['outlier_fraction']:.2%}, bias {stats['bias_median']:+.4f}; fit_ok "
          f"{result['fit_ok_fraction']:.1%}; {seconds:.0f} s this call for {n_fit} rows; "
          f"{result['mean_leapfrog_steps_fitted']:.0f} leapfrog steps per draw")  # fmt: skip
    suite = ("hdfn_specz" if args.spec_z_only else "hdfn") + (f"_first{args.rows}" if args.rows else "")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    whole = {} if args.spec_z_only else {"z_all": z_phot[fitted], "ok_all": ok[fitted]}
    plot(RESULTS_DIR / f"{suite}.png", z_spec[has], z_phot[has],
         np.asarray(table["z_p16"])[has], np.asarray(table["z_p84"])[has], ok[has], stats,
         **whole)  # fmt: skip
    # Wall time summed over every call on this output folder (a resumed run fits only the
    # chunks left), so per-object figures hold however the run was split. The chunks'
    # own fitting times (summed in fit_seconds_total_all_runs) overlap when workers > 1.
    total = result["wall_seconds_all_calls"]
    missing = result["calls_without_wall_time"]
    # A killed call's time is unknown: then no per-object rate (it would be too fast).
    rate = float("nan") if missing else n_fit / total
    timing = Timing(label="HDF-N catalog fit (wall time, all calls)"
                    + (f"; {missing} killed call(s) not timed" if missing else ""),
                    compile_s=float("nan"), median_s=total, min_s=total, max_s=total, repeats=1,
                    n_items=n_fit, items_per_s=rate, us_per_item=1e6 / rate if rate else float("nan"),
                    extra=result)  # fmt: skip
    write_report(suite, [timing], {"photo-z": stats, "photo-z, fit_ok rows only": stats_ok})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
