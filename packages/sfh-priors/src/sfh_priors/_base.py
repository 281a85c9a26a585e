"""The model protocol and the generic functions every SFH model shares.

A model is a small pytree of hyper-parameters (a registered frozen dataclass). Its
parameters are a NamedTuple (also a pytree). Every model answers, through private
methods, the fraction of its total formed mass that formed more recently than a
lookback time L (``_young_fraction``, called Y(L) below, with Y(0) = 0 and Y = 1 at and
beyond the onset of star formation), the mass-weighted partial first moment of lookback
time (``_moment``), and the normalised SFR dY/dL (``_sfr_per_mass``). All public
quantities are built from those three, so mass conservation and the derived quantities
are consistent across models by construction.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._checks import (
    Checks,
    as_float,
    describe,
    require_finite,
    require_increasing,
    require_positive,
)

Array = jax.Array

# Relative slack allowed when comparing ages with t_univ_yr: values computed from the same
# cosmology in float32 can differ in the last bits. Within the slack they are clipped.
T_UNIV_RTOL = 1e-5


class SFHModel:
    """Base class of every SFH model (hyper-parameters as a pytree).

    Subclasses are frozen keyword-only dataclasses registered as pytrees and implement
    the private protocol documented in this module. Users never call the protocol
    directly; they use :func:`sample`, :func:`log_prob`, :func:`mass_in_bins` and the
    derived-quantity functions.
    """

    params_type: type = tuple  # the NamedTuple class of this model's parameters

    # --- protocol (overridden) -------------------------------------------------------
    def _prior_fields(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """Map each parameter field name to its numpyro distribution or nested SFHModel."""
        raise NotImplementedError

    def _validate_hyper(self, checks: Checks) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _log_mass(self, params: Any) -> Array:
        return as_float(params.log_mass)

    def _onset_yr(self, params: Any, t_univ_yr: Array) -> Array:
        """Lookback time of the first star formation (clipped to t_univ_yr)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        """1 - Y(L), the fraction formed before lookback L; override for precision."""
        return 1.0 - self._young_fraction(params, lookback_yr, t_univ_yr)

    def _young_and_old(
        self, params: Any, lookback_yr: Array, t_univ_yr: Array
    ) -> tuple[Array, Array]:
        """(Y(L), 1 - Y(L)); override to share work between the two."""
        return (
            self._young_fraction(params, lookback_yr, t_univ_yr),
            self._old_fraction(params, lookback_yr, t_univ_yr),
        )

    def _log_old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        """log(1 - Y(L)); override where it can be formed without underflow."""
        old = self._old_fraction(params, lookback_yr, t_univ_yr)
        positive = old > 0
        # -inf (not log(0)) where nothing is left, so gradients stay finite.
        return jnp.where(positive, jnp.log(jnp.where(positive, old, 1.0)), -jnp.inf)

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        raise NotImplementedError  # pragma: no cover - abstract

    # --- eager validation at construction --------------------------------------------
    def __post_init__(self) -> None:
        # Runs only when users construct a model (pytree unflattening skips __init__);
        # traced fields are skipped by Checks and guarded again in every function.
        self._validate_hyper(Checks())


# --- shared validation helpers ----------------------------------------------------------


def check_params_type(model: SFHModel, params: Any) -> None:
    """Raise TypeError unless ``params`` is an instance of ``model.params_type``."""
    if not isinstance(params, model.params_type):
        raise TypeError(
            f"params for {type(model).__name__} must be a {model.params_type.__name__}; got "
            f"{type(params).__name__}. Build it with sfh_priors.{model.params_type.__name__}(...) "
            f"or draw one with sfh_priors.sample(key, model)."
        )


def check_scalar(value: Any, name: str) -> Array:
    """Convert to a float array and require a scalar (shape ()); raise ValueError otherwise."""
    value = as_float(value)
    if value.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar; got shape {value.shape}. This function handles one "
            "galaxy; batch with jax.vmap."
        )
    return value


def check_range(checks: Checks, lo: Any, hi: Any, name_lo: str, name_hi: str) -> None:
    """Require finite ``lo < hi`` for a prior range."""
    lo, hi = as_float(lo), as_float(hi)
    require_finite(checks, lo, name_lo)
    require_finite(checks, hi, name_hi)
    checks.require(
        jnp.all(lo < hi),
        lambda: f"{name_lo} must be < {name_hi}; got {describe(lo)} and {describe(hi)}.",
    )


def check_log_mass(checks: Checks, model: SFHModel, log_mass: Any) -> None:
    """Require a finite params.log_mass (log10 M_sun formed)."""
    require_finite(checks, log_mass, "params.log_mass")


def check_t_univ(checks: Checks, t_univ_yr: Any) -> Array:
    """Convert and validate the age of the universe at the galaxy's redshift (yr)."""
    t_univ_yr = check_scalar(t_univ_yr, "t_univ_yr")
    require_positive(checks, t_univ_yr, "t_univ_yr", "yr")
    return t_univ_yr


def check_not_older_than_universe(checks: Checks, value: Any, t_univ_yr: Array, name: str) -> None:
    """Require ``value <= t_univ_yr`` (within T_UNIV_RTOL)."""
    value = as_float(value)
    checks.require(
        jnp.all(value <= t_univ_yr * (1.0 + T_UNIV_RTOL)),
        lambda: f"{name} is older than the universe at this redshift: {describe(value)} yr > "
        f"t_univ_yr = {describe(t_univ_yr)} yr. Set it (or the prior's upper bound) to at "
        "most the age of the universe at the galaxy's redshift.",
    )


def uniform(lo: Any, hi: Any) -> dist.Distribution:
    return dist.Uniform(as_float(lo), as_float(hi))


def log_uniform(lo: Any, hi: Any) -> dist.Distribution:
    return dist.LogUniform(as_float(lo), as_float(hi))


def full_check(model: SFHModel, params: Any, t_univ_yr: Any) -> tuple[Checks, Array]:
    """Validate model, params and t_univ_yr; return the checks and t_univ_yr as an array."""
    if not isinstance(model, SFHModel):
        raise TypeError(
            f"model must be an sfh_priors model (e.g. sfh_priors.DelayedTau(...)); got "
            f"{type(model).__name__}."
        )
    check_params_type(model, params)
    checks = Checks()
    t_univ_yr = check_t_univ(checks, t_univ_yr)
    model._validate_hyper(checks)
    model._validate_params(params, t_univ_yr, checks)
    return checks, t_univ_yr


# --- public generic functions --------------------------------------------------------------


def _sample_fields(key: Array, model: SFHModel) -> Any:
    fields = model._prior_fields()
    keys = jax.random.split(key, len(fields))
    values = {}
    for k, (name, prior) in zip(keys, fields.items(), strict=True):
        values[name] = _sample_fields(k, prior) if isinstance(prior, SFHModel) else prior.sample(k)
    return model.params_type(**values)


def sample(key: Array, model: SFHModel) -> Any:
    """Draw one set of SFH parameters from the model's prior.

    Args:
        key: a JAX PRNG key.
        model: any sfh_priors model (its hyper-parameters set the prior).

    Returns:
        The model's parameter NamedTuple (e.g. :class:`DelayedTauParams`), one galaxy.
        Batch with ``jax.vmap(sample, in_axes=(0, None))(keys, model)``.

    Example:
        >>> params = sample(jax.random.key(0), DelayedTau(age_max_yr=5e9))
    """
    if not isinstance(model, SFHModel):
        raise TypeError(f"model must be an sfh_priors model; got {type(model).__name__}.")
    checks = Checks()
    model._validate_hyper(checks)
    return checks.guard(_sample_fields(key, model))


def _in_support(support: Any, value: Array) -> Array:
    if support is dist.constraints.simplex:
        # numpyro's simplex check uses an absolute 1e-6 tolerance on the sum, which
        # float32 draws can miss; use a tolerance scaled to the dtype and the length.
        tol = 10.0 * value.shape[-1] * jnp.finfo(value.dtype).eps
        return jnp.all(value >= 0) & (jnp.abs(jnp.sum(value, -1) - 1.0) <= tol)
    return support(value)


def _log_prob_fields(model: SFHModel, params: Any) -> Array:
    total = jnp.zeros((), dtype=as_float(0.0).dtype)
    for name, prior in model._prior_fields().items():
        value = getattr(params, name)
        if isinstance(prior, SFHModel):
            total = total + _log_prob_fields(prior, value)
            continue
        value = as_float(value)
        inside = jnp.all(_in_support(prior.support, value))
        # Evaluate the density at a feasible point when outside the support (no warnings,
        # no NaN gradients), then return -inf there.
        safe = jnp.where(inside, value, prior.support.feasible_like(value))
        total = total + jnp.where(inside, jnp.sum(prior.log_prob(safe)), -jnp.inf)
    return total


def log_prob(model: SFHModel, params: Any) -> Array:
    """Log prior density of SFH parameters (natural log, sum over all parameters).

    Returns ``-inf`` outside the prior's support. The density is with respect to the
    parameters as stored in the params NamedTuple (e.g. ``tau_yr`` in yr, not log tau).

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple.

    Returns:
        Scalar log density.
    """
    if not isinstance(model, SFHModel):
        raise TypeError(f"model must be an sfh_priors model; got {type(model).__name__}.")
    check_params_type(model, params)
    checks = Checks()
    model._validate_hyper(checks)
    return checks.guard(_log_prob_fields(model, params))


def numpyro_sample(name: str, model: SFHModel) -> Any:
    """Inside a numpyro model: declare the SFH parameters as sample sites and return them.

    Sites are named ``f"{name}.{field}"`` (nested models add their own prefix, e.g.
    ``"sfh.base.tau_yr"``). Use it with NUTS in pixelfit-style models::

        def model(obs):
            params = numpyro_sample("sfh", DelayedTau(age_max_yr=t_univ))
            weights = mass_in_bins(DelayedTau(age_max_yr=t_univ), params, edges, t_univ)

    Args:
        name: prefix for the site names.
        model: any sfh_priors model.

    Returns:
        The parameter NamedTuple built from the sampled sites.
    """
    if not isinstance(model, SFHModel):
        raise TypeError(f"model must be an sfh_priors model; got {type(model).__name__}.")
    model._validate_hyper(Checks())
    values = {}
    for field, prior in model._prior_fields().items():
        site = f"{name}.{field}"
        if isinstance(prior, SFHModel):
            values[field] = numpyro_sample(site, prior)
        else:
            values[field] = numpyro.sample(site, prior)
    return model.params_type(**values)


def mass_in_bins(model: SFHModel, params: Any, age_edges_yr: Any, t_univ_yr: Any) -> Array:
    """Stellar mass formed in each age bin, integrated exactly within the bins.

    Bins are in lookback time (the age of the stars at observation). The mass in a bin is
    the difference of the model's closed-form cumulative mass at the two edges (or an
    exact piecewise-constant integral for binned models), so the masses of bins covering
    [0, t_univ_yr] add up to ``10**params.log_mass`` to float precision. Lookback times
    older than ``t_univ_yr`` hold no mass: bins beyond it get zero and a bin straddling it
    is truncated.

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple (``log_mass`` is log10 of the total
            mass formed, M_sun).
        age_edges_yr: shape (n_bins + 1,), strictly increasing lookback-time edges in yr,
            starting at >= 0 (e.g. edges around the 221 ages of an SSP grid).
        t_univ_yr: scalar, age of the universe at the galaxy's redshift in yr (e.g.
            ``sedcore.age_of_universe_yr(z)``).

    Returns:
        shape (n_bins,), mass formed in each bin in M_sun (not surviving mass).

    Raises:
        ValueError: on concrete bad input (edges not increasing, negative timescales,
            ages older than the universe, ...). Under jit/vmap the output is NaN instead.
    """
    checks, t_univ_yr = full_check(model, params, t_univ_yr)
    edges = as_float(age_edges_yr)
    require_increasing(checks, edges, "age_edges_yr")
    lookback = jnp.clip(edges, 0.0, t_univ_yr)
    young, old = model._young_and_old(params, lookback, t_univ_yr)
    beyond = edges >= t_univ_yr
    young = jnp.where(beyond, 1.0, young)
    old = jnp.where(beyond, 0.0, old)
    # Each bin is the difference of whichever cumulative is small at its edges (mass
    # formed since L while that is below half the total, mass formed before L after),
    # so light bins at both ends keep their relative precision. The two cumulatives add
    # to one to round-off, so the bin masses still add to the total to float precision.
    from_young = young[1:] - young[:-1]
    from_old = old[:-1] - old[1:]
    # Clipping at zero only removes round-off (cumulatives are monotone analytically).
    fractions = jnp.maximum(jnp.where(young[1:] <= 0.5, from_young, from_old), 0.0)
    masses = jnp.power(10.0, model._log_mass(params)) * fractions
    return checks.guard(masses)


def sfr(model: SFHModel, params: Any, lookback_yr: Any, t_univ_yr: Any) -> Array:
    """Instantaneous star-formation rate at the given lookback times.

    Args:
        model: any sfh_priors model.
        params: that model's parameter NamedTuple.
        lookback_yr: array of lookback times in yr (>= 0); any shape.
        t_univ_yr: scalar, age of the universe at the galaxy's redshift in yr.

    Returns:
        SFR in M_sun/yr, same shape as ``lookback_yr`` (zero before the onset of star
        formation and beyond ``t_univ_yr``). For binned models the value inside a bin is
        the bin's constant SFR.
    """
    checks, t_univ_yr = full_check(model, params, t_univ_yr)
    lookback = as_float(lookback_yr)
    checks.require(
        jnp.all(lookback >= 0),
        lambda: f"lookback_yr must be >= 0 yr; got {describe(lookback)}.",
    )
    inside = lookback < t_univ_yr
    per_mass = model._sfr_per_mass(params, jnp.clip(lookback, 0.0, t_univ_yr), t_univ_yr)
    out = jnp.where(inside, per_mass, 0.0) * jnp.power(10.0, model._log_mass(params))
    return checks.guard(out)
