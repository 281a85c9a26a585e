"""Plots of one fitted object: observed vs model SED with residuals, SFH with credible
bands, corner plot, and (fits with a spectrum) the observed vs calibrated model spectrum.

matplotlib is an optional dependency (``pip install 'pixelfit[plot]'``), imported when a
plot is made. The functions build ``matplotlib.figure.Figure`` objects directly (no
``pyplot``: no global figure registry, no backend needed to save), return them, and
save them atomically (``sedcore.atomic_output``) when given a path; the format follows
the path's suffix (``.png``, ``.pdf``, ``.svg``...).

Everything plotted is computed from the posterior draws in `FitResults`: the model
photometry per draw (``model_maggies``), the SFH through the same ``sfh_priors`` code
path as the derived SFRs (``sfh_priors.mass_in_bins`` of ``fit.config.sfh`` at the age of
the universe of each draw's redshift), and, for the exact engine, the spectra of a subset
of draws (``emulate_sps.rest_spectrum``, redshifted, dimmed and, if the config has one,
through its IGM).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import emulate_sps
import jax
import jax.numpy as jnp
import numpy as np
import sedcore
import sfh_priors

from ._model import engine_params_from, spectrum_model
from ._run import FitResults

__all__ = [
    "MICROJANSKY_PER_MAGGIE",
    "SFHCurves",
    "corner_quantities",
    "plot_all",
    "plot_corner",
    "plot_sed",
    "plot_sfh",
    "plot_spectrum",
    "sfh_curves",
]

#: One maggie (f_nu = 3631 Jy) in micro-Jansky.
MICROJANSKY_PER_MAGGIE = sedcore.MAGGIE_JY * 1.0e6
#: Units of the SED plot's flux axis.
SED_UNITS = ("uJy", "ABmag")
#: Credible intervals drawn as bands (central 68% and 95%).
_BAND_68 = (16.0, 84.0)
_BAND_95 = (2.5, 97.5)
#: The quantities of the default corner plot (those the fit has).
DEFAULT_CORNER = ("log_surviving_mass", "log_sfr_100myr", "dust2", "log_zsol", "z")
#: Log10 quantities offered by the corner plot: name -> (posterior entry, label).
_LOG_QUANTITIES = {
    "log_surviving_mass": ("surviving_mass_msun", r"$\log M_\star$ surviving [$M_\odot$]"),
    "log_mass_formed": ("mass_formed_msun", r"$\log M$ formed [$M_\odot$]"),
    "log_sfr_100myr": ("sfr_100myr_msun_per_yr", r"$\log$ SFR$_{100}$ [$M_\odot$/yr]"),
    "log_sfr_10myr": ("sfr_10myr_msun_per_yr", r"$\log$ SFR$_{10}$ [$M_\odot$/yr]"),
    "log_ssfr_100myr": ("ssfr_100myr_per_yr", r"$\log$ sSFR$_{100}$ [1/yr]"),
    "log_mass_weighted_age": ("mass_weighted_age_yr", r"$\log t_{\rm mw}$ [yr]"),
}
_LABELS = {
    "log_mass": r"$\log M$ formed [$M_\odot$]",
    "log_zsol": r"$\log Z_\star/Z_\odot$",
    "gas_log_zsol": r"$\log Z_{\rm gas}/Z_\odot$",
    "dust2": r"$\tau_{V}$ diffuse (dust2)",
    "dust1": r"$\tau_{V}$ birth clouds (dust1)",
    "dust_ratio": "dust1 / dust2",
    "dust_index": "dust index",
    "log_u": r"$\log U$",
    "z": "redshift $z$",
    "sfh_age_yr": "SFH age [yr]",
    "sfh_tau_yr": r"SFH $\tau$ [yr]",
}


def _matplotlib() -> Any:
    """The ``Figure`` class, or an ImportError with the install line."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - exercised without the extra only
        raise ImportError(
            "pixelfit plots need matplotlib, an optional dependency: "
            "pip install 'pixelfit[plot]'"
        ) from err
    return Figure


# ------------------------------------------------------------------------------ helpers


def _fitted_index(results: FitResults, row: Any, where: str) -> int:
    """Position of ``row`` among the fitted rows, with errors naming the row."""
    if not isinstance(results, FitResults):
        raise TypeError(
            f"{where}: results must be the FitResults of pixelfit.fit_observations; got "
            f"{type(results).__name__}."
        )
    if isinstance(row, (bool, np.bool_)) or not isinstance(row, (int, np.integer)):
        raise TypeError(f"{where}: row must be an integer row of the catalog; got {row!r}.")
    n = len(results.prepared)
    if not 0 <= int(row) < n:
        raise ValueError(f"{where}: row {row} is outside the catalog's rows 0..{n - 1}.")
    try:
        return results.index(int(row))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _flat(draws: np.ndarray) -> np.ndarray:
    """(n_chains, n_draws, ...) -> (n_chains * n_draws, ...), float64."""
    draws = np.asarray(draws, dtype=np.float64)
    return draws.reshape((-1,) + draws.shape[2:])


def _object_id(results: FitResults, row: int) -> str:
    return str(results.prepared.ids[row])


def _engine_draws(results: FitResults, i: int) -> dict[str, np.ndarray]:
    """``{engine parameter: (n_draws, ...) values}``: free draws plus the fixed values."""
    fit = results.fit
    fixed = dict(fit.fixed)
    n = results.posterior["z"][i].size
    out = {}
    for name in fit.config.names:
        if name in results.posterior:
            out[name] = _flat(results.posterior[name][i])
        elif name in fixed:
            out[name] = np.full(n, fixed[name])
        else:  # pragma: no cover - every engine parameter is free or fixed by construction
            raise ValueError(f"the posterior has no draws of the engine parameter {name!r}.")
    return out


def _save(fig: Any, path: str | os.PathLike | None, dpi: float) -> None:
    if path is None:
        return
    path = Path(path)
    if not path.suffix:
        raise ValueError(
            f"{path}: the file name needs a suffix that names the format (.png, .pdf, .svg)."
        )
    with sedcore.atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi)


def _band_wave_aa(fit: Any, filters: Any, where: str) -> np.ndarray:
    """Effective wavelengths (Angstrom) of the model's bands, in the model's order.

    The synthesis config keeps its filters only as integration tables, so the curves are
    loaded again by name (astro-sedpy names) unless ``filters`` gives them.
    """
    names = tuple(fit.band_names)
    if filters is None:
        try:
            filters = sedcore.load_filters(list(names))
        except (ValueError, OSError) as err:
            raise ValueError(
                f"{where}: the model's bands {list(names)} cannot be loaded by name ({err}); pass "
                "filters= (the sedcore.FilterSet, or the names/paths, the config was built with)."
            ) from None
    elif not isinstance(filters, sedcore.FilterSet):
        filters = sedcore.load_filters(list(filters))
    by_name = dict(zip(filters.names, np.asarray(filters.effective_wave_aa), strict=True))
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(
            f"{where}: filters has no curve for the model's band(s) {missing}; it has "
            f"{list(filters.names)}."
        )
    return np.array([by_name[n] for n in names], dtype=np.float64)


def _exact_engine(fit: Any) -> bool:
    """True when the fit's forward model is the exact engine (spectra are available)."""
    return fit.forward_state is None and fit.forward is emulate_sps.photometry


def _rest_spectra(config, params):
    return jax.vmap(emulate_sps.rest_spectrum, in_axes=(None, 0))(config, params)


# One compiled program per (config, number of draws).
_rest_spectra_jit = jax.jit(_rest_spectra)


def _model_spectra(
    fit: Any, params: Mapping[str, np.ndarray], wave_obs_aa: np.ndarray
) -> np.ndarray:
    """Observed-frame f_nu (maggies) of each draw on ``wave_obs_aa``: (n_draws, n_wave).

    ``emulate_sps.rest_spectrum`` per draw, shifted to ``wave_aa * (1 + z)``, dimmed with
    ``sedcore.lnu_to_fnu_maggies`` at the fit's cosmology and, when the config models it,
    multiplied by the IGM transmission (as `emulate_sps.photometry` does).
    """
    config = fit.config
    dtype = config.log_age_yr.dtype
    batch = {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}
    lnu = np.asarray(_rest_spectra_jit(config, batch), dtype=np.float64)
    wave_rest = np.asarray(config.wave_aa, dtype=np.float64)
    z = np.asarray(params["z"], dtype=np.float64)
    d_l = np.asarray(sedcore.luminosity_distance_mpc(z, fit.cosmology), dtype=np.float64)
    out = np.empty((lnu.shape[0], wave_obs_aa.size))
    for k in range(lnu.shape[0]):
        fnu = np.asarray(sedcore.lnu_to_fnu_maggies(lnu[k], z[k], d_l[k]), dtype=np.float64)
        wave_obs = wave_rest * (1.0 + z[k])
        if config.igm is not None:
            fnu = fnu * np.asarray(
                sedcore.igm_transmission(wave_obs, z[k], model=config.igm), dtype=np.float64
            )
        out[k] = np.interp(wave_obs_aa, wave_obs, fnu, left=np.nan, right=np.nan)
    return out


def _to_unit(maggies: np.ndarray, unit: str) -> np.ndarray:
    maggies = np.asarray(maggies, dtype=np.float64)
    if unit == "uJy":
        return maggies * MICROJANSKY_PER_MAGGIE
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(maggies > 0, -2.5 * np.log10(np.where(maggies > 0, maggies, 1.0)), np.nan)


def _redshift_text(results: FitResults, i: int) -> str:
    z = _flat(results.posterior["z"][i])
    if results.fit.free_redshift:
        lo, mid, hi = np.percentile(z, [16, 50, 84])
        return f"z = {mid:.3f} (+{hi - mid:.3f} -{mid - lo:.3f}, free)"
    return f"z = {z[0]:.4g} (fixed)"


# ------------------------------------------------------------------------------ SED


def _title_and_chi_band(ax, ax_res, results: FitResults, row: int, i: int, what: str) -> None:
    """Legend and title of the data panel; the +-1 band and zero line of the chi panel."""
    ax.legend(loc="best", fontsize=8)
    ax.set_title(
        f"{_object_id(results, row)}: observed and model {what}, {_redshift_text(results, i)}",
        fontsize=11,
    )
    ax_res.axhspan(-1, 1, color="0.9", zorder=0)
    ax_res.axhline(0.0, color="0.4", lw=0.8)


def plot_sed(
    results: FitResults,
    row: int,
    path: str | os.PathLike | None = None,
    *,
    unit: str = "uJy",
    filters: Any = None,
    spectrum: bool | None = None,
    n_spectrum_draws: int = 50,
    upper_limit_snr: float = 2.0,
    pixel: int = 0,
    dpi: float = 100,
) -> Any:
    """Observed and posterior model photometry of one object, with a residual panel.

    Top panel, against the bands' effective wavelengths (observed frame, micron, log
    axis): the observed fluxes with their 1-sigma errors (filled circles); bands masked
    in the fit (bad value, missing or masked by the caller) as open circles where their
    flux is finite (drawn at the edge of the axes, as open triangles, when outside it);
    bands with ``flux / error < upper_limit_snr`` as upper limits at
    ``max(flux, 0) + 2 error`` (arrows); the posterior model photometry, median and
    central 68% interval of ``model_maggies`` per band (squares); optionally the model
    spectrum (median and 68% band over ``n_spectrum_draws`` posterior draws).

    Bottom panel: ``chi = (observed - median model) / sigma_total`` per band, with
    ``sigma_total**2 = error**2 + (noise_floor * median model)**2``, the noise floor the
    fit used (emulator error included).

    Args:
        results: from `fit_observations`.
        row: the object's row in the prepared catalog (it must have been fitted).
        path: where to save the figure (format from the suffix), or None.
        unit: ``"uJy"`` (f_nu in micro-Jansky, log axis; the default) or ``"ABmag"``
            (AB magnitudes, ``-2.5 log10(maggies)``; percentiles are taken in maggies
            and converted, so the median model point is the median model flux).
        filters: the filter curves of the model's bands, only needed when they cannot be
            loaded by name (``sedcore.load_filters(fit.band_names)``): a
            ``sedcore.FilterSet`` or names/paths.
        spectrum: draw the model spectrum: None (default) when the fit used the exact
            engine, True to require it, False never. Fits through an emulator have no
            spectra.
        n_spectrum_draws: posterior draws (evenly spaced through the chains) whose
            spectra are computed (default 50).
        upper_limit_snr: bands with a lower signal-to-noise are drawn as upper limits
            (default 2).
        pixel: which pixel of the observation (catalog rows have one).
        dpi: resolution of the saved file (default 100).

    Returns:
        The ``matplotlib.figure.Figure`` (axes: the SED, the residuals).

    Raises:
        ValueError: a row that was not fitted, an unknown unit, a spectrum requested
            from an emulator fit, filters that do not match the model's bands.
    """
    where = "plot_sed"
    Figure = _matplotlib()
    from matplotlib.ticker import FuncFormatter, NullLocator

    i = _fitted_index(results, row, where)
    if unit not in SED_UNITS:
        raise ValueError(f"{where}: unit must be one of {SED_UNITS}; got {unit!r}.")
    if not (isinstance(upper_limit_snr, (int, float)) and upper_limit_snr >= 0):
        raise ValueError(f"{where}: upper_limit_snr must be a number >= 0; got {upper_limit_snr!r}.")
    fit = results.fit
    if spectrum and not _exact_engine(fit):
        raise ValueError(
            f"{where}: spectrum=True needs a fit with the exact engine; this fit used "
            f"{type(fit.forward_state).__name__ if fit.forward_state is not None else 'a custom forward'} "
            "(photometry only). Use spectrum=None or False."
        )
    draw_spectrum = _exact_engine(fit) if spectrum is None else bool(spectrum)
    obs = results.prepared.obs
    n_pixels = obs.flux_maggies.shape[1]
    if not (isinstance(pixel, (int, np.integer)) and 0 <= pixel < n_pixels):
        raise ValueError(f"{where}: pixel must be an integer in 0..{n_pixels - 1}; got {pixel!r}.")
    wave_um = _band_wave_aa(fit, filters, where) * 1.0e-4
    flux = np.asarray(obs.flux_maggies[row][pixel], dtype=np.float64)
    err = np.asarray(obs.flux_err_maggies[row][pixel], dtype=np.float64)
    used = np.asarray(obs.mask[row][pixel], dtype=bool)
    model = _flat(results.posterior["model_maggies"][i])  # (n_draws, n_bands)
    med = np.median(model, axis=0)
    lo68, hi68 = np.percentile(model, _BAND_68, axis=0)
    floor = np.broadcast_to(np.asarray(fit.noise_floor, dtype=np.float64), med.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(err**2 + (floor * med) ** 2)
        # no residual for a band without a usable error (masked for it)
        chi = np.where(np.isfinite(err) & (err > 0), (flux - med) / sigma, np.nan)
        snr = flux / err
    finite = np.isfinite(flux)
    upper = used & (snr < upper_limit_snr)
    point = used & ~upper
    shown_masked = ~used & finite

    fig = Figure(figsize=(8.0, 6.0), layout="constrained")
    ax, ax_res = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    ax.set_xscale("log")

    ref = []  # values that set the flux axis
    if draw_spectrum:
        n_all = model.shape[0]
        take = np.unique(np.linspace(0, n_all - 1, min(n_spectrum_draws, n_all)).astype(int))
        params = {k: v[take] for k, v in _engine_draws(results, i).items()}
        lo_aa, hi_aa = wave_um.min() * 1e4 / 1.6, wave_um.max() * 1e4 * 1.6
        wave_plot = np.geomspace(lo_aa, hi_aa, 1500)
        spec = _model_spectra(fit, params, wave_plot)
        ok = np.all(np.isfinite(spec), axis=0)
        s_lo, s_med, s_hi = np.percentile(spec[:, ok], (16, 50, 84), axis=0)
        x = wave_plot[ok] * 1e-4
        ax.fill_between(
            x, _to_unit(s_lo, unit), _to_unit(s_hi, unit), color="tab:blue", alpha=0.2, lw=0,
            gid="spectrum_band",
        )  # fmt: skip
        ax.plot(
            x, _to_unit(s_med, unit), color="tab:blue", lw=0.8, gid="spectrum_median",
            label=f"model spectrum (median, 68%; {take.size} draws)",
        )  # fmt: skip

    y_med, y_lo, y_hi = _to_unit(med, unit), _to_unit(lo68, unit), _to_unit(hi68, unit)
    ax.errorbar(
        wave_um, y_med, yerr=np.abs(np.stack([y_med - y_lo, y_hi - y_med])), fmt="s", ms=7,
        mfc="none", mec="tab:orange", ecolor="tab:orange", capsize=0, zorder=3,
        label="model photometry (median, 68%)",
    )[0].set_gid("model_median")  # fmt: skip
    ref += [y_lo, y_hi]

    if point.any():
        y = _to_unit(flux[point], unit)
        if unit == "uJy":
            yerr = err[point] * MICROJANSKY_PER_MAGGIE
        else:
            yerr = 2.5 / math.log(10.0) * err[point] / flux[point]
        ax.errorbar(
            wave_um[point], y, yerr=yerr, fmt="o", color="k", ms=6, capsize=2, zorder=4,
            label="observed",
        )[0].set_gid("observed")  # fmt: skip
        ref += [y - yerr if unit == "ABmag" else np.where(y - yerr > 0, y - yerr, y), y + yerr]
    if upper.any():
        limit = _to_unit(np.maximum(flux[upper], 0.0) + 2.0 * err[upper], unit)
        ax.plot(
            wave_um[upper], limit, ls="none", marker="_", ms=12, mew=2, color="k",
            gid="upper_limit", label=f"2$\\sigma$ upper limit (S/N < {upper_limit_snr:g})",
        )  # fmt: skip
        for xw, yl in zip(wave_um[upper], limit, strict=True):
            end = yl / 2.5 if unit == "uJy" else yl + 0.75
            ax.annotate(
                "", xy=(xw, end), xytext=(xw, yl),
                arrowprops=dict(arrowstyle="-|>", color="k", lw=1.2),
            )  # fmt: skip
        ref += [limit, limit / 2.5 if unit == "uJy" else limit + 0.75]

    values = np.concatenate([np.ravel(v) for v in ref])
    values = values[np.isfinite(values) & ((values > 0) if unit == "uJy" else True)]
    if unit == "uJy":
        y_min, y_max = values.min() / 2.0, values.max() * 2.0
    else:
        y_min, y_max = values.min() - 0.4, values.max() + 0.4
    if shown_masked.any():
        ym = _to_unit(flux[shown_masked], unit)
        inside = np.isfinite(ym) & (ym >= y_min) & (ym <= y_max)
        if unit == "uJy":
            inside &= ym > 0
        ax.plot(
            wave_um[shown_masked][inside], ym[inside], ls="none", marker="o", ms=7, mfc="none",
            mec="tab:red", mew=1.5, gid="masked", label="masked (not fitted)",
        )  # fmt: skip
        # Off the axis: an open triangle just inside its edge, pointing the way out.
        if unit == "uJy":
            faint = ~inside & ~(ym > y_max)  # below, non-positive
            bright = ~inside & (ym > y_max)
            faint_y, bright_y = y_min * 1.25, y_max / 1.25
        else:
            bright = ~inside & (ym < y_min)
            faint = ~inside & ~bright  # fainter, or no magnitude (flux <= 0)
            faint_y, bright_y = y_max - 0.1, y_min + 0.1
        for sel, y_edge, marker in ((faint, faint_y, "v"), (bright, bright_y, "^")):
            if sel.any():
                ax.plot(
                    wave_um[shown_masked][sel], np.full(sel.sum(), y_edge), ls="none",
                    marker=marker, ms=8, mfc="none", mec="tab:red", mew=1.5,
                    gid="masked_outside",
                )  # fmt: skip
    if unit == "uJy":
        ax.set_yscale("log")
        ax.set_ylim(y_min, y_max)
        ax.set_ylabel(r"$f_\nu$ [$\mu$Jy]")
    else:
        ax.set_ylim(y_max, y_min)  # brighter up
        ax.set_ylabel("AB magnitude")
    _title_and_chi_band(ax, ax_res, results, row, i, "SED")

    if used.any():
        ax_res.plot(wave_um[used], chi[used], "o", color="k", ms=5, gid="chi", label="fitted")
    fitted_chi = chi[used & np.isfinite(chi)]
    lim = max(3.0, 1.15 * float(np.max(np.abs(fitted_chi)))) if fitted_chi.size else 3.0
    ok_masked = ~used & np.isfinite(chi)
    if ok_masked.any():
        ax_res.plot(
            wave_um[ok_masked], chi[ok_masked], "o", ms=6, mfc="none", mec="tab:red", mew=1.5,
            gid="chi_masked", label="masked",
        )  # fmt: skip
        for sign, marker in ((1, "^"), (-1, "v")):
            out = ok_masked & (sign * chi > lim)
            if out.any():  # off the axis: an open triangle at its edge
                ax_res.plot(
                    wave_um[out], np.full(out.sum(), 0.9 * sign * lim), ls="none",
                    marker=marker, ms=7, mfc="none", mec="tab:red", mew=1.5,
                    gid="chi_masked_outside",
                )  # fmt: skip
    ax_res.set_ylim(-lim, lim)
    ax_res.set_ylabel(r"$\chi$ = (obs $-$ model) / $\sigma$")
    ax_res.set_xlabel(r"observed wavelength [$\mu$m]")
    span = np.log10(wave_um.max() / wave_um.min())
    pad = 10 ** (0.08 * span + 0.05)
    ax_res.set_xlim(wave_um.min() / pad, wave_um.max() * pad)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax_res.xaxis, ax.xaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="both", labelbottom=False)
    ax_res.tick_params(axis="x", which="minor", labelsize=7)
    top = ax.secondary_xaxis("top")
    top.set_xticks(wave_um, labels=list(fit.band_names), rotation=90, fontsize=7)
    top.xaxis.set_minor_locator(NullLocator())
    _save(fig, path, dpi)
    return fig


# ------------------------------------------------------------------------------ spectrum


def _calibrated_spectra(fit, obs, constrained):
    def one(values):
        params = engine_params_from(fit, obs, values)
        calib = jnp.exp(values["spec_calib"] @ fit.spectrum.basis)
        return spectrum_model(fit, params, values["spec_calib"]), calib

    return jax.vmap(one)(constrained)


# One compiled program per (FitModel, number of draws).
_calibrated_spectra_jit = jax.jit(_calibrated_spectra)


def plot_spectrum(
    results: FitResults,
    row: int,
    path: str | os.PathLike | None = None,
    *,
    n_draws: int = 50,
    dpi: float = 100,
) -> Any:
    """Observed spectrum against the calibrated model, residuals, and the calibration.

    Top: the observed f_nu (uJy; masked pixels not drawn) with its errors scaled by the
    median ``spec_jitter`` (grey band), and the calibrated model spectrum
    (`spectrum_model`) of ``n_draws`` posterior draws spread through the chains: median
    and 68% band. Middle: ``chi = (obs - median model) / (jitter * err)`` per used pixel.
    Bottom: the calibration ``exp(sum_k c_k T_k)`` (median, 68%).

    Args:
        results: from `fit_observations` with a `FitModel` that fits spectra.
        row: the object's row (fitted).
        path: optional file to save (format from its suffix), written atomically.
        n_draws: posterior draws whose model spectra are computed (default 50).
        dpi: resolution of raster formats.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ValueError: a fit without a spectrum, a row that was not fitted.
    """
    where = "plot_spectrum"
    i = _fitted_index(results, row, where)
    fit = results.fit
    if not fit.fits_spectrum or results.prepared.obs.spectrum is None:
        raise ValueError(
            f"{where}: this fit has no spectrum (FitModel.create(..., spectrum=...)); use "
            "plot_sed for photometry."
        )
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"{where}: n_draws must be an integer >= 1; got {n_draws!r}.")
    Figure = _matplotlib()
    obs = jax.tree.map(lambda a: jnp.asarray(a[row]), results.prepared.obs)
    names = list(fit.param_names) + (["dust1"] if "dust1" in results.posterior else [])
    n_all = results.posterior["z"][i].size
    take = np.unique(np.linspace(0, n_all - 1, min(int(n_draws), n_all)).astype(int))
    dtype = fit.config.log_age_yr.dtype
    constrained = {
        k: jnp.asarray(_flat(results.posterior[k][i])[take], dtype=dtype) for k in names
    }
    model, calib = _calibrated_spectra_jit(fit, obs, constrained)
    model = np.asarray(model, np.float64) * MICROJANSKY_PER_MAGGIE
    calib = np.asarray(calib, np.float64)
    wave = fit.spectrum_wave_aa
    spec = results.prepared.obs.spectrum
    used = np.asarray(spec.mask[row], dtype=bool)
    flux = np.where(used, np.asarray(spec.flux_maggies[row], np.float64), np.nan)
    flux = flux * MICROJANSKY_PER_MAGGIE
    err = np.asarray(spec.flux_err_maggies[row], np.float64) * MICROJANSKY_PER_MAGGIE
    jitter = (
        float(np.median(_flat(results.posterior["spec_jitter"][i])))
        if "spec_jitter" in results.posterior
        else 1.0
    )
    floor = float(fit.spectrum.noise_floor)
    m_lo, m_med, m_hi = np.percentile(model, (16, 50, 84), axis=0)
    sigma = np.sqrt((jitter * err) ** 2 + (floor * m_med) ** 2)
    chi = np.where(used, (flux - m_med) / sigma, np.nan)

    fig = Figure(figsize=(9.0, 7.0), layout="constrained")
    ax, ax_res, ax_cal = fig.subplots(3, 1, sharex=True, height_ratios=(3, 1, 1))
    ax.fill_between(
        wave, flux - sigma, flux + sigma, color="0.8", lw=0, step="mid",
        gid="observed_error", label=rf"observed $\pm$ {jitter:.3g} $\times$ error",
    )  # fmt: skip
    ax.plot(wave, flux, color="k", lw=0.6, drawstyle="steps-mid", gid="observed", label="observed")
    ax.fill_between(wave, m_lo, m_hi, color="tab:blue", alpha=0.3, lw=0, gid="model_band")
    ax.plot(
        wave, m_med, color="tab:blue", lw=0.8, gid="model_median",
        label=f"calibrated model (median, 68%; {take.size} draws)",
    )  # fmt: skip
    ax.set_ylabel(r"$f_\nu$ [$\mu$Jy]")
    _title_and_chi_band(ax, ax_res, results, row, i, "spectrum")
    ax_res.plot(wave, chi, color="k", lw=0.5, drawstyle="steps-mid", gid="chi")
    finite = chi[np.isfinite(chi)]
    lim = max(3.0, 1.1 * float(np.percentile(np.abs(finite), 99.5))) if finite.size else 3.0
    ax_res.set_ylim(-lim, lim)
    ax_res.set_ylabel(r"$\chi$")
    c_lo, c_med, c_hi = np.percentile(calib, (16, 50, 84), axis=0)
    ax_cal.fill_between(wave, c_lo, c_hi, color="tab:green", alpha=0.3, lw=0, gid="calibration_band")
    ax_cal.plot(wave, c_med, color="tab:green", lw=1.0, gid="calibration")
    ax_cal.set_ylabel("calibration")
    ax_cal.set_xlabel(r"observed wavelength [$\AA$]")
    for a in (ax, ax_res):
        a.tick_params(axis="x", labelbottom=False)
    _save(fig, path, dpi)
    return fig


# ------------------------------------------------------------------------------ SFH


class SFHCurves(NamedTuple):
    """SFR of each posterior draw, averaged in lookback-time bins.

    Attributes:
        edges_yr: (n_bins + 1,) lookback-time bin edges, yr (the first is 0).
        sfr_msun_per_yr: (n_draws, n_bins) mean SFR in each bin (mass formed in the bin
            / its width), M_sun/yr; zero beyond the age of the universe of a draw.
    """

    edges_yr: np.ndarray
    sfr_msun_per_yr: np.ndarray


def _sfh_bin_masses(fit, params, edges_yr):
    """Mass formed per lookback bin of one draw (the SFH code path of `derived_quantities`)."""
    config = fit.config
    t_univ = fit.age_of_universe_yr(params["z"])
    sfh = jax.tree_util.tree_unflatten(config.sfh_treedef, [params[n] for n in config.sfh_names])
    return sfh_priors.mass_in_bins(config.sfh, sfh, edges_yr, t_univ)


_sfh_bin_masses_jit = jax.jit(jax.vmap(_sfh_bin_masses, in_axes=(None, 0, None)))


def _model_edges(model: Any, t_univ_yr: np.ndarray) -> np.ndarray:
    """Fixed bin edges of a binned SFH model (so its steps are drawn exactly), else none."""
    edges = getattr(model, "bin_edges_yr", None)
    if edges is None or callable(edges):  # parametric, or ContinuityFlex (edges per draw)
        return np.zeros(0)
    if isinstance(edges, sfh_priors.Leja19Edges):
        if np.ptp(t_univ_yr) > 0:  # free redshift: the edges move with each draw
            return np.zeros(0)
        return np.asarray(edges.edges_yr(float(t_univ_yr[0])), dtype=np.float64)
    return np.asarray(edges, dtype=np.float64)


def _time_edges(fit: Any, t_univ_yr: np.ndarray, n_bins: int) -> np.ndarray:
    t_max = float(np.max(t_univ_yr))
    grid = np.geomspace(1.0e6, t_max, n_bins)
    extra = [0.0, 1.0e7, 1.0e8, *_model_edges(fit.config.sfh, t_univ_yr)]
    edges = np.unique(np.concatenate([grid, extra]))
    edges = edges[edges <= t_max]
    # Drop edges closer than float32 can separate (a model edge next to a grid edge).
    keep = np.concatenate([[True], np.diff(edges) > 1e-5 * edges[1:]])
    return edges[keep]


def sfh_curves(
    results: FitResults, row: int, *, n_bins: int = 200, edges_yr: Any = None
) -> SFHCurves:
    """Posterior SFR(lookback time) of one object, draw by draw, averaged in bins.

    Each draw's SFH parameters go through ``sfh_priors.mass_in_bins`` of
    ``fit.config.sfh`` at the age of the universe at the draw's redshift, the code path
    of the derived SFRs (``sfr_100myr_msun_per_yr`` is the mass in [0, 100 Myr] / 100 Myr),
    so every draw's bins add up to its mass formed and piecewise-constant
    (non-parametric) SFHs are drawn exactly.

    Args:
        results: from `fit_observations`.
        row: the object's row (fitted).
        n_bins: log-spaced bins from 1 Myr to the age of the universe (default 200);
            edges at 0, 10 Myr, 100 Myr and the fixed bin edges of a binned SFH model are
            added.
        edges_yr: explicit increasing lookback-time edges (yr, from 0) instead.

    Returns:
        `SFHCurves`.
    """
    where = "sfh_curves"
    i = _fitted_index(results, row, where)
    fit = results.fit
    params = _engine_draws(results, i)
    z = params["z"]
    t_univ = np.asarray(fit.age_of_universe_yr(jnp.asarray(z, fit.config.log_age_yr.dtype)), np.float64)
    if edges_yr is None:
        if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 2):
            raise ValueError(f"{where}: n_bins must be an integer >= 2; got {n_bins!r}.")
        edges = _time_edges(fit, t_univ, int(n_bins))
    else:
        edges = np.asarray(edges_yr, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or edges[0] < 0 or np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"{where}: edges_yr must be 1-D, increasing, from >= 0 yr; got {edges_yr!r}."
            )
    dtype = fit.config.log_age_yr.dtype
    batch = {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}
    masses = np.asarray(_sfh_bin_masses_jit(fit, batch, jnp.asarray(edges, dtype=dtype)), np.float64)
    return SFHCurves(edges_yr=edges, sfr_msun_per_yr=masses / np.diff(edges))


def plot_sfh(
    results: FitResults,
    row: int,
    path: str | os.PathLike | None = None,
    *,
    truth: Mapping[str, Any] | None = None,
    n_bins: int = 200,
    xscale: str = "log",
    yscale: str | None = None,
    dpi: float = 100,
) -> Any:
    """Star-formation history of one object: posterior median and 68% / 95% bands.

    SFR against lookback time (yr) from `sfh_curves`: per bin, the median and the central
    68% and 95% of the draws' SFRs; for every SFH form `FitModel` supports (parametric,
    continuity, Dirichlet: piecewise constant in its bins). With a free redshift each
    draw's SFH ends at its own age of the universe.

    Args:
        results: from `fit_observations`.
        row: the object's row (fitted).
        path: where to save the figure, or None.
        truth: optional engine parameters of the true SFH (``log_mass`` and the
            ``sfh_*`` parameters of ``fit.config.sfh_names``; ``z``, default the
            observation's), drawn as a dashed line.
        n_bins: time bins (see `sfh_curves`).
        xscale: ``"log"`` (default) or ``"linear"`` lookback-time axis.
        yscale: ``"linear"`` or ``"log"`` SFR axis; default log for binned
            (non-parametric) SFHs, whose bins often span decades, linear otherwise.
        dpi: resolution of the saved file.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    where = "plot_sfh"
    Figure = _matplotlib()
    i = _fitted_index(results, row, where)
    fit = results.fit
    if yscale is None:
        yscale = "log" if hasattr(fit.config.sfh, "bin_edges_yr") else "linear"
    for name, value in (("xscale", xscale), ("yscale", yscale)):
        if value not in ("log", "linear"):
            raise ValueError(f"{where}: {name} must be 'log' or 'linear'; got {value!r}.")
    curves = sfh_curves(results, row, n_bins=n_bins)
    edges, sfr = curves.edges_yr, curves.sfr_msun_per_yr
    med = np.median(sfr, axis=0)
    lo68, hi68 = np.percentile(sfr, _BAND_68, axis=0)
    lo95, hi95 = np.percentile(sfr, _BAND_95, axis=0)
    x = edges.copy()
    if xscale == "log":
        x[0] = min(1.0, x[1] / 10)  # the bin from 0: off the axis, which starts at 1 Myr

    def stepped(v):
        return np.append(v, v[-1])

    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(x, stepped(lo95), stepped(hi95), step="post", color="tab:blue", alpha=0.15,
                    lw=0, label="95%", gid="sfr_95")  # fmt: skip
    ax.fill_between(x, stepped(lo68), stepped(hi68), step="post", color="tab:blue", alpha=0.35,
                    lw=0, label="68%", gid="sfr_68")  # fmt: skip
    ax.plot(x, stepped(med), drawstyle="steps-post", color="navy", lw=1.8, label="median",
            gid="sfr_median")  # fmt: skip
    if truth is not None:
        sfr_true = _truth_sfh(results, row, truth, edges)
        ax.plot(x, stepped(sfr_true), drawstyle="steps-post", color="k", ls="--", lw=1.3,
                label="truth", gid="sfr_truth")  # fmt: skip
    ax.set_xscale(xscale)
    if xscale == "log":
        ax.set_xlim(1.0e6, edges[-1] * 1.05)
        ax.set_xlabel("lookback time [yr]")
    else:
        ax.set_xlim(0.0, edges[-1] * 1.02)
        ax.set_xlabel("lookback time [yr]")
    ax.set_yscale(yscale)
    if yscale == "linear":
        ax.set_ylim(bottom=0.0)
    else:
        top = float(np.max(hi95[edges[1:] > ax.get_xlim()[0]]))
        positive = lo68[(lo68 > 0) & (edges[1:] > ax.get_xlim()[0])]
        bottom = max(float(positive.min()) / 3 if positive.size else 0.0, 1e-6 * top)
        if top > 0:
            ax.set_ylim(bottom, 1.5 * top)
    ax.set_ylabel(r"SFR [$M_\odot$/yr]")
    mass = _flat(results.posterior["mass_formed_msun"][i])
    m16, m50, m84 = np.percentile(np.log10(mass), [16, 50, 84])
    ax.text(
        0.02, 0.97, rf"$\log M_{{\rm formed}}$ = {m50:.2f} (+{m84 - m50:.2f} $-${m50 - m16:.2f})",
        transform=ax.transAxes, va="top", fontsize=9,
    )  # fmt: skip
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title(
        f"{_object_id(results, row)}: SFH ({type(fit.config.sfh).__name__}), "
        f"{_redshift_text(results, i)}",
        fontsize=11,
    )
    _save(fig, path, dpi)
    return fig


def _truth_sfh(
    results: FitResults, row: int, truth: Mapping[str, Any], edges: np.ndarray
) -> np.ndarray:
    fit = results.fit
    config = fit.config
    missing = [n for n in config.sfh_names if n not in truth]
    if missing:
        raise ValueError(
            f"plot_sfh: truth lacks the SFH parameter(s) {missing}; give "
            f"{list(config.sfh_names)} (and optionally z)."
        )
    z = truth.get("z", None)
    if z is None:
        z = float(results.prepared.obs.redshift[row])
        if not math.isfinite(z):
            raise ValueError("plot_sfh: truth needs 'z' (the redshift is free in this fit).")
    dtype = config.log_age_yr.dtype
    params = {n: jnp.asarray(np.asarray(truth[n])[None], dtype=dtype) for n in config.sfh_names}
    params["z"] = jnp.asarray([z], dtype=dtype)
    masses = np.asarray(_sfh_bin_masses_jit(fit, params, jnp.asarray(edges, dtype=dtype)))[0]
    return masses / np.diff(edges)


# ------------------------------------------------------------------------------ corner


def corner_quantities(results: FitResults) -> dict[str, str]:
    """The quantities `plot_corner` can show for these results: ``{name: axis label}``.

    Every scalar posterior quantity (free parameters, ``dust1``, ``z``, derived
    quantities), each element of a vector parameter as ``"name[k]"``, and the log10
    quantities ``log_surviving_mass``, ``log_mass_formed``, ``log_sfr_100myr``,
    ``log_sfr_10myr``, ``log_ssfr_100myr``, ``log_mass_weighted_age``.
    """
    out: dict[str, str] = {}
    for name, draws in results.posterior.items():
        if name == "model_maggies":
            continue
        if draws.ndim == 3:
            out[name] = _LABELS.get(name, name)
        elif draws.ndim == 4:
            for k in range(draws.shape[3]):
                out[f"{name}[{k}]"] = f"{name}[{k}]"
    for name, (source, label) in _LOG_QUANTITIES.items():
        if source in results.posterior:
            out[name] = label
    return out


def _quantity(results: FitResults, i: int, name: str) -> np.ndarray:
    post = results.posterior
    if name in _LOG_QUANTITIES:
        values = _flat(post[_LOG_QUANTITIES[name][0]][i])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(values)
    if name.endswith("]"):
        base, k = name[:-1].split("[")
        return _flat(post[base][i])[:, int(k)]
    return _flat(post[name][i])


def _smooth(h: np.ndarray) -> np.ndarray:
    """1-2-1 smoothing along both axes (contours of a few hundred draws are jagged)."""
    kernel = np.array([0.25, 0.5, 0.25])
    h = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 0, h)
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 1, h)


def _credible_levels(h: np.ndarray, fractions: Sequence[float]) -> list[float]:
    """Density thresholds enclosing ``fractions`` of the total (highest-density regions)."""
    flat = np.sort(h.ravel())[::-1]
    cum = np.cumsum(flat) / flat.sum()
    return [float(flat[min(np.searchsorted(cum, f), flat.size - 1)]) for f in fractions]


def _axis_range(v: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(v)), float(np.max(v))
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        pad = 0.01 * abs(hi) if hi != 0 else 0.5
        return lo - pad, hi + pad
    pad = 0.02 * (hi - lo)
    return lo - pad, hi + pad


def _default_corner(results: FitResults) -> list[str]:
    available = corner_quantities(results)
    free_z = results.fit.free_redshift
    return [p for p in DEFAULT_CORNER if p in available and (p != "z" or free_z)]


def plot_corner(
    results: FitResults,
    row: int,
    params: Sequence[str] | None = None,
    truth: Mapping[str, float] | None = None,
    path: str | os.PathLike | None = None,
    *,
    bins: int | None = None,
    dpi: float = 100,
) -> Any:
    """Corner plot of one object's posterior: 1-D histograms and 2-D 68% / 95% contours.

    Diagonal: the histogram of each quantity with vertical lines at its 16th, 50th and
    84th percentiles (``numpy.percentile`` of the draws), and the median and interval in
    its title. Below the diagonal: the 2-D histogram of each pair (lightly smoothed) and
    the contours of the highest-density regions holding 68% and 95% of the draws.

    Args:
        results: from `fit_observations`.
        row: the object's row (fitted).
        params: names from `corner_quantities` (default: ``log_surviving_mass``,
            ``log_sfr_100myr``, ``dust2``, ``log_zsol`` and ``z`` if it is free, those
            that the fit has).
        truth: optional ``{name: value}`` drawn as lines (any subset of ``params``).
        path: where to save the figure, or None.
        bins: histogram bins per axis (default: sqrt of the number of draws, from 10
            to 40).
        dpi: resolution of the saved file.

    Returns:
        The ``matplotlib.figure.Figure`` (n x n axes, those above the diagonal hidden).

    Raises:
        ValueError: an unknown quantity (the message lists the available ones), a row
            that was not fitted.
    """
    where = "plot_corner"
    Figure = _matplotlib()
    i = _fitted_index(results, row, where)
    available = corner_quantities(results)
    if params is None:
        params = _default_corner(results)
    else:
        if isinstance(params, str):
            params = [params]
        params = list(params)
        unknown = [p for p in params if p not in available]
        if unknown:
            raise ValueError(
                f"{where}: unknown quantity(ies) {unknown}; available: {sorted(available)}."
            )
        if not params:
            raise ValueError(f"{where}: params is empty; give at least one quantity.")
    truth = dict(truth or {})
    unknown = sorted(set(truth) - set(params))
    if unknown:
        raise ValueError(f"{where}: truth names {unknown}, which are not plotted ({params}).")
    if bins is not None and not (isinstance(bins, (int, np.integer)) and bins >= 2):
        raise ValueError(f"{where}: bins must be an integer >= 2; got {bins!r}.")
    data = np.stack([_quantity(results, i, p) for p in params], axis=1)
    good = np.all(np.isfinite(data), axis=1)
    if not good.any():
        raise ValueError(f"{where}: no draw has finite values of all of {params}.")
    n_bad = int((~good).sum())
    data = data[good]
    if bins is None:
        bins = int(np.clip(round(math.sqrt(data.shape[0])), 10, 40))
    n = len(params)
    size = max(2.2 * n, 3.5)
    fig = Figure(figsize=(size, size), layout="constrained")
    axes = fig.subplots(n, n, squeeze=False)
    ranges = [_axis_range(data[:, k]) for k in range(n)]
    for r in range(n):
        for c in range(n):
            ax = axes[r, c]
            if c > r:
                ax.set_visible(False)
                continue
            if c == r:
                v = data[:, r]
                ax.hist(v, bins=bins, range=ranges[r], histtype="step", color="k")
                q16, q50, q84 = np.percentile(v, [16, 50, 84])
                for q, gid, ls in ((q16, "q16", "--"), (q50, "q50", "-"), (q84, "q84", "--")):
                    ax.axvline(q, color="tab:blue", ls=ls, lw=1.0, gid=gid)
                ax.set_title(
                    f"{q50:.3g} +{q84 - q50:.2g} $-${q50 - q16:.2g}", fontsize=9
                )
                ax.set_yticks([])
                ax.set_xlim(ranges[r])
                if params[r] in truth:
                    ax.axvline(truth[params[r]], color="tab:red", lw=1.2, gid="truth")
            else:
                x, y = data[:, c], data[:, r]
                h, xe, ye = np.histogram2d(x, y, bins=bins, range=[ranges[c], ranges[r]])
                h = _smooth(h)
                ax.pcolormesh(xe, ye, h.T, cmap="Greys", shading="flat", rasterized=True)
                if np.count_nonzero(h) > 1:
                    t95, t68 = _credible_levels(h, (0.95, 0.68))
                    if t95 < t68:
                        xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
                        ax.contour(xc, yc, h.T, levels=[t95, t68], colors="tab:blue",
                                   linewidths=[0.8, 1.3])  # fmt: skip
                if params[c] in truth:
                    ax.axvline(truth[params[c]], color="tab:red", lw=1.0)
                if params[r] in truth:
                    ax.axhline(truth[params[r]], color="tab:red", lw=1.0)
                ax.set_xlim(ranges[c])
                ax.set_ylim(ranges[r])
                if c == 0:
                    ax.set_ylabel(available[params[r]], fontsize=9)
                else:
                    ax.set_yticklabels([])
            if r == n - 1:
                ax.set_xlabel(available[params[c]], fontsize=9)
            else:
                ax.set_xticklabels([])
            ax.tick_params(labelsize=7)
            ax.locator_params(nbins=4)
            for label in ax.get_xticklabels():
                label.set_rotation(45)
    note = f" ({n_bad} draws with non-finite values left out)" if n_bad else ""
    fig.suptitle(
        f"{_object_id(results, row)}: posterior, {data.shape[0]} draws{note}", fontsize=11
    )
    _save(fig, path, dpi)
    return fig


# ------------------------------------------------------------------------------ all three


def plot_all(
    results: FitResults,
    row: int,
    out_dir: str | os.PathLike,
    prefix: str | None = None,
    *,
    filters: Any = None,
    truth: Mapping[str, Any] | None = None,
    dpi: float = 100,
) -> dict[str, Path]:
    """Write the SED, SFH and corner plots of one object as PNG files.

    Files: ``<out_dir>/<prefix>_sed.png``, ``<prefix>_sfh.png``, ``<prefix>_corner.png``,
    and ``<prefix>_spectrum.png`` for fits with a spectrum (not for a row whose spectrum
    has no usable pixel), each written atomically.

    Args:
        results: from `fit_observations`.
        row: the object's row (fitted).
        out_dir: directory (created if needed).
        prefix: file-name prefix; default the object's id.
        filters: passed to `plot_sed` (only needed for bands not loadable by name).
        truth: optional engine parameters of the truth: the SFH parameters go to
            `plot_sfh`; the names among the corner's quantities to `plot_corner`.
        dpi: resolution (default 100).

    Returns:
        ``{"sed": path, "sfh": path, "corner": path}`` (and ``"spectrum"``).
    """
    _fitted_index(results, row, "plot_all")
    out_dir = Path(out_dir)
    prefix = str(results.prepared.ids[row]) if prefix is None else str(prefix)
    if not prefix or os.sep in prefix or (os.altsep and os.altsep in prefix):
        raise ValueError(f"plot_all: prefix must be a plain file-name prefix; got {prefix!r}.")
    has_spectrum = results.fit.fits_spectrum and bool(
        np.asarray(results.prepared.obs.spectrum.mask[row]).any()
    )
    kinds = ("sed", "sfh", "corner") + (("spectrum",) if has_spectrum else ())
    paths = {kind: out_dir / f"{prefix}_{kind}.png" for kind in kinds}
    plot_sed(results, row, paths["sed"], filters=filters, dpi=dpi)
    sfh_truth = None
    if truth is not None and all(n in truth for n in results.fit.config.sfh_names):
        sfh_truth = truth
    plot_sfh(results, row, paths["sfh"], truth=sfh_truth, dpi=dpi)
    corner_truth = None
    if truth is not None:
        names = _default_corner(results)
        corner_truth = {k: float(v) for k, v in truth.items() if k in names} or None
    plot_corner(results, row, truth=corner_truth, path=paths["corner"], dpi=dpi)
    if "spectrum" in paths:
        plot_spectrum(results, row, paths["spectrum"], dpi=dpi)
    return paths
