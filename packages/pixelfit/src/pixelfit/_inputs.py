"""Input handling: fluxes and errors of a catalog -> masked `Observation`s plus flags.

Whole-input problems raise before anything is fitted, naming the argument or band: shapes
that do not match, bands the model does not have, duplicated bands, flux units that are
not f_nu. Problems in single rows never raise: a NaN/inf flux or a non-finite or
non-positive error masks that band of that row and sets its flag; a row left with fewer
than ``min_bands`` usable bands, or (fixed redshift) without a usable redshift, is skipped
and flagged. Spectra come as ``sedcore.Spectrum``, which already refuses NaN/inf fluxes
and non-positive errors under a True mask: its masked pixels are left out, and a row whose
spectrum has no unmasked pixel is fitted on its photometry and flagged.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sedcore

from ._model import FitModel, Observation, SpectrumObservation

__all__ = [
    "BAND_BAD_ERROR",
    "BAND_BAD_FLUX",
    "BAND_MISSING",
    "ROW_BAD_BANDS",
    "ROW_BAD_REDSHIFT",
    "ROW_NO_SPECTRUM",
    "ROW_TOO_FEW_BANDS",
    "PreparedObservations",
    "prepare_observations",
    "prepare_photometry",
    "read_spectra",
]

#: File name extensions `read_spectra` looks for in a folder.
SPECTRUM_SUFFIXES = (".ecsv", ".fits", ".fit", ".fits.gz", ".csv", ".txt", ".dat")

#: Band flag bits, per object and band.
BAND_BAD_FLUX = 1  # flux NaN or inf (or flagged bad by the catalog reader): masked
BAND_BAD_ERROR = 2  # error NaN, inf or <= 0: masked
BAND_MISSING = 4  # not observed (not in the input, or masked by the caller): masked
#: Row flag bits, per object.
ROW_BAD_BANDS = 1  # at least one band masked for a bad value (fitted without it)
ROW_TOO_FEW_BANDS = 2  # fewer than min_bands usable bands: skipped
ROW_BAD_REDSHIFT = 4  # fixed redshift missing, non-finite or outside [0, z_max]: skipped
ROW_NO_SPECTRUM = 8  # the model fits spectra but this row's has no usable pixel: photometry only
ROW_SKIP = ROW_TOO_FEW_BANDS | ROW_BAD_REDSHIFT


@dataclasses.dataclass(frozen=True)
class PreparedObservations:
    """A catalog ready to fit: observations with static shapes, and what was wrong with it.

    Attributes:
        obs: `Observation` with a leading object axis: fluxes, errors, mask of shape
            (n_obj, 1, n_bands) in the model's band order, redshift (n_obj,), and (when
            the model fits spectra) a `SpectrumObservation` of shape (n_obj, n_wave).
        ids: (n_obj,) object identifiers (row numbers when none were given).
        band_names: the model's bands, in column order.
        band_flags: (n_obj, n_bands) uint8, bits `BAND_BAD_FLUX`, `BAND_BAD_ERROR`,
            `BAND_MISSING`.
        row_flags: (n_obj,) uint8, bits `ROW_BAD_BANDS`, `ROW_TOO_FEW_BANDS`,
            `ROW_BAD_REDSHIFT`, `ROW_NO_SPECTRUM`.
        min_bands: the least number of usable bands for a row to be fitted.
    """

    obs: Observation
    ids: np.ndarray
    band_names: tuple[str, ...]
    band_flags: np.ndarray
    row_flags: np.ndarray
    min_bands: int

    def __len__(self) -> int:
        return int(self.row_flags.shape[0])

    @property
    def n_bands_used(self) -> np.ndarray:
        """(n_obj,) usable bands per object."""
        return np.asarray(self.obs.mask).sum(axis=(1, 2))

    @property
    def n_spectrum_pixels_used(self) -> np.ndarray | None:
        """(n_obj,) usable spectrum pixels per object, or None without spectra."""
        if self.obs.spectrum is None:
            return None
        return np.asarray(self.obs.spectrum.mask).sum(axis=1)

    @property
    def fitted(self) -> np.ndarray:
        """(n_obj,) bool, rows that will be fitted (not skipped)."""
        return (self.row_flags & ROW_SKIP) == 0

    def subset(self, rows: Any) -> PreparedObservations:
        """The rows ``rows`` (integer indices, in that order) as a new `PreparedObservations`.

        Arrays become NumPy arrays (cheap to send to Dask workers).
        """
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"rows must be a 1-D array of integer indices; got {rows!r}.")
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows must lie in [0, {len(self)}); got {rows.min()}..{rows.max()}.")
        obs = jax.tree.map(lambda leaf: np.asarray(leaf)[rows], self.obs)
        return dataclasses.replace(
            self,
            obs=obs,
            ids=np.asarray(self.ids)[rows],
            band_flags=self.band_flags[rows],
            row_flags=self.row_flags[rows],
        )

    def __repr__(self) -> str:
        n = len(self)
        return (
            f"PreparedObservations(n_obj={n}, bands={self.band_names}, "
            f"fitted={int(self.fitted.sum())}, skipped={n - int(self.fitted.sum())}, "
            f"with_bad_bands={int(((self.row_flags & ROW_BAD_BANDS) != 0).sum())})"
        )


def _to_maggies(values: Any, name: str) -> np.ndarray:
    """Plain arrays are maggies; astropy quantities in f_nu units are converted."""
    unit = getattr(values, "unit", None)
    if unit is None:
        return np.asarray(values, dtype=np.float64)
    import astropy.units as u

    unit = u.Unit(unit)
    if unit == u.dimensionless_unscaled:
        return np.asarray(getattr(values, "value", values), dtype=np.float64)
    if isinstance(unit, (u.MagUnit, u.DexUnit)) or unit.physical_type == "dimensionless":
        raise ValueError(
            f"{name} has unit {unit}, a magnitude (or logarithmic) unit, not a flux; convert "
            "AB magnitudes with sedcore.ab_to_maggies and errors with "
            "sedcore.magerr_to_maggies_err."
        )
    quantity = u.Quantity(values)
    try:
        jy = quantity.to_value(u.Jy, equivalencies=u.zero_point_flux(sedcore.MAGGIE_JY * u.Jy))
    except u.UnitConversionError:
        raise ValueError(
            f"{name} has unit {unit}, which is not a flux density per unit frequency (f_nu); "
            "give maggies, Jy (or uJy, nJy...) or erg/s/cm2/Hz. Convert f_lambda with "
            "sedcore.flam_to_fnu first."
        ) from None
    return np.asarray(jy, dtype=np.float64) / sedcore.MAGGIE_JY


def prepare_observations(
    fit: FitModel,
    flux_maggies: Any,
    flux_err_maggies: Any,
    *,
    bands: Sequence[str] | None = None,
    redshift: Any = None,
    mask: Any = None,
    ids: Any = None,
    min_bands: int = 3,
    spectrum: sedcore.Spectrum | None = None,
) -> PreparedObservations:
    """Check a catalog against the model and turn it into masked observations with flags.

    Args:
        fit: the `FitModel` (its bands, redshift range and whether z is free).
        flux_maggies: (n_obj, n_bands) or (n_bands,) fluxes; maggies, or an astropy
            quantity in any f_nu unit (Jy, uJy, erg/s/cm2/Hz, nanomaggy...). Negative
            fluxes are valid measurements and are kept.
        flux_err_maggies: 1-sigma errors, same shape and units.
        bands: the band of each column (names of ``fit.band_names``, any order, a
            subset allowed: bands of the model not given are masked). Default: exactly
            ``fit.band_names``.
        redshift: scalar or (n_obj,); required when the redshift is fixed (rows whose
            value is NaN, negative or above ``config.z_max`` are skipped and flagged);
            ignored by the fit when it is free.
        mask: optional bool, same shape as the fluxes, True = observed; False bands are
            masked and flagged `BAND_MISSING`.
        ids: optional (n_obj,) identifiers.
        min_bands: rows with fewer usable bands are skipped (default 3).
        spectrum: a ``sedcore.Spectrum`` of shape (n_obj, n_wave) or (n_wave,), required
            when the model fits spectra (``FitModel.create(spectrum=...)``): on the
            config's ``spectrum_wave_obs_aa`` (f_lambda is converted to maggies). Pixels
            masked in it are left out (``sedcore.Spectrum`` refuses bad values under a
            True mask); a row without any unmasked pixel is fitted on its photometry and
            flagged `ROW_NO_SPECTRUM`.

    Returns:
        `PreparedObservations`.

    Raises:
        ValueError: naming the argument or band, for whole-input problems.
    """
    flux = _to_maggies(flux_maggies, "flux_maggies")
    err = _to_maggies(flux_err_maggies, "flux_err_maggies")
    if flux.ndim == 1:
        flux = flux[None]
        if err.ndim == 1:
            err = err[None]
    if flux.ndim != 2:
        raise ValueError(
            f"flux_maggies must have shape (n_obj, n_bands) or (n_bands,); got {flux.shape}."
        )
    if err.shape != flux.shape:
        raise ValueError(
            f"flux_err_maggies has shape {err.shape} but flux_maggies has {flux.shape}; give "
            "one error per flux."
        )
    n_obj, n_in = flux.shape
    model_bands = fit.band_names
    if bands is None:
        bands = model_bands
    bands = [str(b) for b in bands]
    if len(bands) != n_in:
        raise ValueError(
            f"bands names {len(bands)} bands but the fluxes have {n_in} columns; give one band "
            "name per column, in column order."
        )
    dup = sorted({b for b in bands if bands.count(b) > 1})
    if dup:
        raise ValueError(f"bands lists {dup} more than once; each column must be a different band.")
    unknown = [b for b in bands if b not in model_bands]
    if unknown:
        raise ValueError(
            f"band(s) {unknown} are not in the model; the model's config was built for "
            f"{list(model_bands)}. Rebuild the SynthesisConfig with these filters or drop the "
            "columns."
        )
    if min_bands < 1:
        raise ValueError(f"min_bands must be >= 1; got {min_bands}.")
    if mask is None:
        given = np.ones_like(flux, dtype=bool)
    else:
        given = np.asarray(mask)
        if given.dtype != np.bool_:
            raise TypeError(
                f"mask must be boolean (True = observed), got dtype {given.dtype}; pass "
                "mask.astype(bool)."
            )
        if given.ndim == 1:
            given = given[None]
        if given.shape != flux.shape:
            raise ValueError(f"mask has shape {given.shape} but flux_maggies has {flux.shape}.")

    n_bands = len(model_bands)
    columns = [bands.index(b) if b in bands else -1 for b in model_bands]
    out_flux = np.full((n_obj, n_bands), np.nan)
    out_err = np.full((n_obj, n_bands), np.nan)
    observed = np.zeros((n_obj, n_bands), dtype=bool)
    for j, c in enumerate(columns):
        if c >= 0:
            out_flux[:, j] = flux[:, c]
            out_err[:, j] = err[:, c]
            observed[:, j] = given[:, c]
    band_flags = np.zeros((n_obj, n_bands), dtype=np.uint8)
    band_flags[~observed] |= BAND_MISSING
    bad_flux = observed & ~np.isfinite(out_flux)
    with np.errstate(invalid="ignore"):
        bad_err = observed & ~(np.isfinite(out_err) & (out_err > 0))
    band_flags[bad_flux] |= BAND_BAD_FLUX
    band_flags[bad_err] |= BAND_BAD_ERROR
    use = observed & ~bad_flux & ~bad_err

    row_flags = np.zeros(n_obj, dtype=np.uint8)
    row_flags[np.any(bad_flux | bad_err, axis=1)] |= ROW_BAD_BANDS
    row_flags[use.sum(axis=1) < min_bands] |= ROW_TOO_FEW_BANDS

    if redshift is None:
        if not fit.free_redshift:
            raise ValueError(
                "redshift is required: the model's redshift is fixed to each object's "
                "(FitModel.create(..., z_prior=...) makes it free)."
            )
        z = np.full(n_obj, np.nan)
    else:
        z = np.broadcast_to(np.asarray(redshift, dtype=np.float64), (n_obj,)).copy()
        if np.asarray(redshift).ndim > 1 or np.asarray(redshift).size not in (1, n_obj):
            raise ValueError(
                f"redshift must be a scalar or have shape ({n_obj},); got "
                f"{np.asarray(redshift).shape}."
            )
    if not fit.free_redshift:
        with np.errstate(invalid="ignore"):
            bad_z = ~(np.isfinite(z) & (z >= 0) & (z <= fit.config.z_max))
        row_flags[bad_z] |= ROW_BAD_REDSHIFT

    if ids is None:
        ids = np.arange(n_obj)
    ids = np.asarray(ids)
    if ids.shape != (n_obj,):
        raise ValueError(f"ids must have shape ({n_obj},); got {ids.shape}.")

    dtype = fit.config.log_age_yr.dtype
    spec_obs = _prepare_spectrum(fit, spectrum, n_obj, row_flags, dtype)
    obs = Observation(
        flux_maggies=jnp.asarray(out_flux[:, None, :], dtype=dtype),
        flux_err_maggies=jnp.asarray(out_err[:, None, :], dtype=dtype),
        mask=jnp.asarray(use[:, None, :]),
        redshift=jnp.asarray(np.where(np.isfinite(z), z, np.nan), dtype=dtype),
        spectrum=spec_obs,
    )
    return PreparedObservations(
        obs=obs,
        ids=ids,
        band_names=tuple(model_bands),
        band_flags=band_flags,
        row_flags=row_flags,
        min_bands=int(min_bands),
    )


def _prepare_spectrum(
    fit: FitModel, spectrum: Any, n_obj: int, row_flags: np.ndarray, dtype: Any
) -> SpectrumObservation | None:
    """Check spectra against the model's wavelengths; mask bad pixels, flag empty rows."""
    if spectrum is None:
        if fit.fits_spectrum:
            raise ValueError(
                "spectrum is required: this FitModel fits spectra (FitModel.create(spectrum="
                "...)); pass spectrum=sedcore.Spectrum(...) on the config's wavelengths, or "
                "build the FitModel without spectrum= to fit photometry alone."
            )
        return None
    if not fit.fits_spectrum:
        raise ValueError(
            "spectrum was given but the FitModel fits photometry only; build it with "
            "FitModel.create(..., spectrum=pixelfit.SpectrumSettings()) and a config with "
            "spectrum_wave_obs_aa."
        )
    if not isinstance(spectrum, sedcore.Spectrum):
        raise TypeError(f"spectrum must be a sedcore.Spectrum; got {type(spectrum).__name__}.")
    spec = spectrum.to_maggies()
    wave = np.asarray(spec.wave_aa, dtype=np.float64)
    flux = np.asarray(spec.flux, dtype=np.float64)
    err = np.asarray(spec.flux_err, dtype=np.float64)
    given = np.asarray(spec.mask, dtype=bool)
    if wave.ndim == 1:
        wave, flux, err, given = (a[None] for a in (wave, flux, err, given))
    if wave.ndim != 2 or wave.shape[0] not in (1, n_obj):
        raise ValueError(
            f"spectrum has batch shape {spec.batch_shape} but the photometry has {n_obj} rows; "
            "give one spectrum per row (shape (n_obj, n_wave)) or one for a single row."
        )
    model_wave = fit.spectrum_wave_aa
    if wave.shape[1] != model_wave.size:
        raise ValueError(
            f"spectrum has {wave.shape[1]} pixels but the config's spectrum_wave_obs_aa has "
            f"{model_wave.size}; build the config on the spectrum's wavelengths."
        )
    off = np.abs(wave / model_wave - 1.0) > 1e-6
    if off.any():
        r, j = np.argwhere(off)[0]
        raise ValueError(
            f"spectrum row {r}, pixel {j}: wavelength {wave[r, j]:.8g} A is not the config's "
            f"{model_wave[j]:.8g} A; every spectrum must be on the config's "
            "spectrum_wave_obs_aa (resample it, or build the config on its wavelengths)."
        )
    sigma = spec.resolution_sigma_kms()
    if sigma is not None:
        sigma = np.asarray(sigma, dtype=np.float64)
        inst = fit.config.spec_tables.sigma_inst_kms
        if not np.all(np.isclose(sigma, inst, rtol=0.02, atol=1.0)):
            raise ValueError(
                f"spectrum has a line-spread function of sigma {np.min(sigma):.4g}-"
                f"{np.max(sigma):.4g} km/s but the config's instrument has {inst:.4g} km/s; "
                "build the config with the spectrum's spectrum_resolution (a constant R)."
            )
    # sedcore.Spectrum has already checked flux and errors under its mask.
    flux, err, use = (np.broadcast_to(a, (n_obj, model_wave.size)) for a in (flux, err, given))
    row_flags[~use.any(axis=1)] |= ROW_NO_SPECTRUM
    return SpectrumObservation(
        flux_maggies=jnp.asarray(np.where(use, flux, 0.0), dtype=dtype),
        flux_err_maggies=jnp.asarray(np.where(use, err, 1.0), dtype=dtype),
        mask=jnp.asarray(use),
    )


def prepare_photometry(
    fit: FitModel,
    photometry: sedcore.Photometry,
    *,
    min_bands: int = 3,
    spectrum: sedcore.Spectrum | None = None,
) -> PreparedObservations:
    """`prepare_observations` for a ``sedcore.Photometry`` (e.g. from ``read_photometry``).

    Its band names, mask, redshifts and ids are used; bands the reader flagged as bad
    input are flagged `BAND_BAD_FLUX`.

    Args:
        fit: the `FitModel`.
        photometry: a ``sedcore.Photometry`` of shape (n_obj, n_bands) or (n_bands,).
        min_bands: rows with fewer usable bands are skipped (default 3).
        spectrum: the rows' spectra, as in `prepare_observations`.

    Returns:
        `PreparedObservations`.
    """
    if not isinstance(photometry, sedcore.Photometry):
        raise TypeError(
            f"photometry must be a sedcore.Photometry; got {type(photometry).__name__}. For "
            "plain arrays use prepare_observations."
        )
    flux = np.atleast_2d(np.asarray(photometry.flux_maggies, dtype=np.float64))
    err = np.atleast_2d(np.asarray(photometry.flux_err_maggies, dtype=np.float64))
    mask = np.atleast_2d(np.asarray(photometry.mask))
    bad = np.atleast_2d(np.asarray(photometry.bad_input))
    redshift = (
        None if photometry.redshift is None else np.atleast_1d(np.asarray(photometry.redshift))
    )
    ids = None if photometry.id is None else np.atleast_1d(np.asarray(photometry.id))
    # Bands the reader masked for bad values: pass them as non-finite so they are flagged.
    flux = np.where(bad, np.nan, flux)
    prepared = prepare_observations(
        fit,
        flux,
        err,
        bands=photometry.band_names,
        redshift=redshift,
        mask=mask | bad,
        ids=ids,
        min_bands=min_bands,
        spectrum=spectrum,
    )
    return prepared


def _spectrum_files(source: Any) -> dict[str, Path]:
    """``{object id as text: file}`` from a folder of ``<id>.<ext>`` files or a mapping."""
    if isinstance(source, Mapping):
        return {str(k): Path(v) for k, v in source.items()}
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(f"spectra: {folder} is not a folder (one file per object, <id>.ecsv).")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        suffix = next((x for x in SPECTRUM_SUFFIXES if name.lower().endswith(x)), None)
        if suffix is None or name.startswith(".") or not path.is_file():
            continue
        stem = name[: -len(suffix)]
        if stem in files:
            raise ValueError(
                f"spectra: two files for object {stem!r} in {folder}: {files[stem].name} and "
                f"{name}; keep one."
            )
        files[stem] = path
    return files


def read_spectra(
    source: str | os.PathLike | Mapping[Any, str | os.PathLike],
    ids: Sequence[Any],
    *,
    wave_column: str = "wave",
    flux_column: str = "flux",
    error_column: str = "flux_err",
    wave_unit: Any = None,
    flux_unit: Any = None,
    bad_pixel_column: str | None = None,
    resolution: float | None = None,
    format: str | None = None,
) -> sedcore.Spectrum:
    """One spectrum per catalog row, from a folder of files, as a batched ``sedcore.Spectrum``.

    Each file is read with ``sedcore.read_spectrum`` (any of its formats and units;
    f_lambda is converted to maggies). Every spectrum must be on the same observed
    wavelengths (resample them first): the fit computes the model spectrum on one grid.
    A row without a file gets a fully masked spectrum, so it is fitted on its photometry
    and flagged ``ROW_NO_SPECTRUM``.

    Args:
        source: a folder of files named ``<id>.<ext>`` (``ext`` one of ``.ecsv``,
            ``.fits``, ``.fit``, ``.fits.gz``, ``.csv``, ``.txt``, ``.dat``), where ``id`` is
            the row's identifier as text; or a mapping ``{id: path}``.
        ids: (n_rows,) the catalog's identifiers in row order (``Photometry.id``, or the
            row numbers 0, 1, ... when the catalog has none).
        wave_column, flux_column, error_column: column names in every file (default
            ``wave``, ``flux``, ``flux_err``).
        wave_unit, flux_unit: units of columns that carry none (e.g. ``"AA"``,
            ``"1e-17 erg/(s cm2 AA)"``).
        bad_pixel_column: optional column, nonzero = bad pixel.
        resolution: resolving power R = lambda / FWHM of every spectrum, or None (unknown).
        format: table format when the extension does not tell.

    Returns:
        ``sedcore.Spectrum`` of shape (n_rows, n_wave) in maggies.

    Raises:
        ValueError: no file matches any id, two files for one object, or a file on other
            wavelengths (the file and pixel are named). Files of objects not in ``ids``
            are left out with a warning.
    """
    ids = [str(i) for i in np.atleast_1d(np.asarray(ids))]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"read_spectra: id {dup!r} appears twice in ids; ids must be unique.")
    files = _spectrum_files(source)
    matched = [i for i in ids if i in files]
    unmatched = sorted(set(files) - set(ids))
    if not matched:
        shown = ", ".join(sorted(files)[:5]) or "none"
        raise ValueError(
            f"read_spectra: no spectrum file matches an object id (files for: {shown}; ids: "
            f"{', '.join(ids[:5])}, ...). Name each file <id>.<ext> after the catalog's id column."
        )
    if unmatched:
        warnings.warn(
            f"read_spectra: {len(unmatched)} spectrum file(s) match no object id and are left "
            f"out: {', '.join(unmatched[:5])}{' ...' if len(unmatched) > 5 else ''}.",
            stacklevel=2,
        )
    rows: dict[int, sedcore.Spectrum] = {}
    ref_wave = ref_path = None
    for r, i in enumerate(ids):
        if i not in files:
            continue
        path = files[i]
        if not path.is_file():
            raise FileNotFoundError(f"read_spectra: spectrum file {path} (object {i!r}) does not exist.")
        spec = sedcore.read_spectrum(
            path, wave_column=wave_column, flux_column=flux_column, error_column=error_column,
            wave_unit=wave_unit, flux_unit=flux_unit, bad_pixel_column=bad_pixel_column,
            resolution=resolution, format=format,
        ).to_maggies()  # fmt: skip
        wave = np.asarray(spec.wave_aa, dtype=np.float64)
        if ref_wave is None:
            ref_wave, ref_path = wave, path
        elif wave.shape != ref_wave.shape:
            raise ValueError(
                f"read_spectra: {path} has {wave.size} pixels but {ref_path} has {ref_wave.size}; "
                "every spectrum must be on the same wavelengths (resample them first)."
            )
        else:
            off = np.abs(wave / ref_wave - 1.0) > 1e-6
            if off.any():
                j = int(np.argmax(off))
                raise ValueError(
                    f"read_spectra: {path}, pixel {j}: wavelength {wave[j]:.8g} A but "
                    f"{ref_path} has {ref_wave[j]:.8g} A; every spectrum must be on the same "
                    "wavelengths (resample them first)."
                )
        rows[r] = spec
    n, n_wave = len(ids), ref_wave.size
    flux, err, mask = np.zeros((n, n_wave)), np.ones((n, n_wave)), np.zeros((n, n_wave), bool)
    for r, spec in rows.items():
        use = np.asarray(spec.mask, dtype=bool)
        flux[r] = np.where(use, np.asarray(spec.flux, dtype=np.float64), 0.0)
        err[r] = np.where(use, np.asarray(spec.flux_err, dtype=np.float64), 1.0)
        mask[r] = use
    return sedcore.Spectrum(
        np.broadcast_to(ref_wave, (n, n_wave)), flux, err, flux_unit="maggies", mask=mask,
        resolution=resolution,
    )  # fmt: skip
