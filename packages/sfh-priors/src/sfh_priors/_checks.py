"""Value checks that raise eagerly on concrete inputs and poison outputs with NaN under tracing.

Policy (documented in the package README, "Errors"): every public function collects its
checks in a :class:`Checks`. When the checked values are concrete (plain Python/NumPy
values or JAX arrays outside ``jit``/``vmap``/``grad`` tracing) a failing check raises
``ValueError`` at once with a message naming the argument. When they are traced, the
checks cannot raise, so the function returns NaN in every floating-point output instead
(NaN log densities are rejected by NUTS/HMC as divergences, and NaN weights surface in
any downstream sum). Library code never calls ``checkify``; users who want a Python error
under ``jit`` can look for NaN with ``jnp.isnan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def float_dtype() -> Any:
    """The default floating dtype: float32, or float64 when the user enabled x64."""
    return jnp.result_type(float)


def as_float(x: Any) -> jax.Array:
    """Convert to a JAX array of the default floating dtype."""
    return jnp.asarray(x, dtype=float_dtype())


def is_concrete(x: Any) -> bool:
    """True when every leaf of ``x`` has a value now (is not a tracer)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def describe(x: Any) -> str:
    """A short printable form of a concrete value for error messages."""
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001 - only used to format messages
        return repr(x)
    if arr.ndim == 0:
        return f"{arr.item()!r}"
    with np.printoptions(precision=6, threshold=8, edgeitems=3):
        return f"array of shape {arr.shape}: {arr}"


class Checks:
    """Collects boolean checks; see the module docstring for the policy."""

    def __init__(self) -> None:
        self._traced: list[jax.Array] = []

    def require(self, ok: Any, message: str | Callable[[], str]) -> None:
        """Record that ``ok`` (a boolean array; all elements must hold) is required.

        Args:
            ok: boolean scalar or array.
            message: the error message, or a callable building it (called only on failure,
                so it may format concrete values).
        """
        if is_concrete(ok):
            if not bool(np.all(np.asarray(ok))):
                raise ValueError(message() if callable(message) else message)
        else:
            self._traced.append(jnp.all(ok))

    @property
    def ok(self) -> jax.Array | None:
        """A traced boolean that is False when a traced check failed, or None if none."""
        if not self._traced:
            return None
        return jnp.all(jnp.stack(self._traced))

    def guard(self, tree: Any) -> Any:
        """Return ``tree`` with every floating leaf replaced by NaN where a traced check failed."""
        ok = self.ok
        if ok is None:
            return tree

        def poison(leaf: Any) -> Any:
            leaf = jnp.asarray(leaf)
            if jnp.issubdtype(leaf.dtype, jnp.floating):
                return jnp.where(ok, leaf, jnp.nan)
            return leaf

        return jax.tree.map(poison, tree)


def require_positive(checks: Checks, value: Any, name: str, unit: str = "") -> None:
    """Require ``value > 0`` (all elements), naming ``name`` in the message."""
    value = jnp.asarray(value)
    checks.require(
        jnp.all(value > 0),
        lambda: f"{name} must be > 0{(' ' + unit) if unit else ''}; got {describe(value)}. "
        f"Pass a positive value.",
    )


def require_finite(checks: Checks, value: Any, name: str) -> None:
    """Require every element of ``value`` to be finite."""
    value = jnp.asarray(value)
    checks.require(
        jnp.all(jnp.isfinite(value)),
        lambda: f"{name} must be finite; got {describe(value)}.",
    )


def require_increasing(checks: Checks, edges: Any, name: str) -> None:
    """Require a 1-D array of at least two strictly increasing, non-negative edges."""
    edges = jnp.asarray(edges)
    if edges.ndim != 1 or edges.shape[0] < 2:
        raise ValueError(
            f"{name} must be a 1-D array of at least 2 bin edges; got shape {edges.shape}. "
            "Pass bin edges in lookback time (yr), e.g. jnp.array([0.0, 3e7, 1e8, ...])."
        )
    checks.require(
        jnp.all(jnp.diff(edges) > 0),
        lambda: f"{name} must be strictly increasing; got {describe(edges)}. "
        "Sort the edges and remove duplicates.",
    )
    checks.require(
        edges[0] >= 0,
        lambda: f"{name} must start at a lookback time >= 0 yr; got first edge "
        f"{describe(edges[0])}.",
    )


def pytree_dataclass(static: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Register a frozen, keyword-only dataclass as a pytree whose unflatten skips ``__init__``.

    Construction by users runs ``__post_init__`` (eager validation); JAX transformations
    rebuild instances without it, so cotangents, batching specs and tree maps never trip
    a validation meant for user input (the approach Equinox uses for its modules).

    Args:
        static: names of fields that are static metadata (hashable Python values, not leaves).
    """

    def wrap(cls: type) -> type:
        cls = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        names = tuple(f.name for f in dataclasses.fields(cls))
        data = tuple(n for n in names if n not in static)
        meta = tuple(n for n in names if n in static)

        def flatten_with_keys(obj: Any) -> tuple[list[tuple[Any, Any]], tuple[Any, ...]]:
            children = [(jax.tree_util.GetAttrKey(n), getattr(obj, n)) for n in data]
            return children, tuple(getattr(obj, n) for n in meta)

        def flatten(obj: Any) -> tuple[list[Any], tuple[Any, ...]]:
            return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

        def unflatten(aux: tuple[Any, ...], children: Any) -> Any:
            obj = object.__new__(cls)
            for n, v in zip(data, children, strict=True):
                object.__setattr__(obj, n, v)
            for n, v in zip(meta, aux, strict=True):
                object.__setattr__(obj, n, v)
            return obj

        jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
        return cls

    return wrap
