"""The fitted model: priors, forward model and likelihood, as a numpyro model.

A `FitModel` is built once (outside ``jit``) from an ``emulate_sps.SynthesisConfig`` and an
``sfh_priors`` prior, and passed as an argument of jitted functions: the config's arrays
are leaves (inputs of the compiled program, not constants baked into it); priors, fixed
values and the forward callable are static.

An `Observation` holds the photometry of one object with static shapes
``(n_pixels, n_bands)``: fluxes and errors in maggies and a boolean mask (True = use).
The log-likelihood sums over pixels and bands, so the image case (many pixels) reuses
it. A catalog is an `Observation` with a leading object axis, mapped with ``jax.vmap``.

An observation may also carry a spectrum (`SpectrumObservation`, on the observed
wavelengths the config was built with): the model then multiplies the engine's
``observed_spectrum`` by a smooth calibration ``exp(sum_k c_k T_k(x))`` (Chebyshev
polynomials in wavelength) and scales the spectrum's errors by a free jitter factor
(`SpectrumSettings`).

The numpyro model (`numpyro_model`) declares one sample site per free parameter; its
unconstrained log density (`log_density`) is what the samplers of `pixelfit` use.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import emulate_sps
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import sedcore
import sfh_priors
from numpyro.infer.reparam import Reparam, TransformReparam
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

__all__ = [
    "FitModel",
    "Observation",
    "SpectrumObservation",
    "SpectrumSettings",
    "constrain",
    "default_priors",
    "engine_params",
    "log_density",
    "log_likelihood",
    "numpyro_model",
    "prior_draw",
    "spectrum_log_likelihood",
    "spectrum_model",
]

#: Default fractional error floor on the model flux (added in quadrature to the errors).
DEFAULT_NOISE_FLOOR = 0.05
#: Site holding the birth-cloud optical depth as a ratio to the diffuse one.
DUST_RATIO = "dust_ratio"
#: Prefix of the SFH sample sites (``"sfh.log_mass"``, ``"sfh.age_yr"``, ...).
SFH_SITE = "sfh"
#: Fixed by default: the line-of-sight velocity dispersion does not change photometry.
DEFAULT_FIXED = {"sigma_kms": 100.0}
#: Sample sites of the spectrum's calibration coefficients and error scaling.
SPEC_CALIB = "spec_calib"
SPEC_JITTER = "spec_jitter"


class SpectrumObservation(NamedTuple):
    """A spectrum of one object (or, with a leading axis, of a batch), static shapes.

    On the observed wavelengths of the model's config (``spectrum_wave_obs_aa``).

    Attributes:
        flux_maggies: (n_wave,) observed f_nu, maggies. Values under a False mask are
            ignored (they may be NaN).
        flux_err_maggies: (n_wave,) 1-sigma errors, maggies (> 0 where used).
        mask: (n_wave,) bool, True = use this pixel.
    """

    flux_maggies: jax.Array
    flux_err_maggies: jax.Array
    mask: jax.Array


class Observation(NamedTuple):
    """Photometry of one object (or, with a leading axis, of a batch), static shapes.

    Attributes:
        flux_maggies: (n_pixels, n_bands) observed fluxes, maggies. Values under a False
            mask are ignored (they may be NaN).
        flux_err_maggies: (n_pixels, n_bands) 1-sigma errors, maggies (> 0 where used).
        mask: (n_pixels, n_bands) bool, True = use this band of this pixel.
        redshift: () redshift used when the model's redshift is fixed (NaN when it is
            free or unknown).
        spectrum: a `SpectrumObservation`, or None (photometry only).
    """

    flux_maggies: jax.Array
    flux_err_maggies: jax.Array
    mask: jax.Array
    redshift: jax.Array
    spectrum: SpectrumObservation | None = None


@dataclasses.dataclass(frozen=True)
class SpectrumSettings:
    """How a spectrum enters the fit (pass to ``FitModel.create(..., spectrum=...)``).

    The model spectrum is the exact engine's ``emulate_sps.observed_spectrum`` (stars
    broadened by the free velocity dispersion ``sigma_kms`` and the config's instrumental
    resolution) times a calibration ``exp(sum_k c_k T_k(x))``: Chebyshev polynomials of
    degree ``k <= calibration_order`` in ``x``, the observed wavelength mapped linearly
    onto [-1, 1]. ``c_0`` is the spectrum's normalisation relative to the photometry (slit
    losses, aperture); the others its shape (flux calibration). The exponential keeps
    the calibrated spectrum positive. The errors are multiplied by ``spec_jitter``, which
    absorbs errors that are under- or over-estimated; ``noise_floor`` adds a fraction of
    the model in quadrature, as for photometry.

    Attributes:
        calibration_order: largest Chebyshev degree (>= 0; 0 = normalisation only).
        normalization_sigma: prior standard deviation of ``c_0`` (natural log; default 1,
            a factor e at 1 sigma).
        shape_sigma: prior standard deviation of ``c_1 ...`` (default 0.2: 20% tilts).
        jitter_prior: numpyro distribution of the error scaling (> 0), or None to use
            the errors as given. Default ``LogUniform(0.5, 5)``.
        noise_floor: fractional error floor on the model spectrum (default 0).
    """

    calibration_order: int = 2
    normalization_sigma: float = 1.0
    shape_sigma: float = 0.2
    jitter_prior: Any = dataclasses.field(default_factory=lambda: dist.LogUniform(0.5, 5.0))
    noise_floor: float = 0.0

    def check(self) -> SpectrumSettings:
        """Self, after checking every field; ValueError or TypeError naming the field."""
        order = self.calibration_order
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
            raise ValueError(
                f"SpectrumSettings.calibration_order must be an integer >= 0; got {order!r}."
            )
        for name in ("normalization_sigma", "shape_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SpectrumSettings.{name} must be a number > 0; got {value!r}.")
        floor = self.noise_floor
        if not (isinstance(floor, (int, float)) and math.isfinite(floor) and floor >= 0):
            raise ValueError(f"SpectrumSettings.noise_floor must be >= 0; got {floor!r}.")
        prior = self.jitter_prior
        if prior is not None:
            _check_dist(prior, "spectrum jitter_prior")
            lower = getattr(prior.support, "lower_bound", None)
            if lower is None or float(lower) < 0:
                raise ValueError(
                    "SpectrumSettings.jitter_prior must have a positive support (e.g. "
                    f"numpyro.distributions.LogUniform(0.5, 5)); got {prior!r}."
                )
        return self


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _SpectrumModel:
    """The spectrum part of a `FitModel` (a pytree): calibration basis and settings."""

    basis: jax.Array  # (n_coef, n_wave) Chebyshev polynomials at the observed wavelengths
    prior_sigma: jax.Array  # (n_coef,)
    noise_floor: jax.Array  # ()
    jitter_prior: Any = dataclasses.field(metadata={"static": True})

    @classmethod
    def create(cls, config: emulate_sps.SynthesisConfig, settings: Any) -> _SpectrumModel:
        if settings is True:
            settings = SpectrumSettings()
        if not isinstance(settings, SpectrumSettings):
            raise TypeError(
                "FitModel.create: spectrum must be a pixelfit.SpectrumSettings (or True for "
                f"the defaults); got {type(settings).__name__}."
            )
        settings.check()
        if config.spec_tables is None:
            raise ValueError(
                "FitModel.create: spectrum needs a config built for the spectrum's "
                "wavelengths: SynthesisConfig.create(..., spectrum_wave_obs_aa=wave_aa, "
                "spectrum_resolution=R)."
            )
        wave = np.exp(np.asarray(config.spec_tables.log_wave_obs, dtype=np.float64))
        x = (2.0 * wave - (wave[0] + wave[-1])) / (wave[-1] - wave[0])
        order = int(settings.calibration_order)
        basis = np.polynomial.chebyshev.chebvander(x, order).T
        sigma = np.full(order + 1, float(settings.shape_sigma))
        sigma[0] = float(settings.normalization_sigma)
        dtype = config.log_age_yr.dtype
        return cls(
            basis=jnp.asarray(basis, dtype=dtype),
            prior_sigma=jnp.asarray(sigma, dtype=dtype),
            noise_floor=jnp.asarray(settings.noise_floor, dtype=dtype),
            jitter_prior=settings.jitter_prior,
        )

    @property
    def n_wave(self) -> int:
        return int(self.basis.shape[1])


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FitModel:
    """Everything a fit needs that does not depend on the data (a pytree; build with `create`).

    Attributes:
        config: the ``emulate_sps.SynthesisConfig`` (filters, SFH form, dust, nebular...).
        sfh_prior: the ``sfh_priors`` model whose prior the SFH parameters follow. Its
            ``age_max_yr`` (also in a ``base`` model) is lowered to the age of the
            universe at the object's redshift at run time.
        noise_floor: fractional error floor on the model flux, scalar or (n_bands,).
        forward_state: the first argument of ``forward`` (None: ``config``).
        priors: static ``((site, distribution), ...)`` in sampling order, without the SFH
            and the redshift.
        fixed: static ``((name, value), ...)`` parameters held fixed.
        z_prior: numpyro distribution of a free redshift, or None (fixed: the
            observation's redshift).
        dust1_from_ratio: static; True if ``dust1 = dust_ratio * dust2``.
        forward: static callable ``forward(state, params) -> (n_bands,) maggies``.
        cosmology: static `sedcore.Cosmology` for the age of the universe at ``z``.
        log_tuniv_table, tuniv_dx: ln(age of the universe / yr) on a uniform grid of
            ln(1 + z) with step ``tuniv_dx`` (see `age_of_universe_yr`).
        sample_sites: static, the latent sample sites of `numpyro_model` in order (the
            keys of an unconstrained position).
        spectrum: the spectrum likelihood (calibration basis and priors), or None for
            photometry only (see `SpectrumSettings`).
    """

    def age_of_universe_yr(self, z: jax.Array) -> jax.Array:
        """Age of the universe at ``z`` in yr (``sedcore.age_of_universe_yr`` tabulated).

        Linear interpolation of ln(t) in ln(1 + z) on 4096 points up to ``config.z_max``
        (within 4e-6 of the float64 integral in float32): computing the cosmological integral at every
        evaluation of the log density would cost more than the photometry.
        """
        table = self.log_tuniv_table
        pos = jnp.clip(jnp.log1p(z) / self.tuniv_dx, 0.0, table.shape[0] - 1.0)
        i = jnp.clip(jnp.floor(pos), 0, table.shape[0] - 2).astype(jnp.int32)
        f = pos - i
        return jnp.exp(table[i] * (1.0 - f) + table[i + 1] * f)

    config: emulate_sps.SynthesisConfig
    sfh_prior: Any
    noise_floor: jax.Array
    forward_state: Any
    log_tuniv_table: jax.Array
    priors: tuple[tuple[str, Any], ...] = dataclasses.field(metadata={"static": True})
    fixed: tuple[tuple[str, float], ...] = dataclasses.field(metadata={"static": True})
    z_prior: Any = dataclasses.field(metadata={"static": True})
    dust1_from_ratio: bool = dataclasses.field(metadata={"static": True})
    forward: Callable[[Any, Mapping[str, jax.Array]], jax.Array] = dataclasses.field(
        metadata={"static": True}
    )
    cosmology: sedcore.Cosmology = dataclasses.field(metadata={"static": True})
    tuniv_dx: float = dataclasses.field(metadata={"static": True})
    sample_sites: tuple[str, ...] = dataclasses.field(default=(), metadata={"static": True})
    spectrum: _SpectrumModel | None = None

    # ------------------------------------------------------------------ properties
    @property
    def band_names(self) -> tuple[str, ...]:
        """Names of the bands, in the order of the model fluxes and observations."""
        return self.config.filter_names

    @property
    def n_bands(self) -> int:
        return len(self.config.filter_names)

    @property
    def free_redshift(self) -> bool:
        return self.z_prior is not None

    @property
    def fits_spectrum(self) -> bool:
        """True if observations carry a spectrum that enters the likelihood."""
        return self.spectrum is not None

    @property
    def spectrum_wave_aa(self) -> np.ndarray | None:
        """Observed wavelengths of the spectrum (Angstrom), or None without a spectrum."""
        if self.spectrum is None:
            return None
        return np.exp(np.asarray(self.config.spec_tables.log_wave_obs, dtype=np.float64))

    @property
    def site_names(self) -> tuple[str, ...]:
        """Latent sample sites of `numpyro_model`, in order (keys of a position)."""
        return self.sample_sites

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the free parameters in outputs (engine names, plus ``dust_ratio``)."""
        return _site_layout(self)[1]

    def __repr__(self) -> str:
        return (
            f"FitModel(sfh={type(self.sfh_prior).__name__}, bands={self.band_names}, "
            f"free={self.param_names}, fixed={dict(self.fixed)}, "
            f"z={'free' if self.free_redshift else 'fixed'}"
            + (f", spectrum={self.spectrum.n_wave} px" if self.spectrum is not None else "")
            + ")"
        )

    # ------------------------------------------------------------------ builder
    @classmethod
    def create(
        cls,
        config: emulate_sps.SynthesisConfig,
        sfh_prior: sfh_priors.SFHModel,
        *,
        priors: Mapping[str, Any] | None = None,
        fixed: Mapping[str, float] | None = None,
        z_prior: Any = None,
        noise_floor: Any = DEFAULT_NOISE_FLOOR,
        forward: Callable[[Any, Mapping[str, jax.Array]], jax.Array] | None = None,
        forward_state: Any = None,
        cosmology: sedcore.Cosmology | None = None,
        emulator_error: bool = True,
        spectrum: SpectrumSettings | bool | None = None,
    ) -> FitModel:
        """Assemble priors, forward model and likelihood settings.

        Every parameter of ``config`` gets a prior or a fixed value. The SFH parameters
        follow ``sfh_prior`` (``sfh_priors.numpyro_sample``); the redshift is fixed to
        the observation's unless ``z_prior`` is given; every other parameter takes, in
        this order, ``priors[name]``, ``fixed[name]`` or the default of
        `default_priors` (a `ValueError` names any parameter left without one).

        Args:
            config: an ``emulate_sps.SynthesisConfig`` built with the observed filters.
            sfh_prior: an ``sfh_priors`` model with the same form as ``config``'s SFH
                (e.g. ``sfh_priors.DelayedTau(age_max_yr=1.4e10)``); its age prior is
                cut at the age of the universe at the object's redshift.
            priors: ``{name: numpyro distribution}`` overrides; ``"dust_ratio"`` sets the
                prior of ``dust1 / dust2``; giving ``"dust1"`` samples ``dust1`` directly.
            fixed: ``{name: value}`` parameters held fixed.
            z_prior: a numpyro distribution on ``[0, config.z_max]`` for a free
                redshift; None fixes it to each observation's redshift.
            noise_floor: fractional error floor on the model flux, added in quadrature to
                the flux errors (``sigma^2 = err^2 + (floor * model)^2``), scalar or one
                per band; default 0.05.
            forward: ``forward(state, params) -> (n_bands,) maggies`` with the call
                signature of ``emulate_sps.photometry`` (the default, which also takes an
                ``emulate_sps.PhotometryEmulator`` as its first argument).
            forward_state: first argument passed to ``forward`` (default: ``config``),
                e.g. ``emulate_sps.load_emulator("hst_jwst20_phot")``: its bands must be
                the config's, in the same order. An emulator knows only its training box:
                the default uniform priors are cut to it, and given priors, ``z_prior``
                and fixed values outside it are errors. Parameters its training held
                fixed (``emulator.fixed``, e.g. ``dust1`` = 0) are fixed at those values;
                a prior or another value for them is an error.
            emulator_error: when ``forward_state`` is an emulator state with a measured
                error (an ``emulate_sps.PhotometryEmulator``, or a spectral emulator bound
                to filters, ``emulate_sps.spectral_photometry_state``),
                add its measured fractional error per band (``flux_error_frac``) to the
                noise floor in quadrature (default True).
            cosmology: `sedcore.Cosmology` for the age of the universe; Planck 2018 by
                default. Must be the config's.
            spectrum: fit a spectrum too: a `SpectrumSettings` (True for its defaults),
                or None (photometry only). Needs ``config`` built with
                ``spectrum_wave_obs_aa`` (the spectrum's observed wavelengths); the model
                spectrum is always the exact engine's, whatever ``forward`` is for the
                photometry. The velocity dispersion ``sigma_kms`` then gets the default
                prior Uniform(0, ``spectrum_sigma_max_kms``) instead of being fixed.

        Returns:
            The `FitModel`.

        Raises:
            TypeError, ValueError: naming the argument or parameter.
        """
        if not isinstance(config, emulate_sps.SynthesisConfig):
            raise TypeError(
                "FitModel.create: config must be an emulate_sps.SynthesisConfig "
                f"(SynthesisConfig.create(grid, sfh, filters)); got {type(config).__name__}."
            )
        if config.n_filters == 0:
            raise ValueError(
                "FitModel.create: config has no filters; build it with "
                "SynthesisConfig.create(grid, sfh, filters=[...]) for the observed bands."
            )
        if not isinstance(sfh_prior, sfh_priors.SFHModel):
            raise TypeError(
                "FitModel.create: sfh_prior must be an sfh_priors model (e.g. "
                f"sfh_priors.DelayedTau(age_max_yr=1.4e10)); got {type(sfh_prior).__name__}."
            )
        if jax.tree.structure(_sfh_struct(sfh_prior)) != config.sfh_treedef:
            raise ValueError(
                f"FitModel.create: sfh_prior is a {type(sfh_prior).__name__} but config was "
                f"built for a {type(config.sfh).__name__}; use the same SFH form for both."
            )
        cosmology = sedcore.PLANCK18 if cosmology is None else cosmology
        if not math.isclose(float(cosmology.h0), float(config.cosmo_h0), rel_tol=1e-9):
            raise ValueError(
                f"FitModel.create: cosmology has h0 = {cosmology.h0} but config was built with "
                f"h0 = {config.cosmo_h0}; pass the cosmology the config was built with."
            )
        space = emulate_sps.param_space(config)
        priors = dict(priors or {})
        fixed = {k: float(v) for k, v in dict(fixed or {}).items()}
        engine_names = set(config.names)
        allowed = (engine_names | {DUST_RATIO}) - {"z", *config.sfh_names}
        for what, mapping in (("priors", priors), ("fixed", fixed)):
            unknown = sorted(set(mapping) - allowed)
            if unknown:
                raise ValueError(
                    f"FitModel.create: {what} names unknown parameter(s) {unknown}; this config "
                    f"takes {sorted(allowed)} (SFH parameters follow sfh_prior, the redshift "
                    "z_prior or the observation)."
                )
        both = sorted(set(priors) & set(fixed))
        if both:
            raise ValueError(f"FitModel.create: {both} given both a prior and a fixed value.")
        # Parameters an emulator's training held fixed: the emulator ignores them, so they
        # are fixed at the training values (a prior or another value would be ignored
        # silently). The line width does not change emulated photometry: exempt.
        if forward_state is not None and forward_state is not config:
            for name, value in getattr(forward_state, "fixed", ()):
                if name not in engine_names or name == "sigma_kms":
                    continue
                if name in priors or (name == "dust1" and DUST_RATIO in priors):
                    raise ValueError(
                        f"FitModel.create: the emulator was trained with {name!r} fixed at "
                        f"{value:g}, so it cannot fit it; drop its prior (it is then fixed at "
                        f"{value:g}) or use the exact engine."
                    )
                if name in fixed and not math.isclose(fixed[name], value, rel_tol=1e-6, abs_tol=1e-9):
                    raise ValueError(
                        f"FitModel.create: fixed {name!r} = {fixed[name]!r}, but the emulator was "
                        f"trained with {value:g}; use {value:g} or the exact engine."
                    )
                fixed[name] = value
        for name, value in fixed.items():
            if name in engine_names:
                bound = space[name]
                if not (math.isfinite(value) and bound.lower <= value <= bound.upper):
                    raise ValueError(
                        f"FitModel.create: fixed {name!r} = {value!r} is outside the engine's "
                        f"domain [{bound.lower:g}, {bound.upper:g}] {bound.unit}".rstrip()
                        + "."
                    )
        defaults = default_priors(config)
        spec_model = None
        if spectrum is not None and spectrum is not False:
            spec_model = _SpectrumModel.create(config, spectrum)
            if "sigma_kms" in engine_names:
                defaults["sigma_kms"] = dist.Uniform(0.0, space["sigma_kms"].upper)
        # An emulator forward model knows only its training box: default priors shrink to
        # it, and given priors must stay inside it (outside, the emulator clips: flat
        # likelihood, silently wrong posteriors).
        fwd_space = None
        if forward_state is not None and forward_state is not config:
            try:
                fwd_space = emulate_sps.param_space(forward_state)
            except (TypeError, AttributeError):
                fwd_space = None
        if fwd_space is not None:
            defaults = {
                k: _restrict_uniform(v, fwd_space[k]) if k in fwd_space.names else v
                for k, v in defaults.items()
            }
        sites: list[tuple[str, Any]] = []
        out_fixed: list[tuple[str, float]] = []
        dust1_from_ratio = False
        missing = []
        for name in config.names:
            if name == "z" or name in config.sfh_names:
                continue
            if name == "dust1" and "dust1" not in priors and "dust1" not in fixed:
                if DUST_RATIO in fixed:
                    raise ValueError(
                        "FitModel.create: fix 'dust1' itself, not 'dust_ratio' (or give a "
                        "'dust_ratio' prior)."
                    )
                ratio = priors.get(DUST_RATIO, defaults[DUST_RATIO])
                sites.append((DUST_RATIO, _check_dist(ratio, DUST_RATIO)))
                dust1_from_ratio = True
                continue
            if name in priors:
                sites.append((name, _check_dist(priors[name], name)))
            elif name in fixed:
                out_fixed.append((name, fixed[name]))
            elif name in defaults:
                sites.append((name, defaults[name]))
            elif name in DEFAULT_FIXED:
                out_fixed.append((name, DEFAULT_FIXED[name]))
            else:
                missing.append(name)
        if missing:
            raise ValueError(
                f"FitModel.create: no default prior for {missing}; pass priors={{name: "
                "numpyro distribution}} or fixed={name: value} for each."
            )
        if DUST_RATIO in priors and not dust1_from_ratio:
            raise ValueError(
                "FitModel.create: a 'dust_ratio' prior needs birth clouds (config.names has "
                "no 'dust1') and no 'dust1' prior or fixed value."
            )
        if dust1_from_ratio:
            # dust2 must be sampled before the ratio is applied
            order = [s for s, _ in sites]
            if "dust2" not in order and "dust2" not in fixed:
                raise ValueError("FitModel.create: dust_ratio needs dust2 (free or fixed).")
        for site, prior in sites:
            if site in engine_names:
                _check_support(prior, space[site], site)
            if fwd_space is not None and site in fwd_space.names:
                _check_support(prior, fwd_space[site], site, "forward model's training")
        if z_prior is not None:
            z_prior = _check_dist(z_prior, "z_prior")
            _check_support(z_prior, space["z"], "z_prior")
            if fwd_space is not None and "z" in fwd_space.names:
                _check_support(z_prior, fwd_space["z"], "z_prior", "forward model's training")
        for name, value in fixed.items():
            if fwd_space is not None and name in fwd_space.names:
                bound = fwd_space[name]
                if not (bound.lower <= value <= bound.upper):
                    raise ValueError(
                        f"FitModel.create: fixed {name!r} = {value!r} is outside the forward "
                        f"model's training range [{bound.lower:g}, {bound.upper:g}]."
                    )
        noise_floor = np.asarray(noise_floor, dtype=np.float64)
        if noise_floor.shape not in ((), (config.n_filters,)) or not np.all(
            np.isfinite(noise_floor) & (noise_floor >= 0)
        ):
            raise ValueError(
                "FitModel.create: noise_floor must be a fraction >= 0 (e.g. 0.05), scalar or "
                f"one per band ({config.n_filters}); got {noise_floor!r}."
            )
        if _is_emulator_state(forward_state):
            if tuple(forward_state.filter_names) != tuple(config.filter_names):
                raise ValueError(
                    f"FitModel.create: the emulator's bands {list(forward_state.filter_names)} "
                    f"are not the config's {list(config.filter_names)} (same order needed)."
                )
            if emulator_error:
                noise_floor = np.hypot(noise_floor, np.asarray(forward_state.flux_error_frac, np.float64))
        dtype = config.log_age_yr.dtype
        x = np.linspace(0.0, math.log1p(config.z_max) * 1.001, _TUNIV_TABLE_SIZE)
        log_tuniv = np.log(
            np.asarray(sedcore.age_of_universe_yr(np.expm1(x), cosmology), np.float64)
        )
        fit = cls(
            config=config,
            sfh_prior=sfh_prior,
            noise_floor=jnp.asarray(noise_floor, dtype=dtype),
            forward_state=forward_state,
            log_tuniv_table=jnp.asarray(log_tuniv, dtype=dtype),
            tuniv_dx=float(x[1] - x[0]),
            priors=tuple(sites),
            fixed=tuple(out_fixed),
            z_prior=z_prior,
            dust1_from_ratio=dust1_from_ratio,
            forward=emulate_sps.photometry if forward is None else forward,
            cosmology=cosmology,
            spectrum=spec_model,
        )
        return dataclasses.replace(fit, sample_sites=_latent_sites(fit))


_TUNIV_TABLE_SIZE = 4096


def default_priors(config: emulate_sps.SynthesisConfig) -> dict[str, Any]:
    """The default priors for the non-SFH parameters of ``config`` (numpyro distributions).

    ===============  ==========================================================  ==========
    parameter        prior                                                       source
    ===============  ==========================================================  ==========
    ``log_zsol``     Uniform over the grid's metallicities (BC03: -2.3 to 0.7)   the grid
    ``dust2``        Uniform(0, 4): diffuse optical depth at 5500 A, A_V <= 4.3  chosen here
    ``dust_ratio``   TruncatedNormal(1, 0.3, low=0, high=2): dust1 / dust2       Leja+17/19
    ``dust_index``   Uniform(-1, 0.4), Kriek & Conroy slope only                 Leja+19
    ``log_u``        Uniform(-4, -1), nebular ionisation parameter               Prospector
    ``gas_log_zsol`` Uniform over the nebular grid's range                       the grid
    ===============  ==========================================================  ==========

    ``sigma_kms`` (nebular or spectra) is fixed at 100 km/s unless given. Parameters
    without a default (``log_zsol_sigma``, ``duste_*``, ``dust_index`` of a power law)
    need ``priors=`` or ``fixed=`` in `FitModel.create`.

    Args:
        config: an ``emulate_sps.SynthesisConfig``.

    Returns:
        ``{site name: distribution}`` for the parameters of ``config`` that have one.
    """
    space = emulate_sps.param_space(config)
    names = set(config.names)
    out: dict[str, Any] = {}

    def grid_range(name):
        p = space[name]
        if math.isfinite(p.lower) and math.isfinite(p.upper):
            return dist.Uniform(p.lower, p.upper)
        return None

    if "log_zsol" in names:
        out["log_zsol"] = grid_range("log_zsol")
    if "dust2" in names:
        out["dust2"] = dist.Uniform(0.0, 4.0)
    if "dust1" in names:
        out[DUST_RATIO] = dist.TruncatedNormal(1.0, 0.3, low=0.0, high=2.0)
    if "dust_index" in names and config.diffuse_law == "kriek_conroy":
        out["dust_index"] = dist.Uniform(-1.0, 0.4)
    if "log_u" in names:
        out["log_u"] = dist.Uniform(-4.0, -1.0)
    if "gas_log_zsol" in names and grid_range("gas_log_zsol") is not None:
        out["gas_log_zsol"] = grid_range("gas_log_zsol")
    return {k: v for k, v in out.items() if v is not None}


# ------------------------------------------------------------------------------ helpers


def _sfh_struct(sfh_model: Any) -> Any:
    return jax.eval_shape(lambda: sfh_priors.sample(jax.random.key(0), sfh_model))


def _check_dist(prior: Any, name: str) -> Any:
    if not isinstance(prior, dist.Distribution):
        raise TypeError(
            f"FitModel.create: the prior of {name!r} must be a numpyro distribution (e.g. "
            f"numpyro.distributions.Uniform(0, 2)); got {type(prior).__name__}."
        )
    if prior.batch_shape != () or prior.event_shape != ():
        raise ValueError(
            f"FitModel.create: the prior of {name!r} must be scalar; got batch shape "
            f"{prior.batch_shape} and event shape {prior.event_shape}."
        )
    return prior


def _is_emulator_state(state: Any) -> bool:
    """An emulator forward state: named bands and a measured fractional flux error."""
    return state is not None and all(
        hasattr(state, a) for a in ("filter_names", "flux_error_frac", "input_bounds")
    )


def _restrict_uniform(prior: Any, param: sedcore.Param) -> Any:
    """A default Uniform prior cut to ``param``'s range (other priors unchanged)."""
    if not isinstance(prior, dist.Uniform):
        return prior
    lo = max(float(prior.low), param.lower)
    hi = min(float(prior.high), param.upper)
    return dist.Uniform(lo, hi) if lo < hi else prior


def _check_support(prior: Any, param: sedcore.Param, name: str, what: str = "engine's") -> None:
    """A prior must stay inside the engine's domain (the engine clips, never extrapolates)."""
    support = prior.support
    lo = getattr(support, "lower_bound", -math.inf)
    hi = getattr(support, "upper_bound", math.inf)
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):  # pragma: no cover - dynamic bounds
        return
    if support is dist.constraints.real:
        lo, hi = -math.inf, math.inf
    if lo < param.lower or hi > param.upper:
        raise ValueError(
            f"FitModel.create: the prior of {name!r} covers [{lo:g}, {hi:g}] but the {what} "
            f"domain is [{param.lower:g}, {param.upper:g}] {param.unit}".rstrip()
            + "; use a prior inside it (values outside would be clipped)."
        )


def _latent_sites(fit: FitModel) -> tuple[str, ...]:
    """The latent sample sites of the prior, from one abstract trace (nothing computed)."""
    n = fit.n_bands
    names: list[str] = []

    def run(fit):
        obs = Observation(
            jnp.zeros((1, n)), jnp.ones((1, n)), jnp.ones((1, n), bool), jnp.asarray(0.5)
        )
        seeded = numpyro.handlers.seed(numpyro_model, rng_seed=0)
        trace = numpyro.handlers.trace(seeded).get_trace(fit, obs, likelihood=False)
        names.extend(
            name
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        )
        return jnp.zeros(())

    jax.eval_shape(run, fit)
    return tuple(names)


class _SinhLatent(dist.Distribution):
    """The law of ``u = asinh((x - loc) / scale)`` for ``x`` from a heavy-tailed ``target``.

    Exact change of variables: ``log p(u) = log p_target(loc + scale sinh u) + log(scale
    cosh u)`` (summed over the event axes). A Student-t with ``df`` degrees of freedom,
    whose tails fall as ``|x|^-(df + 1)``, becomes a density with exponential tails
    ``exp(-df |u|)`` and a smooth, nearly Gaussian core.
    """

    support = dist.constraints.real

    def __init__(self, target: dist.Distribution, loc: jax.Array, scale: jax.Array) -> None:
        self.target, self.loc, self.scale = target, loc, scale
        super().__init__(batch_shape=target.batch_shape, event_shape=target.event_shape)
        if target.event_dim:
            self.support = dist.constraints.independent(dist.constraints.real, target.event_dim)

    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        return jnp.arcsinh((self.target.sample(key, sample_shape) - self.loc) / self.scale)

    def log_prob(self, value: jax.Array) -> jax.Array:
        a = jnp.abs(value)
        log_cosh = a + jnp.log1p(jnp.exp(-2.0 * a)) - math.log(2.0)
        log_jac = jnp.log(self.scale) + log_cosh
        if self.event_dim:
            log_jac = jnp.sum(log_jac, axis=tuple(range(-self.event_dim, 0)))
        x = self.loc + self.scale * jnp.sinh(value)
        return self.target.log_prob(x) + log_jac


class _SinhReparam(Reparam):
    """Sample a Student-t site (or the continuity prior's ratios) as ``asinh`` of its value.

    The continuity prior's Student-t with 2 degrees of freedom has infinite variance: in
    the directions the photometry leaves free (most SFR ratios), NUTS has to explore its
    power-law tails and the mass-matrix estimate is dominated by rare excursions. In
    ``u = asinh((x - loc) / scale)`` the same prior has exponential tails; on HDF-N fits
    the bulk ESS doubles (docs/pixelfit.md, with the 0.9 target acceptance it needs). The site keeps
    its name as a deterministic; the latent becomes ``<name>_base``. Exact: the prior and
    the posterior of ``x`` are unchanged.
    """

    def __call__(self, name: str, fn: dist.Distribution, obs: Any) -> tuple[None, jax.Array]:
        if obs is not None:
            raise ValueError(f"{name!r}: the asinh reparametrization is for latent sites only.")
        target, expand_shape, event_dim = self._unwrap(fn)
        if isinstance(target, sfh_priors.ContinuityPrior):
            loc, scale = jnp.zeros_like(target.scale)[..., None], target.scale[..., None]
        else:
            loc, scale = target.loc, target.scale
        latent = numpyro.sample(
            f"{name}_base", self._wrap(_SinhLatent(target, loc, scale), expand_shape, event_dim)
        )
        return None, loc + scale * jnp.sinh(latent)


def _in_base_space(msg: dict) -> Any:
    """Sample SFH priors in a space where NUTS moves easily.

    Transformed priors (e.g. log-uniform timescales) are sampled in their base space:
    numpyro's unconstrained map of a ``LogUniform(1e8, 1e10)`` is the logit of the
    *linear* value, which squeezes the decade 1e8-1e9 into a corner; its base
    distribution is uniform in ln(tau), whose logit is a good space for NUTS. Student-t
    priors (the continuity prior's SFR ratios) are sampled as ``asinh`` of their value
    (`_SinhReparam`). The site keeps its name as a deterministic; the latent becomes
    ``<name>_base``.
    """
    if msg["type"] != "sample":
        return None
    fn = msg["fn"]
    while isinstance(fn, (dist.Independent, dist.ExpandedDistribution)):
        fn = fn.base_dist
    if isinstance(fn, dist.TransformedDistribution):
        return TransformReparam()
    if isinstance(fn, (sfh_priors.ContinuityPrior, dist.StudentT)):
        return _SinhReparam()
    return None


def _site_layout(fit: FitModel) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(sites of the free parameters in order, their names in outputs)."""
    struct = _sfh_struct(fit.sfh_prior)
    paths = jax.tree_util.tree_flatten_with_path(struct)[0]
    sites, names = [], []
    if fit.free_redshift:
        sites.append("z")
        names.append("z")
    for (path, _), engine_name in zip(paths, fit.config.sfh_names, strict=True):
        keys = [getattr(k, "name", getattr(k, "key", getattr(k, "idx", "?"))) for k in path]
        sites.append(".".join([SFH_SITE, *map(str, keys)]))
        names.append(engine_name)
    for site, _ in fit.priors:
        sites.append(site)
        names.append(site)
    if fit.spectrum is not None:
        sites.append(SPEC_CALIB)
        names.append(SPEC_CALIB)
        if fit.spectrum.jitter_prior is not None:
            sites.append(SPEC_JITTER)
            names.append(SPEC_JITTER)
    return tuple(sites), tuple(names)


def _limit_age(model: Any, t_univ_yr: jax.Array) -> Any:
    """The prior with its onset ages cut at the age of the universe (also in ``base``)."""
    changes = {}
    if hasattr(model, "age_max_yr"):
        changes["age_max_yr"] = jnp.minimum(model.age_max_yr, t_univ_yr)
    base = getattr(model, "base", None)
    if isinstance(base, sfh_priors.SFHModel):
        changes["base"] = _limit_age(base, t_univ_yr)
    return dataclasses.replace(model, **changes) if changes else model


# ------------------------------------------------------------------------------ the model


def engine_params(fit: FitModel, obs: Observation) -> dict[str, jax.Array]:
    """Inside a numpyro model: sample the free parameters, return the engine's dict.

    Args:
        fit: the `FitModel`.
        obs: one `Observation` (its redshift is used when the redshift is fixed).

    Returns:
        ``{name: scalar array}`` keyed by ``fit.config.names`` (plus nothing else).
    """
    dtype = fit.config.log_age_yr.dtype
    if fit.free_redshift:
        z = numpyro.sample("z", fit.z_prior)
    else:
        z = jnp.asarray(obs.redshift, dtype=dtype)
    t_univ = fit.age_of_universe_yr(z)
    with numpyro.handlers.reparam(config=_in_base_space):
        sfh = sfh_priors.numpyro_sample(SFH_SITE, _limit_age(fit.sfh_prior, t_univ))
    params = dict(zip(fit.config.sfh_names, jax.tree.leaves(sfh), strict=True))
    params["z"] = z
    for name, value in fit.fixed:
        params[name] = jnp.asarray(value, dtype=dtype)
    for site, prior in fit.priors:
        value = numpyro.sample(site, prior)
        if site == DUST_RATIO:
            params["dust1"] = numpyro.deterministic("dust1", value * params["dust2"])
        else:
            params[site] = value
    return params


def log_likelihood(fit: FitModel, model_maggies: jax.Array, obs: Observation) -> jax.Array:
    """Gaussian log-likelihood of one observation, summed over pixels and bands.

    ``sedcore.gaussian_loglike`` with ``sigma^2 = err^2 + (noise_floor * model)^2``;
    masked bands contribute exactly nothing.

    Args:
        fit: the `FitModel` (its ``noise_floor``).
        model_maggies: (n_bands,) model fluxes for every pixel, or (n_pixels, n_bands).
        obs: one `Observation`.

    Returns:
        Scalar log-likelihood.
    """
    per_pixel = sedcore.gaussian_loglike(
        jnp.broadcast_to(model_maggies, obs.flux_maggies.shape),
        obs.flux_maggies,
        obs.flux_err_maggies,
        obs.mask,
        noise_floor=fit.noise_floor,
    )
    return jnp.sum(per_pixel)


def numpyro_model(fit: FitModel, obs: Observation, *, likelihood: bool = True) -> None:
    """The numpyro model of one observation: priors, forward model, likelihood.

    Sites: ``"z"`` (free redshift only), ``"sfh.<field>"`` (SFH; fields with a transformed
    prior such as a log-uniform timescale are sampled as ``"sfh.<field>_base"`` in the
    base space, ln tau, and recorded as deterministic ``"sfh.<field>"``), then the other
    free parameters by name (``"dust_ratio"`` for dust1 / dust2), a deterministic
    ``"dust1"`` and a factor ``"loglike"``.

    Args:
        fit: the `FitModel`.
        obs: one `Observation`.
        likelihood: False gives the prior alone (no forward model is evaluated).
    """
    params = engine_params(fit, obs)
    calib = _spectrum_nuisance(fit)
    if not likelihood:
        return
    state = fit.config if fit.forward_state is None else fit.forward_state
    model_maggies = fit.forward(state, params)
    numpyro.factor("loglike", log_likelihood(fit, model_maggies, obs))
    if fit.spectrum is not None and obs.spectrum is not None:
        coef, jitter = calib
        model_spec = spectrum_model(fit, params, coef)
        numpyro.factor("spec_loglike", spectrum_log_likelihood(fit, model_spec, jitter, obs.spectrum))


def _spectrum_nuisance(fit: FitModel) -> tuple[jax.Array, jax.Array] | None:
    """Inside a numpyro model: sample the calibration coefficients and the error scaling."""
    spec = fit.spectrum
    if spec is None:
        return None
    coef = numpyro.sample(SPEC_CALIB, dist.Normal(0.0, spec.prior_sigma).to_event(1))
    if spec.jitter_prior is None:
        return coef, jnp.ones((), spec.basis.dtype)
    with numpyro.handlers.reparam(config=_in_base_space):
        jitter = numpyro.sample(SPEC_JITTER, spec.jitter_prior)
    return coef, jitter


def spectrum_model(
    fit: FitModel, params: Mapping[str, jax.Array], calib_coef: jax.Array
) -> jax.Array:
    """The calibrated model spectrum of one draw, maggies at ``fit.spectrum_wave_aa``.

    ``emulate_sps.observed_spectrum(config, params) * exp(calib_coef @ basis)``.

    Args:
        fit: a `FitModel` with a spectrum.
        params: the engine's parameters (see `engine_params_from`).
        calib_coef: (calibration_order + 1,) Chebyshev coefficients of ln(calibration).

    Returns:
        (n_wave,) model f_nu in maggies.
    """
    if fit.spectrum is None:
        raise ValueError("spectrum_model: this FitModel has no spectrum (FitModel.create(spectrum=...)).")
    calibration = jnp.exp(calib_coef @ fit.spectrum.basis)
    return emulate_sps.observed_spectrum(fit.config, params) * calibration


def spectrum_log_likelihood(
    fit: FitModel, model_spec: jax.Array, jitter: jax.Array, spec: SpectrumObservation
) -> jax.Array:
    """Gaussian log-likelihood of one spectrum, summed over its unmasked pixels.

    ``sigma^2 = (jitter * err)^2 + (noise_floor * model)^2`` with the normalisation
    ``-log sigma`` per pixel (it matters: the jitter is free); masked pixels contribute
    exactly nothing.

    Args:
        fit: a `FitModel` with a spectrum.
        model_spec: (n_wave,) calibrated model spectrum, maggies (`spectrum_model`).
        jitter: () error scaling.
        spec: the `SpectrumObservation`.

    Returns:
        Scalar log-likelihood.
    """
    return sedcore.gaussian_loglike(
        model_spec,
        spec.flux_maggies,
        jitter * spec.flux_err_maggies,
        spec.mask,
        noise_floor=fit.spectrum.noise_floor,
    )


def log_density(fit: FitModel, obs: Observation, position: Mapping[str, jax.Array]) -> jax.Array:
    """Log posterior density (up to a constant) at an unconstrained position.

    Priors, the Jacobians of numpyro's transforms to the unconstrained space and the
    likelihood; NaN (e.g. an SFH older than the universe) becomes ``-inf``.

    Args:
        fit: the `FitModel`.
        obs: one `Observation`.
        position: ``{site: unconstrained value}`` for every site of ``fit.site_names``.

    Returns:
        Scalar log density.
    """
    value = -potential_energy(numpyro_model, (fit, obs), {}, position)
    return jnp.where(jnp.isnan(value), -jnp.inf, value)


def prior_draw(key: jax.Array, fit: FitModel, obs: Observation) -> dict[str, jax.Array]:
    """One draw from the prior, as an unconstrained position.

    Args:
        key: PRNG key.
        fit: the `FitModel`.
        obs: one `Observation` (its redshift bounds the SFH ages when z is fixed).

    Returns:
        ``{site: unconstrained value}``.
    """
    seeded = numpyro.handlers.seed(numpyro_model, rng_seed=key)
    trace = numpyro.handlers.trace(seeded).get_trace(fit, obs, likelihood=False)
    values = {
        name: site["value"]
        for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    return unconstrain_fn(numpyro_model, (fit, obs), {"likelihood": False}, values)


def constrain(
    fit: FitModel, obs: Observation, position: Mapping[str, jax.Array]
) -> dict[str, jax.Array]:
    """Constrained values of an unconstrained position, keyed by output names.

    Args:
        fit: the `FitModel`.
        obs: one `Observation`.
        position: ``{site: unconstrained value}`` of one draw.

    Returns:
        ``{name: value}`` for ``fit.param_names`` plus the deterministic ``dust1``.
    """
    values = constrain_fn(
        numpyro_model, (fit, obs), {"likelihood": False}, position, return_deterministic=True
    )
    sites, names = _site_layout(fit)
    out = {name: values[site] for site, name in zip(sites, names, strict=True)}
    if "dust1" in values:
        out["dust1"] = values["dust1"]
    return out


def engine_params_from(
    fit: FitModel, obs: Observation, constrained: Mapping[str, jax.Array]
) -> dict[str, jax.Array]:
    """The engine's parameter dict from the output of `constrain` (one draw)."""
    dtype = fit.config.log_age_yr.dtype
    params = {}
    for name in fit.config.names:
        if name in constrained:
            params[name] = constrained[name]
    if not fit.free_redshift:
        params["z"] = jnp.asarray(obs.redshift, dtype=dtype)
    for name, value in fit.fixed:
        params[name] = jnp.asarray(value, dtype=dtype)
    return params
