"""Fitting a prepared catalog in batches: one compiled program per batch shape.

`fit_observations` takes the rows of a `PreparedObservations` that are to be fitted, in
batches of ``batch_size`` objects (the last one padded by repeating its last row, so
every batch has the same shape and the program compiles once), and for each batch runs
the sampler and the posterior quantities (constrained parameters and derived quantities
per draw) in one jitted call. Each object's PRNG key is ``fold_in(key, row)``, so its
draws do not depend on the batch it lands in.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from ._derived import derived_quantities
from ._diagnostics import Diagnostics, Thresholds, diagnose
from ._inputs import PreparedObservations
from ._model import FitModel, Observation, constrain, engine_params_from
from ._sampler import SamplerSettings, batches, chain_groups, object_keys, sample_batch

__all__ = ["FitResults", "fit_observations", "posterior_quantities"]


@dataclasses.dataclass(frozen=True)
class FitResults:
    """Posteriors and diagnostics of the fitted rows of a catalog (NumPy arrays).

    Attributes:
        fit: the `FitModel`.
        prepared: the `PreparedObservations` (every row, fitted or skipped).
        settings: the `SamplerSettings`.
        thresholds: the `Thresholds` of ``diagnostics.fit_ok``.
        rows: (n_fit,) row numbers (in ``prepared``) of the fitted objects.
        posterior: ``{name: (n_fit, n_chains, n_draws, ...)}``: free parameters,
            ``dust1``, the derived quantities and ``model_maggies`` (last axis: band).
        sample_stats: ``{name: (n_fit, n_chains, n_draws)}``: ``lp`` (log posterior up to
            a constant), ``diverging``, ``acceptance_rate``, ``n_steps``, ``step_size``.
        diagnostics: `Diagnostics` of the fitted rows.
        init_log_density: (n_fit,) log posterior where the chains started.
        seconds: wall-clock time of the fits (compilation included).
    """

    fit: FitModel
    prepared: PreparedObservations
    settings: SamplerSettings
    thresholds: Thresholds
    rows: np.ndarray
    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    diagnostics: Diagnostics
    init_log_density: np.ndarray
    seconds: float

    def index(self, row: int) -> int:
        """Position of ``row`` among the fitted rows; ValueError if it was skipped."""
        where = np.flatnonzero(self.rows == row)
        if where.size == 0:
            raise ValueError(
                f"row {row} was not fitted (row flags {int(self.prepared.row_flags[row])}; "
                "see PreparedObservations.row_flags)."
            )
        return int(where[0])


def posterior_quantities(
    fit: FitModel, obs: Observation, position: dict[str, jax.Array]
) -> dict[str, jax.Array]:
    """Constrained parameters and derived quantities of one draw (one object).

    Args:
        fit: the `FitModel`.
        obs: one `Observation`.
        position: ``{site: unconstrained value}`` of one draw.

    Returns:
        ``{name: value}``: ``fit.param_names``, ``dust1`` (if modelled), ``z``, and the
        fields of `DerivedQuantities`.
    """
    values = constrain(fit, obs, position)
    params = engine_params_from(fit, obs, values)
    derived = derived_quantities(fit, params)
    return {**values, "z": params["z"], **derived._asdict()}


# numpyro's handlers live on one global stack, so two threads must not trace a model at
# the same time (catalog workers, chain threads). The body of `_fit_batch` runs only while
# JAX traces it: the lock serialises tracing, not the compiled fits.
_TRACE_LOCK = threading.RLock()


def _fit_batch(keys, fit, obs, settings, chains=None):
    with _TRACE_LOCK:
        return _fit_batch_traced(keys, fit, obs, settings, chains)


def _fit_batch_traced(keys, fit, obs, settings, chains):
    draws = sample_batch(keys, fit, obs, settings, chains)
    per_draw = jax.vmap(
        jax.vmap(posterior_quantities, in_axes=(None, None, 0)), in_axes=(None, None, 0)
    )
    post = jax.vmap(per_draw, in_axes=(None, 0, 0))(fit, obs, draws.position)
    return draws, post


# One compiled program per (FitModel static part, batch shape, settings, chain group).
_fit_batch_jit = jax.jit(_fit_batch, static_argnames=("settings", "chains"))


def _run_batch(keys, fit, obs, settings, groups, pool):
    """One batch: all chains in one call, or each group of chains in its own thread (the
    same chains: chain ``c`` depends only on the object's key and ``c``)."""
    if pool is None:
        return jax.device_get(_fit_batch_jit(keys, fit, obs, settings=settings))
    parts = list(pool.map(
        lambda g: jax.device_get(_fit_batch_jit(keys, fit, obs, settings=settings, chains=g)), groups
    ))  # fmt: skip
    def chains_axis(*xs):  # (n_obj, n_chains, ...): join the groups' chains
        return np.concatenate([np.asarray(x) for x in xs], axis=1)

    # Every field of Draws has a chain axis except the per-object starting values, which
    # every group computed identically.
    per_object = ("init_log_density", "init_best_prior_log_density")
    draws = [d for d, _ in parts]
    joined = type(draws[0])(*[
        values[0] if name in per_object else jax.tree.map(chains_axis, *values)
        for name, values in zip(draws[0]._fields, zip(*draws, strict=True), strict=True)
    ])  # fmt: skip
    return joined, jax.tree.map(chains_axis, *[p for _, p in parts])


def fit_observations(
    key: jax.Array,
    fit: FitModel,
    prepared: PreparedObservations,
    settings: SamplerSettings = SamplerSettings(),
    *,
    batch_size: int = 8,
    thresholds: Thresholds = Thresholds(),
    progress: bool | None = None,
    chain_threads: int = 1,
) -> FitResults:
    """Fit every row of ``prepared`` that is not skipped, in vmapped batches.

    Args:
        key: PRNG key of the run (object ``row`` uses ``fold_in(key, row)``), or one key
            per row of ``prepared`` (shape (n_obj,)).
        fit: the `FitModel`.
        prepared: from `prepare_observations` or `prepare_photometry`.
        settings: `SamplerSettings`.
        batch_size: objects per compiled batch (default 8).
        thresholds: `Thresholds` for ``fit_ok``.
        progress: tqdm bar over batches; None shows it on a terminal only.
        chain_threads: run each batch's chains in this many threads (groups of chains,
            each its own compiled call; default 1). One fit keeps one CPU core busy, so
            on a multi-core machine this shortens one galaxy's fit. The chains are the
            same whatever the number of threads (same starts and random numbers; float
            rounding can differ with the number of chains per call, as with the batch
            size). For many galaxies, fit batches side by side instead (``pixelfit
            catalog`` workers).

    Returns:
        `FitResults`.
    """
    settings = settings.check()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    if not isinstance(chain_threads, (int, np.integer)) or chain_threads < 1:
        raise ValueError(f"chain_threads must be an integer >= 1; got {chain_threads!r}.")
    groups = chain_groups(settings.num_chains, chain_threads)
    rows = np.flatnonzero(prepared.fitted)
    key = jax.numpy.asarray(key)
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        raise TypeError(
            f"key must be a typed PRNG key (jax.random.key(seed)), or one per row; got dtype "
            f"{key.dtype}. Legacy jax.random.PRNGKey keys: wrap with jax.random.wrap_key_data."
        )
    if key.shape not in ((), (len(prepared),)):
        raise ValueError(
            f"key must be one PRNG key or one per row ({len(prepared)},); got shape {key.shape}."
        )
    start = time.perf_counter()
    parts: list[tuple[Any, Any, int]] = []
    n_batches = -(-len(rows) // batch_size)
    bar = tqdm(
        batches(rows, batch_size), total=n_batches, desc="pixelfit", unit="batch",
        disable=(None if progress is None else not progress),
    )  # fmt: skip
    pool = ThreadPoolExecutor(len(groups)) if len(groups) > 1 else None
    try:
        for chunk, n_real in bar:
            obs = jax.tree.map(lambda x, c=chunk: x[c], prepared.obs)
            keys = object_keys(key, chunk) if key.shape == () else key[chunk]
            draws, post = _run_batch(keys, fit, obs, settings, groups, pool)
            parts.append((draws, post, n_real))
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - start

    def gather(get):
        if not parts:
            return None
        return np.concatenate([np.asarray(get(d, p))[:n] for d, p, n in parts], axis=0)

    if parts:
        names = list(parts[0][1])
        posterior = {name: gather(lambda d, p, k=name: p[k]) for name in names}
        n_chains, n_draws = parts[0][0].log_density.shape[1:]
        step = gather(lambda d, p: d.step_size)
        sample_stats = {
            "lp": gather(lambda d, p: d.log_density),
            "diverging": gather(lambda d, p: d.diverging),
            "acceptance_rate": gather(lambda d, p: d.acceptance_rate),
            "n_steps": gather(lambda d, p: d.num_steps),
            "step_size": np.broadcast_to(step[:, :, None], (len(rows), n_chains, n_draws)).copy(),
        }
        init_ld = gather(lambda d, p: d.init_log_density)
        free = {name: posterior[name] for name in fit.param_names}
        diagnostics = diagnose(free, sample_stats["diverging"], thresholds)
    else:
        posterior, sample_stats, init_ld = {}, {}, np.zeros(0)
        empty = np.zeros(0)
        diagnostics = Diagnostics(
            empty, empty, empty, empty.astype(int), empty.astype(int), empty.astype(bool)
        )
    return FitResults(
        fit=fit,
        prepared=prepared,
        settings=settings,
        thresholds=thresholds,
        rows=rows,
        posterior=posterior,
        sample_stats=sample_stats,
        diagnostics=diagnostics,
        init_log_density=init_ld,
        seconds=seconds,
    )
