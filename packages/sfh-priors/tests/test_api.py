"""API behaviour: validation, jit guards, vmap, pytrees, numpyro integration."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer.util import log_density

import sfh_priors as sp

T = 1.0e10
EDGES = np.array([0.0, 1e7, 1e8, 1e9, 2e10])


def _delayed():
    return sp.DelayedTau(age_max_yr=T), sp.DelayedTauParams(10.0, 5e9, 1e9)


# --- eager validation -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: sp.Tau(age_max_yr=T, tau_min_yr=-1.0), "tau_min_yr must be > 0"),
        (lambda: sp.Tau(age_max_yr=T, tau_min_yr=1e10, tau_max_yr=1e9),
         "tau_min_yr must be < tau_max_yr"),
        (lambda: sp.Continuity(bin_edges_yr=[0.0, 1e9, 1e8]),
         "bin_edges_yr must be strictly increasing"),
        (lambda: sp.Continuity(bin_edges_yr=[-1.0, 1e8, 1e9]),
         "bin_edges_yr must start at a lookback time >= 0"),
        (lambda: sp.Dirichlet(bin_edges_yr=[0.0, 1e9, T], fractions_of="light"),
         'fractions_of must be "sfr" or "mass"'),
        (lambda: sp.BurstyGP(bin_edges_yr=[0.0, 1e8, 2e8], sigma_dex=0.3, tau_yr=1e8, slope=3.5),
         "slope must be in"),
        (lambda: sp.BurstyGP(bin_edges_yr=[0.0, 1e8, 2e8], sigma_dex=0.3, tau_yr=-1e8),
         "tau_yr must be > 0"),
        (lambda: sp.DoublePowerLaw(alpha_min=1e-3), "alpha_min must be >= 0.01"),
        (lambda: sp.ContinuityFlex(young_bin_end_yr=1e9, old_bin_start_yr=1e8, old_bin_end_yr=T),
         "young_bin_end_yr < old_bin_start_yr"),
        (lambda: sp.ContinuityFlex(young_bin_end_yr=1e7, old_bin_start_yr=1e9, old_bin_end_yr=T,
                                   n_flex=1),
         "n_flex must be an int >= 2"),
        (lambda: sp.leja19_bin_edges_yr(1e8), "t_univ_yr must exceed"),
    ],
)
def test_bad_hyper_parameters_raise_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((sp.DelayedTauParams(10.0, 2e10, 1e9), EDGES, T),
         "params.age_yr is older than the universe"),
        ((sp.DelayedTauParams(10.0, 5e9, -1e9), EDGES, T), "params.tau_yr must be > 0"),
        ((sp.DelayedTauParams(10.0, 5e9, 1e9), EDGES[::-1], T),
         "age_edges_yr must be strictly increasing"),
        ((sp.DelayedTauParams(10.0, 5e9, 1e9), EDGES, -1.0), "t_univ_yr must be > 0"),
        ((sp.DelayedTauParams(10.0, 5e9, 1e9), EDGES, np.array([T, T])),
         "t_univ_yr must be a scalar"),
        ((sp.DelayedTauParams(10.0, np.array([5e9, 6e9]), 1e9), EDGES, T),
         "Batch galaxies with jax.vmap"),
    ],
)
def test_bad_inputs_to_mass_in_bins_raise_eagerly(args, match):
    model, _ = _delayed()
    with pytest.raises(ValueError, match=match):
        sp.mass_in_bins(model, *args)


def test_wrong_params_type_raises_type_error():
    model, _ = _delayed()
    with pytest.raises(TypeError, match="must be a DelayedTauParams"):
        sp.mass_in_bins(model, sp.TauParams(10.0, 5e9, 1e9), EDGES, T)


def test_bins_older_than_the_universe_raise():
    model = sp.Continuity(bin_edges_yr=sp.leja19_bin_edges_yr(1.2e10))
    params = sp.ContinuityParams(10.0, jnp.zeros(6))
    with pytest.raises(ValueError, match="older than the universe"):
        sp.mass_in_bins(model, params, EDGES, T)


def test_derived_quantity_arguments_are_checked():
    model, params = _delayed()
    with pytest.raises(ValueError, match="fraction must be in"):
        sp.formation_lookback_yr(model, params, T, 1.5)
    with pytest.raises(ValueError, match="window_yr must be > 0"):
        sp.average_sfr(model, params, T, -1e8)


# --- under jit: NaN guard ----------------------------------------------------------------

def test_invalid_values_under_jit_give_nan():
    model, _ = _delayed()

    @jax.jit
    def masses(age_yr):
        return sp.mass_in_bins(model, sp.DelayedTauParams(10.0, age_yr, 1e9), EDGES, T)

    assert np.all(np.isfinite(np.asarray(masses(5e9))))
    assert np.all(np.isnan(np.asarray(masses(2e10))))  # older than the universe


def test_invalid_hyper_parameters_under_jit_give_nan():
    @jax.jit
    def draw(tau_min):
        return sp.sample(jax.random.key(0), sp.Tau(age_max_yr=T, tau_min_yr=tau_min))

    assert np.isnan(float(draw(-1.0).tau_yr))


# --- batching, pytrees, dtypes -------------------------------------------------------------

def test_vmap_over_galaxies_matches_one_by_one():
    model, _ = _delayed()
    keys = jax.random.split(jax.random.key(5), 4)
    batch = jax.jit(jax.vmap(sp.sample, in_axes=(0, None)))(keys, model)
    vmapped = jax.jit(jax.vmap(sp.mass_in_bins, in_axes=(None, 0, None, None)))
    batched = vmapped(model, batch, EDGES, T)
    single = jax.jit(sp.mass_in_bins)
    for i in range(4):
        one = single(model, jax.tree.map(lambda x: x[i], batch), EDGES, T)
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(one), rtol=1e-6)


def test_models_are_pytrees_whose_transforms_skip_validation():
    model, _ = _delayed()
    negated = jax.tree.map(lambda x: -jnp.asarray(x), model)  # would fail validation if re-run
    assert float(negated.tau_min_yr) == -1e8
    assert type(negated) is sp.DelayedTau


def test_float64_is_used_when_enabled():
    model, params = _delayed()
    masses = jax.jit(sp.mass_in_bins)
    with jax.enable_x64(True):
        assert masses(model, params, EDGES, T).dtype == jnp.float64
    assert masses(model, params, EDGES, T).dtype == jnp.float32


# --- priors and numpyro --------------------------------------------------------------------

def test_log_prob_is_the_product_of_the_documented_priors():
    model = sp.DelayedTau(age_max_yr=T, age_min_yr=1e8, tau_min_yr=1e8, tau_max_yr=1e10)
    params = sp.DelayedTauParams(10.0, 5e9, 1e9)
    # Uniform log_mass on [6, 13], uniform age on [1e8, T], log-uniform tau on [1e8, 1e10].
    expected = -np.log(7.0) - np.log(T - 1e8) - np.log(1e9 * np.log(100.0))
    assert float(sp.log_prob(model, params)) == pytest.approx(expected, rel=1e-6)
    outside = sp.DelayedTauParams(10.0, 5e9, 1e11)
    assert float(sp.log_prob(model, outside)) == -np.inf


def test_numpyro_sample_declares_sites_with_the_same_density():
    model = sp.LateBurst(base=sp.DelayedTau(age_max_yr=T))

    def numpyro_model():
        sp.numpyro_sample("sfh", model)

    trace = numpyro.handlers.trace(numpyro.handlers.seed(numpyro_model, 0)).get_trace()
    names = {"sfh.base.log_mass", "sfh.base.age_yr", "sfh.base.tau_yr", "sfh.burst_fraction",
             "sfh.burst_age_yr"}
    assert names == {k for k, v in trace.items() if v["type"] == "sample"}
    values = {k: trace[k]["value"] for k in names}
    params = sp.LateBurstParams(
        sp.DelayedTauParams(
            values["sfh.base.log_mass"], values["sfh.base.age_yr"], values["sfh.base.tau_yr"]
        ),
        values["sfh.burst_fraction"],
        values["sfh.burst_age_yr"],
    )
    numpyro_lp, _ = log_density(numpyro_model, (), {}, values)
    assert float(numpyro_lp) == pytest.approx(float(sp.log_prob(model, params)), rel=1e-6)


# --- models by name ---------------------------------------------------------------------


def test_model_from_name():
    for name, cls in sp.PARAMETRIC_MODELS.items():
        model = sp.model_from_name(name)
        assert type(model) is cls
        if hasattr(model, "age_max_yr"):
            assert float(model.age_max_yr) == 1.4e10
        sp.sample(jax.random.key(0), model)  # a usable prior
    cont = sp.model_from_name("continuity", 5)
    assert isinstance(cont, sp.Continuity) and cont.bin_edges_yr == sp.Leja19Edges(5)
    assert isinstance(sp.model_from_name("dirichlet"), sp.Dirichlet)
    assert set(sp.PARAMETRIC_MODELS).isdisjoint(sp.BINNED_MODELS)
    with pytest.raises(ValueError, match=r"unknown SFH model 'delayed'; known: \['constant'"):
        sp.model_from_name("delayed")
    with pytest.raises(ValueError, match="'dirichlet' needs n_bins >= 4"):
        sp.model_from_name("dirichlet", 3)
