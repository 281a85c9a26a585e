"""sedcore: shared JAX types and physics helpers for galaxy SED inference.

Pure functions on pytrees, one object per call (batch with ``jax.vmap``), float32 by
default and float64 when the user turns on JAX's 64-bit mode. Units: wavelengths in
Angstrom (vacuum), rest-frame luminosity density in L_sun/Hz per M_sun formed, observed
fluxes in maggies (f_nu / 3631 Jy).
"""

from importlib.metadata import version as _version

# --- units ---
from ._units import C_AA_PER_S as C_AA_PER_S
from ._units import L_SUN_ERG_S as L_SUN_ERG_S
from ._units import MAGGIE_JY as MAGGIE_JY
from ._units import MPC_CM as MPC_CM
from ._units import ab_to_maggies as ab_to_maggies
from ._units import flam_to_fnu as flam_to_fnu
from ._units import fnu_cgs_to_maggies as fnu_cgs_to_maggies
from ._units import fnu_to_flam as fnu_to_flam
from ._units import jy_to_maggies as jy_to_maggies
from ._units import lnu_to_fnu_maggies as lnu_to_fnu_maggies
from ._units import maggies_err_to_magerr as maggies_err_to_magerr
from ._units import maggies_to_ab as maggies_to_ab
from ._units import maggies_to_fnu_cgs as maggies_to_fnu_cgs
from ._units import maggies_to_jy as maggies_to_jy
from ._units import magerr_to_maggies_err as magerr_to_maggies_err
# --- end units ---

# --- cosmology ---
from ._cosmology import PLANCK18 as PLANCK18
from ._cosmology import Cosmology as Cosmology
from ._cosmology import age_of_universe_yr as age_of_universe_yr
from ._cosmology import comoving_distance_mpc as comoving_distance_mpc
from ._cosmology import lookback_time_yr as lookback_time_yr
from ._cosmology import luminosity_distance_mpc as luminosity_distance_mpc
from ._cosmology import rest_lnu_to_observed_maggies as rest_lnu_to_observed_maggies
# --- end cosmology ---

# --- filters ---
from ._filters import Filter as Filter
from ._filters import FilterSet as FilterSet
from ._filters import apply_projection as apply_projection
from ._filters import load_filters as load_filters
from ._filters import project_fnu as project_fnu
from ._filters import project_fnu_redshifted as project_fnu_redshifted
from ._filters import projection_matrix as projection_matrix
# --- end filters ---

# --- igm ---
from ._igm import IGM_MODELS as IGM_MODELS
from ._igm import igm_transmission as igm_transmission
# --- end igm ---

# --- dust ---
from ._dust import CALZETTI00_RV as CALZETTI00_RV
from ._dust import DUST_LAWS as DUST_LAWS
from ._dust import SMC_G03_RV as SMC_G03_RV
from ._dust import V_WAVE_AA as V_WAVE_AA
from ._dust import attenuation_tau as attenuation_tau
from ._dust import birth_cloud_fraction as birth_cloud_fraction
from ._dust import calzetti00_k as calzetti00_k
from ._dust import charlot_fall_transmission as charlot_fall_transmission
from ._dust import kriek_conroy13_tau as kriek_conroy13_tau
from ._dust import power_law_tau as power_law_tau
from ._dust import smc_k as smc_k
# --- end dust ---

# --- observations and likelihoods ---
from ._likelihood import gaussian_loglike as gaussian_loglike
from ._likelihood import photometry_loglike as photometry_loglike
from ._likelihood import photometry_student_t_loglike as photometry_student_t_loglike
from ._likelihood import spectrum_loglike as spectrum_loglike
from ._likelihood import student_t_loglike as student_t_loglike
from ._observations import Photometry as Photometry
from ._observations import Spectrum as Spectrum
from ._observations import read_photometry as read_photometry
from ._observations import read_spectrum as read_spectrum
# --- end observations and likelihoods ---

# --- shared types (SSPGrid, ParamSpace) ---
from ._io import atomic_output as atomic_output
from ._io import open_hdf5 as open_hdf5
from ._io import sha256_file as sha256_file
from ._nebular import NEBULAR_MODELS_GROUP as NEBULAR_MODELS_GROUP
from ._nebular import NebularEmission as NebularEmission
from ._nebular import NebularModel as NebularModel
from ._nebular import available_nebular_models as available_nebular_models
from ._nebular import load_nebular_model as load_nebular_model
from ._paramspace import Param as Param
from ._paramspace import ParamSpace as ParamSpace
from ._ssp import SSPGrid as SSPGrid
from ._ssp import read_ssp_grid as read_ssp_grid
from ._ssp import save_ssp_grid as save_ssp_grid
# --- end shared types ---

__version__ = _version("sedcore")
