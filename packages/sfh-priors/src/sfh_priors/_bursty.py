"""Bursty stochastic SFHs: log SFR as a stationary Gaussian process sampled in time bins.

The process
-----------
log10 SFR(t) = c + delta(t), with delta a zero-mean stationary Gaussian process of
variance sigma**2 (dex**2) and the powered-exponential autocorrelation

    rho(dt) = exp(-(|dt| / tau) ** gamma),   gamma = slope - 1,  0 < gamma < 2.

Its power spectral density is flat for frequencies f << 1/(2 pi tau) and falls as
f**(-slope) above (the Fourier transform of exp(-|x|**gamma) is a symmetric
gamma-stable density, whose tails decay as |f|**(-1 - gamma); Levy 1925). So sigma sets
the amplitude (dex), tau the correlation (decorrelation) timescale and ``slope`` the
high-frequency power-law slope, the three quantities of the broken power-law PSD used
for SFH burstiness by Caplar & Tacchella (2019, MNRAS 487, 3845). For slope = 2 the
process is exactly the damped random walk (Ornstein-Uhlenbeck), whose PSD is the
Caplar & Tacchella form S(f) ∝ 1 / (1 + (tau_break f)**2) with tau_break = 2 pi tau.
For other slopes the asymptotic slope and the break scale match but the shape of the
knee differs from 1 / (1 + (tau_break f)**slope); the powered exponential is used
because its covariance is closed-form, so sampling and the likelihood are exact.

Binned history
--------------
delta is evaluated at the midpoints of user-chosen lookback-time bins and held constant
within each bin (choose bins narrower than tau to resolve the process). The constant c
is not a parameter: the bin masses are m_i ∝ 10**delta_i * width_i, normalised so that
they add up to 10**log_mass. Sampling draws delta exactly from N(0, K) through the
Cholesky factor of K; ``log_prob`` is the exact multivariate normal density of delta.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from ._base import check_log_mass, check_range, uniform
from ._checks import Checks, as_float, describe, pytree_dataclass, require_positive
from ._nonparametric import _FixedBins, _fractions_from_log_sfr
from ._parametric import LOG_MASS_MAX, LOG_MASS_MIN, scalar_param

Array = jax.Array
ArrayLike = Any


def log_sfr_autocorrelation(lag_yr: ArrayLike, tau_yr: ArrayLike, slope: ArrayLike = 2.0) -> Array:
    """Autocorrelation of log SFR in :class:`BurstyGP`: exp(-(|lag| / tau) ** (slope - 1)).

    Args:
        lag_yr: time lags in yr, any shape.
        tau_yr: correlation timescale in yr (> 0).
        slope: high-frequency slope of the power spectral density, 1 < slope < 3
            (2 is the damped random walk).

    Returns:
        Correlation coefficients, same shape as ``lag_yr`` (1 at zero lag).
    """
    lag = jnp.abs(as_float(lag_yr))
    tau = as_float(tau_yr)
    gamma = as_float(slope) - 1.0
    positive = lag > 0
    log_ratio = jnp.log(jnp.where(positive, lag, 1.0) / tau)
    return jnp.where(positive, jnp.exp(-jnp.exp(gamma * log_ratio)), 1.0)


class BurstyParams(NamedTuple):
    """Parameters of :class:`BurstyGP`.

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        delta_log_sfr: shape (n_bins,), the zero-mean Gaussian-process values of log10 SFR
            at the bin midpoints (dex), youngest bin first.
    """

    log_mass: Array
    delta_log_sfr: Array


@pytree_dataclass()
class BurstyGP(_FixedBins):
    """Bursty SFH: log10 SFR a stationary Gaussian process, constant within lookback bins.

    See the module documentation for the exact definition (powered-exponential
    covariance with amplitude ``sigma_dex``, correlation time ``tau_yr`` and PSD slope
    ``slope``; slope = 2 is the damped random walk of Caplar & Tacchella 2019).

    Prior: log_mass ~ Uniform(log_mass_min, log_mass_max); delta_log_sfr ~ N(0, K) with
    K_ij = sigma**2 rho(t_i - t_j) + jitter sigma**2 delta_ij (t_i bin midpoints).

    Attributes:
        bin_edges_yr: shape (n_bins + 1,), lookback-time edges in yr (last <= t_univ).
        sigma_dex: standard deviation of log10 SFR, dex (> 0).
        tau_yr: correlation timescale, yr (> 0).
        slope: PSD slope, 1 < slope < 3 (default 2).
        jitter: relative white-noise variance added to the diagonal for numerical
            stability of the Cholesky factor (default 1e-6; raise it for float32 with
            bins much narrower than tau).
        log_mass_min, log_mass_max: default 6 and 13.
    """

    bin_edges_yr: ArrayLike
    sigma_dex: ArrayLike
    tau_yr: ArrayLike
    slope: ArrayLike = 2.0
    jitter: ArrayLike = 1e-6
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = BurstyParams

    def covariance(self) -> Array:
        """Covariance of ``delta_log_sfr`` between bin midpoints, shape (n_bins, n_bins), dex**2."""
        checks = Checks()
        self._validate_hyper(checks)
        edges = as_float(self.bin_edges_yr)
        mid = 0.5 * (edges[1:] + edges[:-1])
        sigma2 = as_float(self.sigma_dex) ** 2
        rho = log_sfr_autocorrelation(mid[:, None] - mid[None, :], self.tau_yr, self.slope)
        cov = sigma2 * (rho + as_float(self.jitter) * jnp.eye(mid.shape[0], dtype=mid.dtype))
        return checks.guard(cov)

    def _prior_fields(self) -> dict[str, Any]:
        scale_tril = jnp.linalg.cholesky(self.covariance())
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "delta_log_sfr": dist.MultivariateNormal(
                jnp.zeros(self.n_bins, scale_tril.dtype), scale_tril=scale_tril
            ),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        self._check_edges(checks)
        require_positive(checks, as_float(self.sigma_dex), "sigma_dex", "dex")
        require_positive(checks, as_float(self.tau_yr), "tau_yr", "yr")
        slope = as_float(self.slope)
        checks.require(
            (slope > 1) & (slope < 3),
            lambda: f"slope must be in (1, 3) (PSD slope; 2 is the damped random walk); got "
            f"{describe(slope)}.",
        )
        jitter = as_float(self.jitter)
        checks.require(jitter >= 0, lambda: f"jitter must be >= 0; got {describe(jitter)}.")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        delta = self._vector_param(params, "delta_log_sfr", self.n_bins)
        checks.require(
            jnp.all(jnp.isfinite(delta)),
            lambda: f"params.delta_log_sfr must be finite; got {describe(delta)}.",
        )
        self._check_edges_vs_universe(t_univ_yr, checks)

    def _edges_and_fractions(self, params: Any, t_univ_yr: Array) -> tuple[Array, Array]:
        edges = self._edges(t_univ_yr)
        return edges, _fractions_from_log_sfr(as_float(params.delta_log_sfr), edges)
