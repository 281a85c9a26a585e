"""Closed-form integrals behind the parametric SFHs, against scipy in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from sfh_priors._special import (
    exprel,
    log_beta_inc_series,
    log_dpl_integral,
    scaled_exp_moment,
)


# Jitted once (scalar float64 inputs) and reused by every parametrised case.
_log_dpl = jax.jit(log_dpl_integral)
_log_beta = jax.jit(log_beta_inc_series)
_moment = jax.jit(scaled_exp_moment, static_argnums=0)


def _f64(x):
    return jnp.asarray(x, jnp.float64)


def _dpl(log_x, alpha, beta):
    with jax.enable_x64(True):
        return float(jnp.exp(_log_dpl(_f64(log_x), _f64(alpha), _f64(beta))))


@pytest.mark.parametrize("p", [0.05, 0.5, 0.95, 1.0, 1.4])
@pytest.mark.parametrize("v", [1e-6, 0.1, 0.5])
def test_beta_series_matches_scipy_incomplete_beta(p, v):
    # B(v; p, 1-p) = integral_0^v t^(p-1) (1-t)^(-p) dt. For p < 1 both beta parameters are
    # positive and scipy's regularised betainc times the complete beta is the reference;
    # for p >= 1 use adaptive quadrature of the (bounded on [0, v]) integrand.
    if p < 1:
        ref = special.betainc(p, 1 - p, v) * special.beta(p, 1 - p)
    else:
        def integrand(t):
            return t ** (p - 1) * (1 - t) ** (-p)

        ref = integrate.quad(integrand, 0, v, epsabs=0, epsrel=1e-13)[0]
    with jax.enable_x64(True):
        got = float(jnp.exp(_log_beta(_f64(np.log(v)), _f64(np.log1p(-v)), _f64(p))))
    assert got == pytest.approx(ref, rel=1e-12)


_CLOSED_FORM_CASES = [
    (alpha, beta, x)
    for alpha, beta in [(1.5, 0.0), (1.5, 5.0), (3.0, 0.3), (3.0, 30.0), (10.0, 5.0), (300.0, 0.3),
                        (300.0, 1000.0), (1000.0, 1000.0)]
    for x in [1e-2, 0.5, 1.0, 1.001, 2.0, 30.0]
    if (alpha + beta) * np.log(x) > -600  # scipy's reference would underflow
]


@pytest.mark.parametrize(("alpha", "beta", "x"), _CLOSED_FORM_CASES)
def test_dpl_integral_matches_incomplete_beta_closed_form(alpha, beta, x):
    # For alpha > 1: integral_0^X u^b/(1+u^(a+b)) du = B(s, 1-s) I_v(s, 1-s) / (a+b) with
    # s = (b+1)/(a+b) and v = X^(a+b)/(1+X^(a+b)) (substitution r = u^(a+b)). The pairs
    # keep 1 - s >= 0.002, where scipy's product B * I_v is itself accurate to ~1e-12.
    a = alpha + beta
    s = (beta + 1) / a
    log_r = a * np.log(x)
    if log_r <= 0:
        ref = special.beta(s, 1 - s) * special.betainc(s, 1 - s, special.expit(log_r)) / a
    else:  # complement with 1 - v formed directly, so v -> 1 does not round away the tail
        ref = special.beta(s, 1 - s) * special.betaincc(1 - s, s, special.expit(-log_r)) / a
    assert _dpl(np.log(x), alpha, beta) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.7, 1.0])
@pytest.mark.parametrize("beta", [0.0, 0.5, 3.0])
@pytest.mark.parametrize("x", [0.3, 1.0, 4.0, 300.0])
def test_dpl_integral_matches_quadrature_for_shallow_decline(alpha, beta, x):
    # alpha <= 1 (no finite total) is where the exponent-lowering recursion is used; the
    # integrand is smooth there, so adaptive quadrature in log u is an accurate reference.
    a = alpha + beta

    def integrand(y):
        return np.exp((beta + 1) * y - np.logaddexp(0.0, a * y))

    ref = integrate.quad(integrand, -60.0, np.log(x), points=[0.0] if x > 1 else None,
                         epsabs=0, epsrel=1e-12, limit=500)[0]
    assert _dpl(np.log(x), alpha, beta) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize(
    ("d", "x"), [(1e-7, 1e-7), (1e-4, 3.0), (0.5, 0.5), (0.99, 5.0), (1.01, 2.0), (10.0, 700.0)]
)
def test_scaled_exp_moment_matches_quadrature(n, d, x):
    ref = np.exp(-x) * integrate.quad(lambda z: z**n * np.exp(z), 0, d, epsabs=0, epsrel=1e-13)[0]
    with jax.enable_x64(True):
        got = float(_moment(n, _f64(d), _f64(x)))
    assert got == pytest.approx(ref, rel=1e-12)


def test_exprel_is_continuous_at_zero():
    x = np.array([-1e-3 * (1 + 1e-12), -1e-3, 0.0, 1e-3, 1e-3 * (1 + 1e-12), 2.0])
    with jax.enable_x64(True):
        got = np.asarray(exprel(jnp.asarray(x)))
    ref = np.where(x == 0, 1.0, np.expm1(x) / np.where(x == 0, 1.0, x))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
