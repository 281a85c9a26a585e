"""Parametric SFHs: constant, tau, delayed tau, log-normal and double power law.

All cumulative masses are closed forms (see each class), so the mass in an age bin is a
difference of the cumulative function at the bin edges. The young side is computed
directly (mass formed within the last L years) so the youngest, lightest bins keep their
relative precision in float32.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import erfcx, ndtr

from ._base import (
    SFHModel,
    check_log_mass,
    check_not_older_than_universe,
    check_range,
    log_uniform,
    uniform,
)
from ._checks import Checks, as_float, describe, pytree_dataclass, require_positive
from ._special import (
    DPL_MIN_ALPHA,
    gauss_legendre_01,
    log_beta_inc_series,
    log_dpl_integral_rest,
    scaled_exp_moment,
)

Array = jax.Array
ArrayLike = Any

# Defaults shared by the parametric priors (chosen here as broad, weakly informative
# ranges; Carnall et al. 2019, ApJ 873, 44 show that any such prior is informative on
# sSFR and age, so set them deliberately for a science case).
LOG_MASS_MIN = 6.0
LOG_MASS_MAX = 13.0


def scalar_param(params: Any, name: str) -> Array:
    """Fetch ``params.<name>`` as a float scalar; raise ValueError if it is not a scalar."""
    value = as_float(getattr(params, name))
    if value.ndim != 0:
        raise ValueError(
            f"params.{name} must be a scalar for one galaxy; got shape {value.shape}. "
            "Batch galaxies with jax.vmap."
        )
    return value


# --------------------------------------------------------------------------------------
# Models with an onset: star formation starts at lookback time age_yr.
# --------------------------------------------------------------------------------------


class ConstantParams(NamedTuple):
    """Parameters of :class:`Constant`.

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        age_yr: lookback time at which star formation started, yr (<= t_univ).
    """

    log_mass: Array
    age_yr: Array


class TauParams(NamedTuple):
    """Parameters of :class:`Tau` and :class:`DelayedTau`.

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        age_yr: lookback time at which star formation started, yr (<= t_univ).
        tau_yr: e-folding timescale, yr (> 0).
    """

    log_mass: Array
    age_yr: Array
    tau_yr: Array


class DelayedTauParams(NamedTuple):
    """Parameters of :class:`DelayedTau` (same fields as :class:`TauParams`).

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        age_yr: lookback time at which star formation started, yr (<= t_univ).
        tau_yr: timescale, yr (> 0); the SFR peaks tau after the onset.
    """

    log_mass: Array
    age_yr: Array
    tau_yr: Array


class _OnsetModel(SFHModel):
    def _check_onset(self, params: Any, t_univ_yr: Array, checks: Checks) -> Array:
        age = scalar_param(params, "age_yr")
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        require_positive(checks, age, "params.age_yr", "yr")
        check_not_older_than_universe(checks, age, t_univ_yr, "params.age_yr")
        return age

    def _check_age_prior(self, checks: Checks) -> None:
        check_range(checks, self.age_min_yr, self.age_max_yr, "age_min_yr", "age_max_yr")
        require_positive(checks, as_float(self.age_min_yr), "age_min_yr", "yr")

    @staticmethod
    def _age(params: Any, t_univ_yr: Array) -> Array:
        return jnp.minimum(as_float(params.age_yr), t_univ_yr)

    def _onset_yr(self, params: Any, t_univ_yr: Array) -> Array:
        return self._age(params, t_univ_yr)


@pytree_dataclass()
class Constant(_OnsetModel):
    """Constant SFR from lookback time ``age_yr`` until observation.

    SFR(L) = M / age for 0 <= L <= age (L: lookback time), zero before.

    Prior: log_mass ~ Uniform(log_mass_min, log_mass_max);
    age_yr ~ Uniform(age_min_yr, age_max_yr). Set ``age_max_yr`` to the age of the
    universe at the galaxy's redshift.

    Attributes:
        age_max_yr: upper bound of the age prior, yr (required).
        age_min_yr: lower bound of the age prior, yr (default 1e7).
        log_mass_min, log_mass_max: log-mass prior bounds (default 6, 13).
    """

    age_max_yr: ArrayLike
    age_min_yr: ArrayLike = 1e7
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = ConstantParams

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "age_yr": uniform(self.age_min_yr, self.age_max_yr),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        self._check_age_prior(checks)

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        self._check_onset(params, t_univ_yr, checks)

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        age = self._age(params, t_univ_yr)
        return jnp.minimum(lookback_yr, age) / age

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        age = self._age(params, t_univ_yr)
        return jnp.maximum(age - lookback_yr, 0.0) / age

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        age = self._age(params, t_univ_yr)
        clipped = jnp.minimum(lookback_yr, age)
        return clipped * clipped / (2.0 * age)

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        age = self._age(params, t_univ_yr)
        return jnp.where(lookback_yr <= age, 1.0 / age, 0.0)


class _TauBase(_OnsetModel):
    def _prior_fields(self) -> dict[str, Any]:
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "age_yr": uniform(self.age_min_yr, self.age_max_yr),
            "tau_yr": log_uniform(self.tau_min_yr, self.tau_max_yr),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        self._check_age_prior(checks)
        check_range(checks, self.tau_min_yr, self.tau_max_yr, "tau_min_yr", "tau_max_yr")
        require_positive(checks, as_float(self.tau_min_yr), "tau_min_yr", "yr")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        self._check_onset(params, t_univ_yr, checks)
        require_positive(checks, scalar_param(params, "tau_yr"), "params.tau_yr", "yr")

    def _scaled(
        self, params: Any, lookback_yr: Array, t_univ_yr: Array
    ) -> tuple[Array, Array, Array]:
        """(d, x, tau): lookback and age in units of tau, with d clipped to [0, x]."""
        tau = as_float(params.tau_yr)
        x = self._age(params, t_univ_yr) / tau
        d = jnp.clip(lookback_yr / tau, 0.0, x)
        return d, x, tau


@pytree_dataclass()
class Tau(_TauBase):
    """Exponentially declining SFH ("tau model") starting at lookback time ``age_yr``.

    SFR(t) ∝ exp(-(t - t_start) / tau) for t >= t_start (t: cosmic time), i.e. in
    lookback time L: SFR ∝ exp((L - age) / tau) for L <= age. The mass formed within
    the last L years is M exp((L - age)/tau) (1 - exp(-L/tau)) / (1 - exp(-age/tau)),
    evaluated without overflow for any age/tau.

    Prior: log_mass ~ Uniform; age_yr ~ Uniform(age_min_yr, age_max_yr);
    tau_yr ~ LogUniform(tau_min_yr, tau_max_yr).

    Attributes:
        age_max_yr: upper bound of the age prior, yr (required; use t_univ at z).
        age_min_yr: default 1e7 yr.
        tau_min_yr, tau_max_yr: default 1e8 and 1e10 yr.
        log_mass_min, log_mass_max: default 6 and 13.
    """

    age_max_yr: ArrayLike
    age_min_yr: ArrayLike = 1e7
    tau_min_yr: ArrayLike = 1e8
    tau_max_yr: ArrayLike = 1e10
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = TauParams

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        d, x, _ = self._scaled(params, lookback_yr, t_univ_yr)
        return scaled_exp_moment(0, d, x) / scaled_exp_moment(0, x, x)

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        # mass formed before lookback L: (1 - exp(-(x - d))) / (1 - exp(-x))
        d, x, _ = self._scaled(params, lookback_yr, t_univ_yr)
        return jnp.expm1(d - x) / jnp.expm1(-x)

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        d, x, tau = self._scaled(params, lookback_yr, t_univ_yr)
        return tau * scaled_exp_moment(1, d, x) / scaled_exp_moment(0, x, x)

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        d, x, tau = self._scaled(params, lookback_yr, t_univ_yr)
        inside = lookback_yr <= self._age(params, t_univ_yr)
        return jnp.where(inside, jnp.exp(d - x) / (tau * -jnp.expm1(-x)), 0.0)


@pytree_dataclass()
class DelayedTau(_TauBase):
    """Delayed exponentially declining SFH starting at lookback time ``age_yr``.

    SFR(t) ∝ (t - t_start) exp(-(t - t_start) / tau) for t >= t_start. With y the time
    since the onset in units of tau, the cumulative mass is the lower incomplete gamma
    function gamma(2, y) = 1 - (1 + y) exp(-y); the mass within the last L years is
    evaluated directly as the integral of y exp(-y) over the last L/tau (series for small
    L/tau) so young bins keep full relative precision.

    Prior: as :class:`Tau`.

    Attributes:
        age_max_yr: upper bound of the age prior, yr (required; use t_univ at z).
        age_min_yr: default 1e7 yr.
        tau_min_yr, tau_max_yr: default 1e8 and 1e10 yr.
        log_mass_min, log_mass_max: default 6 and 13.
    """

    age_max_yr: ArrayLike
    age_min_yr: ArrayLike = 1e7
    tau_min_yr: ArrayLike = 1e8
    tau_max_yr: ArrayLike = 1e10
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = DelayedTauParams

    @staticmethod
    def _young_unnormed(d: Array, x: Array) -> Array:
        # integral over the last d (in tau units) of y exp(-y), y = x - z:
        # exp(-x) [x q0(d) - q1(d)] with q_n(d) = integral_0^d z^n e^z dz.
        return x * scaled_exp_moment(0, d, x) - scaled_exp_moment(1, d, x)

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        d, x, _ = self._scaled(params, lookback_yr, t_univ_yr)
        return self._young_unnormed(d, x) / self._young_unnormed(x, x)

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        # mass formed before lookback L: gamma(2, y) / gamma(2, x) with y = x - d the time
        # since the onset; gamma(2, y) = integral_0^y z e^-z dz is the same integral as the
        # young side read from the onset (accurate for the small y of the oldest bins).
        d, x, _ = self._scaled(params, lookback_yr, t_univ_yr)
        y = x - d
        return self._young_unnormed(y, y) / self._young_unnormed(x, x)

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        d, x, tau = self._scaled(params, lookback_yr, t_univ_yr)
        num = x * scaled_exp_moment(1, d, x) - scaled_exp_moment(2, d, x)
        return tau * num / self._young_unnormed(x, x)

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        d, x, tau = self._scaled(params, lookback_yr, t_univ_yr)
        y = x - d
        inside = lookback_yr <= self._age(params, t_univ_yr)
        return jnp.where(inside, y * jnp.exp(-y) / (tau * self._young_unnormed(x, x)), 0.0)


# --------------------------------------------------------------------------------------
# Models defined in cosmic time from the Big Bang (no onset parameter).
# --------------------------------------------------------------------------------------

_QUAD_NODES = 16
# alpha below DPL_MIN_ALPHA needs more exponent-lowering steps than implemented; the
# floor allows for float32 rounding of 0.01 itself.
_ALPHA_FLOOR = DPL_MIN_ALPHA * (1.0 - 1e-6)


def _linear_lead_difference(
    k1: Array, log_u1: Array, k2: Array, log_u2: Array, delta: Array
) -> Array:
    """k1 min(log_u1, 0) - k2 min(log_u2, 0); exact for both <= 0 given delta = log_u1 - log_u2."""
    both = (log_u1 <= 0) & (log_u2 <= 0)
    direct = k1 * jnp.minimum(log_u1, 0.0) - k2 * jnp.minimum(log_u2, 0.0)
    return jnp.where(both, k1 * delta + (k1 - k2) * log_u2, direct)


def _quadratic_lead_difference(z1: Array, z2: Array, dz: Array) -> Array:
    """-(min(z1, 0)**2 - min(z2, 0)**2) / 2, exact when both are < 0 given dz = z1 - z2."""
    both = (z1 < 0) & (z2 < 0)
    direct = -0.5 * (jnp.minimum(z1, 0.0) ** 2 - jnp.minimum(z2, 0.0) ** 2)
    return jnp.where(both, -0.5 * dz * (z1 + z2), direct)


def _log_ndtr_rest(z: Array) -> Array:
    """log Phi(z) + min(z, 0)**2 / 2 without cancellation.

    z < 0: log(erfcx(-z / sqrt 2) / 2); z >= 0: log1p(-Phi(-z)), which keeps the
    relative precision of the small number log Phi(z) (log(Phi(z)) would round Phi to 1).
    """
    negative = z < 0
    zn = jnp.where(negative, z, -1.0)
    zp = jnp.where(negative, 1.0, z)
    return jnp.where(negative, jnp.log(0.5 * erfcx(-zn / jnp.sqrt(2.0))), jnp.log1p(-ndtr(-zp)))


class _CosmicTimeModel(SFHModel):
    """SFR defined as a function of cosmic time t (0 at the Big Bang, t_univ at observation).

    Subclasses work in a dimensionless time u = t / t_s (``_time_scale``), with F(u) the
    cumulative mass (unnormalised), f = dF/du and G(u) = integral_0^u u' f(u') du'. They
    return the logarithms of F(u)/F(u_T), G(u)/G(u_T), f(u)/F(u_T) and G(u_T)/F(u_T)
    (u_T = t_univ / t_s) from log u and delta = log(t / t_univ), with large leading
    terms (e.g. u**(beta+1) for u << 1) cancelled analytically; quantities at u_T are
    computed once per call (``_context``). With T = t_univ:

    * mass formed before lookback L: F(u(T-L)) / F(u(T));
    * mass formed within the last L: 1 - that (or a better-conditioned tail difference,
      ``_young_cumulative``), except for L <= h T (h from ``_smooth_fraction``), where
      the mass is integrated directly with 16-point Gauss-Legendre quadrature of f over
      [T-L, T] (the difference would lose relative precision; f is smooth on that
      scale, so the rule is exact to round-off).

    Everything is normalised in log space, so nothing underflows or overflows.
    """

    def _time_scale(self, params: Any) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _context(self, params: Any, log_ut: Array) -> dict[str, Array]:  # pragma: no cover
        raise NotImplementedError

    def _log_ratio_F(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def _log_ratio_G(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def _log_f_over_F(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        raise NotImplementedError  # pragma: no cover - abstract

    def _log_G_over_F(self, params: Any, ctx: dict) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _smooth_fraction(self, params: Any) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _young_cumulative(self, params: Any, ctx: dict, log_u: Array, log_ratio_f: Array) -> Array:
        """[F(u_T) - F(u)] / F(u_T); subclasses override where a better-conditioned form exists."""
        return -jnp.expm1(log_ratio_f)

    def _onset_yr(self, params: Any, t_univ_yr: Array) -> Array:
        return t_univ_yr

    def _setup(self, params: Any, t_univ_yr: Array) -> dict[str, Array]:
        log_ut = jnp.log(t_univ_yr / self._time_scale(params))
        ctx = self._context(params, log_ut)
        ctx["log_ut"] = log_ut
        ctx["t_s"] = self._time_scale(params)
        return ctx

    @staticmethod
    def _times(ctx: dict, lookback_yr: Array, t_univ_yr: Array) -> tuple[Array, Array, Array]:
        """(started, log u, delta = log(t / T)), finite for every lookback."""
        started = lookback_yr < t_univ_yr
        delta = jnp.log1p(-jnp.where(started, lookback_yr, 0.0) / t_univ_yr)
        return started, ctx["log_ut"] + delta, delta

    def _quadrature(self, params: Any, ctx: dict, lookback_yr: Array, t_univ_yr: Array):
        """Young-side quadrature: (use_quad, lq, lookback nodes, weights, f / F(T) per yr)."""
        h = self._smooth_fraction(params) * t_univ_yr
        use_quad = lookback_yr <= h
        lq = jnp.minimum(lookback_yr, h)
        nodes, weights = gauss_legendre_01(_QUAD_NODES, lookback_yr.dtype)
        lq_nodes = lq[..., None] * nodes
        _, log_u, delta = self._times(ctx, lq_nodes, t_univ_yr)
        f_norm = jnp.exp(self._log_f_over_F(params, ctx, log_u, delta)) / ctx["t_s"]
        return use_quad, lq, lq_nodes, weights, f_norm

    def _young_and_log_old(self, params: Any, lookback_yr: Array, t_univ_yr: Array):
        ctx = self._setup(params, t_univ_yr)
        use_quad, lq, _, weights, f_norm = self._quadrature(params, ctx, lookback_yr, t_univ_yr)
        quad = lq * jnp.sum(weights * f_norm, -1)
        started, log_u, delta = self._times(ctx, lookback_yr, t_univ_yr)
        log_ratio = jnp.minimum(self._log_ratio_F(params, ctx, log_u, delta), 0.0)
        cum = jnp.where(started, self._young_cumulative(params, ctx, log_u, log_ratio), 1.0)
        # Clip round-off (a saturated cumulative can exceed its final value by an ulp).
        young = jnp.clip(jnp.where(use_quad, quad, cum), 0.0, 1.0)
        return young, jnp.where(started, log_ratio, -jnp.inf)

    def _young_and_old(self, params: Any, lookback_yr: Array, t_univ_yr: Array):
        young, log_old = self._young_and_log_old(params, lookback_yr, t_univ_yr)
        return young, jnp.exp(log_old)

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return self._young_and_log_old(params, lookback_yr, t_univ_yr)[0]

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return jnp.exp(self._log_old_fraction(params, lookback_yr, t_univ_yr))

    def _log_old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        ctx = self._setup(params, t_univ_yr)
        started, log_u, delta = self._times(ctx, lookback_yr, t_univ_yr)
        log_ratio = jnp.minimum(self._log_ratio_F(params, ctx, log_u, delta), 0.0)
        return jnp.where(started, log_ratio, -jnp.inf)

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        ctx = self._setup(params, t_univ_yr)
        use_quad, lq, lq_nodes, weights, f_norm = self._quadrature(
            params, ctx, lookback_yr, t_univ_yr
        )
        quad = lq * jnp.sum(weights * lq_nodes * f_norm, -1)
        started, log_u, delta = self._times(ctx, lookback_yr, t_univ_yr)
        log_ratio = jnp.minimum(self._log_ratio_F(params, ctx, log_u, delta), 0.0)
        young = jnp.where(started, self._young_cumulative(params, ctx, log_u, log_ratio), 1.0)
        g_frac = jnp.where(started, -jnp.expm1(self._log_ratio_G(params, ctx, log_u, delta)), 1.0)
        mean_t = ctx["t_s"] * jnp.exp(self._log_G_over_F(params, ctx))
        cum = t_univ_yr * young - mean_t * g_frac
        return jnp.where(use_quad, quad, cum)

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        ctx = self._setup(params, t_univ_yr)
        started, log_u, delta = self._times(ctx, lookback_yr, t_univ_yr)
        value = jnp.exp(self._log_f_over_F(params, ctx, log_u, delta)) / ctx["t_s"]
        return jnp.where(started, value, 0.0)


class LogNormalParams(NamedTuple):
    """Parameters of :class:`LogNormal`.

    Attributes:
        log_mass: log10 of the total stellar mass formed by observation, M_sun.
        t0_yr: exp(T0): the cosmic time (since the Big Bang) that is the median of the
            full log-normal, yr. The SFR peaks at t0 * exp(-width**2).
        width: tau, the width of the log-normal in ln t (dimensionless, > 0).
    """

    log_mass: Array
    t0_yr: Array
    width: Array


@pytree_dataclass()
class LogNormal(_CosmicTimeModel):
    """Log-normal SFH in cosmic time (Gladders et al. 2013, ApJ 770, 64; Diemer et al. 2017).

    SFR(t) ∝ exp(-(ln t - T0)**2 / (2 width**2)) / t, t cosmic time since the Big Bang.
    Cumulative mass: Phi((ln t - T0) / width) (Phi the standard normal CDF); only the
    mass formed by t_univ (observation) is counted and normalised to 10**log_mass. First
    moment: exp(T0 + width**2/2) Phi((ln t - T0)/width - width).

    Prior: log_mass ~ Uniform; t0_yr ~ LogUniform(t0_min_yr, t0_max_yr) (i.e. T0
    uniform); width ~ Uniform(width_min, width_max).

    Attributes:
        t0_min_yr, t0_max_yr: default 1e8 and 1.5e10 yr.
        width_min, width_max: default 0.1 and 2.0.
        log_mass_min, log_mass_max: default 6 and 13.
    """

    t0_min_yr: ArrayLike = 1e8
    t0_max_yr: ArrayLike = 1.5e10
    width_min: ArrayLike = 0.1
    width_max: ArrayLike = 2.0
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = LogNormalParams

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "t0_yr": log_uniform(self.t0_min_yr, self.t0_max_yr),
            "width": uniform(self.width_min, self.width_max),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        check_range(checks, self.t0_min_yr, self.t0_max_yr, "t0_min_yr", "t0_max_yr")
        require_positive(checks, as_float(self.t0_min_yr), "t0_min_yr", "yr")
        check_range(checks, self.width_min, self.width_max, "width_min", "width_max")
        require_positive(checks, as_float(self.width_min), "width_min")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        require_positive(checks, scalar_param(params, "t0_yr"), "params.t0_yr", "yr")
        require_positive(checks, scalar_param(params, "width"), "params.width")

    def _time_scale(self, params: Any) -> Array:
        return as_float(params.t0_yr)

    # z = ln(u) / width; F = Phi(z), G = exp(width**2/2) Phi(z - width),
    # f = phi(z) / (width u).
    def _context(self, params: Any, log_ut: Array) -> dict[str, Array]:
        width = as_float(params.width)
        z_t = log_ut / width
        return {"width": width, "z_t": z_t, "rest_f_t": _log_ndtr_rest(z_t),
                "rest_g_t": _log_ndtr_rest(z_t - width)}

    def _log_ratio_F(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        width, z_t = ctx["width"], ctx["z_t"]
        z = log_u / width
        lead = _quadratic_lead_difference(z, z_t, delta / width)
        return lead + _log_ndtr_rest(z) - ctx["rest_f_t"]

    def _log_ratio_G(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        width = ctx["width"]
        z, z_t = log_u / width - width, ctx["z_t"] - width
        lead = _quadratic_lead_difference(z, z_t, delta / width)
        return lead + _log_ndtr_rest(z) - ctx["rest_g_t"]

    def _log_f_over_F(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        width, z_t = ctx["width"], ctx["z_t"]
        z = log_u / width
        # -z**2/2 + min(z_t, 0)**2/2, exact for z_t < 0 through (z - z_t)(z + z_t).
        lead = jnp.where(z_t < 0, -0.5 * (delta / width) * (z + z_t), -0.5 * z * z)
        return lead - ctx["rest_f_t"] - 0.5 * jnp.log(2.0 * jnp.pi) - jnp.log(width) - log_u

    def _log_G_over_F(self, params: Any, ctx: dict) -> Array:
        width, z_t = ctx["width"], ctx["z_t"]
        zg = z_t - width
        both_negative = z_t * width - 0.5 * width * width
        lead = jnp.where(zg < 0, jnp.where(z_t < 0, both_negative, -0.5 * zg * zg), 0.0)
        return 0.5 * width * width + lead + ctx["rest_g_t"] - ctx["rest_f_t"]

    def _young_cumulative(self, params: Any, ctx: dict, log_u: Array, log_ratio_f: Array) -> Array:
        # After the median (z >= 0) the mass formed since u is Phi(-z) - Phi(-z_T), a
        # difference of small, accurately known upper tails.
        z, z_t = log_u / ctx["width"], ctx["z_t"]
        tail = (ndtr(-z) - ndtr(-z_t)) / ndtr(z_t)
        return jnp.where(z >= 0, tail, -jnp.expm1(log_ratio_f))

    def _smooth_fraction(self, params: Any) -> Array:
        return jnp.minimum(0.1, 0.5 * as_float(params.width))


class DoublePowerLawParams(NamedTuple):
    """Parameters of :class:`DoublePowerLaw`.

    Attributes:
        log_mass: log10 of the total stellar mass formed by observation, M_sun.
        tau_yr: turnover time in cosmic time (since the Big Bang), yr (> 0).
        alpha: falling (late-time) slope, >= 0.01.
        beta: rising (early-time) slope, >= 0.
    """

    log_mass: Array
    tau_yr: Array
    alpha: Array
    beta: Array


@pytree_dataclass()
class DoublePowerLaw(_CosmicTimeModel):
    """Double power law SFH in cosmic time (Behroozi et al. 2013; Carnall et al. 2018).

    SFR(t) ∝ [(t/tau)**alpha + (t/tau)**(-beta)]**-1. The cumulative mass, with u = t/tau,
    a = alpha + beta and s = (beta + 1)/a, is (tau/a) B(u**a/(1+u**a); s, 1-s) (B the
    incomplete beta function, continued analytically to s >= 1); it is evaluated by a
    positive series plus elementary power integrals (``_special.log_dpl_integral``), exact
    to round-off for alpha >= 0.01 and beta >= 0 (alpha < 0.01 raises ValueError).

    Prior (Carnall et al. 2018, MNRAS 480, 4379): alpha, beta ~ LogUniform(0.01, 1000);
    tau_yr ~ Uniform(tau_min_yr, tau_max_yr) (their 0-15 Gyr, with a lower bound > 0 here);
    log_mass ~ Uniform.

    Attributes:
        tau_min_yr, tau_max_yr: default 1e7 and 1.5e10 yr.
        alpha_min, alpha_max, beta_min, beta_max: default 0.01 and 1000.
        log_mass_min, log_mass_max: default 6 and 13.
    """

    tau_min_yr: ArrayLike = 1e7
    tau_max_yr: ArrayLike = 1.5e10
    alpha_min: ArrayLike = 0.01
    alpha_max: ArrayLike = 1000.0
    beta_min: ArrayLike = 0.01
    beta_max: ArrayLike = 1000.0
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = DoublePowerLawParams

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "tau_yr": uniform(self.tau_min_yr, self.tau_max_yr),
            "alpha": log_uniform(self.alpha_min, self.alpha_max),
            "beta": log_uniform(self.beta_min, self.beta_max),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        check_range(checks, self.tau_min_yr, self.tau_max_yr, "tau_min_yr", "tau_max_yr")
        require_positive(checks, as_float(self.tau_min_yr), "tau_min_yr", "yr")
        check_range(checks, self.alpha_min, self.alpha_max, "alpha_min", "alpha_max")
        check_range(checks, self.beta_min, self.beta_max, "beta_min", "beta_max")
        alpha_min = as_float(self.alpha_min)
        checks.require(
            alpha_min >= _ALPHA_FLOOR,
            lambda: f"alpha_min must be >= {DPL_MIN_ALPHA} (the exact cumulative mass is "
            f"implemented down to that slope); got {describe(alpha_min)}.",
        )
        require_positive(checks, as_float(self.beta_min), "beta_min")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        require_positive(checks, scalar_param(params, "tau_yr"), "params.tau_yr", "yr")
        alpha = scalar_param(params, "alpha")
        beta = scalar_param(params, "beta")
        checks.require(
            alpha >= _ALPHA_FLOOR,
            lambda: f"params.alpha must be >= {DPL_MIN_ALPHA}; got {describe(alpha)}.",
        )
        checks.require(beta >= 0, lambda: f"params.beta must be >= 0; got {describe(beta)}.")

    def _time_scale(self, params: Any) -> Array:
        return as_float(params.tau_yr)

    # F(u) = u**(beta+1) x rest for u <= 1; G the same with (alpha - 1, beta + 1);
    # f(u) = 1 / (u**alpha + u**-beta) = u**beta x rest for u <= 1.
    def _context(self, params: Any, log_ut: Array) -> dict[str, Array]:
        alpha, beta = as_float(params.alpha), as_float(params.beta)
        a = alpha + beta
        p_tail = jnp.where(alpha > 1.0, (alpha - 1.0) / a, 0.5)  # 1 - s, for the tail form
        rest_f_t = log_dpl_integral_rest(log_ut, alpha, beta)
        return {
            "alpha": alpha,
            "beta": beta,
            "a": a,
            "p_tail": p_tail,
            "rest_f_t": rest_f_t,
            "rest_g_t": log_dpl_integral_rest(log_ut, alpha - 1.0, beta + 1.0),
            "log_f_t": rest_f_t + (beta + 1.0) * jnp.minimum(log_ut, 0.0),
            "log_tail_t": self._log_tail(log_ut, a, p_tail),
        }

    @staticmethod
    def _log_tail(log_u: Array, a: Array, p: Array) -> Array:
        # log of integral_u^inf f = (1/a) B(1/(1+u**a); 1-s, s), for u >= 1 and alpha > 1.
        lr = a * jnp.maximum(log_u, 0.0)
        return log_beta_inc_series(jax.nn.log_sigmoid(-lr), jax.nn.log_sigmoid(lr), p) - jnp.log(a)

    def _log_ratio_F(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        k = ctx["beta"] + 1.0
        lead = _linear_lead_difference(k, log_u, k, ctx["log_ut"], delta)
        return lead + log_dpl_integral_rest(log_u, ctx["alpha"], ctx["beta"]) - ctx["rest_f_t"]

    def _log_ratio_G(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        k = ctx["beta"] + 2.0
        lead = _linear_lead_difference(k, log_u, k, ctx["log_ut"], delta)
        rest = log_dpl_integral_rest(log_u, ctx["alpha"] - 1.0, ctx["beta"] + 1.0)
        return lead + rest - ctx["rest_g_t"]

    def _log_f_over_F(self, params: Any, ctx: dict, log_u: Array, delta: Array) -> Array:
        alpha, beta, a = ctx["alpha"], ctx["beta"], ctx["a"]
        rest_f = jnp.where(
            log_u <= 0, -jax.nn.softplus(a * log_u), -alpha * log_u - jax.nn.softplus(-a * log_u)
        )  # log f - beta min(log u, 0)
        lead = _linear_lead_difference(beta, log_u, beta + 1.0, ctx["log_ut"], delta)
        return lead + rest_f - ctx["rest_f_t"]

    def _log_G_over_F(self, params: Any, ctx: dict) -> Array:
        return jnp.minimum(ctx["log_ut"], 0.0) + ctx["rest_g_t"] - ctx["rest_f_t"]

    def _young_cumulative(self, params: Any, ctx: dict, log_u: Array, log_ratio_f: Array) -> Array:
        # For alpha > 1 the late-time tail C(u) = integral_u^inf f converges; once past the
        # turnover (u >= 1) and smaller than F(u_T), the young mass C(u) - C(u_T) is a
        # difference of small, accurately known numbers.
        log_cu = self._log_tail(log_u, ctx["a"], ctx["p_tail"])
        tail = jnp.exp(log_cu - ctx["log_f_t"]) - jnp.exp(ctx["log_tail_t"] - ctx["log_f_t"])
        use_tail = (ctx["alpha"] > 1.0) & (log_u >= 0) & (log_cu < ctx["log_f_t"])
        return jnp.where(use_tail, tail, -jnp.expm1(log_ratio_f))

    def _smooth_fraction(self, params: Any) -> Array:
        return jnp.minimum(0.1, 1.0 / (as_float(params.alpha) + as_float(params.beta)))
