"""NUTS (blackjax) with window adaptation, several chains, vmapped over a batch of objects.

`sample_batch` fits a batch of objects as one compiled program: their initialisations
vmapped over objects, then warmup and draws vmapped over every (object, chain) pair;
`sample` is the same for one object. Neither is jitted (the caller jits;
`fit_observations` does, once per batch shape).

Initialisation, per object: ``num_init_draws`` prior draws, the one with the highest log
posterior, then ``num_init_steps`` of Adam on the log posterior in the unconstrained space
(the best point seen is kept); each chain starts at that point plus Gaussian jitter of
standard deviation ``init_jitter`` (unconstrained units). Chains adapt step size and a
diagonal mass matrix independently (Stan's windowed schedule, blackjax's
``window_adaptation``), then draw with those.

Chain ``c`` of an object draws its random numbers from ``fold_in(k, c)`` of the object's
keys, so any subset of its chains can be run on its own (``chains=(first, stop)``): the
same chains as in the whole fit (same start, same random numbers; float rounding can
differ with the number of chains in one call, as it does with the batch size).
`fit_observations` runs the chains of one batch in several threads that way
(``chain_threads``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from blackjax.adaptation.base import get_filter_adapt_info_fn
from jax.flatten_util import ravel_pytree

from ._model import FitModel, Observation, prior_draw
from ._model import log_density as _log_density

# The log density is traced once per argument shapes and reused by the initialisation, the
# warmup and the draws (each would otherwise trace the whole forward model again).
log_density = jax.jit(_log_density)

__all__ = [
    "Draws",
    "SamplerSettings",
    "chain_groups",
    "initial_position",
    "object_keys",
    "sample",
    "sample_batch",
]


class SamplerSettings(NamedTuple):
    """Settings of the sampler (static: hashable Python values).

    Attributes:
        num_warmup: adaptation steps per chain (default 500).
        num_draws: kept draws per chain (default 500).
        num_chains: chains per object (default 4).
        max_num_doublings: NUTS tree depth limit, at most ``2**d - 1`` steps (default 8).
        target_acceptance_rate: of the step-size adaptation (default 0.9: with the
            continuity prior sampled in asinh space it halves the divergences of 0.8 at
            the same cost, since trajectories already run to the depth limit).
        num_init_draws: prior draws scored for the starting point (default 64).
        num_init_steps: Adam steps from the best draw (default 200).
        init_learning_rate: Adam learning rate, unconstrained units (default 0.05).
        init_jitter: standard deviation of the chains' starting offsets (default 0.1).
        dense_mass: adapt a dense mass matrix instead of a diagonal one (default False).
        num_init_starts: the best this many prior draws are each refined by Adam and the
            best result is kept (default 8): multimodal posteriors (a free redshift) are
            otherwise often started in a secondary mode.
    """

    num_warmup: int = 500
    num_draws: int = 500
    num_chains: int = 4
    max_num_doublings: int = 8
    target_acceptance_rate: float = 0.9
    num_init_draws: int = 64
    num_init_steps: int = 200
    init_learning_rate: float = 0.05
    init_jitter: float = 0.1
    dense_mass: bool = False
    num_init_starts: int = 8

    def check(self) -> SamplerSettings:
        """Raise ValueError naming a bad setting; return self."""
        for name in (
            "num_warmup",
            "num_draws",
            "num_chains",
            "num_init_draws",
            "max_num_doublings",
            "num_init_starts",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"SamplerSettings.{name} must be an integer >= 1; got {value!r}.")
        if not isinstance(self.num_init_steps, (int, np.integer)) or self.num_init_steps < 0:
            raise ValueError(
                f"SamplerSettings.num_init_steps must be an integer >= 0; got {self.num_init_steps!r}."
            )
        if not 0.0 < self.target_acceptance_rate < 1.0:
            raise ValueError(
                "SamplerSettings.target_acceptance_rate must be in (0, 1); got "
                f"{self.target_acceptance_rate!r}."
            )
        for name in ("init_learning_rate", "init_jitter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"SamplerSettings.{name} must be finite and >= 0; got {value!r}.")
        return self


class Draws(NamedTuple):
    """The output of `sample` for one object (with `sample_batch`, a leading object axis).

    Attributes:
        position: ``{site: (n_chains, n_draws, ...)}`` unconstrained draws.
        log_density: (n_chains, n_draws) log posterior (up to a constant).
        diverging: (n_chains, n_draws) bool, divergent transitions.
        acceptance_rate: (n_chains, n_draws) mean Metropolis acceptance of the trajectory.
        num_steps: (n_chains, n_draws) leapfrog steps per draw.
        step_size: (n_chains,) adapted step sizes.
        init_log_density: () log posterior at the starting point (before jitter).
        init_best_prior_log_density: () best log posterior among the prior draws.
    """

    position: dict[str, jax.Array]
    log_density: jax.Array
    diverging: jax.Array
    acceptance_rate: jax.Array
    num_steps: jax.Array
    step_size: jax.Array
    init_log_density: jax.Array
    init_best_prior_log_density: jax.Array


def initial_position(
    key: jax.Array, fit: FitModel, obs: Observation, settings: SamplerSettings
) -> tuple[dict[str, jax.Array], jax.Array, jax.Array]:
    """The best ``num_init_starts`` of ``num_init_draws`` prior draws, each refined by
    ``num_init_steps`` of Adam; the best result.

    Args:
        key: PRNG key.
        fit: the `FitModel`.
        obs: one `Observation`.
        settings: `SamplerSettings`.

    Returns:
        (unconstrained position, its log density, best log density of the prior draws).
    """
    keys = jax.random.split(key, settings.num_init_draws)
    draws = jax.vmap(lambda k: prior_draw(k, fit, obs))(keys)
    scores = jax.vmap(lambda p: log_density(fit, obs, p))(draws)
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    n_starts = min(settings.num_init_starts, settings.num_init_draws)
    top_scores, top = jax.lax.top_k(scores, n_starts)
    best_prior = top_scores[0]
    starts = jax.tree.map(lambda x: x[top], draws)
    if settings.num_init_steps == 0:
        return jax.tree.map(lambda x: x[0], starts), best_prior, best_prior
    x0s = jax.vmap(lambda p: ravel_pytree(p)[0])(starts)
    unravel = ravel_pytree(jax.tree.map(lambda x: x[0], starts))[1]

    def loss(x):
        return -log_density(fit, obs, unravel(x))

    opt = optax.adam(settings.init_learning_rate)
    value_and_grad = jax.value_and_grad(loss)

    def refine(x0, score0):
        def step(carry, _):
            x, opt_state, best_x, best_loss = carry
            value, grad = value_and_grad(x)
            ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
            better = ok & (value < best_loss)
            best_x = jnp.where(better, x, best_x)
            best_loss = jnp.where(better, value, best_loss)
            updates, new_state = opt.update(jnp.where(ok, grad, 0.0), opt_state, x)
            # A non-finite point sends the iterate back to the best point seen.
            x = jnp.where(ok, optax.apply_updates(x, updates), best_x)
            opt_state = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_state, opt_state)
            return (x, opt_state, best_x, best_loss), None

        carry = (x0, opt.init(x0), x0, -score0)
        (x, _, best_x, best_loss), _ = jax.lax.scan(
            step, carry, None, length=settings.num_init_steps
        )
        final = loss(x)
        use_final = jnp.isfinite(final) & (final < best_loss)
        return jnp.where(use_final, x, best_x), jnp.where(use_final, final, best_loss)

    xs, losses = jax.vmap(refine)(x0s, top_scores)
    losses = jnp.where(jnp.isnan(losses), jnp.inf, losses)
    i = jnp.argmin(losses)
    return unravel(xs[i]), -losses[i], best_prior


def chain_groups(num_chains: int, n_groups: int) -> list[tuple[int, int]]:
    """``(first, stop)`` of ``n_groups`` contiguous groups of chains, as equal as possible
    (fewer groups if there are fewer chains)."""
    n = max(1, min(int(n_groups), int(num_chains)))
    edges = np.linspace(0, num_chains, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _check_chains(settings: SamplerSettings, chains: tuple[int, int] | None) -> tuple[int, int]:
    first, stop = (0, settings.num_chains) if chains is None else chains
    if not 0 <= first < stop <= settings.num_chains:
        raise ValueError(
            f"chains must be (first, stop) with 0 <= first < stop <= num_chains = "
            f"{settings.num_chains}; got {chains!r}."
        )
    return first, stop


def sample(
    key: jax.Array,
    fit: FitModel,
    obs: Observation,
    settings: SamplerSettings,
    chains: tuple[int, int] | None = None,
) -> Draws:
    """Fit one object with NUTS: initialise, adapt each chain, draw.

    Pure and not jitted: jit it (``settings`` and ``chains`` static) or use
    `sample_batch` / `fit_observations`. It is `sample_batch` on a batch of one.

    Args:
        key: PRNG key of this object (e.g. from `object_keys`).
        fit: the `FitModel`.
        obs: one `Observation` (no leading object axis).
        settings: `SamplerSettings`.
        chains: ``(first, stop)``: run only chains ``first .. stop - 1`` of the
            ``settings.num_chains`` (default: all): the same chains as in a run of all of
            them (same start, same random numbers).

    Returns:
        `Draws` (its chain axis holds the chains run).
    """
    batch = sample_batch(key[None], fit, jax.tree.map(lambda x: x[None], obs), settings, chains)
    return jax.tree.map(lambda x: x[0], batch)


def sample_batch(
    keys: jax.Array,
    fit: FitModel,
    obs: Observation,
    settings: SamplerSettings,
    chains: tuple[int, int] | None = None,
) -> Draws:
    """`sample` for a batch of objects (one compiled program when jitted).

    The objects' initialisations are vmapped over objects; then warmup and draws are one
    ``jax.vmap`` over every (object, chain) pair. (Nesting a vmap over chains in one over
    objects computes the same but takes JAX twice as long to trace: it batches NUTS'
    nested while loops once per level.)

    Args:
        keys: (n_obj,) PRNG keys, one per object.
        fit: the `FitModel` (shared).
        obs: `Observation` with a leading object axis.
        settings: `SamplerSettings` (static under ``jit``).
        chains: ``(first, stop)``, the chains to run (static; default all; see `sample`).

    Returns:
        `Draws` with a leading object axis.

    Example:
        >>> run = jax.jit(sample_batch, static_argnames="settings")
        >>> draws = run(object_keys(key, jnp.arange(8)), fit, obs_batch, settings=settings)
    """
    first, stop = _check_chains(settings, chains)
    n_obj, n_chains = keys.shape[0], stop - first
    template = jax.eval_shape(
        lambda k, o: prior_draw(k, fit, o), keys[0], jax.tree.map(lambda x: x[0], obs)
    )
    unravel = ravel_pytree(jax.tree.map(lambda t: jnp.zeros(t.shape, t.dtype), template))[1]

    def init(key, o):
        k_init, k_jitter, k_warm, k_draw = jax.random.split(key, 4)
        start, init_ld, prior_ld = initial_position(k_init, fit, o, settings)
        return ravel_pytree(start)[0], init_ld, prior_ld, k_jitter, k_warm, k_draw

    x0, init_ld, prior_ld, k_jitter, k_warm, k_draw = jax.vmap(init)(keys, obs)

    def chain(x0, k_jitter, k_warm, k_draw, c, o):
        """Chain ``c`` of one object: jittered start, warmup, draws."""

        def logdensity(position):
            return log_density(fit, o, position)

        offset = jax.random.normal(jax.random.fold_in(k_jitter, c), x0.shape, x0.dtype)
        start = unravel(x0 + settings.init_jitter * offset)
        warmup = blackjax.window_adaptation(
            blackjax.nuts,
            logdensity,
            is_mass_matrix_diagonal=not settings.dense_mass,
            target_acceptance_rate=settings.target_acceptance_rate,
            adaptation_info_fn=get_filter_adapt_info_fn(),
            max_num_doublings=settings.max_num_doublings,
        )
        (state, parameters), _ = warmup.run(
            jax.random.fold_in(k_warm, c), start, settings.num_warmup
        )
        step_size, inv_mass = parameters["step_size"], parameters["inverse_mass_matrix"]
        kernel = blackjax.nuts(
            logdensity, step_size, inv_mass, max_num_doublings=settings.max_num_doublings
        )

        def one(state, k_step):
            state, info = kernel.step(k_step, state)
            out = (
                state.position,
                state.logdensity,
                info.is_divergent,
                info.acceptance_rate,
                info.num_integration_steps,
            )
            return state, out

        keys_draw = jax.random.split(jax.random.fold_in(k_draw, c), settings.num_draws)
        _, out = jax.lax.scan(one, state, keys_draw)
        return (*out, step_size)

    # One vmap over (object, chain) pairs, object-major.
    obj = jnp.repeat(jnp.arange(n_obj), n_chains)
    ids = jnp.tile(jnp.arange(first, stop), n_obj)
    pick = jax.tree.map(lambda x: x[obj], (x0, k_jitter, k_warm, k_draw, obs))
    position, ld, diverging, accept, n_steps, step_size = jax.vmap(chain)(
        *pick[:4], ids, pick[4]
    )

    def per_object(x):
        return x.reshape(n_obj, n_chains, *x.shape[1:])

    return Draws(
        position=jax.tree.map(per_object, position),
        log_density=per_object(ld),
        diverging=per_object(diverging),
        acceptance_rate=per_object(accept),
        num_steps=per_object(n_steps),
        step_size=per_object(step_size),
        init_log_density=init_ld,
        init_best_prior_log_density=prior_ld,
    )


def object_keys(key: jax.Array, rows: Any) -> jax.Array:
    """One key per object, from the object's row number: independent of how rows are batched.

    Args:
        key: the run's PRNG key.
        rows: (n,) integer row numbers.

    Returns:
        (n,) keys, ``jax.random.fold_in(key, row)``.
    """
    rows = jnp.asarray(rows, dtype=jnp.uint32)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, rows)


def batches(rows: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
    """Chunks of ``rows`` padded to ``batch_size`` (by repeating the last row).

    Yields:
        (padded row numbers, number of real rows).
    """
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n)])
        yield chunk, n
