"""Masked Gaussian and Student-t log-likelihoods for fluxes, with noise floor and extra variance.

Every function acts on one observation (arrays whose last axis is bands or pixels) and sums
over that last axis; batch with ``jax.vmap``. Masked entries contribute exactly zero, to the
value and to every gradient, whatever numbers (NaN, inf) sit under the mask, and shapes stay
static.

Variance model, per band ``i``::

    sigma_i^2 = flux_err_i^2 + (noise_floor * model_flux_i)^2 + extra_var_i

The fractional noise floor multiplies the *model* flux, not the observed flux. It stands for
calibration and template errors proportional to the true flux; the model is the noiseless
estimate of that flux, whereas the observed flux of a faint source is noisy and can be zero
or negative, so a data-based floor would vanish or be biased by upward fluctuations. Because
``sigma`` then depends on the parameters, the normalisation ``-0.5 log(2 pi sigma^2)`` is kept
in full: dropping it would reward models that inflate their own flux to widen the errors.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln
from jax.typing import ArrayLike

if TYPE_CHECKING:  # pragma: no cover
    from ._observations import Photometry, Spectrum

__all__ = [
    "gaussian_loglike",
    "student_t_loglike",
    "photometry_loglike",
    "photometry_student_t_loglike",
    "spectrum_loglike",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _prepare(
    model_flux: ArrayLike,
    flux: ArrayLike,
    flux_err: ArrayLike,
    mask: ArrayLike,
    noise_floor: ArrayLike,
    extra_var: ArrayLike | None,
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Check shapes and values, then return (residual, variance, log scale, mask).

    Residual and variance are in units of a per-band scale (the flux error); the caller
    adds ``-log scale`` per band to restore the normalisation.

    Values under the mask are replaced by safe numbers *before* any arithmetic, so that
    NaN/inf there cannot leak into gradients through ``jnp.where`` (the "double where").
    """
    model_flux = jnp.asarray(model_flux)
    flux = jnp.asarray(flux)
    flux_err = jnp.asarray(flux_err)
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_:
        raise TypeError(
            f"mask must be boolean (True = use this band), got dtype {mask.dtype}; "
            "pass mask.astype(bool) if 1 means 'use'."
        )
    noise_floor = jnp.asarray(noise_floor)
    arrays = {
        "model_flux": model_flux,
        "flux": flux,
        "flux_err": flux_err,
        "mask": mask,
        "noise_floor": noise_floor,
    }
    if extra_var is not None:
        extra_var = jnp.asarray(extra_var)
        arrays["extra_var"] = extra_var
    try:
        jnp.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
        raise ValueError(
            f"likelihood inputs must have the same shape (n_bands,) or broadcast to one; "
            f"got {shapes}."
        ) from None
    for name, value in (("model_flux", model_flux), ("flux", flux), ("flux_err", flux_err)):
        if not jnp.issubdtype(value.dtype, jnp.floating) and not jnp.issubdtype(
            value.dtype, jnp.integer
        ):
            raise TypeError(f"{name} must be a real float array, got dtype {value.dtype}.")
    # Value checks in NumPy on concrete inputs only: jnp operations inside a caller's jit
    # would trace even arrays closed over from outside, and bool() of a tracer fails.
    if _is_concrete(noise_floor):
        nf = np.asarray(noise_floor)
        if not np.all(np.isfinite(nf) & (nf >= 0)):
            raise ValueError(
                f"noise_floor must be finite and >= 0 (a fraction of the model flux, e.g. "
                f"0.05 for 5%), got {nf}."
            )
    if all(_is_concrete(x) for x in (flux, flux_err, mask)):
        shape = np.broadcast_shapes(mask.shape, flux.shape, flux_err.shape)
        used = np.broadcast_to(np.asarray(mask), shape)
        if np.any(used & ~np.isfinite(np.broadcast_to(np.asarray(flux), shape))):
            raise ValueError("flux must be finite where mask is True; mask the bad bands.")
        err_b = np.broadcast_to(np.asarray(flux_err), shape)
        if np.any(used & ~(np.isfinite(err_b) & (err_b > 0))):
            raise ValueError(
                "flux_err must be finite and > 0 where mask is True; mask the bad bands."
            )
    if extra_var is not None and _is_concrete(extra_var) and _is_concrete(mask):
        ev = np.asarray(extra_var)
        bad = np.broadcast_to(np.asarray(mask), np.broadcast_shapes(mask.shape, ev.shape)) & ~(
            np.isfinite(ev) & (ev >= 0)
        )
        if np.any(bad):
            raise ValueError(
                "extra_var must be finite and >= 0 where mask is True (it is an added "
                "variance, in flux units squared)."
            )

    # Safe values under the mask: data 0, model 0, error 1, extra variance 0.
    safe_model = jnp.where(mask, model_flux, 0.0)
    safe_flux = jnp.where(mask, flux, 0.0)
    safe_err = jnp.where(mask, flux_err, 1.0)
    # Work in units of each band's flux error. Fluxes in maggies are ~1e-10, so variances
    # (~1e-20) squared in the backward pass underflow float32 and gradients turn NaN.
    # The rewrite is exact for any constant scale s: with r = s r', sigma = s sigma',
    # log N(r; sigma) = log N(r'; sigma') - log s. stop_gradient makes s a constant, so
    # the gradients (also with respect to flux_err) are exact too.
    scale = jax.lax.stop_gradient(jnp.abs(safe_err))
    var = jnp.square(safe_err / scale) + jnp.square(noise_floor * safe_model / scale)
    if extra_var is not None:
        var = var + jnp.where(mask, extra_var, 0.0) / jnp.square(scale)
    return (safe_flux - safe_model) / scale, var, jnp.log(scale), mask


def gaussian_loglike(
    model_flux: ArrayLike,
    flux: ArrayLike,
    flux_err: ArrayLike,
    mask: ArrayLike,
    *,
    noise_floor: ArrayLike = 0.0,
    extra_var: ArrayLike | None = None,
) -> jnp.ndarray:
    """Gaussian log-likelihood of observed fluxes given model fluxes, summed over bands.

    ``sum_i mask_i * [-0.5 (flux_i - model_i)^2 / sigma_i^2 - 0.5 log(2 pi sigma_i^2)]`` with
    ``sigma_i^2 = flux_err_i^2 + (noise_floor * model_i)^2 + extra_var_i`` (see the module
    docstring for why the floor scales the model flux). Pure JAX and differentiable in every
    float argument; masked bands contribute exactly 0 to the value and the gradients.

    Args:
        model_flux: model fluxes, shape ``(..., n_bands)``, in the same unit as ``flux``
            (maggies for `Photometry`).
        flux: observed fluxes, same shape; negative values are valid measurements.
        flux_err: 1-sigma flux errors, same shape, > 0 where ``mask`` is True.
        mask: boolean, same shape; True = use this band.
        noise_floor: fractional error floor (e.g. 0.05 for 5% of the model flux), >= 0,
            scalar or per band.
        extra_var: optional additive variance per band in flux units squared (e.g. the
            emulator's error variance), >= 0.

    Returns:
        Log-likelihood, shape ``(...)`` (a scalar for one object), in the float dtype of
        the inputs.
    """
    resid, var, log_scale, mask = _prepare(model_flux, flux, flux_err, mask, noise_floor, extra_var)
    per_band = -0.5 * (jnp.square(resid) / var + jnp.log(var) + _LOG_2PI) - log_scale
    return jnp.sum(jnp.where(mask, per_band, 0.0), axis=-1)


def student_t_loglike(
    model_flux: ArrayLike,
    flux: ArrayLike,
    flux_err: ArrayLike,
    mask: ArrayLike,
    *,
    dof: ArrayLike,
    noise_floor: ArrayLike = 0.0,
    extra_var: ArrayLike | None = None,
) -> jnp.ndarray:
    """Student-t log-likelihood (robust to outlying bands), summed over bands.

    Each band follows a Student-t distribution with ``dof`` degrees of freedom, location
    ``model_flux`` and scale ``sigma`` (the same ``sigma`` as in `gaussian_loglike`), with
    the full normalisation::

        lgamma((nu+1)/2) - lgamma(nu/2) - 0.5 log(nu pi) - log(sigma)
            - (nu+1)/2 log(1 + r^2 / nu),    r = (flux - model) / sigma

    It tends to `gaussian_loglike` as ``dof -> inf``. Note ``sigma`` is the scale, not the
    standard deviation (which is ``sigma sqrt(nu/(nu-2))`` for ``nu > 2``).

    Args:
        model_flux: model fluxes, shape ``(..., n_bands)``.
        flux: observed fluxes, same shape.
        flux_err: 1-sigma flux errors (the t scale before floor and extra variance), same
            shape, > 0 where ``mask`` is True.
        mask: boolean, same shape; True = use this band.
        dof: degrees of freedom ``nu`` > 0, scalar or per band; differentiable.
        noise_floor: fractional error floor on the model flux, >= 0.
        extra_var: optional additive variance per band, >= 0.

    Returns:
        Log-likelihood, shape ``(...)``.
    """
    dof = jnp.asarray(dof)
    if _is_concrete(dof) and not np.all(np.isfinite(np.asarray(dof)) & (np.asarray(dof) > 0)):
        raise ValueError(f"dof must be finite and > 0 (Student-t degrees of freedom), got {dof}.")
    resid, var, log_scale, mask = _prepare(model_flux, flux, flux_err, mask, noise_floor, extra_var)
    nu = dof
    per_band = (
        gammaln(0.5 * (nu + 1.0))
        - gammaln(0.5 * nu)
        - 0.5 * jnp.log(nu * math.pi)
        - 0.5 * jnp.log(var)
        - log_scale
        - 0.5 * (nu + 1.0) * jnp.log1p(jnp.square(resid) / (var * nu))
    )
    return jnp.sum(jnp.where(mask, per_band, 0.0), axis=-1)


def photometry_loglike(
    model_flux_maggies: ArrayLike,
    obs: Photometry,
    *,
    noise_floor: ArrayLike = 0.0,
    extra_var: ArrayLike | None = None,
) -> jnp.ndarray:
    """`gaussian_loglike` of a `Photometry` observation.

    Args:
        model_flux_maggies: model fluxes in maggies, shape ``obs.flux_maggies.shape``
            (``(n_bands,)`` for one object), in the band order of ``obs.band_names``.
        obs: the observation (flux, errors and mask in maggies).
        noise_floor: fractional error floor on the model flux, >= 0.
        extra_var: optional additive variance per band in maggies squared.

    Returns:
        Log-likelihood, shape ``obs.batch_shape`` (a scalar for one object).
    """
    _check_obs(obs, "Photometry", "photometry_loglike")
    return gaussian_loglike(
        model_flux_maggies,
        obs.flux_maggies,
        obs.flux_err_maggies,
        obs.mask,
        noise_floor=noise_floor,
        extra_var=extra_var,
    )


def photometry_student_t_loglike(
    model_flux_maggies: ArrayLike,
    obs: Photometry,
    *,
    dof: ArrayLike,
    noise_floor: ArrayLike = 0.0,
    extra_var: ArrayLike | None = None,
) -> jnp.ndarray:
    """`student_t_loglike` of a `Photometry` observation.

    Args:
        model_flux_maggies: model fluxes in maggies, shape ``obs.flux_maggies.shape``.
        obs: the observation.
        dof: Student-t degrees of freedom, > 0.
        noise_floor: fractional error floor on the model flux, >= 0.
        extra_var: optional additive variance per band in maggies squared.

    Returns:
        Log-likelihood, shape ``obs.batch_shape``.
    """
    _check_obs(obs, "Photometry", "photometry_student_t_loglike")
    return student_t_loglike(
        model_flux_maggies,
        obs.flux_maggies,
        obs.flux_err_maggies,
        obs.mask,
        dof=dof,
        noise_floor=noise_floor,
        extra_var=extra_var,
    )


def spectrum_loglike(
    model_flux: ArrayLike,
    spec: Spectrum,
    *,
    noise_floor: ArrayLike = 0.0,
    extra_var: ArrayLike | None = None,
) -> jnp.ndarray:
    """`gaussian_loglike` of a `Spectrum` observation, over its pixels.

    Args:
        model_flux: model flux on ``spec.wave_aa``, shape ``spec.flux.shape``, in
            ``spec.flux_unit``.
        spec: the observed spectrum.
        noise_floor: fractional error floor on the model flux, >= 0.
        extra_var: optional additive variance per pixel in ``spec.flux_unit`` squared.

    Returns:
        Log-likelihood, shape ``spec.batch_shape``.
    """
    _check_obs(spec, "Spectrum", "spectrum_loglike")
    return gaussian_loglike(
        model_flux,
        spec.flux,
        spec.flux_err,
        spec.mask,
        noise_floor=noise_floor,
        extra_var=extra_var,
    )


def _check_obs(obs: Any, kind: str, func: str) -> None:
    from . import _observations

    cls = getattr(_observations, kind)
    if not isinstance(obs, cls):
        raise TypeError(
            f"{func} expects a sedcore.{kind} as its second argument, got {type(obs).__name__}; "
            f"for plain arrays call gaussian_loglike / student_t_loglike directly."
        )
