"""Optional late burst and truncation on top of any SFH model."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import SFHModel, check_not_older_than_universe, check_range, log_uniform, uniform
from ._checks import Checks, as_float, describe, pytree_dataclass, require_positive
from ._parametric import scalar_param

Array = jax.Array
ArrayLike = Any


class LateBurstParams(NamedTuple):
    """Parameters of :class:`LateBurst`.

    Attributes:
        base: parameters of the base model (its ``log_mass`` is the total mass formed,
            base history plus burst).
        burst_fraction: fraction of the total mass formed in the burst, in [0, 1].
        burst_age_yr: lookback time at which the burst started, yr (0 < age <= t_univ).
    """

    base: Any
    burst_fraction: Array
    burst_age_yr: Array


def _top_hat(lookback: Array, lo: Array, hi: Array) -> tuple[Array, Array, Array]:
    width = hi - lo
    young = jnp.clip((lookback - lo) / width, 0.0, 1.0)
    clipped = jnp.clip(lookback, lo, hi)
    moment = (clipped - lo) * (clipped + lo) / (2.0 * width)
    return young, moment, width


@pytree_dataclass()
class LateBurst(SFHModel):
    """A base SFH plus a burst of constant SFR forming a fraction of the total mass.

    The burst starts at lookback time ``burst_age_yr`` and lasts ``burst_duration_yr``
    (a hyper-parameter); a burst younger than its duration is still going on at
    observation and spans [0, burst_age_yr]. Mass formed within the last L years is
    (1 - f) Y_base(L) + f Y_burst(L); the total stays 10**log_mass.

    Prior: base parameters from ``base``; burst_fraction ~ Uniform(0, burst_fraction_max);
    burst_age_yr ~ LogUniform(burst_age_min_yr, burst_age_max_yr) (defaults chosen here).

    Attributes:
        base: any sfh_priors model.
        burst_duration_yr: default 1e7 yr.
        burst_fraction_max: default 0.5.
        burst_age_min_yr, burst_age_max_yr: default 1e6 and 1e9 yr.
    """

    base: SFHModel
    burst_duration_yr: ArrayLike = 1e7
    burst_fraction_max: ArrayLike = 0.5
    burst_age_min_yr: ArrayLike = 1e6
    burst_age_max_yr: ArrayLike = 1e9

    params_type = LateBurstParams

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "burst_fraction": uniform(0.0, self.burst_fraction_max),
            "burst_age_yr": log_uniform(self.burst_age_min_yr, self.burst_age_max_yr),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        if not isinstance(self.base, SFHModel):
            raise TypeError(f"base must be an sfh_priors model; got {type(self.base).__name__}.")
        self.base._validate_hyper(checks)
        require_positive(checks, as_float(self.burst_duration_yr), "burst_duration_yr", "yr")
        fmax = as_float(self.burst_fraction_max)
        checks.require(
            (fmax > 0) & (fmax <= 1),
            lambda: f"burst_fraction_max must be in (0, 1]; got {describe(fmax)}.",
        )
        check_range(
            checks,
            self.burst_age_min_yr,
            self.burst_age_max_yr,
            "burst_age_min_yr",
            "burst_age_max_yr",
        )
        require_positive(checks, as_float(self.burst_age_min_yr), "burst_age_min_yr", "yr")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        if not isinstance(params.base, self.base.params_type):
            raise TypeError(
                f"params.base must be a {self.base.params_type.__name__}; got "
                f"{type(params.base).__name__}."
            )
        self.base._validate_params(params.base, t_univ_yr, checks)
        frac = scalar_param(params, "burst_fraction")
        checks.require(
            (frac >= 0) & (frac <= 1),
            lambda: f"params.burst_fraction must be in [0, 1]; got {describe(frac)}.",
        )
        age = scalar_param(params, "burst_age_yr")
        require_positive(checks, age, "params.burst_age_yr", "yr")
        check_not_older_than_universe(checks, age, t_univ_yr, "params.burst_age_yr")

    def _log_mass(self, params: Any) -> Array:
        return self.base._log_mass(params.base)

    def _onset_yr(self, params: Any, t_univ_yr: Array) -> Array:
        base_onset = self.base._onset_yr(params.base, t_univ_yr)
        return jnp.maximum(base_onset, self._window(params, t_univ_yr)[1])

    def _window(self, params: Any, t_univ_yr: Array) -> tuple[Array, Array]:
        hi = jnp.minimum(as_float(params.burst_age_yr), t_univ_yr)
        lo = jnp.maximum(hi - as_float(self.burst_duration_yr), 0.0)
        return lo, hi

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        f = as_float(params.burst_fraction)
        burst, _, _ = _top_hat(lookback_yr, *self._window(params, t_univ_yr))
        base = self.base._young_fraction(params.base, lookback_yr, t_univ_yr)
        return (1.0 - f) * base + f * burst

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        f = as_float(params.burst_fraction)
        lo, hi = self._window(params, t_univ_yr)
        burst_old = jnp.clip((hi - lookback_yr) / (hi - lo), 0.0, 1.0)
        base = self.base._old_fraction(params.base, lookback_yr, t_univ_yr)
        return (1.0 - f) * base + f * burst_old

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        f = as_float(params.burst_fraction)
        _, burst, _ = _top_hat(lookback_yr, *self._window(params, t_univ_yr))
        return (1.0 - f) * self.base._moment(params.base, lookback_yr, t_univ_yr) + f * burst

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        f = as_float(params.burst_fraction)
        lo, hi = self._window(params, t_univ_yr)
        inside = (lookback_yr >= lo) & (lookback_yr < hi)
        base = self.base._sfr_per_mass(params.base, lookback_yr, t_univ_yr)
        return (1.0 - f) * base + f * jnp.where(inside, 1.0 / (hi - lo), 0.0)


class TruncatedParams(NamedTuple):
    """Parameters of :class:`Truncated`.

    Attributes:
        base: parameters of the base model (its ``log_mass`` is the total mass formed
            after truncation).
        truncation_fraction: where star formation stops, as a fraction of the lookback
            time of the onset of the base history (0: no truncation; 0.5: it stopped
            half-way between the onset and observation), in [0, 1).
    """

    base: Any
    truncation_fraction: Array


@pytree_dataclass()
class Truncated(SFHModel):
    """A base SFH whose star formation stops abruptly (rapid quenching).

    SFR = SFR_base for lookback L >= L_q and 0 for L < L_q, with
    L_q = truncation_fraction x (lookback time of the base's onset): ``age_yr`` for
    constant/tau/delayed-tau, ``t_univ`` for the log-normal and double power law (which
    start at the Big Bang), the oldest bin edge for binned models, the older of the base
    onset and the burst for :class:`LateBurst`. The shape before the truncation is the
    base's; the total mass formed is renormalised to 10**log_mass. The truncation
    lookback time is returned by :meth:`truncation_age_yr`. Parametrising by a fraction
    keeps every prior draw valid (a truncation older than the onset would leave nothing).

    Prior: base parameters from ``base``; truncation_fraction ~
    Uniform(truncation_fraction_min, truncation_fraction_max).

    Attributes:
        base: any sfh_priors model.
        truncation_fraction_min, truncation_fraction_max: default 0 and 0.99.
    """

    base: SFHModel
    truncation_fraction_min: ArrayLike = 0.0
    truncation_fraction_max: ArrayLike = 0.99

    params_type = TruncatedParams

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "truncation_fraction": uniform(
                self.truncation_fraction_min, self.truncation_fraction_max
            ),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        if not isinstance(self.base, SFHModel):
            raise TypeError(f"base must be an sfh_priors model; got {type(self.base).__name__}.")
        self.base._validate_hyper(checks)
        lo, hi = as_float(self.truncation_fraction_min), as_float(self.truncation_fraction_max)
        checks.require(
            (lo >= 0) & (lo < hi) & (hi < 1),
            lambda: "need 0 <= truncation_fraction_min < truncation_fraction_max < 1; got "
            f"{describe(lo)} and {describe(hi)}.",
        )

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        if not isinstance(params.base, self.base.params_type):
            raise TypeError(
                f"params.base must be a {self.base.params_type.__name__}; got "
                f"{type(params.base).__name__}."
            )
        self.base._validate_params(params.base, t_univ_yr, checks)
        frac = scalar_param(params, "truncation_fraction")
        checks.require(
            (frac >= 0) & (frac < 1),
            lambda: f"params.truncation_fraction must be in [0, 1); got {describe(frac)}.",
        )
        checks.require(
            self._log_remaining(params, t_univ_yr) > -jnp.inf,
            lambda: "the base history formed no mass before the truncation; lower "
            "params.truncation_fraction.",
        )

    def truncation_age_yr(self, params: TruncatedParams, t_univ_yr: ArrayLike) -> Array:
        """Lookback time at which star formation stopped, yr.

        Args:
            params: a :class:`TruncatedParams`.
            t_univ_yr: scalar, age of the universe at the galaxy's redshift, yr.
        """
        return self._q(params, as_float(t_univ_yr))

    def _log_mass(self, params: Any) -> Array:
        return self.base._log_mass(params.base)

    def _onset_yr(self, params: Any, t_univ_yr: Array) -> Array:
        return self.base._onset_yr(params.base, t_univ_yr)

    def _q(self, params: Any, t_univ_yr: Array) -> Array:
        onset = self.base._onset_yr(params.base, t_univ_yr)
        return as_float(params.truncation_fraction) * onset

    def _remaining(self, params: Any, t_univ_yr: Array) -> Array:
        return jnp.exp(self._log_remaining(params, t_univ_yr))

    def _log_remaining(self, params: Any, t_univ_yr: Array) -> Array:
        return self.base._log_old_fraction(params.base, self._q(params, t_univ_yr), t_univ_yr)

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        # Mass formed between q and L over the mass formed before q. When q is on the
        # young side of the base history, a difference of the base's young cumulative
        # (keeps the bins just after the truncation precise); otherwise from the ratio of
        # its old cumulatives, formed in log space so that even a truncation that leaves
        # a tiny fraction of the base's mass stays finite.
        q = self._q(params, t_univ_yr)
        clipped = jnp.maximum(lookback_yr, q)
        young_q = self.base._young_fraction(params.base, q, t_univ_yr)
        from_young = (
            self.base._young_fraction(params.base, clipped, t_univ_yr) - young_q
        ) / jnp.maximum(1.0 - young_q, 0.5)
        log_old = self.base._log_old_fraction(params.base, clipped, t_univ_yr)
        log_ratio = log_old - self._log_remaining(params, t_univ_yr)
        from_old = -jnp.expm1(jnp.minimum(log_ratio, 0.0))
        return jnp.where(young_q <= 0.5, from_young, from_old)

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return jnp.exp(self._log_old_fraction(params, lookback_yr, t_univ_yr))

    def _log_old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        q = self._q(params, t_univ_yr)
        log_old = self.base._log_old_fraction(params.base, jnp.maximum(lookback_yr, q), t_univ_yr)
        return jnp.minimum(log_old - self._log_remaining(params, t_univ_yr), 0.0)

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        q = self._q(params, t_univ_yr)
        moment = self.base._moment(params.base, jnp.maximum(lookback_yr, q), t_univ_yr)
        moment_q = self.base._moment(params.base, q, t_univ_yr)
        return (moment - moment_q) / self._remaining(params, t_univ_yr)

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        q = self._q(params, t_univ_yr)
        base = self.base._sfr_per_mass(params.base, lookback_yr, t_univ_yr)
        return jnp.where(lookback_yr >= q, base, 0.0) / self._remaining(params, t_univ_yr)
