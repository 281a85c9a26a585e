"""ParamSpace: dict/vector conversions, bijections to the unconstrained space, Jacobians."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sedcore
from sedcore import Param, ParamSpace

SPACE = ParamSpace.from_params(
    Param("log_mass", "dex(M_sun)", 6.0, 13.0),
    Param("dust2", "", 0.0, math.inf),  # optical depth: lower bound only
    Param("log_ratio", "dex", shape=(3,)),  # unbounded vector
    Param("neg", "", -math.inf, 1.0),
)


def _params(m=10.0, d=0.3, r=(0.1, -0.2, 0.3), n=-2.0):
    return {"log_mass": jnp.asarray(m), "dust2": jnp.asarray(d), "log_ratio": jnp.asarray(r), "neg": jnp.asarray(n)}


def test_names_size_labels():
    assert SPACE.names == ("log_mass", "dust2", "log_ratio", "neg")
    assert SPACE.size == 6
    assert SPACE.vector_labels()[2:5] == ("log_ratio[0]", "log_ratio[1]", "log_ratio[2]")


def test_vector_round_trip():
    v = SPACE.to_vector(_params())
    np.testing.assert_allclose(np.asarray(v), [10.0, 0.3, 0.1, -0.2, 0.3, -2.0], rtol=1e-6)
    back = SPACE.from_vector(v)
    np.testing.assert_allclose(np.asarray(back["log_ratio"]), [0.1, -0.2, 0.3], rtol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(6.01, 12.99),
    st.floats(1e-3, 50.0),
    st.floats(-5, 5),
    st.floats(-100.0, 0.99),
)
def test_unconstrained_round_trip(m, d, r, n):
    p = _params(m, d, (r, r, r), n)
    back = SPACE.from_unconstrained(SPACE.to_unconstrained(p))
    for k in SPACE.names:
        np.testing.assert_allclose(np.asarray(back[k]), np.asarray(p[k]), rtol=1e-4, atol=1e-4)


def test_unconstrained_values_land_inside_bounds():
    u = jnp.array([40.0, -40.0, 1.0, 2.0, 3.0, 40.0])
    x = SPACE.from_unconstrained(u)
    assert 6.0 <= float(x["log_mass"]) <= 13.0
    assert float(x["dust2"]) >= 0.0
    assert float(x["neg"]) <= 1.0


def test_log_det_jacobian_matches_autodiff(x64):
    u = jnp.array([0.3, -0.7, 1.0, 2.0, 3.0, 0.5])
    jac = jax.jacobian(lambda v: SPACE.to_vector(SPACE.from_unconstrained(v)))(u)
    expect = np.log(abs(np.linalg.det(np.asarray(jac))))
    assert float(SPACE.log_abs_det_jacobian(u)) == pytest.approx(expect, rel=1e-10)


def test_gradients_finite_at_extremes():
    g = jax.grad(lambda v: jnp.sum(SPACE.to_vector(SPACE.from_unconstrained(v))))(jnp.zeros(6))
    assert np.all(np.isfinite(np.asarray(g)))


def test_static_under_jit():
    f = jax.jit(lambda space, v: space.from_unconstrained(v)["log_mass"])
    assert float(f(SPACE, jnp.zeros(6))) == pytest.approx(9.5)


def test_check_names_bad_parameter():
    with pytest.raises(ValueError, match=r"'log_mass' = 14.0 .* outside \[6.0, 13.0\]"):
        SPACE.check(_params(m=14.0))
    with pytest.raises(ValueError, match="'dust2'"):
        SPACE.check(_params(d=float("nan")))
    SPACE.check(_params())  # valid: no error


def test_missing_and_misshaped_parameters():
    p = _params()
    del p["dust2"]
    with pytest.raises(KeyError, match="lacks \\['dust2'\\]"):
        SPACE.to_vector(p)
    with pytest.raises(ValueError, match=r"expected shape \(3,\), got \(2,\)"):
        SPACE.to_vector(_params(r=(0.1, 0.2)))


def test_invalid_definitions():
    with pytest.raises(ValueError, match="lower < upper"):
        Param("x", lower=1.0, upper=1.0)
    with pytest.raises(ValueError, match="duplicate"):
        ParamSpace.from_params(Param("x"), Param("x"))
    assert sedcore.ParamSpace is ParamSpace
