"""Benchmark: NUTS fits of the emulator's model, ~15 parameters, 20 bands (issue #7 figure).

Mock galaxies of the default training recipe (BC03, 7-bin continuity SFH at any z, Calzetti
dust with birth clouds, Cloudy nebular emission, 20 HST/ACS + JWST bands) are made with the
*exact* engine at known parameters, given 5% errors (no noise realisation), and fitted with
the shipped photometric emulator as the forward model (`forward_state=load_emulator(...)`;
its measured error is added to the noise floor). Free: log mass, 6 SFR ratios, log_zsol,
dust2, dust_ratio, log_u, gas_log_zsol (12) with the redshift fixed, or 13 with it free.

Timed: one galaxy alone and a vmapped batch, both as a second call (compiled); compile time
separately; on a multi-core CPU also the galaxy alone with its chains split over the cores
(``fit_observations(chain_threads=K)``). Reported per galaxy with the settings (chains x
(warmup + draws)), mean leapfrog steps, R-hat max, ESS min and whether the truth's log mass
lies in the central 95%.

``--threads K`` adds K batches of other mocks fitted at the same time, one per thread (as
``pixelfit catalog`` does with K workers): one fit's small matrix products keep one core
busy, so on a K-core CPU the machine's throughput is what this measures.

``--geometry`` adds why the fits need ~200 leapfrog steps per draw: for the first galaxy, the
Hessian of the log density at 8 posterior draws (2 chains x (500 + 500)), in the metric of a
diagonal and of a dense mass matrix estimated from the draws. Its largest eigenvalue
lambda_max says how much narrower the posterior is locally than globally (1/sqrt(lambda_max)
of a marginal width); with a dense metric that ratio can only come from curvature (a
curved ridge), which no constant mass matrix removes.

Run: ``python -m tools.bench.bench_pixelfit [--quick] [--free-z] [--dense-mass] [--threads K]
[--geometry]``
from the repository root. Writes benchmarks/results/pixelfit[_dense][_free_z].json, or
pixelfit_geometry.json with ``--geometry`` (which times nothing).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tools.bench.harness import Timing, write_report


def time_fit(label: str, fit, prepared, settings, extra: dict | None = None, chain_threads: int = 1):
    """Fit every row of ``prepared`` as one vmapped batch, twice; time the second call
    (with ``chain_threads`` > 1 the chains run in that many threads).

    The first call's time minus the second's is reported as ``compile_s``. Returns the
    `Timing` (with leapfrog steps, R-hat, ESS and ``fit_ok`` per galaxy in ``extra``) and
    the second call's `pixelfit.FitResults`.
    """
    import jax

    import pixelfit

    batch = len(prepared)
    t0 = time.perf_counter()
    pixelfit.fit_observations(jax.random.key(0), fit, prepared, settings, batch_size=batch, progress=False,
                              chain_threads=chain_threads)
    t1 = time.perf_counter()
    res = pixelfit.fit_observations(jax.random.key(1), fit, prepared, settings, batch_size=batch, progress=False,
                                    chain_threads=chain_threads)
    warm = time.perf_counter() - t1
    timing = Timing(
        label=label, compile_s=(t1 - t0) - warm, median_s=warm, min_s=warm, max_s=warm,
        repeats=1, n_items=batch, items_per_s=batch / warm, us_per_item=warm / batch * 1e6,
        extra={**(extra or {}), "settings": settings._asdict(), "batch": batch, "chain_threads": chain_threads,
               "first_call_s": t1 - t0,  # compile included; compile_s < 0 means it was lost in the noise
               "mean_leapfrog_steps": float(np.mean(np.asarray(res.sample_stats["n_steps"]))),
               "rhat_max": np.asarray(res.diagnostics.rhat_max).tolist(),
               "ess_bulk_min": np.asarray(res.diagnostics.ess_bulk_min).tolist(),
               "ess_tail_min": np.asarray(res.diagnostics.ess_tail_min).tolist(),
               "n_divergent": np.asarray(res.diagnostics.n_divergent).tolist(),
               "fit_ok": np.asarray(res.diagnostics.fit_ok).tolist()},
    )  # fmt: skip
    return timing, res


def time_threads(label: str, fit, batches: list, settings, extra: dict | None = None) -> Timing:
    """Fit the prepared ``batches`` at the same time, one thread each (a first call per
    thread shape is not repeated: the batch shape was compiled by `time_fit`)."""
    from concurrent.futures import ThreadPoolExecutor

    import jax

    import pixelfit

    def one(k):
        return pixelfit.fit_observations(jax.random.key(10 + k), fit, batches[k], settings,
                                         batch_size=len(batches[k]), progress=False)  # fmt: skip

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(one, range(len(batches))))
    wall = time.perf_counter() - t0
    n = sum(len(b) for b in batches)
    return Timing(
        label=label, compile_s=0.0, median_s=wall, min_s=wall, max_s=wall, repeats=1, n_items=n,
        items_per_s=n / wall, us_per_item=wall / n * 1e6,
        extra={**(extra or {}), "threads": len(batches), "batch": len(batches[0]),
               "mean_leapfrog_steps": float(np.mean([np.mean(np.asarray(r.sample_stats["n_steps"])) for r in results])),
               "rhat_max": [float(x) for r in results for x in np.asarray(r.diagnostics.rhat_max)],
               "ess_bulk_min": [float(x) for r in results for x in np.asarray(r.diagnostics.ess_bulk_min)],
               "fit_ok": [bool(x) for r in results for x in np.asarray(r.diagnostics.fit_ok)]},
    )  # fmt: skip


def posterior_geometry(fit, obs, exact_config, n_points: int = 8) -> dict:
    """Hessian eigenvalues of the log density at posterior draws, in the metric of a
    diagonal and of a dense mass matrix (see the module docstring). At each draw also the
    largest eigenvalue of the likelihood's Gauss-Newton matrix J^T C^-1 J (J: Jacobian of
    the model fluxes) with the emulator and with the exact engine (``exact_config``) at the
    same parameters: if they agree, the stiffness is the physics', not the emulator's."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    import emulate_sps
    import pixelfit
    from pixelfit import _sampler

    settings = pixelfit.SamplerSettings(num_warmup=500, num_draws=500, num_chains=2)
    draws = jax.jit(_sampler.sample, static_argnames="settings")(jax.random.key(2), fit, obs, settings)
    one = jax.tree.map(lambda x: x[0, 0], draws.position)
    _, unravel = ravel_pytree(one)
    labels = []
    for name in sorted(one):  # ravel_pytree's order
        size = int(np.size(one[name]))
        labels += [name] if size == 1 else [f"{name}[{i}]" for i in range(size)]
    flat = np.asarray(jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))(draws.position), np.float64)
    flat = flat.reshape(-1, flat.shape[-1])
    sd, cov = flat.std(0), np.cov(flat.T)
    chol = np.linalg.cholesky(cov)
    hessian = jax.jit(jax.hessian(lambda f, o, u: pixelfit.log_density(f, o, unravel(u)), argnums=2))

    def model_flux(state, fit, obs, u):
        x = pixelfit.constrain(fit, obs, unravel(u))
        return emulate_sps.photometry(state, pixelfit.engine_params_from(fit, obs, x))

    flux_jit, jac_jit = jax.jit(model_flux), jax.jit(jax.jacfwd(model_flux, argnums=3))
    err = np.asarray(obs.flux_err_maggies[0], np.float64)
    floor = np.asarray(fit.noise_floor, np.float64)

    def gauss_newton_max(state, u):
        f = np.asarray(flux_jit(state, fit, obs, u), np.float64)
        jac = np.asarray(jac_jit(state, fit, obs, u), np.float64)
        var = err**2 + (floor * f) ** 2
        return float(np.linalg.eigvalsh(sd[:, None] * (jac.T @ (jac / var[:, None])) * sd[None, :])[-1])

    points = []
    for i in np.linspace(0, len(flat) - 1, n_points).astype(int):
        h = -np.asarray(hessian(fit, obs, jnp.asarray(flat[i], jnp.float32)), np.float64)
        w_diag, v_diag = np.linalg.eigh(sd[:, None] * h * sd[None, :])
        w_dense = np.linalg.eigvalsh(chol.T @ h @ chol)
        top = np.argsort(-np.abs(v_diag[:, -1]))[:4]
        points.append({
            "lambda_max_diag": float(w_diag[-1]), "lambda_min_diag": float(w_diag[0]),
            "lambda_max_dense": float(w_dense[-1]), "lambda_min_dense": float(w_dense[0]),
            "stiffest_direction": {labels[j]: round(float(v_diag[j, -1]), 2) for j in top},
            "gauss_newton_max_diag_emulator": gauss_newton_max(fit.forward_state, jnp.asarray(flat[i], jnp.float32)),
            "gauss_newton_max_diag_exact": gauss_newton_max(exact_config, jnp.asarray(flat[i], jnp.float32)),
        })  # fmt: skip
    return {
        "draws": "2 chains x (500 + 500), galaxy 0",
        "mean_leapfrog_steps": float(np.mean(np.asarray(draws.num_steps))),
        "step_size": np.asarray(draws.step_size).tolist(),
        "posterior_sd_unconstrained": dict(zip(labels, np.round(sd, 4).tolist(), strict=True)),
        "hessian_at_draws": points,
        "median_local_over_global_width_diag": float(np.median([p["lambda_max_diag"] for p in points]) ** -0.5),
        "median_local_over_global_width_dense": float(np.median([p["lambda_max_dense"] for p in points]) ** -0.5),
    }  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 chains x (200 + 200), batch 2")
    ap.add_argument("--free-z", action="store_true", help="fit the redshift too")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--dense-mass", action="store_true", help="adapt a dense mass matrix")
    ap.add_argument("--geometry", action="store_true", help="Hessian eigenvalues at posterior draws")
    ap.add_argument("--threads", type=int, default=1,
                    help="also fit this many batches at once, one per thread (default 1: not timed)")
    args = ap.parse_args(argv)

    import jax
    import numpyro.distributions as dist
    import sfh_priors

    import emulate_sps
    import pixelfit

    em = emulate_sps.load_emulator("hst_jwst20_phot")
    config = emulate_sps.SimulationRecipe().build_config()
    sfh = sfh_priors.Continuity(bin_edges_yr=sfh_priors.Leja19Edges(7))
    z_prior = dist.Uniform(0.05, 12.0) if args.free_z else None
    fit = pixelfit.FitModel.create(config, sfh, forward=emulate_sps.photometry, forward_state=em,
                                   z_prior=z_prior)  # fmt: skip
    n = 2 if args.quick else args.batch
    rng = np.random.default_rng(1)
    truths = []
    for _ in range(n * max(1, args.threads)):  # the first n are the same whatever --threads
        truths.append({
            "z": rng.uniform(1.0, 6.0), "log_mass": rng.uniform(9.0, 10.5),
            "log_zsol": rng.uniform(-1.5, 0.0), "dust2": rng.uniform(0.1, 0.8),
            "dust1": 0.3, "log_u": rng.uniform(-3.5, -1.5), "gas_log_zsol": rng.uniform(-1.5, 0.0),
            "sigma_kms": 100.0, "sfh_log_sfr_ratios": rng.normal(0.0, 0.3, 6),
        })  # fmt: skip
    flux = np.stack([np.asarray(emulate_sps.photometry(config, t)) for t in truths])
    prepared = pixelfit.prepare_observations(fit, flux[:n], 0.05 * flux[:n],
                                             redshift=[t["z"] for t in truths[:n]])  # fmt: skip
    if args.quick:
        settings = pixelfit.SamplerSettings(num_warmup=200, num_draws=200, num_chains=2)
    else:
        settings = pixelfit.SamplerSettings(num_warmup=500, num_draws=1000, num_chains=4)
    settings = settings._replace(dense_mass=args.dense_mass)
    extra = {"settings": settings._asdict(), "free_z": args.free_z, "n_free": int(sum(np.size(v) for v in pixelfit.constrain(
                 fit, jax.tree.map(lambda x: x[0], prepared.obs),
                 pixelfit.prior_draw(jax.random.key(0), fit, jax.tree.map(lambda x: x[0], prepared.obs))
             ).values()) - 1),  # scalars, minus the deterministic dust1
             "bands": len(em.filter_names), "forward": "emulator hst_jwst20_phot"}  # fmt: skip
    if args.geometry:  # no timing: the geometry of the first galaxy's posterior only
        geometry = posterior_geometry(fit, jax.tree.map(lambda x: x[0], prepared.obs), config)
        print(f"posterior geometry: local / global width {geometry['median_local_over_global_width_diag']:.3f} "
              f"(diagonal metric), {geometry['median_local_over_global_width_dense']:.3f} (dense metric); "
              f"stiffest direction at the first draw {geometry['hessian_at_draws'][0]['stiffest_direction']}")  # fmt: skip
        geometry.update(extra)
        write_report("pixelfit_geometry", [], {"posterior geometry": geometry})
        return 0
    rows: list[Timing] = []
    for batch in (1, n):
        sub = pixelfit.prepare_observations(fit, flux[:batch], 0.05 * flux[:batch],
                                            redshift=[t["z"] for t in truths[:batch]])  # fmt: skip
        timing, res = time_fit(f"pixelfit emulator fit, batch {batch}", fit, sub, settings, extra)
        inside = []
        for i in range(batch):
            lo, hi = np.percentile(np.asarray(res.posterior["log_mass"][i]), [2.5, 97.5])
            inside.append(bool(lo < truths[i]["log_mass"] < hi))
        timing.extra["log_mass_truth_in_95"] = inside
        rows.append(timing)
        if batch == 1:
            alone = sub
    cores = len(os.sched_getaffinity(0))
    if cores > 1:  # one galaxy, its chains split over the cores
        threads = min(cores, settings.num_chains)
        timing, res = time_fit(f"pixelfit emulator fit, batch 1, chains in {threads} threads", fit, alone,
                               settings, extra, chain_threads=threads)  # fmt: skip
        lo, hi = np.percentile(np.asarray(res.posterior["log_mass"][0]), [2.5, 97.5])
        timing.extra["log_mass_truth_in_95"] = [bool(lo < truths[0]["log_mass"] < hi)]
        rows.append(timing)
    meta = {
        "seconds per galaxy alone (goal <= 10 s, 4 chains x 1000 draws)": round(rows[0].median_s, 1),
        f"seconds per galaxy in a batch of {n}": round(rows[1].median_s / n, 2),
        "compared": "mocks from the exact engine, fitted through the emulator",
        "cpu cores": cores,
    }
    if cores > 1:
        meta[f"seconds per galaxy alone, chains in {threads} threads"] = round(rows[2].median_s, 1)
    if args.threads > 1:
        batches = [
            pixelfit.prepare_observations(fit, flux[a:a + n], 0.05 * flux[a:a + n],
                                          redshift=[t["z"] for t in truths[a:a + n]])
            for a in range(0, n * args.threads, n)
        ]  # fmt: skip
        timing = time_threads(f"pixelfit emulator fit, {args.threads} threads x batch {n}", fit,
                              batches, settings, extra)  # fmt: skip
        rows.append(timing)
        meta[f"seconds per galaxy, {args.threads} threads x batch {n} at once"] = round(timing.median_s / timing.n_items, 2)
    suite = "pixelfit" + ("_dense" if args.dense_mass else "") + ("_free_z" if args.free_z else "")
    write_report(suite, rows, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
