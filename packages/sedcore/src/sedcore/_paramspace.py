"""`ParamSpace`: named, bounded model parameters and their maps to an unconstrained vector.

Models take parameters as a dict of named arrays (``{"log_mass": 10.2, "dust2": 0.3,
"sfh_log_ratio": [...]}``); emulators, flows and samplers want one flat vector, and
gradient samplers want it unconstrained. A `ParamSpace` holds the names, units, bounds and
shapes, and converts between the three forms:

- ``to_vector`` / ``from_vector``: dict <-> flat constrained vector (order of ``params``);
- ``to_unconstrained`` / ``from_unconstrained``: dict <-> flat unconstrained vector, with
  the transform chosen from the bounds: ``(lo, hi)`` -> logit of the scaled value,
  ``(lo, inf)`` -> ``log(x - lo)``, ``(-inf, hi)`` -> ``log(hi - x)``, unbounded -> identity;
- ``log_abs_det_jacobian(u)``: log |d x / d u| summed, for densities in the unconstrained space.

A `ParamSpace` carries no arrays: it is static under ``jax.jit`` (hashable) and its methods are
pure JAX functions of the values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Param", "ParamSpace"]


@dataclasses.dataclass(frozen=True)
class Param:
    """One named parameter.

    Attributes:
        name: key in the parameter dict.
        unit: unit string (e.g. "dex(M_sun)", "mag", "" for dimensionless).
        lower: lower bound (``-math.inf`` for none).
        upper: upper bound (``math.inf`` for none).
        shape: shape of the value (``()`` scalar, ``(6,)`` a vector).
        description: one line for docs and tables.
    """

    name: str
    unit: str = ""
    lower: float = -math.inf
    upper: float = math.inf
    shape: tuple[int, ...] = ()
    description: str = ""

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Param name must be an identifier, got {self.name!r}")
        lo, hi = float(self.lower), float(self.upper)
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise ValueError(f"Param {self.name!r}: need lower < upper, got ({lo}, {hi})")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


@dataclasses.dataclass(frozen=True)
class ParamSpace:
    """An ordered set of `Param` (static pytree node: no array leaves)."""

    params: tuple[Param, ...]

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(self.params))
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"ParamSpace: duplicate parameter names {dup}")

    @classmethod
    def from_params(cls, *params: Param) -> "ParamSpace":
        """``ParamSpace.from_params(Param("log_mass", "dex(M_sun)", 6, 13), ...)``."""
        return cls(tuple(params))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def size(self) -> int:
        """Length of the flat vector."""
        return sum(p.size for p in self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r}; have {list(self.names)}")

    def vector_labels(self) -> tuple[str, ...]:
        """Labels of the flat vector entries (``name`` or ``name[i]``)."""
        out = []
        for p in self.params:
            if p.shape == ():
                out.append(p.name)
            else:
                out.extend(f"{p.name}[{i}]" for i in range(p.size))
        return tuple(out)

    # --- dict <-> vector --------------------------------------------------------------
    def _check_keys(self, params: Mapping[str, jax.Array]) -> None:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise KeyError(
                f"parameter dict lacks {missing}; expected keys {list(self.names)}, "
                f"got {sorted(params)}"
            )

    def to_vector(self, params: Mapping[str, jax.Array]) -> jax.Array:
        """Flatten a parameter dict to a vector of length ``size`` (extra keys ignored)."""
        self._check_keys(params)
        parts = []
        for p in self.params:
            v = jnp.asarray(params[p.name])
            if v.shape != p.shape:
                raise ValueError(
                    f"parameter {p.name!r}: expected shape {p.shape}, got {v.shape}; "
                    "use jax.vmap for batches"
                )
            parts.append(jnp.reshape(v, (p.size,)))
        return jnp.concatenate(parts) if parts else jnp.zeros((0,))

    def from_vector(self, vector: jax.Array) -> dict[str, jax.Array]:
        """Inverse of `to_vector`."""
        vector = jnp.asarray(vector)
        if vector.shape != (self.size,):
            raise ValueError(
                f"expected a vector of shape ({self.size},) for {list(self.names)}, "
                f"got {vector.shape}; use jax.vmap for batches"
            )
        out, i = {}, 0
        for p in self.params:
            out[p.name] = jnp.reshape(vector[i : i + p.size], p.shape)
            i += p.size
        return out

    # --- constrained <-> unconstrained --------------------------------------------------
    # Each parameter has one transform fixed by its (static) bounds, so every branch below
    # is chosen in Python: no jnp.where between branches, hence no NaN gradients leaking
    # from an unused branch.
    def to_unconstrained(self, params: Mapping[str, jax.Array]) -> jax.Array:
        """Map a parameter dict (values inside the bounds) to an unconstrained vector."""
        self._check_keys(params)
        parts = []
        for p in self.params:
            x = jnp.reshape(jnp.asarray(params[p.name]), (p.size,))
            lo, hi = p.lower, p.upper
            if math.isfinite(lo) and math.isfinite(hi):
                s = (x - lo) / (hi - lo)
                parts.append(jnp.log(s) - jnp.log1p(-s))
            elif math.isfinite(lo):
                parts.append(jnp.log(x - lo))
            elif math.isfinite(hi):
                parts.append(jnp.log(hi - x))
            else:
                parts.append(x)
        return jnp.concatenate(parts) if parts else jnp.zeros((0,))

    def from_unconstrained(self, u: jax.Array) -> dict[str, jax.Array]:
        """Map an unconstrained vector back to a parameter dict inside the bounds."""
        u = jnp.asarray(u)
        if u.shape != (self.size,):
            raise ValueError(f"expected shape ({self.size},), got {u.shape}; use jax.vmap for batches")
        out, i = {}, 0
        for p in self.params:
            v = u[i : i + p.size]
            i += p.size
            lo, hi = p.lower, p.upper
            if math.isfinite(lo) and math.isfinite(hi):
                x = lo + (hi - lo) * jax.nn.sigmoid(v)
            elif math.isfinite(lo):
                x = lo + jnp.exp(v)
            elif math.isfinite(hi):
                x = hi - jnp.exp(v)
            else:
                x = v
            out[p.name] = jnp.reshape(x, p.shape)
        return out

    def log_abs_det_jacobian(self, u: jax.Array) -> jax.Array:
        """``sum log |dx/du|`` of `from_unconstrained` at ``u`` (scalar)."""
        u = jnp.asarray(u)
        total, i = jnp.zeros(()), 0
        for p in self.params:
            v = u[i : i + p.size]
            i += p.size
            lo, hi = p.lower, p.upper
            if math.isfinite(lo) and math.isfinite(hi):
                # d/du [lo + w sigmoid(u)] = w sigmoid(u) sigmoid(-u)
                total = total + jnp.sum(math.log(hi - lo) + jax.nn.log_sigmoid(v) + jax.nn.log_sigmoid(-v))
            elif math.isfinite(lo) or math.isfinite(hi):
                total = total + jnp.sum(v)
        return total

    def check(self, params: Mapping[str, jax.Array], *, where: str = "params") -> None:
        """Raise ValueError naming the parameter if a concrete value is NaN or out of bounds.

        Call it eagerly on user input (not under jit). Batched values (leading axes beyond
        the parameter's shape) are checked element-wise and the first bad index is named.
        """
        self._check_keys(params)
        for p in self.params:
            v = np.asarray(params[p.name], dtype=np.float64)
            if p.shape and v.shape[-len(p.shape):] != p.shape:
                raise ValueError(f"{where}: {p.name!r} has shape {v.shape}, expected (..., {p.shape})")
            bad = ~np.isfinite(v) | (v < p.lower) | (v > p.upper)
            if np.any(bad):
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"{where}: {p.name!r} = {v[idx] if v.ndim else float(v)} at index {idx} is outside "
                    f"[{p.lower}, {p.upper}] {p.unit}".rstrip()
                )


jax.tree_util.register_dataclass(ParamSpace, data_fields=[], meta_fields=["params"])
