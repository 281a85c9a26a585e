"""emulate_sps: real stellar-population grids, an exact differentiable synthesis engine,
and neural emulators of it."""

from importlib.metadata import version as _version

# --- grids ---
from ._dsps_format import read_dsps_hdf5 as read_dsps_hdf5
from ._dsps_format import write_dsps_hdf5 as write_dsps_hdf5
from ._dust_emission import DL07Templates as DL07Templates
from ._dust_emission import dust_emission_lnu as dust_emission_lnu
from ._dust_emission import load_dl07_templates as load_dl07_templates
from ._grids import default_cache_dir as default_cache_dir
from ._grids import load_ssp_grid as load_ssp_grid
from ._grids import resample_age_grid as resample_age_grid
# --- end grids ---

# --- synthesis ---
from ._synthesis import StellarMasses as StellarMasses
from ._synthesis import SynthesisConfig as SynthesisConfig
from ._synthesis import SynthesisOutput as SynthesisOutput
from ._synthesis import check_params as check_params
from ._synthesis import observed_spectrum as observed_spectrum
from ._synthesis import param_space as param_space
from ._synthesis import photometry as photometry
from ._synthesis import rest_spectrum as rest_spectrum
from ._synthesis import stellar_masses as stellar_masses
from ._synthesis import synthesize as synthesize
# --- end synthesis ---

# --- training sets ---
from ._simulate import SPEC_CELL_DLNLAM as SPEC_CELL_DLNLAM
from ._simulate import TRAINING_FILTER_SETS as TRAINING_FILTER_SETS
from ._simulate import SimulationRecipe as SimulationRecipe
from ._simulate import TrainingPrior as TrainingPrior
from ._simulate import read_training_set as read_training_set
from ._simulate import simulate as simulate
from ._simulate import spectrum_cell_edges as spectrum_cell_edges
# --- end training sets ---

# --- emulators ---
from ._emulator import Z_OCTAVES as Z_OCTAVES
from ._emulator import PhotometryEmulator as PhotometryEmulator
from ._emulator import emulator_manifest as emulator_manifest
from ._emulator import emulator_manifest_path as emulator_manifest_path
from ._emulator import load_emulator as load_emulator
from ._emulator import save_emulator as save_emulator
from ._emulator import shipped_emulators as shipped_emulators
from ._emulator import train_photometry_emulator as train_photometry_emulator
from ._emulator import validate_emulator as validate_emulator
from ._spec_emulator import SpectralPhotometry as SpectralPhotometry
from ._spec_emulator import SpectrumEmulator as SpectrumEmulator
from ._spec_emulator import average_to_cells as average_to_cells
from ._spec_emulator import emulated_rest_spectrum as emulated_rest_spectrum
from ._spec_emulator import spectral_param_space as spectral_param_space
from ._spec_emulator import spectral_photometry as spectral_photometry
from ._spec_emulator import spectral_photometry_state as spectral_photometry_state
from ._spec_emulator import spectral_stellar_masses as spectral_stellar_masses
from ._spec_emulator import train_spectrum_emulator as train_spectrum_emulator
from ._spec_emulator import validate_spectrum_emulator as validate_spectrum_emulator
# --- end emulators ---

__version__ = _version("emulate-sps")
