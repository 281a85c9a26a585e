"""pixelfit: gradient-based (NUTS) fitting of galaxy photometry (and spectra) with differentiable models.

One object per call, batches with ``jax.vmap``: a `FitModel` (priors, the synthesis
engine or an emulator, the likelihood) and an `Observation` (fluxes, errors, mask with
static shapes) give a numpyro model and its log density; `sample` / `sample_batch` run
blackjax NUTS with window adaptation; `fit_observations` fits a prepared catalog in
vmapped batches; `to_inference_data` and `summary_table` write the results;
`fit_catalog` runs whole catalogs chunk by chunk on Dask, resumable (``pixelfit catalog``).
"""

from importlib.metadata import version as _version

# --- catalogs ---
from ._cache import default_compile_cache_dir as default_compile_cache_dir
from ._cache import enable_compile_cache as enable_compile_cache
from ._catalog import ModelSpec as ModelSpec
from ._catalog import build_fit_model as build_fit_model
from ._catalog import fit_catalog as fit_catalog
from ._catalog import read_catalog_summary as read_catalog_summary
from ._demo import demo_catalog_path as demo_catalog_path
from ._demo import demo_spec as demo_spec
from ._demo import make_demo_catalog as make_demo_catalog
from ._demo import read_demo_photometry as read_demo_photometry
from ._demo import run_demo as run_demo
# --- end catalogs ---
from ._derived import DerivedQuantities as DerivedQuantities
from ._derived import derived_quantities as derived_quantities
from ._diagnostics import Diagnostics as Diagnostics
from ._diagnostics import Thresholds as Thresholds
from ._diagnostics import diagnose as diagnose
from ._diagnostics import ess_bulk as ess_bulk
from ._diagnostics import ess_tail as ess_tail
from ._diagnostics import rhat as rhat
from ._inputs import BAND_BAD_ERROR as BAND_BAD_ERROR
from ._inputs import BAND_BAD_FLUX as BAND_BAD_FLUX
from ._inputs import BAND_MISSING as BAND_MISSING
from ._inputs import ROW_BAD_BANDS as ROW_BAD_BANDS
from ._inputs import ROW_BAD_REDSHIFT as ROW_BAD_REDSHIFT
from ._inputs import ROW_NO_SPECTRUM as ROW_NO_SPECTRUM
from ._inputs import ROW_TOO_FEW_BANDS as ROW_TOO_FEW_BANDS
from ._inputs import PreparedObservations as PreparedObservations
from ._inputs import prepare_observations as prepare_observations
from ._inputs import prepare_photometry as prepare_photometry
from ._inputs import read_spectra as read_spectra
from ._model import FitModel as FitModel
from ._model import Observation as Observation
from ._model import SpectrumObservation as SpectrumObservation
from ._model import SpectrumSettings as SpectrumSettings
from ._model import constrain as constrain
from ._model import default_priors as default_priors
from ._model import engine_params_from as engine_params_from
from ._model import log_density as log_density
from ._model import log_likelihood as log_likelihood
from ._model import numpyro_model as numpyro_model
from ._model import prior_draw as prior_draw
from ._model import spectrum_log_likelihood as spectrum_log_likelihood
from ._model import spectrum_model as spectrum_model
from ._outputs import read_inference_data as read_inference_data
from ._outputs import summary_table as summary_table
from ._outputs import to_inference_data as to_inference_data
from ._outputs import write_inference_data as write_inference_data
from ._outputs import write_summary as write_summary
# --- plots ---
from ._plots import MICROJANSKY_PER_MAGGIE as MICROJANSKY_PER_MAGGIE
from ._plots import SFHCurves as SFHCurves
from ._plots import corner_quantities as corner_quantities
from ._plots import plot_all as plot_all
from ._plots import plot_corner as plot_corner
from ._plots import plot_sed as plot_sed
from ._plots import plot_sfh as plot_sfh
from ._plots import plot_spectrum as plot_spectrum
from ._plots import sfh_curves as sfh_curves
# --- end plots ---
from ._run import FitResults as FitResults
from ._run import fit_observations as fit_observations
from ._run import posterior_quantities as posterior_quantities
from ._sampler import Draws as Draws
from ._sampler import SamplerSettings as SamplerSettings
from ._sampler import initial_position as initial_position
from ._sampler import object_keys as object_keys
from ._sampler import sample as sample
from ._sampler import sample_batch as sample_batch

__version__ = _version("pixelfit")

__all__ = [
    # --- catalogs ---
    "ModelSpec",
    "build_fit_model",
    "demo_catalog_path",
    "demo_spec",
    "fit_catalog",
    "make_demo_catalog",
    "read_catalog_summary",
    "read_demo_photometry",
    "run_demo",
    # --- end catalogs ---
    "BAND_BAD_ERROR",
    "BAND_BAD_FLUX",
    "BAND_MISSING",
    "DerivedQuantities",
    "Diagnostics",
    "Draws",
    "FitModel",
    "FitResults",
    "Observation",
    "PreparedObservations",
    "ROW_BAD_BANDS",
    "ROW_BAD_REDSHIFT",
    "ROW_NO_SPECTRUM",
    "ROW_TOO_FEW_BANDS",
    "SamplerSettings",
    "SpectrumObservation",
    "SpectrumSettings",
    "Thresholds",
    "constrain",
    "default_compile_cache_dir",
    "default_priors",
    "derived_quantities",
    "diagnose",
    "enable_compile_cache",
    "engine_params_from",
    "ess_bulk",
    "ess_tail",
    "fit_observations",
    "initial_position",
    "log_density",
    "log_likelihood",
    "numpyro_model",
    "object_keys",
    "posterior_quantities",
    "prepare_observations",
    "prepare_photometry",
    "read_spectra",
    "prior_draw",
    "spectrum_log_likelihood",
    "spectrum_model",
    "read_inference_data",
    "rhat",
    "sample",
    "sample_batch",
    "summary_table",
    "to_inference_data",
    "write_inference_data",
    "write_summary",
    # --- plots ---
    "MICROJANSKY_PER_MAGGIE",
    "SFHCurves",
    "corner_quantities",
    "plot_all",
    "plot_corner",
    "plot_sed",
    "plot_sfh",
    "plot_spectrum",
    "sfh_curves",
    # --- end plots ---
]
