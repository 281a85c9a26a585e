"""Non-parametric SFHs: bins, continuity and Dirichlet priors, continuity-flex."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import sfh_priors as sp

T = 1.0e10
_mass_in_bins = jax.jit(sp.mass_in_bins)


def test_leja19_bins_match_the_published_scheme():
    # Leja et al. 2019, ApJ 876, 3: 0-30 Myr, 30-100 Myr, 4 bins log-spaced from 100 Myr
    # to 0.85 t_univ, and 0.85-1.0 t_univ (7 bins).
    expected = np.concatenate([[0.0, 3e7], np.geomspace(1e8, 0.85 * T, 5), [T]])
    np.testing.assert_allclose(np.asarray(sp.leja19_bin_edges_yr(T)), expected, rtol=2e-6)
    assert sp.leja19_bin_edges_yr(T, n_bins=9).shape == (10,)


def test_age_bin_edges_are_geometric_midpoints():
    ages = np.array([1e6, 4e6, 1.6e7, 6.4e7])
    expected = [0.0, 2e6, 8e6, 3.2e7, 1.28e8]  # last edge symmetric in log age
    np.testing.assert_allclose(np.asarray(sp.age_bin_edges_yr(ages)), expected, rtol=1e-6)


def test_continuity_prior_marginals_are_student_t():
    # Leja et al. 2019: Student-t with scale 0.3 dex and 2 degrees of freedom.
    draw = jax.jit(lambda key: sp.ContinuityPrior(6).sample(key, (700,)))
    ratios = np.asarray(draw(jax.random.key(0))).ravel()
    assert stats.kstest(ratios, stats.t(df=2, scale=0.3).cdf).pvalue > 1e-3


def test_continuity_prior_log_prob_is_sum_of_student_t():
    value = jnp.array([0.1, -0.5, 2.0])
    expected = stats.t(df=2, scale=0.3).logpdf(np.asarray(value)).sum()
    assert float(sp.ContinuityPrior(3).log_prob(value)) == pytest.approx(expected, rel=1e-6)


def test_continuity_masses_imply_the_log_sfr_ratios():
    # SFR_i = m_i / width_i recovered from mass_in_bins on the model's own bins gives back
    # log10(SFR_i / SFR_{i+1}) = the parameters; over prior draws they are Student-t.
    # In float64: this checks the mapping itself. (In float32 a bin holding 1e-6 of the
    # mass next to the largest ones carries ~1e-4 relative rounding, which depends on the
    # CPU's code generation; that is precision, not the mapping.)
    with jax.enable_x64(True):
        edges = sp.leja19_bin_edges_yr(T)
        model = sp.Continuity(bin_edges_yr=edges)
        keys = jax.random.split(jax.random.key(1), 600)
        params = jax.jit(jax.vmap(sp.sample, in_axes=(0, None)))(keys, model)
        vmapped = jax.jit(jax.vmap(sp.mass_in_bins, in_axes=(None, 0, None, None)))
        masses = vmapped(model, params, edges, T)
        assert masses.dtype == jnp.float64
        log_sfr = np.log10(np.asarray(masses) / np.diff(np.asarray(edges)))
        implied = log_sfr[:, :-1] - log_sfr[:, 1:]
        np.testing.assert_allclose(implied, np.asarray(params.log_sfr_ratios), atol=1e-9)
    assert stats.kstest(implied.ravel(), stats.t(df=2, scale=0.3).cdf).pvalue > 1e-3


def test_dirichlet_fraction_marginals_are_beta():
    # Dirichlet(1, ..., 1) over 7 bins (Leja et al. 2017): each fraction ~ Beta(1, 6).
    model = sp.Dirichlet(bin_edges_yr=sp.leja19_bin_edges_yr(T))
    keys = jax.random.split(jax.random.key(2), 2000)
    fractions = np.asarray(jax.jit(jax.vmap(sp.sample, in_axes=(0, None)))(keys, model).fractions)
    np.testing.assert_allclose(fractions.sum(1), 1.0, rtol=1e-5)
    assert stats.kstest(fractions[:, 0], stats.beta(1, 6).cdf).pvalue > 1e-3
    assert stats.kstest(fractions[:, 4], stats.beta(1, 6).cdf).pvalue > 1e-3


@pytest.mark.parametrize("fractions_of", ["sfr", "mass"])
def test_dirichlet_fractions_set_the_bin_masses(fractions_of):
    edges = jnp.array([0.0, 1e8, 1e9, T])
    f = np.array([0.5, 0.3, 0.2])
    model = sp.Dirichlet(bin_edges_yr=edges, fractions_of=fractions_of)
    masses = np.asarray(_mass_in_bins(model, sp.DirichletParams(10.0, jnp.asarray(f)), edges, T))
    weights = f * np.diff(np.asarray(edges)) if fractions_of == "sfr" else f
    np.testing.assert_allclose(masses, 1e10 * weights / weights.sum(), rtol=2e-6)


def test_continuity_flex_bins_form_equal_mass_and_follow_the_ratios():
    model = sp.ContinuityFlex(young_bin_end_yr=3e7, old_bin_start_yr=0.85 * T, old_bin_end_yr=T,
                              n_flex=4)
    params = sp.ContinuityFlexParams(10.0, 0.3, jnp.array([0.2, -0.4, 0.1]), -0.2)
    edges = np.asarray(model.bin_edges_yr(params))
    assert edges.shape == (7,) and np.all(np.diff(edges) > 0)
    np.testing.assert_allclose(edges[[0, 1, 5, 6]], [0.0, 3e7, 0.85 * T, T], rtol=1e-6)
    masses = np.asarray(_mass_in_bins(model, params, jnp.asarray(edges), T))
    np.testing.assert_allclose(masses[1:5], masses[1], rtol=1e-5)  # equal mass per flex bin
    log_sfr = np.log10(masses / np.diff(edges))
    np.testing.assert_allclose(-np.diff(log_sfr), [0.3, 0.2, -0.4, 0.1, -0.2], atol=2e-5)


def test_binned_mass_in_ssp_bins_is_the_overlap_integral():
    # Constant SFR per model bin: an output bin straddling a model edge gets the two
    # overlaps, each at its bin's SFR.
    edges = jnp.array([0.0, 1e8, T])
    model = sp.Dirichlet(bin_edges_yr=edges, fractions_of="mass")
    params = sp.DirichletParams(10.0, jnp.array([0.25, 0.75]))
    out = np.asarray(_mass_in_bins(model, params, jnp.array([0.0, 5e7, 2e8, T]), T))
    sfr_young, sfr_old = 0.25e10 / 1e8, 0.75e10 / (T - 1e8)
    expected = [5e7 * sfr_young, 5e7 * sfr_young + 1e8 * sfr_old, (T - 2e8) * sfr_old]
    np.testing.assert_allclose(out, expected, rtol=2e-6)


def test_leja19_edges_follow_the_redshift():
    # One model at any t_univ equals the model built with that t_univ's fixed edges.
    dynamic = sp.Continuity(bin_edges_yr=sp.Leja19Edges(7))
    assert dynamic.n_bins == 7
    params = sp.ContinuityParams(
        log_mass=jnp.asarray(10.0), log_sfr_ratios=jnp.array([0.3, -0.2, 0.5, 0.0, -0.4, 0.1])
    )
    ssp_edges = sp.age_bin_edges_yr(jnp.geomspace(1e6, 1.3e10, 120))

    def masses(model, t):
        return sp.mass_in_bins(model, params, ssp_edges, t)

    traced = jax.jit(jax.vmap(masses, in_axes=(None, 0)))
    t_univ = jnp.array([1.5e9, 4.0e9, 1.3e10])
    got = np.asarray(traced(dynamic, t_univ))
    for i, t in enumerate(t_univ):
        fixed = sp.Continuity(bin_edges_yr=sp.leja19_bin_edges_yr(t))
        np.testing.assert_allclose(got[i], np.asarray(masses(fixed, t)), rtol=1e-5, atol=1e-3)
        assert got[i].sum() == pytest.approx(1e10, rel=1e-5)
    # Fixed edges built for a late universe are rejected at an earlier one; dynamic ones adapt.
    late = sp.Continuity(bin_edges_yr=sp.leja19_bin_edges_yr(1.3e10))
    with pytest.raises(ValueError, match="Leja19Edges"):
        sp.mass_in_bins(late, params, ssp_edges, 1.5e9)


def test_leja19_edges_reject_bad_input():
    with pytest.raises(ValueError, match="n_bins must be an int >= 4"):
        sp.Leja19Edges(3)
    model = sp.Dirichlet(bin_edges_yr=sp.Leja19Edges(5))
    params = sp.sample(jax.random.key(0), model)
    with pytest.raises(ValueError, match="t_univ_yr > 1.176e"):
        sp.mass_in_bins(model, params, jnp.array([0.0, 1e7, 1e8]), 1.0e8)
