"""Dust attenuation laws as pure JAX functions of rest-frame wavelength in Angstrom.

Normalisation convention (every law): ``tau_v`` is the optical depth at exactly
``V_WAVE_AA = 5500`` Angstrom, so ``attenuation_tau(law, 5500.0, tau_v) == tau_v``.
Transmission is ``exp(-tau)`` and ``A_lambda = 2.5 log10(e) tau = 1.0857 tau`` magnitudes.
FSPS/Prospector call the diffuse optical depth ``dust2`` and the birth-cloud one ``dust1``,
both defined at 5500 Angstrom as here.

Laws (names accepted by :func:`attenuation_tau`):

- ``"calzetti"``: Calzetti et al. (2000, ApJ 533, 682) starburst curve, their Eq. 4.
- ``"smc"``: Gordon et al. (2003, ApJ 594, 279) SMC bar average extinction curve.
- ``"kriek_conroy"``: Kriek & Conroy (2013, ApJ 775, L16) / Noll et al. (2009): Calzetti
  tilted by ``(lambda / 5500 A)**delta`` plus a Drude 2175 A bump tied to ``delta``.
- ``"power_law"``: ``tau_v (lambda / 5500 A)**index``, Charlot & Fall (2000, ApJ 539, 718).

:func:`charlot_fall_transmission` combines a birth-cloud and a diffuse component into the
per-age transmission of an SSP grid.

All functions act on one object (scalar parameters; batch with ``jax.vmap``), are
differentiable in their parameters, keep the floating dtype of their inputs (float32 by
default, float64 when the user enables it), and check values only when they are concrete
(not under ``jit``/``vmap`` tracing). The arithmetic lives in small private jitted kernels
so that eager calls compile once per input shape; under the caller's ``jit`` they inline.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "V_WAVE_AA",
    "CALZETTI00_RV",
    "SMC_G03_RV",
    "DUST_LAWS",
    "calzetti00_k",
    "smc_k",
    "kriek_conroy13_tau",
    "power_law_tau",
    "attenuation_tau",
    "birth_cloud_fraction",
    "charlot_fall_transmission",
]

#: Wavelength (Angstrom) at which every law is normalised: ``tau(V_WAVE_AA) = tau_v``.
V_WAVE_AA = 5500.0
#: Total-to-selective ratio R'_V of the Calzetti et al. (2000) curve (their Eq. 4).
CALZETTI00_RV = 4.05
#: R_V of the Gordon et al. (2003) SMC bar average curve (their Table 3; +-0.13).
SMC_G03_RV = 2.74
#: Law names understood by :func:`attenuation_tau` and (as diffuse law) by
#: :func:`charlot_fall_transmission`.
DUST_LAWS = ("calzetti", "smc", "kriek_conroy", "power_law")

# ---------------------------------------------------------------------------------------
# Calzetti et al. (2000), Eq. 4, x = 1/lambda in micron^-1:
#   0.12 <= lambda <= 0.63 um: k = 2.659 (-2.156 + 1.509 x - 0.198 x^2 + 0.011 x^3) + R_V
#   0.63 <= lambda <= 2.20 um: k = 2.659 (-1.857 + 1.040 x) + R_V
_C00_SCALE = 2.659
_C00_BLUE = (-2.156, 1.509, -0.198, 0.011)
_C00_RED = (-1.857, 1.040)
_C00_X_UV = 1.0 / 0.12  # blue edge of the published range, micron^-1
_C00_X_SPLIT = 1.0 / 0.63
_C00_X_IR = 1.0 / 2.20  # red edge of the published range, micron^-1


def _c00_blue(x):
    c0, c1, c2, c3 = _C00_BLUE
    return _C00_SCALE * (c0 + x * (c1 + x * (c2 + x * c3))) + CALZETTI00_RV


def _c00_blue_slope(x):
    _, c1, c2, c3 = _C00_BLUE
    return _C00_SCALE * (c1 + x * (2.0 * c2 + 3.0 * c3 * x))


def _c00_red(x):
    c0, c1 = _C00_RED
    return _C00_SCALE * (c0 + c1 * x) + CALZETTI00_RV


# Extrapolations, C1-continuous at the edges of the published range:
# UV (lambda < 0.12 um): the tangent line in x at x = 1/0.12 um^-1 (slope 1.33).
# IR (lambda > 2.2 um): a power law k = k(2.2 um) (lambda / 2.2 um)^-s whose logarithmic
# slope s = 2.659 * 1.040 x / k at x = 1/2.2 um^-1 (s = 3.41) matches the red branch.
_C00_K_UV = _c00_blue(_C00_X_UV)
_C00_SLOPE_UV = _c00_blue_slope(_C00_X_UV)
_C00_K_IR = _c00_red(_C00_X_IR)
_C00_IR_INDEX = _C00_SCALE * _C00_RED[1] * _C00_X_IR / _C00_K_IR


def _calzetti00_k_of_x(x):
    k_uv = _C00_K_UV + _C00_SLOPE_UV * (x - _C00_X_UV)
    k_ir = _C00_K_IR * jnp.power(x / _C00_X_IR, _C00_IR_INDEX)
    return jnp.where(
        x > _C00_X_UV,
        k_uv,
        jnp.where(x >= _C00_X_SPLIT, _c00_blue(x), jnp.where(x >= _C00_X_IR, _c00_red(x), k_ir)),
    )


# ---------------------------------------------------------------------------------------
# Gordon et al. (2003) SMC bar average. Optical/NIR: their Table 4 A(lambda)/A(V) at the
# K, H, J, I, R, V, B, U photometric points (x in micron^-1). UV: their Fitzpatrick & Massa
# (1990) fit, Table 3: C1..C4, x0, gamma, R_V.
_G03_SMC_X_OPTNIR = (0.455, 0.606, 0.800, 1.235, 1.538, 1.818, 2.273, 2.703)
_G03_SMC_AXAV_OPTNIR = (0.110, 0.169, 0.250, 0.567, 0.801, 1.000, 1.374, 1.672)
_G03_SMC_FM = (-4.959, 2.264, 0.389, 0.461)  # C1, C2, C3, C4
_G03_SMC_X0 = 4.600
_G03_SMC_GAMMA = 1.000
# FUV curvature of FM90: F(x) = 0.5392 (x - 5.9)^2 + 0.05644 (x - 5.9)^3 for x >= 5.9.
_FM90_F = (0.5392, 0.05644)
_FM90_X_F = 5.9
# The FM fit is used from 2700 A (as in Fitzpatrick 1999) to 1150 A (end of the IUE short
# wavelength data Gordon et al. fit, last tabulated bin at x = 8.625); the optical/NIR
# points and the FM value at 2700 A are joined by a cubic spline in x.
_G03_SMC_X_JOIN = 1.0 / 0.27
_G03_SMC_X_FUV = 8.7


def _fm90_axav_np(x):
    """G03 SMC A(x)/A(V) from the FM90 fit and its derivative d/dx (numpy, float64)."""
    c1, c2, c3, c4 = _G03_SMC_FM
    x0, gam = _G03_SMC_X0, _G03_SMC_GAMMA
    m = (x * x - x0 * x0) ** 2 + (gam * x) ** 2
    drude = x * x / m
    d_drude = (2.0 * x * m - x * x * (4.0 * x * (x * x - x0 * x0) + 2.0 * gam * gam * x)) / m**2
    y = max(x - _FM90_X_F, 0.0)
    f = _FM90_F[0] * y**2 + _FM90_F[1] * y**3
    df = 2.0 * _FM90_F[0] * y + 3.0 * _FM90_F[1] * y**2
    k = c1 + c2 * x + c3 * drude + c4 * f
    dk = c2 + c3 * d_drude + c4 * df
    return 1.0 + k / SMC_G03_RV, dk / SMC_G03_RV


def _fm90_axav(x):
    c1, c2, c3, c4 = _G03_SMC_FM
    x0, gam = _G03_SMC_X0, _G03_SMC_GAMMA
    drude = x * x / ((x * x - x0 * x0) ** 2 + (gam * x) ** 2)
    y = jnp.maximum(x - _FM90_X_F, 0.0)
    f = y * y * (_FM90_F[0] + _FM90_F[1] * y)
    return 1.0 + (c1 + c2 * x + c3 * drude + c4 * f) / SMC_G03_RV


def _g03_smc_spline_np():
    """Clamped cubic spline through the optical/NIR points and the FM value at 2700 A.

    End slopes: at K the slope of the NIR power law used beyond K (so the curve is C1
    there); at 2700 A the slope of the FM fit (C1 into the UV). Returns the nodes, the
    per-interval polynomial coefficients (4, n_int) in powers of (x - node), the NIR
    power-law index and the FM value and slope at 1150 A, all as float64 numpy.
    """
    y_join, s_join = _fm90_axav_np(_G03_SMC_X_JOIN)
    xs = np.array(_G03_SMC_X_OPTNIR + (_G03_SMC_X_JOIN,))
    ys = np.array(_G03_SMC_AXAV_OPTNIR + (y_join,))
    # NIR power law A/A_V = A_K (x / x_K)^beta through the K and H points.
    beta = math.log(ys[1] / ys[0]) / math.log(xs[1] / xs[0])
    s_k = beta * ys[0] / xs[0]
    n = xs.size
    h = np.diff(xs)
    secant = np.diff(ys) / h
    mat = np.zeros((n, n))
    rhs = np.zeros(n)
    mat[0, :2] = (2.0 * h[0], h[0])
    rhs[0] = 6.0 * (secant[0] - s_k)
    for i in range(1, n - 1):
        mat[i, i - 1 : i + 2] = (h[i - 1], 2.0 * (h[i - 1] + h[i]), h[i])
        rhs[i] = 6.0 * (secant[i] - secant[i - 1])
    mat[-1, -2:] = (h[-1], 2.0 * h[-1])
    rhs[-1] = 6.0 * (s_join - secant[-1])
    m2 = np.linalg.solve(mat, rhs)  # second derivatives at the nodes
    coef = np.stack(
        [
            ys[:-1],
            secant - h * (2.0 * m2[:-1] + m2[1:]) / 6.0,
            m2[:-1] / 2.0,
            (m2[1:] - m2[:-1]) / (6.0 * h),
        ]
    )
    y_fuv, s_fuv = _fm90_axav_np(_G03_SMC_X_FUV)
    return xs, coef, beta, y_fuv, s_fuv


def _smc_axav_of_x(x):
    xs_np, coef_np, beta, y_fuv, s_fuv = _g03_smc_spline_np()
    xs = jnp.asarray(xs_np, dtype=x.dtype)
    coef = jnp.asarray(coef_np, dtype=x.dtype)
    idx = jnp.clip(jnp.searchsorted(xs, x, side="right") - 1, 0, xs.shape[0] - 2)
    t = x - xs[idx]
    a, b, c, d = (coef[j, idx] for j in range(4))
    spline = a + t * (b + t * (c + t * d))
    nir = _G03_SMC_AXAV_OPTNIR[0] * jnp.power(x / _G03_SMC_X_OPTNIR[0], beta)
    # Clip x inside the FM branch so the unused branch stays finite for any wavelength.
    fm = _fm90_axav(jnp.clip(x, _G03_SMC_X_JOIN, _G03_SMC_X_FUV))
    fuv = y_fuv + s_fuv * (x - _G03_SMC_X_FUV)
    return jnp.where(
        x < _G03_SMC_X_OPTNIR[0],
        nir,
        jnp.where(x < _G03_SMC_X_JOIN, spline, jnp.where(x <= _G03_SMC_X_FUV, fm, fuv)),
    )


# ---------------------------------------------------------------------------------------
# Kriek & Conroy (2013) Eq. 2-3 (after Noll et al. 2009): Drude bump at 2175 A, FWHM 350 A,
# amplitude E_b = 0.85 - 1.9 delta.
_KC13_BUMP_AA = 2175.0
_KC13_BUMP_FWHM_AA = 350.0
_KC13_EB0 = 0.85
_KC13_EB_SLOPE = -1.9


def _drude_bump(wave_aa, amplitude):
    # E_b lam^2 dl^2 / ((lam^2 - lam0^2)^2 + lam^2 dl^2), rewritten to avoid lam^4 overflow.
    u = (wave_aa / _KC13_BUMP_AA - _KC13_BUMP_AA / wave_aa) * (_KC13_BUMP_AA / _KC13_BUMP_FWHM_AA)
    return amplitude / (1.0 + u * u)


# ---------------------------------------------------------------------------------------
# Input handling.


def _float_array(x: ArrayLike) -> jax.Array:
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def _concrete(x) -> np.ndarray | None:
    """The value as numpy when concrete, ``None`` under tracing."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _as_wave(wave_aa: ArrayLike, *, one_d: bool = False) -> jax.Array:
    wave = _float_array(wave_aa)
    if one_d and wave.ndim != 1:
        raise ValueError(
            f"wave_aa must be a 1-D array of rest-frame wavelengths in Angstrom; got shape "
            f"{wave.shape}. Pass one wavelength grid (batch with jax.vmap)."
        )
    value = _concrete(wave)
    if value is not None:
        bad = ~(np.isfinite(value) & (value > 0))
        if bad.any():
            raise ValueError(
                f"wave_aa must be finite and > 0 Angstrom; {int(bad.sum())} of {value.size} "
                f"values are not (first: {value[bad].ravel()[0]!r}). Remove or mask them."
            )
    return wave


def _as_scalar(x: ArrayLike, name: str, *, nonnegative: bool, dtype=None) -> jax.Array:
    arr = _float_array(x) if dtype is None else jnp.asarray(x, dtype=dtype)
    if arr.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar (one object per call); got shape {arr.shape}. "
            "Batch over parameters with jax.vmap."
        )
    value = _concrete(arr)
    if value is not None:
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite; got {value.item()!r}.")
        if nonnegative and value < 0:
            raise ValueError(
                f"{name} is an optical depth at 5500 A and must be >= 0; got {value.item()!r}."
            )
    return arr


def _as_age_inputs(log_age_yr, t_split_yr, log_age_edges_yr):
    """Checked (log_age, t_split, edges) arrays for the birth-cloud split."""
    log_age = _float_array(log_age_yr)
    if log_age.ndim != 1:
        raise ValueError(
            f"log_age_yr must be 1-D (n_age,) log10 ages in yr; got shape {log_age.shape}."
        )
    t_split = _as_scalar(t_split_yr, "t_split_yr", nonnegative=False, dtype=log_age.dtype)
    ages = _concrete(log_age)
    if ages is not None and not np.isfinite(ages).all():
        raise ValueError("log_age_yr must be finite log10 ages in yr; found NaN or inf.")
    t_val = _concrete(t_split)
    if t_val is not None and not t_val > 0:
        raise ValueError(f"t_split_yr must be > 0 yr; got {t_val.item()!r}.")
    if log_age_edges_yr is None:
        return log_age, t_split, None

    edges = jnp.asarray(log_age_edges_yr, dtype=log_age.dtype)
    if edges.shape != (log_age.shape[0] + 1,):
        raise ValueError(
            f"log_age_edges_yr must have shape (n_age + 1,) = ({log_age.shape[0] + 1},); "
            f"got {edges.shape}."
        )
    e = _concrete(edges)
    if e is not None:
        if np.isnan(e).any() or np.isinf(e[1:]).any():
            raise ValueError(
                "log_age_edges_yr must be finite (only the first edge may be -inf); "
                f"got {e.tolist()}."
            )
        if not (np.diff(e) > 0).all():
            raise ValueError("log_age_edges_yr must be strictly increasing.")
        if ages is not None and ((ages < e[:-1]) | (ages > e[1:])).any():
            raise ValueError(
                "log_age_edges_yr must bracket log_age_yr: edges[i] <= log_age_yr[i] <= "
                "edges[i+1] for every bin."
            )
    return log_age, t_split, edges


# ---------------------------------------------------------------------------------------
# Kernels: no validation. Jitted so that an eager call compiles one XLA program per input
# shape instead of one per primitive; inside a caller's jit they are simply inlined.


@partial(jax.jit, static_argnames=("law",))
def _tau_kernel(law, wave, tau_v, shape_param=None, bump_amplitude=None):
    x = 1.0e4 / wave
    if law == "power_law":
        return tau_v * jnp.power(wave / V_WAVE_AA, shape_param)
    if law == "kriek_conroy":
        delta = shape_param
        amp = (
            jnp.maximum(_KC13_EB0 + _KC13_EB_SLOPE * delta, 0.0)
            if bump_amplitude is None
            else bump_amplitude
        )
        curve = (_calzetti00_k_of_x(x) + _drude_bump(wave, amp)) * jnp.power(
            wave / V_WAVE_AA, delta
        )
        norm = _calzetti00_k_of_x(1.0e4 / V_WAVE_AA) + _drude_bump(V_WAVE_AA, amp)
        return tau_v * curve / norm
    shape = _calzetti00_k_of_x if law == "calzetti" else _smc_axav_of_x
    return tau_v * shape(x) / shape(jnp.asarray(1.0e4 / V_WAVE_AA, dtype=x.dtype))


@jax.jit
def _calzetti00_k_kernel(wave):
    return _calzetti00_k_of_x(1.0e4 / wave)


@jax.jit
def _smc_k_kernel(wave):
    return SMC_G03_RV * _smc_axav_of_x(1.0e4 / wave)


@jax.jit
def _birth_cloud_fraction_kernel(log_age, t_split, edges):
    if edges is None:
        return (log_age < jnp.log10(t_split)).astype(log_age.dtype)
    t_edges = jnp.power(10.0, edges)
    t_lo, t_hi = t_edges[:-1], t_edges[1:]
    return jnp.clip((t_split - t_lo) / (t_hi - t_lo), 0.0, 1.0)


@partial(jax.jit, static_argnames=("law",))
def _charlot_fall_kernel(law, wave, log_age, dust1, dust2, dust1_index, shape, t_split, edges):
    tau_ism = _tau_kernel(law, wave, dust2, shape)
    tau_bc = _tau_kernel("power_law", wave, dust1, dust1_index)
    frac = _birth_cloud_fraction_kernel(log_age, t_split, edges).astype(wave.dtype)
    trans_ism = jnp.exp(-tau_ism)
    trans_bc = jnp.exp(-tau_bc)
    return trans_ism[None, :] * (1.0 + frac[:, None] * (trans_bc[None, :] - 1.0))


# ---------------------------------------------------------------------------------------
# Public laws.


def calzetti00_k(wave_aa: ArrayLike) -> jax.Array:
    """Calzetti et al. (2000) starburst attenuation curve ``k'(lambda) = A_lambda / E_s(B-V)``.

    Their Eq. 4 with R'_V = 4.05: for 0.12-0.63 um
    ``k' = 2.659 (-2.156 + 1.509/lam - 0.198/lam^2 + 0.011/lam^3) + 4.05`` and for
    0.63-2.2 um ``k' = 2.659 (-1.857 + 1.040/lam) + 4.05`` (lam in micron). The two
    published branches are used as printed, so k' jumps by 0.025 at 0.63 um and
    ``k'(5500 A) = 4.048`` rather than exactly R'_V.

    Outside 0.12-2.2 um (documented extrapolation, continuous with continuous slope,
    always finite and > 0):

    - lam < 0.12 um: straight line in 1/lam, tangent to the polynomial at 0.12 um
      (``k' = 12.12 + 1.331 (1/lam - 8.333)``).
    - lam > 2.2 um: power law ``k' = 0.369 (lam / 2.2 um)**-3.41`` whose index matches the
      logarithmic slope of the 0.63-2.2 um branch at 2.2 um. Mid-IR features (silicates)
      are not modelled.

    Args:
        wave_aa: rest-frame wavelengths in Angstrom, any shape, finite and > 0.

    Returns:
        k'(lambda), dimensionless, same shape as ``wave_aa``.

    Raises:
        ValueError: if a concrete ``wave_aa`` has a non-finite or non-positive value.
    """
    return _calzetti00_k_kernel(_as_wave(wave_aa))


def smc_k(wave_aa: ArrayLike) -> jax.Array:
    """Gordon et al. (2003) SMC bar average extinction curve ``k(lambda) = A_lambda/E(B-V)``.

    ``k = R_V A(lambda)/A(V)`` with R_V = 2.74 (their Table 3), built from their
    published numbers:

    - 2700 A-2.2 um: a cubic spline in x = 1/lambda through their Table 4 A(lambda)/A(V)
      at K, H, J, I, R, V, B, U (these values are reproduced exactly) and the FM value at
      2700 A, with end slopes matching the neighbouring pieces (so the curve is C1).
    - 1150-2700 A: their Fitzpatrick & Massa (1990) fit (C1 = -4.959, C2 = 2.264,
      C3 = 0.389, C4 = 0.461, x0 = 4.600 um^-1, gamma = 1.000 um^-1),
      ``A/A_V = 1 + E(lambda-V)/E(B-V) / R_V``. Their tabulated UV bins scatter about
      this smooth fit by 1.7% rms (at most 5.9%, in the noisy last bins near 1190 A).
    - lambda < 1150 A: straight line in 1/lambda tangent to the FM fit at 1150 A.
    - lambda > 2.2 um: power law A/A_V = 0.110 (lambda / 2.198 um)^-1.50 through their K
      and H points.

    Args:
        wave_aa: rest-frame wavelengths in Angstrom, any shape, finite and > 0.

    Returns:
        k(lambda), dimensionless, same shape as ``wave_aa``; ``smc_k(5500.) ~ 2.74``.

    Raises:
        ValueError: if a concrete ``wave_aa`` has a non-finite or non-positive value.
    """
    return _smc_k_kernel(_as_wave(wave_aa))


def kriek_conroy13_tau(
    wave_aa: ArrayLike,
    tau_v: ArrayLike,
    delta: ArrayLike = 0.0,
    bump_amplitude: ArrayLike | None = None,
) -> jax.Array:
    """Kriek & Conroy (2013) / Noll et al. (2009) attenuation optical depth.

    ``tau(lam) = tau_v [k'(lam) + D(lam)] (lam / 5500 A)**delta / [k'(5500) + D(5500)]``
    with k' from :func:`calzetti00_k` (including its extrapolations) and the Drude bump
    ``D = E_b lam^2 dlam^2 / ((lam^2 - lam0^2)^2 + lam^2 dlam^2)``, lam0 = 2175 A,
    dlam = 350 A (FWHM). By default the bump is tied to the slope as in Kriek & Conroy
    (2013) Eq. 3, ``E_b = 0.85 - 1.9 delta``, floored at 0 (the relation would give an
    unphysical negative bump for delta > 0.447; there the bump is 0 and its gradient
    with respect to delta is 0). Kriek & Conroy divide by R_V = 4.05; dividing by the
    curve's own value at 5500 A instead (0.1% different) makes ``tau(5500 A) = tau_v``
    exactly, the convention of this module. This is FSPS ``dust_type=4`` with
    ``dust_index = delta``.

    Args:
        wave_aa: rest-frame wavelengths in Angstrom, any shape, finite and > 0.
        tau_v: optical depth at 5500 A, scalar >= 0.
        delta: power-law slope offset from Calzetti, scalar (negative is steeper).
        bump_amplitude: ``E_b`` in units of k' (scalar), or ``None`` to tie it to delta.
            ``delta=0, bump_amplitude=0`` gives the Calzetti curve.

    Returns:
        Optical depth tau(lambda), same shape as ``wave_aa`` (transmission ``exp(-tau)``).

    Raises:
        ValueError: for a non-scalar parameter, or (when concrete) a negative or
            non-finite ``tau_v``, a non-finite ``delta``/``bump_amplitude`` or a bad
            wavelength.
    """
    wave = _as_wave(wave_aa)
    tau_v = _as_scalar(tau_v, "tau_v", nonnegative=True)
    delta = _as_scalar(delta, "delta", nonnegative=False)
    if bump_amplitude is not None:
        bump_amplitude = _as_scalar(bump_amplitude, "bump_amplitude", nonnegative=False)
    return _tau_kernel("kriek_conroy", wave, tau_v, delta, bump_amplitude)


def power_law_tau(wave_aa: ArrayLike, tau_v: ArrayLike, index: ArrayLike = -0.7) -> jax.Array:
    """Power-law optical depth ``tau_v (lambda / 5500 A)**index`` (Charlot & Fall 2000).

    Charlot & Fall (2000) found index = -0.7 for both the birth clouds and the diffuse ISM.

    Args:
        wave_aa: rest-frame wavelengths in Angstrom, any shape, finite and > 0.
        tau_v: optical depth at 5500 A, scalar >= 0.
        index: power-law index, scalar.

    Returns:
        Optical depth, same shape as ``wave_aa``.

    Raises:
        ValueError: for a non-scalar parameter or (when concrete) bad values.
    """
    wave = _as_wave(wave_aa)
    tau_v = _as_scalar(tau_v, "tau_v", nonnegative=True)
    index = _as_scalar(index, "index", nonnegative=False)
    return _tau_kernel("power_law", wave, tau_v, index)


_LAW_PARAMS = {
    "calzetti": (),
    "smc": (),
    "kriek_conroy": ("delta", "bump_amplitude"),
    "power_law": ("index",),
}


def _check_law(law: Any, argname: str = "law") -> str:
    if not isinstance(law, str):
        raise TypeError(
            f"{argname} must be a string, one of {DUST_LAWS}; got {type(law).__name__}."
        )
    if law not in _LAW_PARAMS:
        raise ValueError(f"Unknown dust law {law!r} for {argname}; expected one of {DUST_LAWS}.")
    return law


def attenuation_tau(law: str, wave_aa: ArrayLike, tau_v: ArrayLike, **params: Any) -> jax.Array:
    """Optical depth tau(lambda) of a named dust law, normalised so ``tau(5500 A) = tau_v``.

    ``A_lambda = 1.0857 tau`` magnitudes; transmission ``exp(-tau)``.

    Args:
        law: one of ``DUST_LAWS``: ``"calzetti"`` (no parameters; ``tau_v k'(lam)/k'(5500)``
            with :func:`calzetti00_k`), ``"smc"`` (no parameters; :func:`smc_k`),
            ``"kriek_conroy"`` (``delta``, ``bump_amplitude``; :func:`kriek_conroy13_tau`),
            ``"power_law"`` (``index``, default -0.7; :func:`power_law_tau`).
        wave_aa: rest-frame wavelengths in Angstrom, any shape, finite and > 0.
        tau_v: optical depth at 5500 A, scalar >= 0.
        **params: the law's parameters (scalars), listed above.

    Returns:
        Optical depth, same shape as ``wave_aa``.

    Raises:
        TypeError: if ``law`` is not a string or a parameter does not belong to the law.
        ValueError: for an unknown law or bad values (see the law's function).

    Example:
        >>> tau = attenuation_tau("kriek_conroy", wave_aa, 0.3, delta=-0.2)
        >>> flux_att = flux * jnp.exp(-tau)
    """
    law = _check_law(law)
    unknown = sorted(set(params) - set(_LAW_PARAMS[law]))
    if unknown:
        raise TypeError(
            f"dust law {law!r} takes parameters {_LAW_PARAMS[law] or '(none)'}; got unexpected "
            f"{unknown}."
        )
    if law == "kriek_conroy":
        return kriek_conroy13_tau(wave_aa, tau_v, **params)
    if law == "power_law":
        return power_law_tau(wave_aa, tau_v, **params)
    wave = _as_wave(wave_aa)
    tau_v = _as_scalar(tau_v, "tau_v", nonnegative=True)
    return _tau_kernel(law, wave, tau_v)


# ---------------------------------------------------------------------------------------
# Charlot & Fall (2000) two-component model.


def birth_cloud_fraction(
    log_age_yr: ArrayLike,
    t_split_yr: ArrayLike = 1.0e7,
    log_age_edges_yr: ArrayLike | None = None,
) -> jax.Array:
    """Fraction of each SSP age bin still inside its birth cloud (younger than t_split).

    Two rules:

    - ``log_age_edges_yr=None`` (exact step): 1 where ``log_age_yr < log10(t_split_yr)``,
      else 0 (an SSP exactly at t_split counts as old). The gradient with respect to
      ``t_split_yr`` is 0 everywhere.
    - ``log_age_edges_yr`` given (shape ``(n_age + 1,)``, bin i spans
      ``[edges[i], edges[i+1]]``): the fraction of the bin's linear age extent younger
      than t_split, ``clip((t_split - t_lo) / (t_hi - t_lo), 0, 1)``, i.e. the birth-cloud
      mass fraction for a constant SFR across the bin. Piecewise linear in t_split, so
      the gradient is nonzero for the bin that straddles it. The first edge may be
      ``-inf`` (age 0).

    Args:
        log_age_yr: log10 SSP ages in yr, shape ``(n_age,)``.
        t_split_yr: birth-cloud dispersal time in yr (scalar > 0; Charlot & Fall 2000 use
            1e7 yr; FSPS ``dust_tesc = 7``).
        log_age_edges_yr: optional log10 bin edges in yr, shape ``(n_age + 1,)``,
            increasing, with ``edges[i] <= log_age_yr[i] <= edges[i+1]``.

    Returns:
        Birth-cloud fraction in [0, 1], shape ``(n_age,)``.

    Raises:
        ValueError: on wrong shapes or (when concrete) non-finite ages, t_split <= 0,
            or edges that are not increasing or do not bracket the ages.
    """
    log_age, t_split, edges = _as_age_inputs(log_age_yr, t_split_yr, log_age_edges_yr)
    return _birth_cloud_fraction_kernel(log_age, t_split, edges)


def charlot_fall_transmission(
    wave_aa: ArrayLike,
    log_age_yr: ArrayLike,
    dust1: ArrayLike,
    dust2: ArrayLike,
    *,
    dust1_index: ArrayLike = -0.7,
    dust_index: ArrayLike | None = None,
    diffuse_law: str = "power_law",
    t_split_yr: ArrayLike = 1.0e7,
    log_age_edges_yr: ArrayLike | None = None,
) -> jax.Array:
    """Charlot & Fall (2000) two-component transmission for every age of an SSP grid.

    Stars younger than t_split see the birth cloud and the diffuse ISM, older stars only
    the diffuse ISM:
    ``T[a, w] = exp(-tau_ism[w]) * (1 - f[a] + f[a] exp(-tau_bc[w]))`` with
    ``tau_bc = dust1 (lam / 5500 A)**dust1_index``, ``tau_ism`` the diffuse law with
    ``tau_ism(5500 A) = dust2``, and ``f`` the birth-cloud fraction of each age
    (:func:`birth_cloud_fraction`: exact step, or bin-overlap weights when
    ``log_age_edges_yr`` is given). Naming follows FSPS/Prospector (``dust1``, ``dust2``,
    ``dust_index``, ``dust_tesc = log10 t_split``). Defaults are the published Charlot &
    Fall exponent -0.7 for both components (python-fsps defaults ``dust1_index`` to -1).

    Args:
        wave_aa: rest-frame wavelengths in Angstrom, shape ``(n_wave,)``.
        log_age_yr: log10 SSP ages in yr, shape ``(n_age,)``.
        dust1: birth-cloud optical depth at 5500 A, scalar >= 0.
        dust2: diffuse optical depth at 5500 A, scalar >= 0.
        dust1_index: birth-cloud power-law index, scalar.
        dust_index: diffuse-law shape parameter, whose meaning depends on ``diffuse_law``:
            the power-law index for ``"power_law"`` (default -0.7, FSPS ``dust_type=0``),
            the slope offset delta for ``"kriek_conroy"`` (default 0, FSPS
            ``dust_type=4``, bump tied to delta); must be ``None`` for ``"calzetti"`` and
            ``"smc"``, which have no free shape.
        diffuse_law: one of ``DUST_LAWS``.
        t_split_yr: birth-cloud dispersal time in yr, scalar > 0.
        log_age_edges_yr: optional log10 age-bin edges in yr, shape ``(n_age + 1,)``.

    Returns:
        Transmission ``exp(-tau)`` in [0, 1], shape ``(n_age, n_wave)``; multiply the SSP
        spectra (n_age, n_wave) by it before summing over ages.

    Raises:
        TypeError, ValueError: on an unknown law, a ``dust_index`` given for a law without
            a shape parameter, wrong shapes, or (when concrete) bad values.

    Example:
        >>> trans = charlot_fall_transmission(wave_aa, log_age_yr, 0.6, 0.3)
        >>> spec = jnp.sum(mass_weights[:, None] * ssp_lnu * trans, axis=0)
    """
    law = _check_law(diffuse_law, "diffuse_law")
    wave = _as_wave(wave_aa, one_d=True)
    dust1 = _as_scalar(dust1, "dust1", nonnegative=True)
    dust2 = _as_scalar(dust2, "dust2", nonnegative=True)
    dust1_index = _as_scalar(dust1_index, "dust1_index", nonnegative=False)
    if law in ("power_law", "kriek_conroy"):
        default = -0.7 if law == "power_law" else 0.0
        shape = _as_scalar(
            default if dust_index is None else dust_index, "dust_index", nonnegative=False
        )
    elif dust_index is not None:
        raise TypeError(
            f"dust_index does not apply to diffuse_law={law!r} (it has no shape parameter);"
            " leave it as None or use 'kriek_conroy' / 'power_law'."
        )
    else:
        shape = None
    log_age, t_split, edges = _as_age_inputs(log_age_yr, t_split_yr, log_age_edges_yr)
    return _charlot_fall_kernel(
        law, wave, log_age, dust1, dust2, dust1_index, shape, t_split, edges
    )
