"""sedcore: shared JAX types and physics helpers for galaxy SED inference.

Pure functions on pytrees, one object per call (batch with ``jax.vmap``), float32 by
default and float64 when the user enables ``jax_enable_x64``. Units: wavelengths in
Angstrom (vacuum), rest-frame luminosity density in L_sun/Hz per M_sun formed, observed
fluxes in maggies (f_nu / 3631 Jy).
"""

from importlib.metadata import version as _version

# --- units ---
# --- end units ---

# --- cosmology ---
# --- end cosmology ---

# --- filters ---
# --- end filters ---

# --- igm ---
# --- end igm ---

# --- dust ---
# --- end dust ---

# --- observations and likelihoods ---
# --- end observations and likelihoods ---

# --- shared types (SSPGrid, ParamSpace) ---
# --- end shared types ---

__version__ = _version("sedcore")
