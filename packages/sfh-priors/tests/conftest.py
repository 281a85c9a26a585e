"""Shared fixtures for the sfh-priors tests."""

import jax.numpy as jnp
import numpy as np
import pytest

import sfh_priors as sp

T_UNIV_YR = 1.0e10  # a fixed age of the universe (cosmology is not this package's job)


@pytest.fixture
def ssp_edges_yr():
    """Edges around 221 log-spaced ages from 1e5 yr to 1.4e10 yr (the span of the BC03
    grid): the last bins lie beyond t_univ and one straddles it."""
    return np.asarray(sp.age_bin_edges_yr(np.geomspace(1e5, 1.4e10, 221)), dtype=np.float64)


CASE_NAMES = (
    "constant", "tau", "delayed_tau", "lognormal", "double_power_law", "late_burst",
    "truncated", "continuity", "dirichlet", "continuity_flex", "bursty",
)


def pytest_generate_tests(metafunc):
    """Parametrise tests that take ``case_name`` over every model type."""
    if "case_name" in metafunc.fixturenames:
        metafunc.parametrize("case_name", CASE_NAMES)


@pytest.fixture
def t_univ_yr():
    return T_UNIV_YR


@pytest.fixture
def case(case_name):
    """(model, params) of one model type with moderate, fixed parameter values."""
    return representative_cases()[case_name]


def representative_cases(t_univ_yr=T_UNIV_YR):
    """One (model, params) pair per model type with moderate, fixed parameter values."""
    t = t_univ_yr
    edges7 = sp.leja19_bin_edges_yr(t)
    return {
        "constant": (sp.Constant(age_max_yr=t), sp.ConstantParams(10.0, 5e9)),
        "tau": (sp.Tau(age_max_yr=t), sp.TauParams(10.0, 5e9, 1e9)),
        "delayed_tau": (sp.DelayedTau(age_max_yr=t), sp.DelayedTauParams(10.0, 5e9, 1e9)),
        "lognormal": (sp.LogNormal(), sp.LogNormalParams(10.0, 5e9, 0.5)),
        "double_power_law": (sp.DoublePowerLaw(), sp.DoublePowerLawParams(10.0, 3e9, 3.0, 5.0)),
        "late_burst": (
            sp.LateBurst(base=sp.DelayedTau(age_max_yr=t)),
            sp.LateBurstParams(sp.DelayedTauParams(10.0, 5e9, 1e9), 0.1, 5e7),
        ),
        "truncated": (
            sp.Truncated(base=sp.DelayedTau(age_max_yr=t)),
            sp.TruncatedParams(sp.DelayedTauParams(10.0, 5e9, 1e9), 0.2),
        ),
        "continuity": (
            sp.Continuity(bin_edges_yr=edges7),
            sp.ContinuityParams(10.0, jnp.array([0.3, -0.2, 0.1, 0.5, -0.4, 0.2])),
        ),
        "dirichlet": (
            sp.Dirichlet(bin_edges_yr=edges7),
            sp.DirichletParams(10.0, jnp.array([0.1, 0.2, 0.1, 0.2, 0.15, 0.15, 0.1])),
        ),
        "continuity_flex": (
            sp.ContinuityFlex(young_bin_end_yr=3e7, old_bin_start_yr=0.85 * t, old_bin_end_yr=t),
            sp.ContinuityFlexParams(10.0, 0.2, jnp.array([0.1, -0.3, 0.2, 0.0]), -0.1),
        ),
        "bursty": (
            sp.BurstyGP(bin_edges_yr=jnp.linspace(0.0, t, 51), sigma_dex=0.3, tau_yr=3e8),
            sp.BurstyParams(10.0, 0.3 * jnp.sin(jnp.arange(50.0))),
        ),
    }
