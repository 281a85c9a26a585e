"""Outputs: ArviZ InferenceData per object (netCDF) and a summary table (ECSV, FITS).

Every file is written under a temporary name beside the destination and renamed when
complete (``sedcore.atomic_output``): a failure leaves the old file or none, never half
of one.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import arviz as az
import astropy.units as u
import numpy as np
import sedcore
from astropy.table import Table

from ._derived import DERIVED_UNITS
from ._inputs import (
    BAND_BAD_ERROR,
    BAND_BAD_FLUX,
    ROW_BAD_BANDS,
    ROW_BAD_REDSHIFT,
    ROW_NO_SPECTRUM,
    ROW_TOO_FEW_BANDS,
)
from ._run import FitResults

__all__ = [
    "SUMMARY_PERCENTILES",
    "read_inference_data",
    "summary_table",
    "to_inference_data",
    "write_inference_data",
    "write_summary",
]

#: Percentiles of the summary table (median and the central 68% interval).
SUMMARY_PERCENTILES = (16.0, 50.0, 84.0)

_PARAM_UNITS = {
    "log_mass": (u.dex(u.solMass), "log10 total stellar mass formed"),
    "log_zsol": (u.dex, "log10 stellar metallicity / Z_sun"),
    "gas_log_zsol": (u.dex, "log10 gas-phase metallicity / Z_sun"),
    "dust2": (u.dimensionless_unscaled, "diffuse-ISM optical depth at 5500 A"),
    "dust1": (u.dimensionless_unscaled, "birth-cloud optical depth at 5500 A"),
    "dust_ratio": (u.dimensionless_unscaled, "dust1 / dust2"),
    "dust_index": (u.dimensionless_unscaled, "slope of the diffuse attenuation curve"),
    "log_u": (u.dex, "log10 ionisation parameter"),
    "z": (u.dimensionless_unscaled, "redshift"),
    "sigma_kms": (u.km / u.s, "line-of-sight velocity dispersion"),
    "spec_calib": (
        u.dimensionless_unscaled,
        "Chebyshev coefficient of ln(spectrum calibration), degree = element",
    ),
    "spec_jitter": (u.dimensionless_unscaled, "scaling of the spectrum's errors"),
}
_DERIVED_DESCRIPTIONS = {
    "mass_formed_msun": "total stellar mass formed",
    "surviving_mass_msun": "surviving stellar mass",
    "sfr_10myr_msun_per_yr": "SFR averaged over the last 10 Myr",
    "sfr_100myr_msun_per_yr": "SFR averaged over the last 100 Myr",
    "ssfr_100myr_per_yr": "SFR over 100 Myr / surviving stellar mass",
    "mass_weighted_age_yr": "mass-weighted age (lookback time weighted by mass formed)",
}


def _unit_of(name: str) -> tuple[u.UnitBase, str]:
    if name in _PARAM_UNITS:
        return _PARAM_UNITS[name]
    if name in DERIVED_UNITS:
        return u.Unit(DERIVED_UNITS[name]), _DERIVED_DESCRIPTIONS.get(name, name)
    if name.endswith("_yr"):
        return u.yr, f"SFH parameter {name}"
    return u.dimensionless_unscaled, f"parameter {name}"


def _attr(value):
    """netCDF attributes: str, numbers or numeric arrays (no bool, no None, no dict)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return value


def to_inference_data(results: FitResults, row: int) -> az.InferenceData:
    """The posterior of one fitted object as ArviZ ``InferenceData``.

    Groups: ``posterior`` (free parameters, ``dust1``, ``z``, derived quantities,
    ``model_maggies`` over ``band``), ``sample_stats`` (``lp``, ``diverging``,
    ``acceptance_rate``, ``n_steps``, ``step_size``), ``observed_data`` (fluxes, errors
    and mask over ``pixel`` x ``band``, band flags; with a spectrum also
    ``spectrum_flux_maggies``, ``spectrum_flux_err_maggies`` and ``spectrum_mask`` over
    ``wave_aa``). Attributes (on ``posterior``): id,
    row, diagnostics, ``fit_ok``, input flags, settings, thresholds, fixed parameters and
    priors, units.

    Args:
        results: from `fit_observations`.
        row: the object's row in the prepared catalog.

    Returns:
        ``arviz.InferenceData``.
    """
    i = results.index(row)
    prepared = results.prepared
    fit = results.fit
    bands = list(prepared.band_names)
    posterior = {k: v[i] for k, v in results.posterior.items()}
    dims = {"model_maggies": ["band"]}
    obs = prepared.obs
    observed = {
        "flux_maggies": np.asarray(obs.flux_maggies[row]),
        "flux_err_maggies": np.asarray(obs.flux_err_maggies[row]),
        "mask": np.asarray(obs.mask[row]),
    }
    dims.update({k: ["pixel", "band"] for k in observed})
    coords = {"band": bands, "pixel": np.arange(observed["flux_maggies"].shape[0])}
    if obs.spectrum is not None:
        spec = obs.spectrum
        observed["spectrum_flux_maggies"] = np.asarray(spec.flux_maggies[row])
        observed["spectrum_flux_err_maggies"] = np.asarray(spec.flux_err_maggies[row])
        observed["spectrum_mask"] = np.asarray(spec.mask[row])
        dims.update({k: ["wave_aa"] for k in observed if k.startswith("spectrum_")})
        coords["wave_aa"] = fit.spectrum_wave_aa
    constant = {
        "band_flags": prepared.band_flags[row],
        "noise_floor": np.broadcast_to(
            np.asarray(fit.noise_floor, dtype=np.float64), (len(bands),)
        ),
    }
    dims.update({"band_flags": ["band"], "noise_floor": ["band"]})
    idata = az.from_dict(
        posterior=posterior,
        sample_stats={k: v[i] for k, v in results.sample_stats.items()},
        observed_data=observed,
        constant_data=constant,
        coords=coords,
        dims=dims,
    )
    d = results.diagnostics
    units = {name: str(_unit_of(name)[0]) for name in posterior if name != "model_maggies"}
    units["model_maggies"] = "maggies"
    attrs = {
        "pixelfit_version": version("pixelfit"),
        "id": str(prepared.ids[row]),
        "row": int(row),
        "fit_ok": bool(d.fit_ok[i]),
        "rhat_max": float(d.rhat_max[i]),
        "ess_bulk_min": float(d.ess_bulk_min[i]),
        "ess_tail_min": float(d.ess_tail_min[i]),
        "n_divergent": int(d.n_divergent[i]),
        "row_flags": int(prepared.row_flags[row]),
        "n_bands_used": int(prepared.n_bands_used[row]),
        "n_spectrum_pixels_used": (
            -1 if obs.spectrum is None else int(prepared.n_spectrum_pixels_used[row])
        ),
        "redshift_free": bool(fit.free_redshift),
        "sfh_model": type(fit.sfh_prior).__name__,
        "priors": {site: repr(prior) for site, prior in fit.priors},
        "fixed": dict(fit.fixed),
        "settings": results.settings._asdict(),
        "thresholds": results.thresholds._asdict(),
        "units": units,
        "init_log_density": float(results.init_log_density[i]),
    }
    idata.posterior.attrs.update({k: _attr(v) for k, v in attrs.items()})
    return idata


def write_inference_data(idata: az.InferenceData, path: str | os.PathLike) -> Path:
    """Write ``idata`` to netCDF (h5netcdf engine), atomically.

    Args:
        idata: an ``arviz.InferenceData``.
        path: destination, e.g. ``"out/obj_0001.nc"``.

    Returns:
        The path written.
    """
    path = Path(path)
    with sedcore.atomic_output(path) as tmp:
        idata.to_netcdf(str(tmp), engine="h5netcdf")
    return path


def read_inference_data(path: str | os.PathLike) -> az.InferenceData:
    """Read a file written by `write_inference_data` (h5netcdf engine)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"InferenceData file not found: {path}")
    return az.from_netcdf(str(path), engine="h5netcdf")


def summary_table(results: FitResults) -> Table:
    """One row per input object: percentiles of every quantity, diagnostics, input flags.

    Columns: ``id``, ``row``, ``fitted``, ``fit_ok``; for each scalar posterior quantity
    ``q`` (free parameters, ``dust1``, ``z``, derived quantities) ``q_p16``, ``q_p50``,
    ``q_p84`` (NaN for skipped rows) with its unit, and for vector parameters (the SFR
    ratios of a continuity SFH, Dirichlet fractions) ``q_j_p16`` ... per element ``j``;
    ``rhat_max``, ``ess_bulk_min``,
    ``ess_tail_min``, ``n_divergent``, ``mean_leapfrog_steps`` (per draw, over chains and
    draws: what the fit cost), ``n_bands_used``, ``n_bands_flagged``,
    ``flag_bad_bands``, ``flag_too_few_bands``, ``flag_bad_redshift``, (with spectra)
    ``n_spectrum_pixels_used`` and ``flag_no_spectrum``, ``row_flags``.
    With a fixed redshift ``z_p16 = z_p50 = z_p84`` = the input redshift.

    Args:
        results: from `fit_observations`.

    Returns:
        ``astropy.table.Table`` (units on the columns, descriptions in ``description``).
    """
    prepared = results.prepared
    n = len(prepared)
    rows = results.rows
    table = Table()
    table["id"] = prepared.ids
    table["row"] = np.arange(n)
    fitted = np.zeros(n, dtype=bool)
    fitted[rows] = True
    table["fitted"] = fitted
    ok = np.zeros(n, dtype=bool)
    ok[rows] = results.diagnostics.fit_ok
    table["fit_ok"] = ok
    table["fit_ok"].description = "converged: " + json.dumps(results.thresholds._asdict())
    for name, draws in results.posterior.items():
        if name == "model_maggies":  # per band: kept in the InferenceData
            continue
        unit, description = _unit_of(name)
        if draws.ndim == 3:
            elements = [(name, draws, description)]
        elif draws.ndim == 4:  # vector parameter (e.g. SFH log SFR ratios): one per element
            elements = [
                (f"{name}_{j}", draws[..., j], f"{description}, element {j}")
                for j in range(draws.shape[-1])
            ]
        else:
            continue
        for cbase, values_, desc in elements:
            flat = values_.reshape(values_.shape[0], -1).astype(np.float64)
            values = (
                np.percentile(flat, SUMMARY_PERCENTILES, axis=1) if len(rows) else np.zeros((3, 0))
            )
            for p, v in zip(SUMMARY_PERCENTILES, values, strict=True):
                col = np.full(n, np.nan)
                col[rows] = v
                cname = f"{cbase}_p{int(p)}"
                table[cname] = col
                table[cname].unit = unit
                table[cname].description = f"{desc}, {int(p)}th percentile"
    d = results.diagnostics
    for name, value, fill, desc in (
        ("rhat_max", d.rhat_max, np.nan, "largest rank-normalised split R-hat"),
        ("ess_bulk_min", d.ess_bulk_min, np.nan, "smallest bulk ESS"),
        ("ess_tail_min", d.ess_tail_min, np.nan, "smallest tail ESS"),
        ("n_divergent", d.n_divergent, -1, "divergent transitions (-1: not fitted)"),
    ):
        col = np.full(n, fill, dtype=np.float64 if np.isnan(fill) else np.int64)
        col[rows] = value
        table[name] = col
        table[name].description = desc
    steps = np.full(n, np.nan)
    if len(rows):
        steps[rows] = np.asarray(results.sample_stats["n_steps"], np.float64).mean(axis=(1, 2))
    table["mean_leapfrog_steps"] = steps
    table["mean_leapfrog_steps"].description = (
        "leapfrog steps per draw, mean over chains and draws (the fit's cost)"
    )
    table["n_bands_used"] = prepared.n_bands_used.astype(np.int64)
    table["n_bands_flagged"] = (
        ((prepared.band_flags & (BAND_BAD_FLUX | BAND_BAD_ERROR)) != 0).sum(axis=1).astype(np.int64)
    )
    table["n_bands_flagged"].description = "bands masked for a bad flux or error"
    table["flag_bad_bands"] = (prepared.row_flags & ROW_BAD_BANDS) != 0
    table["flag_too_few_bands"] = (prepared.row_flags & ROW_TOO_FEW_BANDS) != 0
    table["flag_bad_redshift"] = (prepared.row_flags & ROW_BAD_REDSHIFT) != 0
    if prepared.obs.spectrum is not None:
        table["n_spectrum_pixels_used"] = prepared.n_spectrum_pixels_used.astype(np.int64)
        table["flag_no_spectrum"] = (prepared.row_flags & ROW_NO_SPECTRUM) != 0
    table["row_flags"] = prepared.row_flags.astype(np.int64)
    table.meta.update(
        {
            "pixelfit_version": version("pixelfit"),
            "bands": list(prepared.band_names),
            "redshift_free": bool(results.fit.free_redshift),
            "min_bands": prepared.min_bands,
            "settings": results.settings._asdict(),
            "thresholds": results.thresholds._asdict(),
        }
    )
    return table


# FITS header keywords (8 characters) for the table's metadata.
_FITS_KEYS = {
    "pixelfit_version": "PFVERSN",
    "bands": "BANDS",
    "redshift_free": "ZFREE",
    "min_bands": "MINBANDS",
    "settings": "SETTINGS",
    "thresholds": "THRESHLD",
}


def write_summary(table: Table, path: str | os.PathLike) -> Path:
    """Write the summary table atomically, as ECSV (``.ecsv``) or FITS (``.fits``).

    FITS has no standard for logarithmic units: there, the ``dex`` columns (``log_*``)
    carry no unit (their names say log10); ECSV keeps every unit.

    Args:
        table: from `summary_table`.
        path: destination ending in ``.ecsv`` or ``.fits``.

    Returns:
        The path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ecsv":
        fmt, out = "ascii.ecsv", table
    elif suffix in (".fits", ".fit"):
        fmt, out = "fits", table.copy(copy_data=False)
        for col in out.itercols():
            if isinstance(col.unit, (u.DexUnit, u.LogUnit)) or col.unit == u.dex:
                col.unit = None
        out.meta = {
            _FITS_KEYS.get(k, k.upper()[:8]): json.dumps(v) if isinstance(v, (dict, list)) else v
            for k, v in out.meta.items()
        }
    else:
        raise ValueError(f"write_summary: {path} must end in .ecsv or .fits; got {path.suffix!r}.")
    with sedcore.atomic_output(path) as tmp:
        out.write(tmp, format=fmt, overwrite=True)
    return path
