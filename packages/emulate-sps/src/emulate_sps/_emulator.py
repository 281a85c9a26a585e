"""Neural emulator of the engine's photometry for a fixed filter set (flax + optax).

What is learned. A training set (`emulate_sps.simulate`) holds, per galaxy of 1 M_sun
formed, AB magnitudes ``m_b`` in the recipe's bands. The analytic part of the redshift
dependence is removed first:

    y_b = m_b - 5 log10(D_L(z) / Mpc) + 2.5 log10(1 + z),

(``D_L`` of the config's cosmology, from a table in ln(1 + z)), which leaves the
band-shifted luminosity: smooth in every parameter except where lines and breaks cross
band edges. Bands far below the brightest one carry no information at any realistic
signal-to-noise (e.g. blue bands below the Lyman break at high z, whose flux is exactly
zero): targets are capped at ``min_b(y_b) + CAP_MAG`` (10 mag, a flux ratio of 1e-4) per
galaxy; at capped entries the loss only penalises predictions brighter than the cap
(a one-sided square), and the emulator's output is capped the same way (a smooth minimum,
so gradients stay finite). Outputs are standardised with the mean and spread of their
uncapped values. One extra output is the surviving mass fraction (as -2.5 log10). Log mass is added analytically: ``m_b(log_mass) = m_b(0) - 2.5 log_mass``.

Inputs: the engine parameters other than ``log_mass`` and those the training set holds
fixed (``sigma_kms``), with ``z`` as ``ln(1 + z)``, and (unless trained with
``z_octaves=0``) Fourier features of ``ln(1 + z)``: sin and cos of ``pi 2^k ln(1 + z) /
ln(1 + z_max)``, ``k = 0 .. z_octaves - 1``. Lines and breaks cross band edges within a few
hundredths in ln(1 + z); a smooth network fed ln(1 + z) alone is slow to learn features that
sharp, and these inputs give it them directly (`Z_OCTAVES`). All standardised with the
training set's mean and spread. Network: a multilayer perceptron with SiLU activations (smooth: no kinks
for gradient-based samplers). Training: Adam with a cosine
learning-rate schedule, mean squared error of the bands in magnitudes (the standardised
errors weighted by each band's spread squared, `LOSS_UNITS`; the surviving fraction at
weight 1), early stopping on a validation split (the best validation epoch is kept). Inference is plain jax.numpy on the stored arrays (one matrix
product per layer), so an emulator is a pytree argument of jitted functions like a
`SynthesisConfig`.

Out-of-range inputs: each input has the box of its training prior; concrete values outside
it raise a ValueError naming the parameter; traced values are clipped to the box (no
extrapolation; zero gradient outside).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "PhotometryEmulator",
    "train_photometry_emulator",
    "save_emulator",
    "load_emulator",
    "validate_emulator",
    "shipped_emulators",
    "Z_OCTAVES",
]

#: Targets fainter than the brightest band by more than this are capped (AB mag).
CAP_MAG = 10.0
#: Width of the smooth minimum used for the cap, mag.
_CAP_SOFTNESS = 0.02
#: Fourier octaves of ln(1 + z) among a new photometric emulator's inputs (training
#: default). Nine reach a period of ln(1 + z_max) / 128 (0.022 for z_max = 15). In
#: 60-epoch ablations (3 x 256, the 200 000 galaxies of `hst_jwst20_phot`) the validation
#: loss was 1.6e-3 without them, 4.7e-4 with 7 octaves and 4.1e-4 with 9; the worst
#: band's 95th percentile |delta mag| 0.26, 0.16 and 0.14 (docs/emulate-sps.md).
Z_OCTAVES = 9
_WEIGHTS = "weights.msgpack"
_MANIFEST = "manifest.json"
_KIND = "photometry"
_Z_TABLE_SIZE = 4096


def _weights_dir() -> Path:
    return Path(__file__).resolve().parent / "weights"


def shipped_emulators(kind: str | None = None) -> list[str]:
    """Names of the emulators shipped with the package (folders under ``weights/``).

    Args:
        kind: ``"photometry"`` or ``"spectrum"`` for one kind only (the manifest's
            ``kind``); None for all.
    """
    root = _weights_dir()
    if not root.is_dir():
        return []
    names = sorted(p.name for p in root.iterdir() if (p / _MANIFEST).is_file())
    if kind is None:
        return names
    return [n for n in names if json.loads((root / n / _MANIFEST).read_text()).get("kind") == kind]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PhotometryEmulator:
    """A trained photometric emulator (a pytree: arrays are leaves, names static).

    Attributes:
        layers: ``((W, b), ...)`` of the network, float32.
        x_mean, x_scale: standardisation of the inputs.
        y_mean, y_scale: of the (capped) targets.
        lo, hi: box of the training prior per input (``z`` as itself, not ln(1+z)).
        lndl_table: ``ln(D_L / Mpc)`` on ``ln(1 + z) = k * dx``, ``k = 0 .. n - 1``.
        error_mag: (n_bands,) measured emulator error per band, the 68th percentile of
            |delta mag| on the held-out test set (from the manifest; zeros if unmeasured).
        dx: spacing of that table (static).
        input_names: engine parameters fed to the network, in order (static).
        input_shapes: their shapes for one galaxy (static; ``()`` for scalars).
        param_names: every engine parameter the call accepts (static).
        filter_names: output bands, astro-sedpy names (static).
        name: emulator name (static).
        fixed: ``((name, value), ...)`` engine parameters its training set held fixed,
            other than ``log_mass`` (static; from the manifest's prior). The emulator
            ignores them in a call, so a fit must hold them at these values
            (``pixelfit.FitModel.create`` does, and refuses other values).
        layers_t: the transposed weight matrices, contiguous: derived from ``layers``
            (filled, or refreshed, whenever the emulator is built from concrete arrays;
            not an input). Gradients use them: XLA's CPU matrix products with a transposed
            operand are ~1.5x slower for a few galaxies or chains at once.
        z_octaves: number of Fourier octaves of ln(1 + z) among the inputs (static; 0 for
            emulators trained without them). See `Z_OCTAVES`.
        z_span: ln(1 + z_max) of the training box: the half period of the lowest octave
            (static).
    """

    layers: tuple[tuple[jax.Array, jax.Array], ...]
    x_mean: jax.Array
    x_scale: jax.Array
    y_mean: jax.Array
    y_scale: jax.Array
    lo: jax.Array
    hi: jax.Array
    lndl_table: jax.Array
    error_mag: jax.Array
    dx: float = dataclasses.field(metadata={"static": True})
    input_names: tuple[str, ...] = dataclasses.field(metadata={"static": True})
    input_shapes: tuple[tuple[int, ...], ...] = dataclasses.field(metadata={"static": True})
    param_names: tuple[str, ...] = dataclasses.field(metadata={"static": True})
    filter_names: tuple[str, ...] = dataclasses.field(metadata={"static": True})
    name: str = dataclasses.field(default="", metadata={"static": True})
    fixed: tuple[tuple[str, float], ...] = dataclasses.field(default=(), metadata={"static": True})
    layers_t: tuple[jax.Array, ...] = ()
    z_octaves: int = dataclasses.field(default=0, metadata={"static": True})
    z_span: float = dataclasses.field(default=1.0, metadata={"static": True})

    def __post_init__(self):
        object.__setattr__(self, "layers_t", _transposed(self.layers, self.layers_t))

    @property
    def n_filters(self) -> int:
        return len(self.filter_names)

    @property
    def flux_error_frac(self) -> jax.Array:
        """(n_bands,) fractional flux error of the emulator (``error_mag * ln(10) / 2.5``).

        Add it to the observational variance of a fit, e.g. ``noise_floor =
        jnp.hypot(0.05, em.flux_error_frac)`` in ``sedcore.photometry_loglike``.
        """
        return self.error_mag * (math.log(10.0) / 2.5)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names of a call (as ``SynthesisConfig.names``)."""
        return self.param_names

    def input_bounds(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{name: (low, high)}`` training box of every network input (arrays for vectors)."""
        out, k = {}, 0
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        for i, name in enumerate(self.input_names):
            size = self.input_sizes[i]
            out[name] = (lo[k : k + size], hi[k : k + size])
            k += size
        return out

    @property
    def input_sizes(self) -> tuple[int, ...]:
        return tuple(max(int(np.prod(shape)), 1) for shape in self.input_shapes)

    def __repr__(self) -> str:
        sizes = [int(self.layers[0][0].shape[0])] + [int(w.shape[1]) for w, _ in self.layers]
        return (
            f"PhotometryEmulator(name={self.name!r}, bands={len(self.filter_names)}, "
            f"inputs={self.input_names}, layers={sizes})"
        )


# --------------------------------------------------------------------------------------
# Features and targets (shared by training and inference: one definition).


def _mag_offset(lndl_table, dx, z):
    """5 log10(D_L / Mpc) - 2.5 log10(1 + z) from the table (jnp or np)."""
    xp = jnp if isinstance(z, jax.Array) else np
    x = xp.log1p(z)
    pos = xp.clip(x / dx, 0.0, lndl_table.shape[0] - 1.0)
    i = xp.clip(xp.floor(pos), 0, lndl_table.shape[0] - 2).astype(np.int32)
    f = pos - i
    lndl = lndl_table[i] * (1.0 - f) + lndl_table[i + 1] * f
    return (5.0 / math.log(10.0)) * lndl - (2.5 / math.log(10.0)) * x


def _features(input_names, values: Mapping[str, Any], xp=np, z_octaves: int = 0, z_span: float = 1.0):
    """Network inputs of a batch: each parameter as a column (``z`` as ln(1 + z), times in
    dex), then, when ``z_octaves > 0``, ``sin`` and ``cos`` of ``pi 2^k ln(1 + z) / z_span``
    for ``k = 0 .. z_octaves - 1`` (see `Z_OCTAVES`)."""
    cols = []
    for name in input_names:
        v = xp.asarray(values[name])
        if name == "z":
            v = xp.log1p(v)
        elif name.endswith("_yr"):  # times (parametric SFH ages and timescales): in dex
            v = xp.log10(v)
        cols.append(v.reshape(v.shape[0], -1) if v.ndim > 1 else v[:, None])
    if z_octaves > 0 and "z" in input_names:
        u = xp.log1p(xp.asarray(values["z"]).reshape(-1))
        angle = u[:, None] * xp.asarray((math.pi / z_span) * 2.0 ** np.arange(z_octaves), dtype=u.dtype)
        cols += [xp.sin(angle), xp.cos(angle)]
    return xp.concatenate(cols, axis=1)


def _cap_np(y: np.ndarray) -> np.ndarray:
    """Cap each row at its brightest band + CAP_MAG (training targets; inf allowed)."""
    floor = np.min(y, axis=1, keepdims=True) + CAP_MAG
    return np.minimum(y, floor)


def _soft_cap(y: jax.Array) -> jax.Array:
    """Smooth min(y, min(y) + CAP_MAG): -> y well below the cap, -> the cap above it."""
    floor = jnp.min(y) + CAP_MAG
    s = _CAP_SOFTNESS
    return floor - s * jax.nn.softplus((floor - y) / s)


def _loss(pred, target, capped, weights=None):
    """Mean squared error (each output's square times ``weights``, when given); at capped
    entries only predictions brighter than the cap count."""
    err = jnp.where(capped, jnp.minimum(pred - target, 0.0), pred - target)
    return jnp.mean(err**2 if weights is None else weights * err**2)


#: Units in which the training loss measures the bands' errors (`train_photometry_emulator`).
LOSS_UNITS = ("mag", "standardised")


def _output_weights(y_scale: np.ndarray, loss_units: str) -> np.ndarray | None:
    """Per-output loss weights for standardised targets. ``"standardised"``: none (each
    band's error in units of its spread). ``"mag"``: each band's weight is its spread
    squared over the bands' mean square, so the loss is the bands' squared error in
    magnitudes (up to one constant factor); the last output (surviving mass fraction) keeps
    weight 1."""
    if loss_units == "standardised":
        return None
    s2 = np.asarray(y_scale, np.float64)[:-1] ** 2
    return np.concatenate([s2 / s2.mean(), [1.0]]).astype(np.float32)


def _transposed(layers, layers_t):
    """``layers_t`` for ``layers``: recomputed from concrete weights (so it cannot go stale,
    e.g. after ``dataclasses.replace``); kept as given under tracing or for pytree
    placeholders (JAX rebuilds pytrees with non-array leaves)."""
    ws = [layer[0] for layer in layers] if isinstance(layers, tuple) else []
    concrete = all(
        isinstance(w, (np.ndarray, jax.Array)) and not isinstance(w, jax.core.Tracer)
        and np.ndim(w) == 2 for w in ws
    )  # fmt: skip
    if ws and concrete:
        return tuple(jnp.asarray(np.ascontiguousarray(np.asarray(w).T)) for w in ws)
    return layers_t


def _make_matmul(precision):
    """``h @ w`` whose tangent map multiplies by ``w_t`` (``w`` transposed, contiguous):
    reverse mode then runs ``g @ w_t``, an untransposed product (XLA's CPU products with a
    transposed operand are ~1.5x slower for a few rows: a few galaxies or chains at once).
    Tangents of ``w`` and ``w_t`` are not propagated (the weights are constants of a fit).
    """

    @jax.custom_jvp
    def matmul(h, w, w_t):
        return jnp.matmul(h, w, precision=precision)

    @matmul.defjvp
    def matmul_jvp(primals, tangents):
        h, w, w_t = primals
        t_h = tangents[0]
        dims = (((t_h.ndim - 1,), (1,)), ((), ()))
        return matmul(h, w, w_t), jax.lax.dot_general(t_h, w_t, dims, precision=precision)

    return matmul


_matmul = _make_matmul(None)
_matmul_highest = _make_matmul(jax.lax.Precision.HIGHEST)


def _network(layers, x, layers_t=()):
    """The MLP; with ``layers_t`` (the transposed weights) its gradient is faster."""
    h = x
    for i, (w, b) in enumerate(layers):
        h = (_matmul(h, w, layers_t[i]) if layers_t else h @ w) + b
        if i < len(layers) - 1:
            h = jax.nn.silu(h)
    return h


# --------------------------------------------------------------------------------------
# Inference.


def _check_and_clip(em: PhotometryEmulator, params: Mapping[str, Any], where: str):
    needed = (*em.input_names, "log_mass")
    missing = [n for n in needed if n not in params]
    if missing:
        raise KeyError(
            f"{where}: params lack {missing}; this emulator needs {list(needed)} (parameters "
            f"its training set held fixed, {sorted(set(em.param_names) - set(needed))}, are "
            "accepted and ignored)."
        )
    out = {}
    k = 0
    for name, shape in zip(em.input_names, em.input_shapes, strict=True):
        v = jnp.asarray(params[name], jnp.float32)
        if v.shape != shape:
            raise ValueError(
                f"{where}: parameter {name!r} must have shape {shape} for one galaxy; got "
                f"{v.shape}. Batch galaxies with jax.vmap."
            )
        size = max(int(np.prod(shape)), 1)
        lo, hi = em.lo[k : k + size].reshape(v.shape), em.hi[k : k + size].reshape(v.shape)
        k += size
        if not isinstance(v, jax.core.Tracer) and not isinstance(lo, jax.core.Tracer):
            a = np.asarray(v)
            bad = ~np.isfinite(a) | (a < np.asarray(lo) - 1e-6) | (a > np.asarray(hi) + 1e-6)
            if np.any(bad):
                raise ValueError(
                    f"{where}: parameter {name!r} = {float(a[bad].ravel()[0])!r} is outside the "
                    f"emulator's training range [{np.asarray(lo).min():g}, {np.asarray(hi).max():g}] "
                    "(emulators do not extrapolate; use the exact engine there)."
                )
        out[name] = jnp.clip(v, lo, hi)
    return out


def _outputs(em: PhotometryEmulator, params: Mapping[str, Any], where: str):
    """(capped band targets y_b, -2.5 log10 surviving fraction, clipped params)."""
    p = _check_and_clip(em, params, where)
    x = _features(em.input_names, {k: v[None] for k, v in p.items()}, xp=jnp, z_octaves=em.z_octaves,
                  z_span=em.z_span)[0]  # fmt: skip
    out = _network(em.layers, (x - em.x_mean) / em.x_scale, em.layers_t) * em.y_scale + em.y_mean
    return _soft_cap(out[: em.n_filters]), out[em.n_filters], p


def emulated_photometry(em: PhotometryEmulator, params: Mapping[str, Any]) -> jax.Array:
    """Band fluxes in maggies for one galaxy (``emulate_sps.photometry`` with an emulator)."""
    y, _, p = _outputs(em, params, "photometry (emulator)")
    z = p["z"]
    mag = y + _mag_offset(em.lndl_table, em.dx, z) - 2.5 * jnp.asarray(params["log_mass"], jnp.float32)
    return jnp.power(10.0, -0.4 * mag)


def emulator_param_space(em: PhotometryEmulator):
    """The parameters a call needs, as a `sedcore.ParamSpace` with the training box."""
    import sedcore

    params = [sedcore.Param("z", unit="", lower=float(em.input_bounds()["z"][0][0]),
                            upper=float(em.input_bounds()["z"][1][0]), description="redshift")]  # fmt: skip
    params.append(sedcore.Param("log_mass", unit="dex(M_sun)", description="log10 mass formed"))
    for name, (lo, hi) in em.input_bounds().items():
        if name == "z":
            continue
        shape = em.input_shapes[em.input_names.index(name)]
        params.append(sedcore.Param(name, lower=float(np.min(lo)), upper=float(np.max(hi)),
                                    shape=shape, description=f"emulator input {name}"))  # fmt: skip
    return sedcore.ParamSpace(tuple(params))


def emulated_stellar_masses(em: PhotometryEmulator, params: Mapping[str, Any]):
    """``emulate_sps.stellar_masses`` with an emulator: mass formed (exact) and surviving."""
    from ._synthesis import StellarMasses

    _, frac_mag, _ = _outputs(em, params, "stellar_masses (emulator)")
    formed = jnp.power(10.0, jnp.asarray(params["log_mass"], jnp.float32))
    return StellarMasses(formed, formed * jnp.power(10.0, -0.4 * frac_mag))


# --------------------------------------------------------------------------------------
# Training.


def _z_table(cosmology, z_max: float) -> tuple[np.ndarray, float]:
    import sedcore

    dx = math.log1p(z_max) / (_Z_TABLE_SIZE - 1)
    z = np.expm1(dx * np.arange(_Z_TABLE_SIZE))
    with jax.enable_x64(True):
        d = np.array(sedcore.luminosity_distance_mpc(jnp.asarray(z), cosmology), np.float64)
    d[0] = d[1] * 1e-3 if d[0] <= 0 else d[0]  # z = 0 node: never used (z >= training min)
    return np.log(d), dx


def _split(n: int, val_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = max(1, int(round(val_frac * n)))
    return perm[n_val:], perm[:n_val]


def _input_box(x_raw, ok, input_names, prior_ranges) -> tuple[np.ndarray, np.ndarray]:
    """Box of the network inputs: the prior's where it is a uniform range (exactly), else
    the span of the kept training rows ``ok``."""
    lo = np.concatenate([np.ravel(np.min(x_raw[n][ok], axis=0)) for n in input_names])
    hi = np.concatenate([np.ravel(np.max(x_raw[n][ok], axis=0)) for n in input_names])
    k = 0
    for n in input_names:
        size = int(np.prod(np.shape(x_raw[n])[1:])) if np.ndim(x_raw[n]) > 1 else 1
        if n in prior_ranges:
            lo[k : k + size], hi[k : k + size] = prior_ranges[n]
        k += size
    return lo, hi


def _train_mlp(xs, ys, aux, train, val, loss, *, sizes, epochs, batch_size, learning_rate,
               patience, seed, max_seconds, progress, desc):  # fmt: skip
    """Fit an MLP (SiLU) to standardised ``xs -> ys`` with Adam, a warm-up cosine schedule
    and early stopping on the rows ``val``; ``loss(pred, y, aux)`` (``aux``: per-row extra
    arrays, e.g. the cap mask). Returns ``(layers, history, best_val, best_epoch, seconds)``
    with the weights of the best validation epoch as float32 ``((W, b), ...)``."""
    import optax
    from flax import nnx
    from tqdm import tqdm

    class MLP(nnx.Module):
        def __init__(self, sizes, rngs):
            self.layers = nnx.List(
                [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
            )

        def __call__(self, h):
            for i, layer in enumerate(self.layers):
                h = layer(h)
                if i < len(self.layers) - 1:
                    h = jax.nn.silu(h)
            return h

    model = MLP(sizes, nnx.Rngs(seed))
    steps_per_epoch = max(1, len(train) // batch_size)
    total = steps_per_epoch * epochs
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, max(1, total // 50), total, learning_rate * 1e-3
    )
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, xb, yb, ab):
        def loss_fn(m):
            return loss(m(xb), yb, ab)

        value, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return value

    @nnx.jit
    def val_loss(model, xv, yv, av):
        return loss(model(xv), yv, av)

    rng = np.random.default_rng(seed + 1)
    xv, yv, av = jnp.asarray(xs[val]), jnp.asarray(ys[val]), jnp.asarray(aux[val])
    best, best_state, best_epoch, history = np.inf, None, -1, []
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), unit="epoch", desc=desc, disable=not progress)
    for epoch in bar:
        perm = rng.permutation(train)
        losses = []
        for s in range(steps_per_epoch):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            losses.append(step(model, optimizer, jnp.asarray(xs[idx]), jnp.asarray(ys[idx]),
                               jnp.asarray(aux[idx])))  # fmt: skip
        tl = float(np.mean([float(v) for v in losses]))
        vl = float(val_loss(model, xv, yv, av))
        history.append((epoch, tl, vl))
        if vl < best:
            best, best_epoch = vl, epoch
            best_state = jax.tree.map(np.asarray, nnx.state(model, nnx.Param))
        bar.set_postfix(train=f"{tl:.2e}", val=f"{vl:.2e}", best=best_epoch)
        if epoch - best_epoch >= patience:
            break
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    bar.close()
    nnx.update(model, best_state)
    layers = tuple(
        (jnp.asarray(np.asarray(layer.kernel[...]), jnp.float32),
         jnp.asarray(np.asarray(layer.bias[...]), jnp.float32))
        for layer in model.layers
    )  # fmt: skip
    return layers, history, best, best_epoch, round(time.perf_counter() - t0, 1)


def train_photometry_emulator(
    training_set: str | os.PathLike,
    *,
    name: str = "",
    hidden: tuple[int, ...] = (256, 256, 256),
    epochs: int = 300,
    batch_size: int = 1024,
    learning_rate: float = 2e-3,
    val_frac: float = 0.1,
    patience: int = 30,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    z_octaves: int = Z_OCTAVES,
    loss_units: str = "mag",
) -> tuple[PhotometryEmulator, dict[str, Any]]:
    """Train a photometric emulator on a training set made by `simulate`.

    Args:
        training_set: folder of `simulate`.
        name: the emulator's name (recorded in its manifest).
        hidden: widths of the hidden layers.
        epochs: largest number of passes over the training split.
        batch_size: rows per optimisation step.
        learning_rate: peak of the cosine schedule (with 2% warm-up).
        val_frac: fraction of rows held out for early stopping.
        patience: stop after this many epochs without a better validation loss.
        seed: initialisation and shuffling seed.
        max_seconds: stop after this much wall time (the best epoch so far is kept).
        progress: tqdm bar over epochs.
        z_octaves: Fourier octaves of ln(1 + z) added to the inputs (`Z_OCTAVES`; 0 for
            none, as emulators trained before them).
        loss_units: ``"mag"`` (default): the loss weighs every band's error in magnitudes,
            the units of the accuracy goal, alike; ``"standardised"``: in units of each
            band's spread over the training set (the earlier default),
            which weighs the blue bands, whose magnitudes spread most (dropouts), ~5x less
            than the reddest.

    Returns:
        ``(emulator, info)``; ``info`` holds the training history and settings for the
        manifest.
    """
    from ._simulate import SimulationRecipe, read_training_set

    if isinstance(z_octaves, bool) or not isinstance(z_octaves, (int, np.integer)) or not 0 <= z_octaves <= 16:
        raise ValueError(f"train_photometry_emulator: z_octaves must be an integer in 0..16; got {z_octaves!r}.")
    if loss_units not in LOSS_UNITS:
        raise ValueError(f"train_photometry_emulator: loss_units must be one of {LOSS_UNITS}; got {loss_units!r}.")

    data = read_training_set(training_set)
    man = data["manifest"]
    fixed = dict(man["prior"]["fixed"])
    param_names = tuple(man["param_names"])
    input_names = tuple(n for n in param_names if n not in fixed)
    x_raw = {k: np.asarray(v, np.float64) for k, v in data["params"].items()}
    recipe = SimulationRecipe.from_dict(man["recipe"])
    z_hi = dict(man["prior"].get("ranges", {})).get("z", [0.0, recipe.z_max])[1]
    z_octaves, z_span = int(z_octaves), float(np.log1p(z_hi))
    x = _features(input_names, x_raw, z_octaves=z_octaves, z_span=z_span).astype(np.float64)
    lndl, dx = _z_table(recipe.cosmology_model(), recipe.z_max)
    mags = np.asarray(data["mag_ab"], np.float64)
    y_raw = mags - _mag_offset(lndl, dx, x_raw["z"])[:, None]
    y = _cap_np(y_raw)
    capped = y_raw > y  # at the cap: only "at least this faint" is asked of the network
    # One more output: the surviving mass fraction, as -2.5 log10 (a "magnitude", never capped).
    y = np.concatenate([y, -2.5 * np.log10(np.asarray(data["surviving_frac"], np.float64))[:, None]], axis=1)
    ok = np.all(np.isfinite(y), axis=1) & np.all(np.isfinite(x), axis=1)
    x, y = x[ok], y[ok]
    capped = np.concatenate([capped[ok], np.zeros((int(ok.sum()), 1), bool)], axis=1)
    train, val = _split(x.shape[0], val_frac, seed)
    x_mean, x_scale = x[train].mean(0), x[train].std(0) + 1e-12
    # Per-output scale from the uncapped values (capped ones would inflate it).
    free = np.where(capped[train], np.nan, y[train])
    y_mean, y_scale = np.nanmean(free, axis=0), np.nanstd(free, axis=0) + 1e-6
    xs = ((x - x_mean) / x_scale).astype(np.float32)
    ys = ((y - y_mean) / y_scale).astype(np.float32)

    sizes = (xs.shape[1], *hidden, ys.shape[1])
    weights = _output_weights(y_scale, loss_units)
    loss = _loss if weights is None else (lambda p, t, c: _loss(p, t, c, jnp.asarray(weights)))
    layers, history, best, best_epoch, seconds = _train_mlp(
        xs, ys, capped, train, val, loss, sizes=sizes, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, patience=patience, seed=seed, max_seconds=max_seconds,
        progress=progress, desc="train photometry emulator",
    )  # fmt: skip
    lo, hi = _input_box(x_raw, ok, input_names, dict(man["prior"]["ranges"]))
    em = PhotometryEmulator(
        layers=layers,
        x_mean=jnp.asarray(x_mean, jnp.float32), x_scale=jnp.asarray(x_scale, jnp.float32),
        y_mean=jnp.asarray(y_mean, jnp.float32), y_scale=jnp.asarray(y_scale, jnp.float32),
        lo=jnp.asarray(lo, jnp.float32), hi=jnp.asarray(hi, jnp.float32),
        lndl_table=jnp.asarray(lndl, jnp.float32),
        error_mag=jnp.zeros((len(man["filters"]),), jnp.float32), dx=float(dx),
        input_names=input_names, param_names=param_names,
        input_shapes=tuple(tuple(np.shape(x_raw[n])[1:]) for n in input_names),
        filter_names=tuple(man["filters"]), name=name, fixed=_training_fixed(man["prior"]),
        z_octaves=z_octaves, z_span=z_span,
    )  # fmt: skip
    info = {
        "kind": _KIND,
        "name": name,
        "architecture": {"sizes": list(sizes), "activation": "silu", "z_octaves": z_octaves, "z_span": z_span},
        "training": {
            "set_seed": man["seed"], "set_rows": int(ok.sum()), "set_rows_dropped": int((~ok).sum()),
            "val_frac": val_frac, "seed": seed, "epochs_run": len(history),
            "best_epoch": best_epoch, "best_val_loss": best,
            "batch_size": batch_size, "learning_rate": learning_rate, "patience": patience,
            "hidden": list(hidden), "seconds": seconds, "loss_units": loss_units,
        },  # fmt: skip
        "recipe": man["recipe"],
        "prior": man["prior"],
        "cap_mag": CAP_MAG,
        "history": history[-5:],
    }
    return em, info


# --------------------------------------------------------------------------------------
# Validation.


def validate_emulator(em: PhotometryEmulator, test_set: str | os.PathLike) -> dict[str, Any]:
    """Residuals of ``em`` on a held-out training set (never used in training).

    Compares AB magnitudes per band where the exact magnitude is within `CAP_MAG` of the
    galaxy's brightest band (fainter bands are capped by design and are reported only as
    a count), and the surviving mass fraction (``surviving_frac``: |relative error|).

    Returns:
        ``{"n": rows, "bands": {band: {"median", "p68", "p95", "p99", "max", "n"}},
        "capped_fraction": {band: f}}`` of |delta mag|, and the arrays ``dmag`` (n, n_bands;
        NaN where capped).
    """
    from ._simulate import read_training_set

    data = read_training_set(test_set)
    if tuple(data["manifest"]["filters"]) != em.filter_names:
        raise ValueError(
            f"validate_emulator: test set {test_set} has bands {data['manifest']['filters']}, "
            f"the emulator {list(em.filter_names)}."
        )
    params = {k: jnp.asarray(v, jnp.float32) for k, v in data["params"].items()}
    run = jax.jit(jax.vmap(emulated_photometry, in_axes=(None, 0)))
    n = data["mag_ab"].shape[0]
    pred = np.concatenate(
        [np.asarray(run(em, {k: v[i : i + 4096] for k, v in params.items()})) for i in range(0, n, 4096)]
    )
    with np.errstate(divide="ignore"):
        mag_pred = -2.5 * np.log10(pred.astype(np.float64))
    true = np.asarray(data["mag_ab"], np.float64)
    capped = true > np.min(true, axis=1, keepdims=True) + CAP_MAG
    dmag = np.where(capped, np.nan, mag_pred - true)
    out: dict[str, Any] = {"n": int(n), "bands": {}, "capped_fraction": {}}
    for b, band in enumerate(em.filter_names):
        a = np.abs(dmag[:, b][~capped[:, b]])
        out["bands"][band] = {
            "median": float(np.median(a)), "p68": float(np.percentile(a, 68)),
            "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max()), "n": int(a.size),
        }  # fmt: skip
        out["capped_fraction"][band] = float(capped[:, b].mean())
    run_m = jax.jit(jax.vmap(emulated_stellar_masses, in_axes=(None, 0)))
    frac = np.concatenate([
        np.asarray(run_m(em, {k: v[i : i + 4096] for k, v in params.items()}).surviving_mass_msun)
        / 10.0 ** np.asarray(data["params"]["log_mass"][i : i + 4096])
        for i in range(0, n, 4096)
    ])  # fmt: skip
    rel = np.abs(frac / np.asarray(data["surviving_frac"], np.float64) - 1.0)
    out["surviving_frac"] = {
        "median": float(np.median(rel)), "p95": float(np.percentile(rel, 95)),
        "p99": float(np.percentile(rel, 99)), "max": float(rel.max()),
    }  # fmt: skip
    out["dmag"] = dmag
    return out


# --------------------------------------------------------------------------------------
# Files.


def _sha256(path: Path) -> str:
    import sedcore

    return sedcore.sha256_file(path)


def _to_state(em: PhotometryEmulator) -> dict[str, Any]:
    state = {f"layer_{i}": {"w": np.asarray(w), "b": np.asarray(b)} for i, (w, b) in enumerate(em.layers)}
    for key in ("x_mean", "x_scale", "y_mean", "y_scale", "lo", "hi", "lndl_table"):
        state[key] = np.asarray(getattr(em, key))
    return state


def save_emulator(em: PhotometryEmulator, out_dir: str | os.PathLike, info: Mapping[str, Any],
                  accuracy: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    """Write ``weights.msgpack`` (flax serialisation) and ``manifest.json`` to ``out_dir``.

    Both are written to temporary names and renamed when complete; the manifest records
    the weights' sha256, the input and band names, the package versions and, when given,
    the measured accuracy (`validate_emulator` without its arrays).
    """
    import sedcore
    from flax import serialization

    from ._simulate import _versions

    if not isinstance(em, PhotometryEmulator):
        from ._spec_emulator import SpectrumEmulator, save_spectrum_emulator

        if isinstance(em, SpectrumEmulator):
            return save_spectrum_emulator(em, out_dir, info, accuracy)
        raise TypeError(f"save_emulator: expected an emulator; got {type(em).__name__}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with sedcore.atomic_output(out / _WEIGHTS) as tmp:
        Path(tmp).write_bytes(serialization.msgpack_serialize(_to_state(em)))
    manifest = {
        **info,
        "kind": _KIND,
        "name": em.name,
        "input_names": list(em.input_names),
        "input_shapes": [list(sh) for sh in em.input_shapes],
        "param_names": list(em.param_names),
        "filters": list(em.filter_names),
        "dx": em.dx,
        "layer_shapes": [[list(w.shape), list(b.shape)] for w, b in em.layers],
        "weights_file": _WEIGHTS,
        "weights_sha256": _sha256(out / _WEIGHTS),
        "versions": _versions(),
    }
    if accuracy is not None:
        manifest["accuracy"] = {k: v for k, v in accuracy.items() if k != "dmag"}
    with sedcore.atomic_output(out / _MANIFEST) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out


def emulator_manifest_path(name_or_path: str | os.PathLike) -> Path:
    """Path of the ``manifest.json`` of a shipped emulator (by name) or of a folder.

    Raises:
        FileNotFoundError: neither a shipped name nor a folder with a manifest, listing
            the shipped names.
    """
    path = Path(name_or_path)
    if (path / _MANIFEST).is_file():
        return path / _MANIFEST
    shipped = _weights_dir() / str(name_or_path)
    if (shipped / _MANIFEST).is_file():
        return shipped / _MANIFEST
    raise FileNotFoundError(
        f"emulate_sps: emulator {name_or_path!r} is neither a shipped emulator "
        f"({shipped_emulators() or 'none shipped'}) nor a folder with {_MANIFEST}."
    )


def emulator_manifest(name_or_path: str | os.PathLike) -> dict:
    """The manifest of an emulator (`emulator_manifest_path`) as a dict: how it was made
    (``recipe``, ``prior``, ``command``, ``versions``) and its measured ``accuracy``.

    Raises:
        FileNotFoundError: as `emulator_manifest_path`.
        ValueError: a manifest that cannot be read or parsed, naming the file.
    """
    mfile = emulator_manifest_path(name_or_path)
    try:
        return json.loads(mfile.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"emulate_sps: emulator manifest {mfile} cannot be read ({err}).") from err


def load_emulator(name_or_path: str | os.PathLike):
    """Load a shipped emulator by name (`shipped_emulators`) or from a folder.

    Returns a `PhotometryEmulator` or, for a manifest of kind ``"spectrum"``, a
    `emulate_sps.SpectrumEmulator` (bind it to filters with
    `emulate_sps.spectral_photometry_state`).

    Raises:
        FileNotFoundError: unknown name / no manifest, listing the shipped names.
        ValueError: weights that fail their checksum (corrupt or truncated), a manifest
            of another kind or package version, or arrays of the wrong shapes, naming the
            file.
    """
    from flax import serialization

    from importlib.metadata import version

    mfile = emulator_manifest_path(name_or_path)
    path = mfile.parent
    man = emulator_manifest(name_or_path)
    if man.get("kind") not in (_KIND, "spectrum"):
        raise ValueError(
            f"load_emulator: {mfile} is a {man.get('kind')!r} emulator, not 'photometry' or "
            "'spectrum'."
        )
    ours = version("emulate-sps")
    made = man.get("versions", {}).get("emulate-sps")
    if made is None or made.split(".")[:2] != ours.split(".")[:2]:
        raise ValueError(
            f"load_emulator: {mfile} was made with emulate-sps {made}, this is {ours}; "
            "retrain it (emulate-sps train) or install the matching version."
        )
    wfile = path / man["weights_file"]
    if not wfile.is_file() or _sha256(wfile) != man["weights_sha256"]:
        raise ValueError(
            f"load_emulator: {wfile} is missing or does not match the sha256 in {mfile} "
            "(corrupt or truncated); reinstall the package or retrain."
        )
    state = serialization.msgpack_restore(wfile.read_bytes())
    if man["kind"] == "spectrum":
        from ._spec_emulator import _from_state

        return _from_state(state, man, wfile)
    n_layers = len(man["layer_shapes"])
    try:
        layers = []
        for i, (ws, bs) in enumerate(man["layer_shapes"]):
            w, b = np.asarray(state[f"layer_{i}"]["w"]), np.asarray(state[f"layer_{i}"]["b"])
            if list(w.shape) != ws or list(b.shape) != bs:
                raise ValueError(f"layer {i} has shapes {w.shape}, {b.shape}; manifest {ws}, {bs}")
            layers.append((jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)))
        arrays = {k: jnp.asarray(state[k], jnp.float32) for k in
                  ("x_mean", "x_scale", "y_mean", "y_scale", "lo", "hi", "lndl_table")}  # fmt: skip
    except (KeyError, ValueError) as err:
        raise ValueError(f"load_emulator: {wfile} does not match {mfile}: {err}.") from err
    n_out = len(man["filters"]) + 1  # + the surviving mass fraction
    if n_layers == 0 or layers[-1][0].shape[1] != n_out or arrays["y_mean"].shape != (n_out,):
        raise ValueError(
            f"load_emulator: {wfile} has {layers[-1][0].shape[1] if layers else 0} outputs, "
            f"the manifest lists {n_out} filters."
        )
    arch = man.get("architecture", {})
    z_octaves, z_span = int(arch.get("z_octaves", 0)), float(arch.get("z_span", 1.0))
    n_in = sum(max(int(np.prod(sh)), 1) for sh in man["input_shapes"]) + 2 * z_octaves * ("z" in man["input_names"])
    if layers[0][0].shape[0] != n_in or arrays["x_mean"].shape != (n_in,):
        raise ValueError(
            f"load_emulator: {wfile} takes {layers[0][0].shape[0]} inputs; the manifest's inputs "
            f"and z_octaves = {z_octaves} give {n_in}."
        )
    bands = man.get("accuracy", {}).get("bands", {})
    error_mag = [float(bands.get(b, {}).get("p68", 0.0)) for b in man["filters"]]
    return PhotometryEmulator(
        layers=tuple(layers), **arrays, error_mag=jnp.asarray(error_mag, jnp.float32),
        dx=float(man["dx"]),
        input_names=tuple(man["input_names"]), param_names=tuple(man["param_names"]),
        input_shapes=tuple(tuple(sh) for sh in man["input_shapes"]),
        filter_names=tuple(man["filters"]), name=str(man.get("name", "")),
        fixed=_training_fixed(man.get("prior", {})), z_octaves=z_octaves, z_span=z_span,
    )  # fmt: skip


def _training_fixed(prior: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """Parameters a training prior held fixed, but ``log_mass`` (outputs scale with it)."""
    return tuple((str(k), float(v)) for k, v in dict(prior.get("fixed", {})).items() if k != "log_mass")
