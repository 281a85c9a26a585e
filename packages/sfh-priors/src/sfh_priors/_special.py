"""Numerically careful special functions for closed-form SFH integrals.

Everything here is pure jax.numpy, differentiable, and safe under ``jnp.where`` (both
branches are evaluated on clamped inputs so neither produces inf/NaN gradients).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# Number of terms of the incomplete-beta series below. Terms fall at least as fast as
# 2**-k (the argument is <= 1/2), so 64 terms reach float64 round-off.
_BETA_SERIES_TERMS = 64

# Largest number of exponent-lowering steps in ``log_dpl_integral``; enough for
# (beta + 2) / (alpha + beta) <= 2 / alpha with alpha >= 0.01 (see DoublePowerLaw).
DPL_MAX_SHIFTS = 208
DPL_MIN_ALPHA = 0.01

# Terms of the power series in ``scaled_exp_moment`` (d < 1).
_EXP_SERIES_TERMS = 20


def gauss_legendre_01(n: int, dtype) -> tuple[jax.Array, jax.Array]:
    """Gauss-Legendre nodes and weights on [0, 1] (computed at trace time, no caching)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return jnp.asarray(0.5 * (x + 1.0), dtype=dtype), jnp.asarray(0.5 * w, dtype=dtype)


def exprel(x: jax.Array) -> jax.Array:
    """(exp(x) - 1) / x, equal to 1 at x = 0, accurate for small |x|."""
    small = jnp.abs(x) < 1e-3
    xs = jnp.where(small, 1.0, x)
    series = 1.0 + x * (0.5 + x * (1.0 / 6.0 + x / 24.0))
    return jnp.where(small, series, jnp.expm1(xs) / xs)


def scaled_exp_moment(n: int, d: jax.Array, x: jax.Array) -> jax.Array:
    """exp(-x) * integral_0^d z**n exp(z) dz for n in {0, 1, 2} and 0 <= d <= x.

    A power series is used for d < 1 (no cancellation for small d, which carries the
    youngest age bins), the closed form otherwise; exp(-x) is folded in so that nothing
    overflows for large x.
    """
    if n not in (0, 1, 2):
        raise ValueError(f"n must be 0, 1 or 2; got {n!r}")
    small = d < 1.0
    ds = jnp.where(small, d, 0.5)
    dl = jnp.where(small, 1.0, d)
    # Series: d**(n+1) sum_k d**k / (k! (k+n+1)); 20 terms reach 1/20! ~ 4e-19 at d = 1.
    # Horner's rule on positive terms (stable, and no pow/exp per term: this function
    # runs at every age-bin edge of every model, so its cost shows in batched synthesis).
    coeffs = [1.0 / (math.factorial(k) * (k + n + 1)) for k in range(_EXP_SERIES_TERMS)]
    acc = jnp.full_like(ds, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * ds + c
    lead = ds if n == 0 else (ds * ds if n == 1 else ds * ds * ds)
    series = lead * acc * jnp.exp(-x)
    poly = {0: 1.0, 1: dl - 1.0, 2: dl * dl - 2.0 * dl + 2.0}[n]
    const = {0: 1.0, 1: -1.0, 2: 2.0}[n]
    closed = poly * jnp.exp(dl - x) - const * jnp.exp(-x)
    return jnp.where(small, series, closed)


def log_beta_inc_series(log_v: jax.Array, log_1mv: jax.Array, p: jax.Array) -> jax.Array:
    """log of B(v; p, 1 - p) = integral_0^v t**(p-1) (1-t)**(-p) dt for 0 < v <= 1/2, p > 0.

    Uses B(v; p, 1-p) = v**p (1-v)**(1-p) / p * sum_k k! / ((p+1)...(p+k)) v**k
    (the Gauss series 2F1(1, 1; p + 1; v), DLMF 8.17.8), whose positive terms fall at
    least as fast as v**k <= 2**-k. Valid for any p > 0, including p >= 1 where the
    complete beta function diverges.
    """
    return p * log_v + (1.0 - p) * log_1mv - jnp.log(p) + _log_series_sum(log_v, p)


def _log_series_sum(log_v: jax.Array, p: jax.Array) -> jax.Array:
    """log sum_k k! / ((p+1)...(p+k)) v**k, the series 2F1(1, 1; p + 1; v), v <= 1/2.

    Evaluated by the nested (Horner) form 1 + v/(p+1) (1 + 2v/(p+2) (1 + ...)) from the
    innermost term outwards: all terms are positive, so this is accurate, and a loop
    compiles much faster than a cumulative sum over the terms.
    """
    log_v, p = jnp.broadcast_arrays(log_v, p)
    v = jnp.exp(log_v)

    def body(i: int, acc: jax.Array) -> jax.Array:
        k = jnp.asarray(_BETA_SERIES_TERMS - 1 - i, dtype=v.dtype)
        return 1.0 + k * v / (p + k) * acc

    acc = jax.lax.fori_loop(0, _BETA_SERIES_TERMS - 1, body, jnp.ones_like(v))
    return jnp.log(acc)


def log_dpl_integral_rest(log_x: jax.Array, alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """log of integral_0^X u**beta / (1 + u**(alpha + beta)) du, minus (beta + 1) min(log X, 0).

    The full logarithm is ``log_dpl_integral_rest + (beta + 1) * min(log_x, 0)``. The
    leading term is returned separately (by the caller) because for X << 1 and large
    beta it dominates: differences of it between two times are formed exactly from
    log(t1 / t2), which keeps mass ratios at full precision.

    The integral is the cumulative mass of the double power law SFR 1 / (u**alpha +
    u**-beta) (u = t / tau). With r = u**a (a = alpha + beta, s = (beta + 1) / a) it
    equals (1/a) integral_0^R r**(s-1) / (1 + r) dr, R = X**a, evaluated as:

    * R <= 1: (1/a) B(R/(1+R); s, 1-s) by the positive series of ``log_beta_inc_series``;
    * R > 1: the part up to r = 1 plus integral_1^R, where r**(s-1)/(1+r) is lowered
      n = ceil(s - 1/2) times by r**(s-1)/(1+r) = r**(s-2) - r**(s-2)/(1+r) (elementary
      power integrals, alternating and decreasing, so at most ~2n ulp are lost) until the
      remaining exponent s' = s - n lies in (-1/2, 1/2]; the remainder integral_1^R is
      integral_1^inf - integral_R^inf = B(1/2; 1-s', s') - B(1/(1+R); 1-s', s').

    Exact for alpha >= 0.01 and beta >= 0; the moment integrals pass alpha - 1 and
    beta + 1, for which the same bound on the number of shifts holds (``DPL_MAX_SHIFTS``).
    """
    a = alpha + beta
    s = (beta + 1.0) / a
    log_r = a * log_x
    half = jnp.log(jnp.asarray(0.5, log_x.dtype))

    # R <= 1 branch (log_r clamped to <= 0 so the other branch's values stay finite):
    # log B(v; s, 1-s) - s log R, with log v = log R - softplus(log R).
    lr_a = jnp.minimum(log_r, 0.0)
    rest_low = (
        -s * jax.nn.softplus(lr_a)
        + (1.0 - s) * jax.nn.log_sigmoid(-lr_a)
        - jnp.log(s)
        + _log_series_sum(jax.nn.log_sigmoid(lr_a), s)
    )

    # R > 1 branch.
    lr_b = jnp.maximum(log_r, 0.0)
    head = jnp.exp(log_beta_inc_series(half, half, s))
    n = jnp.maximum(jnp.ceil(s - 0.5), 0.0)
    k = jnp.arange(1, DPL_MAX_SHIFTS + 1, dtype=log_x.dtype)
    lr_e = lr_b[..., None]
    power_integrals = lr_e * exprel((s[..., None] - k) * lr_e)  # integral_1^R r**(s-1-k) dr
    signs = jnp.where(k % 2 == 1, 1.0, -1.0)
    shifted = jnp.where(k <= n[..., None], signs * power_integrals, 0.0).sum(-1)
    p = 1.0 - s + n
    rem = jnp.exp(log_beta_inc_series(half, half, p)) - jnp.exp(
        log_beta_inc_series(jax.nn.log_sigmoid(-lr_b), jax.nn.log_sigmoid(lr_b), p)
    )
    sign_n = 1.0 - 2.0 * jnp.mod(n, 2.0)
    total_high = head + shifted + sign_n * rem
    log_high = jnp.log(jnp.maximum(total_high, jnp.finfo(log_x.dtype).tiny))

    return jnp.where(log_r <= 0.0, rest_low, log_high) - jnp.log(a)


def log_dpl_integral(log_x: jax.Array, alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """log of integral_0^X u**beta / (1 + u**(alpha + beta)) du (see ``log_dpl_integral_rest``)."""
    return log_dpl_integral_rest(log_x, alpha, beta) + (beta + 1.0) * jnp.minimum(log_x, 0.0)
