"""Benchmark: calibration of pixelfit posteriors on mock galaxies drawn from the fit's prior.

Issue #7's figure: over >= 200 mocks, the fraction of truths inside the central 68% and 95%
posterior intervals must lie within +-5 points of nominal for mass, SFR, dust and redshift.

Mocks: parameters drawn from the *fit's own prior* (simulation-based calibration): BC03,
7-bin continuity SFH (Leja+19 bins at each z; log10 mass formed Uniform(8.5, 11), SFR
ratios Student-t(2, 0.3)), the default priors of the other parameters cut to the emulator's
training box, and a free redshift Uniform(0.5, 6). Photometry from the *exact* engine in the
20 HST/ACS + JWST bands of the shipped emulator, errors sqrt((f_lim/5)^2 + (0.03 f)^2) for
5-sigma depths 28.0 (ACS) / 28.5 (JWST) AB, one Gaussian noise realisation from those
errors. Fits: NUTS through the emulator (`hst_jwst20_phot`), noise floor 0 plus the
emulator's measured error (the only model error the mocks have is the emulator's), so the
likelihood is the generative model and coverage should be nominal if the sampler and the
emulator-error term are right.

Run: ``python -m tools.bench.bench_calibration [--n 200] [--chains 4 --warmup 500 --draws 500] [--dense-mass]``
from the repository root. Writes benchmarks/results/calibration[_dense].{json,png}.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from tools.bench.harness import RESULTS_DIR, Timing, write_report

QUANTITIES = {
    "log10 surviving mass": "surviving_mass_msun",
    "log10 SFR(100 Myr)": "sfr_100myr_msun_per_yr",
    "log10 SFR(10 Myr)": "sfr_10myr_msun_per_yr",
    "dust2": "dust2",
    "redshift": "z",
    "log10 Z/Z_sun": "log_zsol",
    "log10 mass-weighted age": "mass_weighted_age_yr",
}
DEPTH_AB = {"acs": 28.0, "jwst": 28.5}


def make_fit(free_z: bool = True):
    import numpyro.distributions as dist
    import sfh_priors

    import emulate_sps
    import pixelfit

    em = emulate_sps.load_emulator("hst_jwst20_phot")
    config = emulate_sps.SimulationRecipe().build_config()
    sfh = sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7), log_mass_min=8.5,
                                log_mass_max=11.0)  # fmt: skip
    return pixelfit.FitModel.create(
        config, sfh, forward_state=em, noise_floor=0.0,
        z_prior=dist.Uniform(0.5, 6.0) if free_z else None,
    )  # fmt: skip


def make_mocks(fit, n: int, seed: int):
    """(truths: {name: (n,)}, flux, err) in maggies; truths from the fit's prior."""
    import jax

    import pixelfit

    exact = dataclasses.replace(fit, forward_state=None)
    bands = list(fit.config.filter_names)
    dtype = fit.config.log_age_yr.dtype
    rng = np.random.default_rng(seed)
    z_fixed = rng.uniform(0.5, 6.0, n)  # used only when the redshift is fixed

    def one(key, z):
        obs = pixelfit.Observation(
            flux_maggies=jax.numpy.ones((1, len(bands)), dtype),
            flux_err_maggies=jax.numpy.ones((1, len(bands)), dtype),
            mask=jax.numpy.ones((1, len(bands)), bool), redshift=z.astype(dtype),
        )  # fmt: skip
        pos = pixelfit.prior_draw(key, fit, obs)
        return pixelfit.posterior_quantities(exact, obs, pos)

    keys = jax.random.split(jax.random.key(seed), n)
    q = jax.jit(jax.vmap(one))(keys, jax.numpy.asarray(z_fixed))
    truths = {k: np.asarray(v, np.float64) for k, v in q.items()}
    flux = truths.pop("model_maggies")
    depth = np.array([DEPTH_AB["acs" if b.startswith("acs") else "jwst"] for b in bands])
    f_lim = 10 ** (-0.4 * depth)  # maggies
    err = np.sqrt((f_lim / 5.0) ** 2 + (0.03 * flux) ** 2)
    noisy = flux + err * rng.standard_normal(flux.shape)
    return truths, noisy, err


def coverage(draws: np.ndarray, truth: np.ndarray, level: float) -> np.ndarray:
    """Per object: truth inside the central ``level`` interval of its draws."""
    a = 50 - 50 * level
    lo, hi = np.percentile(draws.reshape(draws.shape[0], -1), [a, 100 - a], axis=1)
    return (lo <= truth) & (truth <= hi)


def ranks(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Fraction of draws below the truth (uniform on [0, 1] if calibrated)."""
    flat = draws.reshape(draws.shape[0], -1)
    return (flat < truth[:, None]).mean(axis=1)


#: Posterior percentiles kept per object; the truth falls in one of the 6 intervals they
#: bound, with probabilities 2.5, 13.5, 34, 34, 13.5, 2.5% if the posteriors are calibrated.
EDGES = (2.5, 16, 50, 84, 97.5)
EXPECTED = np.diff(np.concatenate([[0.0], EDGES, [100.0]])) / 100.0


def interval_counts(per: dict, name: str) -> np.ndarray:
    """Counts of truths in the 6 intervals bounded by the posterior percentiles EDGES."""
    t = np.asarray(per[f"{name}_truth"])
    qs = np.stack([np.asarray(per[f"{name}_p{q:g}"]) for q in EDGES], axis=1)
    k = (t[:, None] > qs).sum(axis=1)
    return np.bincount(k, minlength=len(EDGES) + 1)


def plot(path: Path, result: dict, per: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in QUANTITIES if k in result["coverage"]]
    fig, axes = plt.subplots(2, (len(names) + 1) // 2 + 1, figsize=(16, 6.5))
    axes = axes.ravel()
    labels = ["<2.5", "2.5-16", "16-50", "50-84", "84-97.5", ">97.5"]
    for ax, name in zip(axes, names, strict=False):
        counts = interval_counts(per, QUANTITIES[name])
        n = counts.sum()
        x = np.arange(len(counts))
        expected = n * EXPECTED
        ax.bar(x, expected, 0.8, color="0.85", label="calibrated (expected)", zorder=1)
        ax.errorbar(x, expected, yerr=2 * np.sqrt(expected * (1 - EXPECTED)), fmt="none",
                    ecolor="0.5", capsize=3, zorder=2)  # fmt: skip
        ax.bar(x, counts, 0.45, color="C0", label="truths", zorder=3)
        c = result["coverage"][name]
        ax.set_title(f"{name}\n68%: {c['68']:.3f}  95%: {c['95']:.3f}", fontsize=9)
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_xlabel("posterior percentile interval holding the truth", fontsize=8)
    axes[0].legend(fontsize=7)
    ax = axes[len(names)]
    x = np.arange(len(names))
    for lvl in (0.68, 0.95):
        ax.axhspan(lvl - 0.05, lvl + 0.05, color="0.85", zorder=0)
    ax.bar(x - 0.2, [result["coverage"][k]["68"] for k in names], 0.4, label="68%", zorder=2)
    ax.bar(x + 0.2, [result["coverage"][k]["95"] for k in names], 0.4, label="95%", zorder=2)
    ax.set_xticks(x, [k.replace("log10 ", "") for k in names], rotation=60, fontsize=7)
    ax.set_ylim(0.4, 1.0)
    ax.set_title("coverage (grey: nominal +-5 points)", fontsize=9)
    ax.legend(fontsize=8)
    for extra in axes[len(names) + 1:]:
        extra.axis("off")
    fig.suptitle(f"pixelfit calibration: {result['n_mocks']} mocks drawn from the prior, "
                 f"fit_ok for {result['fit_ok_fraction']:.0%} (error bars: 2 sigma binomial)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(args, settings, flags, per, fit_ok, seconds) -> None:
    n = len(fit_ok)
    result = {"n_mocks": n, "n_requested": args.n, "coverage": {}}
    for label, f in flags.items():
        result["coverage"][label] = {k: float(np.mean(v)) for k, v in f.items()}
    result["binomial_sigma"] = {"68": float(np.sqrt(0.68 * 0.32 / n)),
                                "95": float(np.sqrt(0.95 * 0.05 / n))}  # fmt: skip
    result["within_5_points"] = {
        k: bool(abs(v["68"] - 0.68) <= 0.05 and abs(v["95"] - 0.95) <= 0.05)
        for k, v in result["coverage"].items()
    }
    result["fit_ok_fraction"] = float(np.mean(fit_ok))
    result["settings"] = settings._asdict()
    result["free_redshift"] = not args.fixed_z
    print(f"--- {n} of {args.n} mocks fitted")
    for label, c in result["coverage"].items():
        print(f"{label:>26s}: 68% -> {c['68']:.3f}   95% -> {c['95']:.3f}   "
              f"{'ok' if result['within_5_points'][label] else 'OUTSIDE +-5 points'}")  # fmt: skip
    print(f"fit_ok for {result['fit_ok_fraction']:.2%}; {seconds:.0f} s for {n} galaxies "
          f"({seconds / n:.1f} s per galaxy, batch {args.batch}, compile included)")  # fmt: skip
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    suite = "calibration_dense" if settings.dense_mass else "calibration"
    plot(RESULTS_DIR / f"{suite}.png", result, per)
    timing = Timing(label=f"calibration fits, batch {args.batch}", compile_s=float("nan"),
                    median_s=seconds, min_s=seconds, max_s=seconds, repeats=1, n_items=n,
                    items_per_s=n / seconds, us_per_item=seconds / n * 1e6, extra=result)  # fmt: skip
    write_report(suite, [timing],
                 {"coverage (goal: within 5 points of 68/95)": result["coverage"]})  # fmt: skip


PER_OBJECT_DEFAULT = Path("/tmp/calibration_per_object.npz")


def settings_of(args):
    import pixelfit

    return pixelfit.SamplerSettings(num_warmup=args.warmup, num_draws=args.draws,
                                    num_chains=args.chains, dense_mass=args.dense_mass)  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--block", type=int, default=40, help="mocks per block between reports")
    ap.add_argument("--per-object", type=Path, default=PER_OBJECT_DEFAULT,
                    help="per-object truths and percentiles (for diagnosis)")
    ap.add_argument("--replot", type=Path, default=None,
                    help="redo the report and figure from a --per-object file (no fitting)")
    ap.add_argument("--fixed-z", action="store_true", help="known redshifts")
    ap.add_argument("--dense-mass", action="store_true",
                    help="adapt a dense mass matrix (writes calibration_dense.{json,png})")  # fmt: skip
    args = ap.parse_args(argv)

    import jax

    import pixelfit

    if args.replot is not None:  # figures and report again from a run's per-object file
        per = {k: v for k, v in np.load(args.replot).items()}
        flags = {}
        for label, name in QUANTITIES.items():
            if f"{name}_truth" not in per:
                continue
            t = per[f"{name}_truth"]
            flags[label] = {
                "68": (per[f"{name}_p16"] <= t) & (t <= per[f"{name}_p84"]),
                "95": (per[f"{name}_p2.5"] <= t) & (t <= per[f"{name}_p97.5"]),
            }
        seconds = float(per["seconds"][()]) if "seconds" in per else float("nan")
        report(args, settings_of(args), flags, per, list(per["fit_ok"]), seconds)
        return 0

    per_object = args.per_object
    if args.dense_mass and per_object == PER_OBJECT_DEFAULT:
        per_object = per_object.with_name(per_object.stem + "_dense.npz")
    fit = make_fit(free_z=not args.fixed_z)
    truths, flux, err = make_mocks(fit, args.n, args.seed)
    prepared = pixelfit.prepare_observations(fit, flux, err, redshift=truths["z"])
    settings = settings_of(args)
    t0 = time.perf_counter()
    # Fitted in blocks of --block mocks; the report is rewritten after each block, so a run
    # stopped early still leaves its figures (for the mocks fitted so far).
    flags: dict[str, dict[str, list]] = {}
    fit_ok: list = []
    per: dict[str, list] = {}
    key = jax.random.key(args.seed)
    for start in range(0, args.n, args.block):
        rows = np.arange(start, min(start + args.block, args.n))
        sub = prepared.subset(rows)
        res = pixelfit.fit_observations(pixelfit.object_keys(key, rows), fit, sub, settings,
                                        batch_size=args.batch, progress=True)  # fmt: skip
        done = rows[res.rows]
        fit_ok.extend(np.asarray(res.diagnostics.fit_ok).tolist())
        for label, name in QUANTITIES.items():
            if name == "z" and args.fixed_z:
                continue
            d, t = res.posterior[name], truths[name][done]
            f = flags.setdefault(label, {"68": [], "95": []})
            f["68"].extend(coverage(d, t, 0.68).tolist())
            f["95"].extend(coverage(d, t, 0.95).tolist())
        # Per object: truths, percentiles, ranks and diagnostics (for --replot, diagnosis).
        per.setdefault("row", []).extend(done.tolist())
        per.setdefault("fit_ok", []).extend(np.asarray(res.diagnostics.fit_ok).tolist())
        per.setdefault("rhat_max", []).extend(np.asarray(res.diagnostics.rhat_max).tolist())
        per.setdefault("n_divergent", []).extend(np.asarray(res.diagnostics.n_divergent).tolist())
        for name in set(QUANTITIES.values()):
            flat = res.posterior[name].reshape(len(done), -1)
            per.setdefault(f"{name}_truth", []).extend(truths[name][done].tolist())
            per.setdefault(f"{name}_rank", []).extend(ranks(flat, truths[name][done]).tolist())
            for q in EDGES:
                per.setdefault(f"{name}_p{q:g}", []).extend(np.percentile(flat, q, axis=1).tolist())
        seconds = time.perf_counter() - t0
        np.savez(per_object, seconds=seconds, **{k: np.asarray(v) for k, v in per.items()})
        report(args, settings, flags, {k: np.asarray(v) for k, v in per.items()}, fit_ok, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
