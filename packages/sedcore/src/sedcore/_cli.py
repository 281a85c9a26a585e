"""Command line: ``sedcore demo`` (also ``python -m sedcore demo``).

The demo is the project's main job on an embedded default until the synthesis engine lands:
it projects two real reference spectra (the CALSPEC Vega spectrum and the Kurucz 1993 solar
model shipped with astro-sedpy) through real filter curves, checks the Sun's absolute AB
magnitudes against the published values of Willmer (2018), and follows a population of
Sun-like stars (1e10 L_sun, Calzetti dust A_V = 0.5) out to high redshift through the
cosmology, IGM and photometry code: a table and a plot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ._io import atomic_output

DEMO_FILTERS = (
    "galex_FUV", "galex_NUV", "sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0",
    "twomass_J", "twomass_H", "twomass_Ks",
    "jwst_f090w", "jwst_f115w", "jwst_f150w", "jwst_f200w", "jwst_f277w", "jwst_f356w", "jwst_f444w",
)
# Absolute AB magnitudes of the Sun, Willmer (2018, ApJS 236, 47), Table 3 (SDSS, 2MASS).
WILLMER18_SUN_ABS_AB = {
    "sdss_u0": 6.39, "sdss_g0": 5.11, "sdss_r0": 4.65, "sdss_i0": 4.53, "sdss_z0": 4.50,
    "twomass_J": 4.54, "twomass_H": 4.66, "twomass_Ks": 5.08,
}
DEMO_REDSHIFTS = (0.1, 1.0, 3.0, 6.0)


def reference_spectra() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Vega (CALSPEC alpha_lyr_stis_005, observed) and the Sun (Kurucz 1993, at 10 pc).

    Read as data from the files astro-sedpy ships (no sedpy code is run).

    Returns:
        name -> (wave_aa, f_nu in maggies); the Sun is placed at 10 pc so its magnitudes
        are absolute magnitudes.
    """
    from importlib.resources import files

    from astropy.io import fits

    from ._units import flam_to_fnu, fnu_cgs_to_maggies

    data = files("sedpy") / "data"
    out = {}
    for name, fname, scale in (
        ("vega", "alpha_lyr_stis_005.fits", 1.0),
        # Kurucz flux is at 1 AU; (1 AU / 10 pc)^2 = (1 / (206264.806 * 10))^2.
        ("sun", "sun_kurucz93.fits", (1.0 / (206264.80624709636 * 10.0)) ** 2),
    ):
        with fits.open(str(data / fname)) as hdul:
            wave = np.asarray(hdul[1].data["WAVELENGTH"], dtype=np.float64)
            flam = np.asarray(hdul[1].data["FLUX"], dtype=np.float64) * scale
        # Drop duplicate wavelengths, and the Kurucz file's NaN fluxes (all below 915 A,
        # where the model has no flux tabulated); no demo band reaches there.
        keep = np.concatenate([[True], np.diff(wave) > 0]) & np.isfinite(flam)
        fnu = np.asarray(fnu_cgs_to_maggies(flam_to_fnu(wave[keep], flam[keep])), dtype=np.float64)
        out[name] = (wave[keep], fnu)
    return out


def run_demo(out_dir: Path, plot: bool = True) -> dict[str, Path]:
    """Run the demo, writing ``sedcore_demo.ecsv`` (and ``sedcore_demo.png``) to ``out_dir``.

    Returns:
        Mapping of output kind to path.
    """
    import jax.numpy as jnp
    from astropy.table import Table

    from ._cosmology import luminosity_distance_mpc
    from ._dust import calzetti00_k
    from ._filters import load_filters, project_fnu
    from ._igm import igm_transmission
    from ._units import maggies_to_ab

    filters = load_filters(DEMO_FILTERS)
    spectra = reference_spectra()
    rows = {"band": list(filters.names), "pivot_wave_aa": np.asarray(filters.pivot_wave_aa)}
    wave_v, fnu_v = spectra["vega"]
    rows["vega_ab"] = np.asarray(maggies_to_ab(project_fnu(filters, wave_v, jnp.asarray(fnu_v))))
    wave_s, fnu_s = spectra["sun"]
    rows["sun_abs_ab"] = np.asarray(maggies_to_ab(project_fnu(filters, wave_s, jnp.asarray(fnu_s))))
    rows["sun_abs_ab_willmer18"] = np.array([WILLMER18_SUN_ABS_AB.get(n, np.nan) for n in filters.names])

    # A population of Sun-like stars of 1e10 L_sun behind Calzetti dust (A_V = 0.5 mag):
    # at 10 pc the Sun's f_nu corresponds to 1 L_sun, so scale by 1e10 (10 pc / D_L)^2 (1+z).
    a_v = 0.5
    dust = np.asarray(jnp.power(10.0, -0.4 * a_v * calzetti00_k(wave_s) / 4.05))
    pop_fnu_10pc = 1e10 * fnu_s * dust
    spectra_obs = {}
    for z in DEMO_REDSHIFTS:
        d_l_pc = float(luminosity_distance_mpc(z)) * 1e6
        wave_obs = wave_s * (1 + z)
        fnu_obs = pop_fnu_10pc * (1 + z) * (10.0 / d_l_pc) ** 2
        fnu_obs = fnu_obs * np.asarray(igm_transmission(wave_obs, z))
        spectra_obs[z] = (wave_obs, fnu_obs)
        covered = np.array([_support(f)[0] >= wave_obs[0] and _support(f)[1] <= wave_obs[-1] for f in filters])
        mags = np.full(len(filters), np.nan)
        names = [n for n, c in zip(filters.names, covered) if c]
        if names:
            sub = load_filters(names)
            mags[covered] = np.asarray(maggies_to_ab(project_fnu(sub, wave_obs, jnp.asarray(fnu_obs))))
        rows[f"pop_ab_z{z:g}"] = mags

    table = Table(rows)
    table["pivot_wave_aa"].unit = "Angstrom"
    table.meta["description"] = (
        "sedcore demo: Vega AB magnitudes; the Sun's absolute AB magnitudes (Kurucz 1993 model) "
        "next to Willmer (2018); a 1e10 L_sun population of Sun-like stars with Calzetti "
        f"A_V={a_v} observed at z={list(DEMO_REDSHIFTS)} (Planck18, Inoue+14 IGM)."
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {"table": _write_atomic_table(table, out_dir / "sedcore_demo.ecsv")}
    if plot:
        png = _plot(out_dir / "sedcore_demo.png", filters, spectra, spectra_obs, table)
        if png is not None:
            outputs["plot"] = png
    _print_summary(table)
    return outputs


def _support(f) -> tuple[float, float]:
    """Wavelength range (Angstrom) where a filter's (linearly interpolated) curve is non-zero."""
    w, t = np.asarray(f.wave_aa), np.asarray(f.transmission)
    nz = np.flatnonzero(t > 0)
    return float(w[max(nz[0] - 1, 0)]), float(w[min(nz[-1] + 1, w.size - 1)])


def _write_atomic_table(table, path: Path) -> Path:
    with atomic_output(path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return path


def _plot(path: Path, filters, spectra, spectra_obs, table) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib is not installed: no plot. pip install 'sedcore[plot]'", file=sys.stderr)
        return None
    from ._units import maggies_to_ab

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for name, (w, f) in spectra.items():
        ax.plot(w, np.asarray(maggies_to_ab(f)), lw=0.8, label=f"{name} ({'at 10 pc' if name == 'sun' else 'observed'})")
    ax.plot(table["pivot_wave_aa"], table["sun_abs_ab"], "o", color="C1", ms=5, label="Sun, band-averaged")
    ok = np.isfinite(table["sun_abs_ab_willmer18"])
    ax.plot(table["pivot_wave_aa"][ok], table["sun_abs_ab_willmer18"][ok], "kx", ms=8, label="Sun, Willmer (2018)")
    ax.plot(table["pivot_wave_aa"], table["vega_ab"], "s", color="C0", ms=4, label="Vega, band-averaged")
    ax2 = ax.twinx()
    for f in filters:
        t = np.asarray(f.transmission)
        ax2.fill_between(np.asarray(f.wave_aa), t / t.max(), alpha=0.12)
    ax2.set_ylim(0, 6)
    ax2.set_yticks([])
    ax.set(xscale="log", xlim=(1200, 6e4), ylim=(15, -3), xlabel="wavelength [Angstrom]", ylabel="AB magnitude")
    ax.set_title("Reference spectra through real filters")
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[1]
    for i, (z, (w, f)) in enumerate(spectra_obs.items()):
        with np.errstate(divide="ignore"):
            ax.plot(w, -2.5 * np.log10(np.clip(f, 1e-30, None)), lw=0.6, color=f"C{i}", alpha=0.6)
        ax.plot(table["pivot_wave_aa"], table[f"pop_ab_z{z:g}"], "o", color=f"C{i}", label=f"z = {z:g}")
    ax.set(xscale="log", xlim=(1200, 6e4), ylim=(36, 14), xlabel="observed wavelength [Angstrom]", ylabel="AB magnitude")
    ax.set_title(r"$10^{10}\,L_\odot$ of Sun-like stars, Calzetti $A_V=0.5$, Inoue+14 IGM")
    ax.legend(fontsize=8)
    for ax in axes:
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path


def _print_summary(table) -> None:
    print(f"{'band':<12} {'pivot[A]':>9} {'Vega AB':>8} {'Sun M_AB':>9} {'Willmer18':>9} {'diff':>7}")
    for row in table:
        ref = row["sun_abs_ab_willmer18"]
        diff = row["sun_abs_ab"] - ref if np.isfinite(ref) else np.nan
        ref_s = f"{ref:9.2f}" if np.isfinite(ref) else f"{'-':>9}"
        diff_s = f"{diff:+7.3f}" if np.isfinite(diff) else f"{'-':>7}"
        print(f"{row['band']:<12} {row['pivot_wave_aa']:9.0f} {row['vega_ab']:8.3f} {row['sun_abs_ab']:9.3f} {ref_s} {diff_s}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sedcore", description="sedcore command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="project real reference spectra through real filters; table + plot")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output directory (default: demo-output)")
    demo.add_argument("--no-plot", action="store_true", help="skip the PNG")
    args = parser.parse_args(argv)
    if args.command == "demo":
        outputs = run_demo(args.out, plot=not args.no_plot)
        for kind, path in outputs.items():
            print(f"wrote {kind}: {path}")
    return 0
