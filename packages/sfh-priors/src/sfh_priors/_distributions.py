"""numpyro distributions for SFH priors."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes

Array = jax.Array

# Leja et al. 2019, ApJ 876, 3 (Section 2.2.3): the continuity prior is a Student-t on
# log10(SFR_n / SFR_{n+1}) with scale 0.3 dex and 2 degrees of freedom.
CONTINUITY_SCALE_DEX = 0.3
CONTINUITY_DF = 2.0


class ContinuityPrior(dist.Distribution):
    """Continuity prior on the log SFR ratios between adjacent time bins.

    Each element log10(SFR_i / SFR_{i+1}) (i = 0 the youngest bin) is independent
    Student-t with location 0, scale ``scale`` (dex) and ``df`` degrees of freedom
    (Leja et al. 2019, ApJ 876, 3: scale 0.3, df 2). It favours smooth histories while
    allowing sharp transitions through its heavy tails.

    Args:
        num_ratios: number of ratios (number of bins minus one); the event shape.
        scale: Student-t scale in dex (> 0), default 0.3.
        df: degrees of freedom (> 0), default 2.

    Example:
        >>> ratios = ContinuityPrior(6).sample(jax.random.key(0))  # 7 bins
    """

    arg_constraints = {"scale": constraints.positive, "df": constraints.positive}
    support = constraints.real_vector
    reparametrized_params = ["scale"]
    pytree_data_fields = ("scale", "df")
    pytree_aux_fields = ("num_ratios",)

    def __init__(
        self,
        num_ratios: int,
        scale: Any = CONTINUITY_SCALE_DEX,
        df: Any = CONTINUITY_DF,
        *,
        validate_args: bool | None = None,
    ) -> None:
        if isinstance(num_ratios, bool) or not isinstance(num_ratios, int) or num_ratios < 1:
            raise ValueError(
                f"num_ratios must be a positive int (number of bins minus one); got {num_ratios!r}."
            )
        self.num_ratios = num_ratios
        self.scale, self.df = promote_shapes(jnp.asarray(scale, dtype=jnp.result_type(float)),
                                             jnp.asarray(df, dtype=jnp.result_type(float)))
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(self.scale), jnp.shape(self.df))
        super().__init__(
            batch_shape=batch_shape, event_shape=(num_ratios,), validate_args=validate_args
        )

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        shape = sample_shape + self.batch_shape + self.event_shape
        df = jnp.broadcast_to(self.df[..., None], shape)
        return jax.random.t(key, df, shape, dtype=self.scale.dtype) * self.scale[..., None]

    def log_prob(self, value: Array) -> Array:
        marginal = dist.StudentT(self.df[..., None], 0.0, self.scale[..., None])
        return jnp.sum(marginal.log_prob(value), axis=-1)

    @property
    def mean(self) -> Array:
        mean = jnp.where(self.df > 1, 0.0, jnp.nan)
        return jnp.broadcast_to(mean[..., None], self.batch_shape + self.event_shape)

    @property
    def variance(self) -> Array:
        var = jnp.where(self.df > 2, self.scale**2 * self.df / (self.df - 2), jnp.inf)
        var = jnp.where(self.df > 1, var, jnp.nan)
        return jnp.broadcast_to(var[..., None], self.batch_shape + self.event_shape)
