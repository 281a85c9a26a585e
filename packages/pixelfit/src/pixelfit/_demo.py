"""The built-in demo catalog: mock galaxies with known truths, made by this project's code.

`make_demo_catalog` draws galaxies from the priors of the demo model (the shipped
photometric emulator's model: BC03, 7-bin continuity SFH, Calzetti dust with birth clouds,
Cloudy nebular emission, 20 HST/ACS + JWST/NIRCam bands), computes their photometry with
the *exact* engine, and observes them with realistic noise:

- redshift Uniform(0.5, 6) (known: the ``z_spec`` column), log10 mass formed
  Uniform(8.5, 11); every other parameter from the fit's own prior (`FitModel.create`
  defaults cut to the emulator's training box, the continuity SFH prior);
- 1-sigma errors ``sqrt((f_lim / 5)^2 + (0.03 f)^2)`` with 5-sigma depths of 28.0 AB
  (HST/ACS) and 28.5 AB (JWST), a Gaussian noise realisation added to the fluxes;
- bad input on purpose: one flux NaN (row 3, jwst_f444w), one error negative (row 5,
  acs_wfc_f435w), one band not observed (-99, row 7, all medium bands), one row with only
  two observed bands (row 9: skipped, flagged).

Fluxes and errors are in nJy (``f_<band>``, ``e_<band>``), with the truths in ``truth_*``
columns (engine parameters and derived quantities). The shipped file is remade exactly by
``pixelfit demo-catalog --out FILE`` (seed 0, 24 galaxies).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import os
from pathlib import Path

import astropy.units as u
import jax
import numpy as np
import sedcore
from astropy.table import Table

from ._catalog import ModelSpec, build_fit_model
from ._derived import derived_quantities
from ._model import Observation, constrain, engine_params_from, prior_draw

__all__ = ["DEMO_EMULATOR", "demo_catalog_path", "demo_spec", "make_demo_catalog"]

#: The forward model of the demo fits.
DEMO_EMULATOR = "hst_jwst20_phot"
_DEPTH_AB = {"acs": 28.0, "jwst": 28.5}
_NJY_PER_MAGGY = 3631.0e9


def demo_catalog_path() -> Path:
    """Path of the shipped demo catalog (ECSV)."""
    return Path(str(importlib.resources.files("pixelfit") / "data" / "demo_catalog.ecsv"))


@functools.lru_cache(maxsize=1)
def demo_spec() -> ModelSpec:
    """The `ModelSpec` of the demo: the shipped emulator's 20 bands, redshift known.

    Cached (the spec is immutable): the emulator's weights are read once per process.
    """
    import emulate_sps

    em = emulate_sps.load_emulator(DEMO_EMULATOR)
    return ModelSpec(filters=tuple(em.filter_names), emulator=DEMO_EMULATOR, z_max=12.0)


def make_demo_catalog(n: int = 24, seed: int = 0) -> Table:
    """Mock galaxies with truths (see the module docstring). Deterministic in ``seed``."""
    import emulate_sps

    if n < 10:
        raise ValueError(f"make_demo_catalog: n must be >= 10 (rows 3-9 carry bad input); got {n}.")
    fit = build_fit_model(demo_spec())
    config = fit.config
    bands = list(config.filter_names)
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.5, 6.0, n)
    log_mass = rng.uniform(8.5, 11.0, n)
    dtype = config.log_age_yr.dtype
    exact_fit = dataclasses.replace(fit, forward_state=None)  # mock fluxes: the exact engine
    truths = []
    for i in range(n):
        obs = Observation(
            flux_maggies=np.ones((1, len(bands)), dtype),
            flux_err_maggies=np.ones((1, len(bands)), dtype),
            mask=np.ones((1, len(bands)), bool),
            redshift=np.asarray(z[i], dtype),
        )
        position = prior_draw(jax.random.key(seed * 100_003 + i), fit, obs)
        values = constrain(fit, obs, position)
        values["log_mass"] = np.asarray(log_mass[i], dtype)
        params = engine_params_from(fit, obs, values)
        derived = derived_quantities(exact_fit, params)
        truths.append(({**params, **values}, derived))
    flux = np.stack([np.asarray(d.model_maggies, np.float64) for _, d in truths]) * _NJY_PER_MAGGY
    depth = np.array([_DEPTH_AB["acs" if b.startswith("acs") else "jwst"] for b in bands])
    f_lim = 10 ** (-0.4 * (depth - 31.4))  # nJy: AB = 31.4 - 2.5 log10(f / nJy)
    err = np.sqrt((f_lim / 5.0) ** 2 + (0.03 * flux) ** 2)
    obs_flux = flux + err * rng.standard_normal(flux.shape)
    # Bad input, on purpose.
    obs_flux[3, bands.index("jwst_f444w")] = np.nan
    err[5, bands.index("acs_wfc_f435w")] = -1.0
    medium = [j for j, b in enumerate(bands) if b.endswith("m") and b.startswith("jwst")]
    obs_flux[7, medium] = -99.0
    err[7, medium] = -99.0
    keep = [bands.index("jwst_f200w"), bands.index("jwst_f444w")]
    drop = [j for j in range(len(bands)) if j not in keep]
    obs_flux[9, drop] = -99.0
    err[9, drop] = -99.0

    table = Table()
    table["id"] = np.arange(1, n + 1)
    table["z_spec"] = z
    for j, b in enumerate(bands):
        table[f"f_{b}"] = obs_flux[:, j] * u.nJy
        table[f"e_{b}"] = err[:, j] * u.nJy
    for name in fit.param_names + ("dust1",):
        vals = np.stack([np.asarray(p[name], np.float64) for p, _ in truths])
        table[f"truth_{name}"] = vals
    for name in ("mass_formed_msun", "surviving_mass_msun", "sfr_10myr_msun_per_yr",
                 "sfr_100myr_msun_per_yr", "mass_weighted_age_yr"):  # fmt: skip
        table[f"truth_{name}"] = [float(getattr(d, name)) for _, d in truths]
    table.meta.update(
        {
            "description": "pixelfit demo catalog: mock galaxies with known truths",
            "made_by": f"pixelfit demo-catalog --n {n} --seed {seed}",
            "model": demo_spec().to_dict(),
            "flux_model": "exact engine (emulate_sps.photometry with the SynthesisConfig)",
            "depth_5sigma_ab": _DEPTH_AB,
            "missing_value": -99.0,
            "emulate_sps_version": emulate_sps.__version__,
        }
    )
    return table


def write_demo_catalog(path: str | os.PathLike, n: int = 24, seed: int = 0) -> Path:
    """Make the demo catalog and write it (ECSV) atomically."""
    path = Path(path)
    table = make_demo_catalog(n, seed)
    with sedcore.atomic_output(path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return path


def read_demo_photometry(source: str | os.PathLike | Table | None = None) -> sedcore.Photometry:
    """The demo catalog (a path or Table; default the shipped file) as a ``sedcore.Photometry``."""
    source = demo_catalog_path() if source is None else source
    bands = list(demo_spec().filters)
    return sedcore.read_photometry(
        source,
        filters=bands,
        flux_columns=[f"f_{b}" for b in bands],
        error_columns=[f"e_{b}" for b in bands],
        redshift_column="z_spec",
        id_column="id",
        missing_below=-90.0,
    )


#: Short settings of ``pixelfit demo --quick`` (a check of the machinery, not converged).
QUICK_SETTINGS = dict(
    num_warmup=150, num_draws=150, num_chains=2, max_num_doublings=6,
    num_init_draws=32, num_init_steps=100,
)  # fmt: skip
QUICK_ROWS = 6
DEMO_CHUNK = 8  # rows per Dask task of the demo (progress and resume in steps of 8)
QUICK_CHUNK = 2  # rows per chunk and per compiled batch in quick mode

# Truth columns against summary columns, as plotted (log10 where the name says so).
_RECOVERY = (
    ("log10 surviving mass [M_sun]", "surviving_mass_msun", True),
    ("log10 SFR(100 Myr) [M_sun/yr]", "sfr_100myr_msun_per_yr", True),
    ("dust2 (tau_V diffuse)", "dust2", False),
    ("log10 Z/Z_sun", "log_zsol", False),
    ("log10 mass-weighted age [yr]", "mass_weighted_age_yr", True),
    ("log U", "log_u", False),
)


def recovery_table(summary: Table, truth: Table) -> Table:
    """Truth, posterior median and 16/84 percentiles of the recovered quantities per row."""
    out = Table()
    out["id"] = summary["id"]
    out["fitted"] = summary["fitted"]
    out["fit_ok"] = summary["fit_ok"]
    for _, name, log in _RECOVERY:
        f = (lambda x: np.log10(np.clip(x, 1e-30, None))) if log else (lambda x: x)
        out[f"truth_{name}"] = f(np.asarray(truth[f"truth_{name}"], np.float64))
        for p in (16, 50, 84):
            out[f"{name}_p{p}"] = f(np.asarray(summary[f"{name}_p{p}"], np.float64))
        t, lo, hi = (np.asarray(out[c]) for c in (f"truth_{name}", f"{name}_p16", f"{name}_p84"))
        out[f"{name}_in68"] = (lo <= t) & (t <= hi)
    out.meta["log10"] = [name for _, name, log in _RECOVERY if log]
    return out


def plot_recovery(table: Table, path: str | os.PathLike) -> Path:
    """Truth vs posterior (median, 68% interval) for the demo's quantities (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fitted = np.asarray(table["fitted"])
    ok = np.asarray(table["fit_ok"])
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for ax, (label, name, _) in zip(axes.flat, _RECOVERY, strict=True):
        t = np.asarray(table[f"truth_{name}"])
        med, lo, hi = (np.asarray(table[f"{name}_p{p}"]) for p in (50, 16, 84))
        for sel, style in ((fitted & ok, dict(fmt="o", color="C0", label="fit_ok")),
                           (fitted & ~ok, dict(fmt="o", mfc="none", color="C3",
                                                label="not converged"))):  # fmt: skip
            if sel.any():
                ax.errorbar(t[sel], med[sel], yerr=[med[sel] - lo[sel], hi[sel] - med[sel]],
                            ms=4, lw=0.8, **style)  # fmt: skip
        finite = np.concatenate([t[fitted], lo[fitted], hi[fitted]])
        finite = finite[np.isfinite(finite)]
        if finite.size:
            a, b = finite.min(), finite.max()
            pad = 0.05 * (b - a + 1e-9)
            ax.plot([a - pad, b + pad], [a - pad, b + pad], "k--", lw=0.8)
        inside = np.asarray(table[f"{name}_in68"])[fitted]
        ax.set_title(f"{label}\ntruth in 68%: {inside.sum()}/{inside.size}", fontsize=9)
        ax.set_xlabel("truth")
        ax.set_ylabel("posterior median (16-84%)")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("pixelfit demo: mock galaxies (exact engine) fitted through the emulator")
    fig.tight_layout()
    path = Path(path)
    with sedcore.atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def run_demo(out_dir: str | os.PathLike, *, quick: bool = False, **kwargs) -> Path:
    """Fit the shipped demo catalog into ``out_dir`` with plots and the recovery figure.

    Args:
        out_dir: output folder (`fit_catalog` layout, plus ``demo_recovery.ecsv`` and
            ``demo_recovery.png``).
        quick: the first `QUICK_ROWS` rows with `QUICK_SETTINGS`, chunks and batches of
            `QUICK_CHUNK` (a check of the machinery, not converged fits).
        **kwargs: passed to `fit_catalog` (settings, seed, chunk_size, ...).

    Returns:
        ``out_dir``.
    """
    from ._catalog import fit_catalog
    from ._sampler import SamplerSettings

    truth = Table.read(demo_catalog_path(), format="ascii.ecsv")
    kwargs.setdefault("chunk_size", DEMO_CHUNK)
    if quick:
        truth = truth[:QUICK_ROWS]
        kwargs["settings"] = SamplerSettings(**QUICK_SETTINGS)
        kwargs["chunk_size"] = kwargs["batch_size"] = QUICK_CHUNK
    kwargs["plots"] = True
    photometry = read_demo_photometry(truth)
    out = Path(out_dir)
    summary = fit_catalog(photometry, demo_spec(), out, source="pixelfit demo catalog", **kwargs)
    rec = recovery_table(summary, truth)
    with sedcore.atomic_output(out / "demo_recovery.ecsv") as tmp:
        rec.write(tmp, format="ascii.ecsv", overwrite=True)
    plot_recovery(rec, out / "demo_recovery.png")
    fitted = np.asarray(rec["fitted"])
    for _, name, _ in _RECOVERY:
        inside = np.asarray(rec[f"{name}_in68"])[fitted]
        print(f"{name:>26s}: truth inside the 68% interval for {inside.sum()}/{inside.size}")
    return out
