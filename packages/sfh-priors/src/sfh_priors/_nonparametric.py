"""Non-parametric SFHs: constant SFR within lookback-time bins.

Continuity prior (Leja et al. 2019), Dirichlet prior (Leja et al. 2017) and a
continuity-flex variant whose bin edges move so that each flexible bin forms the same
mass (Leja et al. 2019). The mass of an output age bin is the exact overlap integral of
the piecewise-constant SFR.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from ._base import (
    T_UNIV_RTOL,
    SFHModel,
    check_log_mass,
    check_range,
    check_scalar,
    check_t_univ,
    uniform,
)
from ._checks import (
    Checks,
    as_float,
    describe,
    pytree_dataclass,
    require_increasing,
    require_positive,
)
from ._distributions import CONTINUITY_DF, CONTINUITY_SCALE_DEX, ContinuityPrior
from ._parametric import LOG_MASS_MAX, LOG_MASS_MIN, scalar_param

Array = jax.Array
ArrayLike = Any

_LN10 = 2.302585092994046

# Leja et al. 2019 (ApJ 876, 3, Section 2.2): the two youngest bins are fixed at
# 0-30 Myr and 30-100 Myr, the oldest bin spans 0.85-1.0 t_univ, and the remaining bins
# are spaced evenly in log lookback time between 100 Myr and 0.85 t_univ (7 bins total).
LEJA19_YOUNG_EDGES_YR = (0.0, 3.0e7, 1.0e8)
LEJA19_OLD_FRACTION = 0.85


def leja19_bin_edges_yr(t_univ_yr: ArrayLike, n_bins: int = 7) -> Array:
    """Lookback-time bin edges of Leja et al. (2019, ApJ 876, 3) for a galaxy at t_univ.

    Edges: 0, 30 Myr, 100 Myr, then ``n_bins - 3`` bins log-spaced from 100 Myr to
    0.85 t_univ, and a last bin from 0.85 t_univ to t_univ. The default of 7 bins is the
    paper's. Traceable in ``t_univ_yr`` (use it inside jit with a redshift-dependent age).

    Args:
        t_univ_yr: scalar, age of the universe at the galaxy's redshift, yr
            (> 100 Myr / 0.85 = 117.6 Myr).
        n_bins: number of bins (static int >= 4).

    Returns:
        shape (n_bins + 1,), bin edges in lookback time, yr.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 4:
        raise ValueError(f"n_bins must be an int >= 4; got {n_bins!r}.")
    checks = Checks()
    t_univ_yr = check_t_univ(checks, t_univ_yr)
    first_log = LEJA19_YOUNG_EDGES_YR[-1]
    checks.require(
        LEJA19_OLD_FRACTION * t_univ_yr > first_log,
        lambda: f"t_univ_yr must exceed {first_log / LEJA19_OLD_FRACTION:.4g} yr for the "
        f"Leja et al. 2019 bins (0.85 t_univ > 100 Myr); got {describe(t_univ_yr)}.",
    )
    log_edges = jnp.logspace(
        jnp.log10(first_log), jnp.log10(LEJA19_OLD_FRACTION * t_univ_yr), n_bins - 2
    )
    edges = jnp.concatenate(
        [as_float(LEJA19_YOUNG_EDGES_YR[:2]), log_edges.astype(t_univ_yr.dtype), t_univ_yr[None]]
    )
    return checks.guard(edges)


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Leja19Edges:
    """Bin edges that follow the age of the universe (pass as ``bin_edges_yr``).

    ``Continuity(bin_edges_yr=Leja19Edges(7))`` uses ``leja19_bin_edges_yr(t_univ_yr,
    n_bins)`` at the ``t_univ_yr`` of each evaluation, so one model serves galaxies at
    any redshift (also with a traced, free redshift): the oldest bin always ends at the
    Big Bang and the log-spaced bins stretch with it. The number of bins is static.

    A static pytree node (no array leaves), so models holding it jit and vmap as before.

    Attributes:
        n_bins: number of bins (int >= 4; default 7 as in Leja et al. 2019).
    """

    n_bins: int = 7

    def __post_init__(self) -> None:
        n = self.n_bins
        if isinstance(n, bool) or not isinstance(n, int) or n < 4:
            raise ValueError(f"Leja19Edges.n_bins must be an int >= 4; got {n!r}.")

    def edges_yr(self, t_univ_yr: ArrayLike) -> Array:
        """The (n_bins + 1,) edges in lookback time for this age of the universe, yr."""
        return leja19_bin_edges_yr(t_univ_yr, self.n_bins)


def age_bin_edges_yr(ages_yr: ArrayLike) -> Array:
    """Bin edges around a grid of SSP ages (e.g. the 221 ages of the BC03 grid).

    Interior edges are the geometric midpoints sqrt(a_i a_{i+1}) (the arithmetic midpoint
    where a_i = 0); the first edge is 0 and the last is a_{n-1} sqrt(a_{n-1} / a_{n-2})
    (symmetric in log age). Use with :func:`mass_in_bins` to get the mass formed in each
    SSP's age bin.

    Args:
        ages_yr: shape (n_ages,), strictly increasing SSP ages in yr (>= 0), n_ages >= 2.

    Returns:
        shape (n_ages + 1,), bin edges in lookback time, yr.
    """
    ages = as_float(ages_yr)
    checks = Checks()
    require_increasing(checks, ages, "ages_yr")
    lo, hi = ages[:-1], ages[1:]
    interior = jnp.where(lo > 0, jnp.sqrt(jnp.maximum(lo, 0.0) * hi), 0.5 * hi)
    last = ages[-1] * jnp.sqrt(ages[-1] / jnp.where(ages[-2] > 0, ages[-2], 0.5 * ages[-1]))
    edges = jnp.concatenate([jnp.zeros(1, ages.dtype), interior, last[None]])
    return checks.guard(edges)


# --------------------------------------------------------------------------------------
# Piecewise-constant SFR in bins: exact cumulative fractions and moments.
# --------------------------------------------------------------------------------------


def _bin_geometry(edges: Array) -> tuple[Array, Array, Array]:
    lo, hi = edges[:-1], edges[1:]
    width = hi - lo
    return lo, hi, jnp.where(width > 0, width, 1.0)


def _pc_young(edges: Array, fractions: Array, lookback: Array) -> Array:
    lo, hi, width = _bin_geometry(edges)
    covered = jnp.clip((lookback[..., None] - lo) / width, 0.0, 1.0)
    covered = jnp.where(hi > lo, covered, (lookback[..., None] >= hi).astype(covered.dtype))
    return jnp.sum(fractions * covered, -1)


def _pc_old(edges: Array, fractions: Array, lookback: Array) -> Array:
    lo, hi, width = _bin_geometry(edges)
    remaining = jnp.clip((hi - lookback[..., None]) / width, 0.0, 1.0)
    remaining = jnp.where(hi > lo, remaining, (lookback[..., None] < hi).astype(remaining.dtype))
    return jnp.sum(fractions * remaining, -1)


def _pc_moment(edges: Array, fractions: Array, lookback: Array) -> Array:
    lo, hi, width = _bin_geometry(edges)
    clipped = jnp.clip(lookback[..., None], lo, hi)
    return jnp.sum(fractions * (clipped - lo) * (clipped + lo) / (2.0 * width), -1)


def _pc_sfr(edges: Array, fractions: Array, lookback: Array) -> Array:
    lo, hi, width = _bin_geometry(edges)
    inside = (lookback[..., None] >= lo) & (lookback[..., None] < hi)
    return jnp.sum(jnp.where(inside & (hi > lo), fractions / width, 0.0), -1)


class _Binned(SFHModel):
    """Models with a constant SFR in each of a set of lookback-time bins."""

    def _edges_and_fractions(self, params: Any, t_univ_yr: Array) -> tuple[Array, Array]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _onset_yr(self, params: Any, t_univ_yr: Array) -> Array:
        return self._edges_and_fractions(params, t_univ_yr)[0][-1]

    def _young_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return _pc_young(*self._edges_and_fractions(params, t_univ_yr), lookback_yr)

    def _old_fraction(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return _pc_old(*self._edges_and_fractions(params, t_univ_yr), lookback_yr)

    def _moment(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return _pc_moment(*self._edges_and_fractions(params, t_univ_yr), lookback_yr)

    def _sfr_per_mass(self, params: Any, lookback_yr: Array, t_univ_yr: Array) -> Array:
        return _pc_sfr(*self._edges_and_fractions(params, t_univ_yr), lookback_yr)


class _FixedBins(_Binned):
    """Binned models whose edges are a hyper-parameter ``bin_edges_yr``."""

    @property
    def n_bins(self) -> int:
        """Number of bins (static)."""
        if isinstance(self.bin_edges_yr, Leja19Edges):
            return self.bin_edges_yr.n_bins
        return int(jnp.shape(self.bin_edges_yr)[0]) - 1

    def _check_edges(self, checks: Checks) -> None:
        if isinstance(self.bin_edges_yr, Leja19Edges):
            return
        require_increasing(checks, as_float(self.bin_edges_yr), "bin_edges_yr")

    def _check_edges_vs_universe(self, t_univ_yr: Array, checks: Checks) -> None:
        if isinstance(self.bin_edges_yr, Leja19Edges):
            first_log = LEJA19_YOUNG_EDGES_YR[-1]
            checks.require(
                LEJA19_OLD_FRACTION * t_univ_yr > first_log,
                lambda: f"Leja19Edges need t_univ_yr > {first_log / LEJA19_OLD_FRACTION:.4g} yr "
                f"(0.85 t_univ > 100 Myr, z < ~27); got {describe(t_univ_yr)}.",
            )
            return
        last = as_float(self.bin_edges_yr)[-1]
        checks.require(
            last <= t_univ_yr * (1.0 + T_UNIV_RTOL),
            lambda: f"bin_edges_yr reach {describe(last)} yr, older than the universe at this "
            f"redshift (t_univ_yr = {describe(t_univ_yr)} yr). Build the bins for this "
            "redshift, e.g. leja19_bin_edges_yr(t_univ_yr), or pass Leja19Edges(n_bins) to "
            "follow the redshift.",
        )

    def _edges(self, t_univ_yr: Array) -> Array:
        if isinstance(self.bin_edges_yr, Leja19Edges):
            # Clamped so that a bad t_univ (already flagged by the checks) stays finite.
            floor = LEJA19_YOUNG_EDGES_YR[-1] / LEJA19_OLD_FRACTION * 1.001
            return self.bin_edges_yr.edges_yr(jnp.maximum(t_univ_yr, floor))
        return jnp.minimum(as_float(self.bin_edges_yr), t_univ_yr)

    def _vector_param(self, params: Any, name: str, length: int) -> Array:
        value = as_float(getattr(params, name))
        if value.shape != (length,):
            raise ValueError(
                f"params.{name} must have shape ({length},) for {self.n_bins} bins; got "
                f"{value.shape}. Batch galaxies with jax.vmap."
            )
        return value


# --------------------------------------------------------------------------------------


class ContinuityParams(NamedTuple):
    """Parameters of :class:`Continuity`.

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        log_sfr_ratios: shape (n_bins - 1,), log10(SFR_i / SFR_{i+1}) with i = 0 the
            youngest bin (dex).
    """

    log_mass: Array
    log_sfr_ratios: Array


def _fractions_from_log_sfr(log10_sfr: Array, edges: Array) -> Array:
    """Mass fractions of bins with the given log10 SFR (up to a constant)."""
    _, _, width = _bin_geometry(edges)
    return jax.nn.softmax(_LN10 * log10_sfr + jnp.log(width))


@pytree_dataclass()
class Continuity(_FixedBins):
    """Continuity prior SFH (Leja et al. 2019, ApJ 876, 3): constant SFR in fixed bins.

    The free parameters are the log10 SFR ratios between adjacent bins, each Student-t
    with location 0, scale 0.3 dex and 2 degrees of freedom by default (Leja et al.
    2019); log_mass ~ Uniform(log_mass_min, log_mass_max).

    Attributes:
        bin_edges_yr: shape (n_bins + 1,), lookback-time edges in yr, strictly increasing,
            last edge <= t_univ (e.g. ``leja19_bin_edges_yr(t_univ_yr)``); or
            ``Leja19Edges(n_bins)`` for edges that follow the redshift.
        scale: Student-t scale in dex, default 0.3.
        df: Student-t degrees of freedom, default 2.
        log_mass_min, log_mass_max: default 6 and 13.
    """

    bin_edges_yr: ArrayLike
    scale: ArrayLike = CONTINUITY_SCALE_DEX
    df: ArrayLike = CONTINUITY_DF
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = ContinuityParams

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "log_sfr_ratios": ContinuityPrior(
                self.n_bins - 1, as_float(self.scale), as_float(self.df)
            ),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        self._check_edges(checks)
        require_positive(checks, as_float(self.scale), "scale", "dex")
        require_positive(checks, as_float(self.df), "df")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        ratios = self._vector_param(params, "log_sfr_ratios", self.n_bins - 1)
        checks.require(
            jnp.all(jnp.isfinite(ratios)),
            lambda: f"params.log_sfr_ratios must be finite; got {describe(ratios)}.",
        )
        self._check_edges_vs_universe(t_univ_yr, checks)

    def _edges_and_fractions(self, params: Any, t_univ_yr: Array) -> tuple[Array, Array]:
        ratios = as_float(params.log_sfr_ratios)
        log10_sfr = jnp.concatenate([jnp.zeros(1, ratios.dtype), -jnp.cumsum(ratios)])
        edges = self._edges(t_univ_yr)
        return edges, _fractions_from_log_sfr(log10_sfr, edges)


class DirichletParams(NamedTuple):
    """Parameters of :class:`Dirichlet`.

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        fractions: shape (n_bins,), on the simplex: the fraction of SFR (default, Leja
            et al. 2017) or of mass in each bin, youngest first.
    """

    log_mass: Array
    fractions: Array


@pytree_dataclass(static=("fractions_of",))
class Dirichlet(_FixedBins):
    """Dirichlet prior SFH (Leja et al. 2017, ApJ 837, 170): constant SFR in fixed bins.

    The parameters are fractions on the simplex with a Dirichlet(concentration) prior
    (concentration 1 by default, Leja et al. 2017). With ``fractions_of="sfr"`` (the
    published definition, as in Prospector's ``zfrac_to_masses``) they are fractions of
    the summed SFR, so bin masses are proportional to fraction x bin width; with
    ``fractions_of="mass"`` they are the mass fractions themselves.

    Attributes:
        bin_edges_yr: shape (n_bins + 1,), lookback-time edges in yr (last <= t_univ); or
            ``Leja19Edges(n_bins)`` for edges that follow the redshift.
        concentration: scalar or shape (n_bins,), Dirichlet concentration (> 0), default 1.
        fractions_of: "sfr" (default) or "mass" (static).
        log_mass_min, log_mass_max: default 6 and 13.
    """

    bin_edges_yr: ArrayLike
    concentration: ArrayLike = 1.0
    fractions_of: str = "sfr"
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = DirichletParams

    def _concentration(self) -> Array:
        return jnp.broadcast_to(as_float(self.concentration), (self.n_bins,))

    def _prior_fields(self) -> dict[str, Any]:
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "fractions": dist.Dirichlet(self._concentration()),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        if self.fractions_of not in ("sfr", "mass"):
            raise ValueError(f'fractions_of must be "sfr" or "mass"; got {self.fractions_of!r}.')
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        self._check_edges(checks)
        conc = as_float(self.concentration)
        if conc.ndim > 1 or (conc.ndim == 1 and conc.shape[0] != self.n_bins):
            raise ValueError(
                f"concentration must be a scalar or have shape ({self.n_bins},); got {conc.shape}."
            )
        require_positive(checks, conc, "concentration")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        fractions = self._vector_param(params, "fractions", self.n_bins)
        checks.require(
            jnp.all(fractions >= 0) & (jnp.abs(jnp.sum(fractions) - 1.0) < 1e-3),
            lambda: "params.fractions must be >= 0 and sum to 1 (a point on the simplex); got "
            f"{describe(fractions)} with sum {describe(jnp.sum(fractions))}.",
        )
        self._check_edges_vs_universe(t_univ_yr, checks)

    def _edges_and_fractions(self, params: Any, t_univ_yr: Array) -> tuple[Array, Array]:
        fractions = as_float(params.fractions)
        edges = self._edges(t_univ_yr)
        if self.fractions_of == "sfr":
            _, _, width = _bin_geometry(edges)
            fractions = fractions * width
        return edges, fractions / jnp.sum(fractions)


class ContinuityFlexParams(NamedTuple):
    """Parameters of :class:`ContinuityFlex`.

    Attributes:
        log_mass: log10 of the total stellar mass formed, M_sun.
        log_sfr_ratio_young: log10(SFR_young / SFR_flex_1), dex.
        log_sfr_ratios: shape (n_flex - 1,), log10(SFR_flex_i / SFR_flex_{i+1}), dex.
        log_sfr_ratio_old: log10(SFR_flex_last / SFR_old), dex.
    """

    log_mass: Array
    log_sfr_ratio_young: Array
    log_sfr_ratios: Array
    log_sfr_ratio_old: Array


@pytree_dataclass(static=("n_flex",))
class ContinuityFlex(_Binned):
    """Continuity-flex SFH (after Leja et al. 2019): flexible bin edges, equal mass per flex bin.

    The youngest bin [0, young_bin_end_yr] and the oldest bin [old_bin_start_yr,
    old_bin_end_yr] are fixed. Between them, ``n_flex`` bins each form the same mass;
    their widths follow from the SFR ratios (width_i ∝ 1 / SFR_i), so the edges move
    towards where the SFR changes. All ratios (young/flex_1, between flex bins,
    flex_last/old) are Student-t(df, 0, scale) as in the continuity prior.

    Attributes:
        young_bin_end_yr: end of the youngest fixed bin, yr.
        old_bin_start_yr: start of the oldest fixed bin, yr.
        old_bin_end_yr: end of the oldest bin, yr (usually t_univ).
        n_flex: number of flexible bins (static int >= 2), default 5 (7 bins in all).
        scale, df: Student-t scale (dex) and degrees of freedom, default 0.3 and 2.
        log_mass_min, log_mass_max: default 6 and 13.
    """

    young_bin_end_yr: ArrayLike
    old_bin_start_yr: ArrayLike
    old_bin_end_yr: ArrayLike
    n_flex: int = 5
    scale: ArrayLike = CONTINUITY_SCALE_DEX
    df: ArrayLike = CONTINUITY_DF
    log_mass_min: ArrayLike = LOG_MASS_MIN
    log_mass_max: ArrayLike = LOG_MASS_MAX

    params_type = ContinuityFlexParams

    def _prior_fields(self) -> dict[str, Any]:
        scale, df = as_float(self.scale), as_float(self.df)
        return {
            "log_mass": uniform(self.log_mass_min, self.log_mass_max),
            "log_sfr_ratio_young": dist.StudentT(df, 0.0, scale),
            "log_sfr_ratios": ContinuityPrior(self.n_flex - 1, scale, df),
            "log_sfr_ratio_old": dist.StudentT(df, 0.0, scale),
        }

    def _validate_hyper(self, checks: Checks) -> None:
        if isinstance(self.n_flex, bool) or not isinstance(self.n_flex, int) or self.n_flex < 2:
            raise ValueError(f"n_flex must be an int >= 2; got {self.n_flex!r}.")
        check_range(checks, self.log_mass_min, self.log_mass_max, "log_mass_min", "log_mass_max")
        outer = jnp.stack(
            [jnp.zeros((), as_float(0.0).dtype)]
            + [check_scalar(v, n) for v, n in (
                (self.young_bin_end_yr, "young_bin_end_yr"),
                (self.old_bin_start_yr, "old_bin_start_yr"),
                (self.old_bin_end_yr, "old_bin_end_yr"),
            )]
        )
        checks.require(
            jnp.all(jnp.diff(outer) > 0),
            lambda: "need 0 < young_bin_end_yr < old_bin_start_yr < old_bin_end_yr; got "
            f"{describe(outer[1:])}.",
        )
        require_positive(checks, as_float(self.scale), "scale", "dex")
        require_positive(checks, as_float(self.df), "df")

    def _validate_params(self, params: Any, t_univ_yr: Array, checks: Checks) -> None:
        check_log_mass(checks, self, scalar_param(params, "log_mass"))
        ratios = as_float(params.log_sfr_ratios)
        if ratios.shape != (self.n_flex - 1,):
            raise ValueError(
                f"params.log_sfr_ratios must have shape ({self.n_flex - 1},) for n_flex = "
                f"{self.n_flex}; got {ratios.shape}. Batch galaxies with jax.vmap."
            )
        values = jnp.concatenate(
            [scalar_param(params, "log_sfr_ratio_young")[None], ratios,
             scalar_param(params, "log_sfr_ratio_old")[None]]
        )
        checks.require(
            jnp.all(jnp.isfinite(values)),
            lambda: f"the log SFR ratios must be finite; got {describe(values)}.",
        )
        last = as_float(self.old_bin_end_yr)
        checks.require(
            last <= t_univ_yr * (1.0 + T_UNIV_RTOL),
            lambda: f"old_bin_end_yr = {describe(last)} yr is older than the universe at this "
            f"redshift (t_univ_yr = {describe(t_univ_yr)} yr).",
        )

    def bin_edges_yr(self, params: ContinuityFlexParams) -> Array:
        """The bin edges implied by ``params``.

        Args:
            params: a :class:`ContinuityFlexParams`.

        Returns:
            shape (n_flex + 3,), lookback-time edges in yr.
        """
        edges, _ = self._edges_and_fractions(params, as_float(self.old_bin_end_yr))
        return edges

    def _edges_and_fractions(self, params: Any, t_univ_yr: Array) -> tuple[Array, Array]:
        ratios = as_float(params.log_sfr_ratios)
        young_end = as_float(self.young_bin_end_yr)
        old_start = as_float(self.old_bin_start_yr)
        old_end = jnp.minimum(as_float(self.old_bin_end_yr), t_univ_yr)
        span = old_start - young_end
        log10_sfr = jnp.concatenate([jnp.zeros(1, ratios.dtype), -jnp.cumsum(ratios)])
        # Equal mass per flex bin: width_i ∝ 1 / SFR_i.
        log_share = jax.nn.log_softmax(-_LN10 * log10_sfr)
        inner = young_end + span * jnp.cumsum(jnp.exp(log_share))[:-1]
        edges = jnp.concatenate(
            [jnp.zeros(1, ratios.dtype), young_end[None], inner, old_start[None], old_end[None]]
        )
        log_width_first = jnp.log(span) + log_share[0]
        log_width_last = jnp.log(span) + log_share[-1]
        log_mass_young = (
            _LN10 * as_float(params.log_sfr_ratio_young) + jnp.log(young_end) - log_width_first
        )
        log_mass_old = (
            -_LN10 * as_float(params.log_sfr_ratio_old)
            + jnp.log(old_end - old_start)
            - log_width_last
        )
        log_masses = jnp.concatenate(
            [log_mass_young[None], jnp.zeros(self.n_flex, ratios.dtype), log_mass_old[None]]
        )
        return edges, jax.nn.softmax(log_masses)
