"""Derived quantities, computed the same way for every model and differentiable.

All take one galaxy (batch with ``jax.vmap``) and the age of the universe at its
redshift, because lookback-time quantities depend on it (the log-normal and double
power law are defined in cosmic time; nothing forms before the Big Bang).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import SFHModel, check_scalar, full_check
from ._checks import as_float, describe

Array = jax.Array

_BISECTION_STEPS = 64


def mass_formed_msun(model: SFHModel, params: Any) -> Array:
    """Total stellar mass formed (not surviving mass), M_sun: ``10**log_mass``.

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple.

    Returns:
        Scalar, M_sun.
    """
    return jnp.power(10.0, model._log_mass(params))


def average_sfr(model: SFHModel, params: Any, t_univ_yr: Any, window_yr: Any = 1e8) -> Array:
    """SFR averaged over the last ``window_yr``: mass formed in [0, window] / window.

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple.
        t_univ_yr: scalar, age of the universe at the galaxy's redshift, yr.
        window_yr: averaging window in yr (> 0), default 1e8 (SFR_100); 1e7 gives SFR_10.

    Returns:
        Scalar, M_sun/yr.
    """
    checks, t_univ_yr = full_check(model, params, t_univ_yr)
    window = check_scalar(window_yr, "window_yr")
    checks.require(window > 0, lambda: f"window_yr must be > 0; got {describe(window)}.")
    young = model._young_fraction(params, jnp.minimum(window, t_univ_yr), t_univ_yr)
    young = jnp.where(window >= t_univ_yr, 1.0, young)
    return checks.guard(mass_formed_msun(model, params) * young / window)


def specific_sfr(model: SFHModel, params: Any, t_univ_yr: Any, window_yr: Any = 1e8) -> Array:
    """Specific SFR: :func:`average_sfr` divided by the total mass formed, 1/yr.

    Normalised by the mass formed (not the surviving stellar mass, which needs the SSP
    mass-loss fractions of the synthesis engine).
    """
    checks, t_univ_yr = full_check(model, params, t_univ_yr)
    window = check_scalar(window_yr, "window_yr")
    checks.require(window > 0, lambda: f"window_yr must be > 0; got {describe(window)}.")
    young = model._young_fraction(params, jnp.minimum(window, t_univ_yr), t_univ_yr)
    young = jnp.where(window >= t_univ_yr, 1.0, young)
    return checks.guard(young / window)


def mass_weighted_age_yr(model: SFHModel, params: Any, t_univ_yr: Any) -> Array:
    """Mass-weighted age (mean lookback time of star formation, weighted by mass formed), yr.

    Closed form for every model (exact piecewise integrals for binned models).
    """
    checks, t_univ_yr = full_check(model, params, t_univ_yr)
    return checks.guard(model._moment(params, t_univ_yr, t_univ_yr))


def formation_lookback_yr(model: SFHModel, params: Any, t_univ_yr: Any, fraction: Any) -> Array:
    """Lookback time by which ``fraction`` of the total mass had formed (t50, t90, ...), yr.

    t_X is the lookback time L at which the mass formed before L equals X times the
    total; t50 = ``formation_lookback_yr(..., 0.5)``, t90 (later, so smaller) with 0.9.
    Found by bisection on the exact cumulative mass; the gradient uses the implicit
    function theorem (dL/dθ = -(∂Y/∂θ) / SFR), so it is exact wherever SFR > 0 at t_X.

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple.
        t_univ_yr: scalar, age of the universe at the galaxy's redshift, yr.
        fraction: scalar in (0, 1).

    Returns:
        Scalar lookback time, yr.
    """
    checks, t_univ_yr = full_check(model, params, t_univ_yr)
    fraction = check_scalar(fraction, "fraction")
    checks.require(
        (fraction > 0) & (fraction < 1),
        lambda: f"fraction must be in (0, 1) (e.g. 0.5 for t50); got {describe(fraction)}.",
    )
    target = 1.0 - fraction  # fraction of the mass formed more recently than t_X
    frozen = jax.lax.stop_gradient(params)

    def young(lookback: Array, p: Any) -> Array:
        return model._young_fraction(p, lookback, t_univ_yr)

    def step(_: int, bracket: tuple[Array, Array]) -> tuple[Array, Array]:
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        below = young(mid, frozen) < target
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    zero = jnp.zeros((), t_univ_yr.dtype)
    lo, hi = jax.lax.fori_loop(0, _BISECTION_STEPS, step, (zero, jax.lax.stop_gradient(t_univ_yr)))
    root = jax.lax.stop_gradient(0.5 * (lo + hi))
    # One Newton step with the parameters live: its value moves by at most the bisection
    # residual, and its derivative is the implicit-function gradient.
    slope = jax.lax.stop_gradient(model._sfr_per_mass(frozen, root, t_univ_yr))
    safe = jnp.where(slope > 0, slope, 1.0)
    correction = jnp.where(slope > 0, (young(root, params) - target) / safe, 0.0)
    return checks.guard(root - correction)


class SFHSummary(NamedTuple):
    """Standard derived quantities of one SFH (see :func:`summarize`).

    Attributes:
        mass_formed_msun: total mass formed, M_sun.
        sfr_10myr: SFR averaged over the last 10 Myr, M_sun/yr.
        sfr_100myr: SFR averaged over the last 100 Myr, M_sun/yr.
        ssfr_100myr: sfr_100myr / mass formed, 1/yr.
        mass_weighted_age_yr: mass-weighted age, yr.
        t50_yr: lookback time by which half the mass had formed, yr.
        t90_yr: lookback time by which 90% of the mass had formed, yr.
    """

    mass_formed_msun: Array
    sfr_10myr: Array
    sfr_100myr: Array
    ssfr_100myr: Array
    mass_weighted_age_yr: Array
    t50_yr: Array
    t90_yr: Array


def summarize(model: SFHModel, params: Any, t_univ_yr: Any) -> SFHSummary:
    """All standard derived quantities at once (the same functions as above).

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple.
        t_univ_yr: scalar, age of the universe at the galaxy's redshift, yr.

    Returns:
        An :class:`SFHSummary` of scalars.
    """
    t_univ_yr = as_float(t_univ_yr)
    return SFHSummary(
        mass_formed_msun=mass_formed_msun(model, params),
        sfr_10myr=average_sfr(model, params, t_univ_yr, 1e7),
        sfr_100myr=average_sfr(model, params, t_univ_yr, 1e8),
        ssfr_100myr=specific_sfr(model, params, t_univ_yr, 1e8),
        mass_weighted_age_yr=mass_weighted_age_yr(model, params, t_univ_yr),
        t50_yr=formation_lookback_yr(model, params, t_univ_yr, 0.5),
        t90_yr=formation_lookback_yr(model, params, t_univ_yr, 0.9),
    )
