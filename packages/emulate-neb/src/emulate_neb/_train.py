"""Training, evaluation and saving of `NebularEmulator` (``emulate-neb train``).

Recipe (deterministic for a given seed on a given machine):

1. Domain: the grid's nodes with ``log_zsol <= max_log_zsol`` (default 0: the physically
   complete part of the Cloudy grid, see the guide), optionally a subset of them for
   held-out experiments (``train_mask``).
2. Targets per node, from the training nodes only: ``log(L + f)`` per line (``f`` as in
   the exact model; H-beta directly, the other lines as log ratios to it), ``log N`` of
   the continuum and the coefficients of its weighted shape
   PCA (`NebularEmulator` docstring). Outputs are standardised.
3. Loss, in units of squared fractional error: per line ``(d log L)^2`` with weight
   ``clip(L / (1e-3 L(H-beta)), 0.01, 1)`` (lines weaker than 0.1% of H-beta at that node
   count less), averaged over lines; plus ``(d log N)^2``; plus the mean squared relative
   error of the continuum shape over the PCA band (912 A - 5 micron).
4. Full-batch AdamW (one step per epoch), linear warm-up then cosine decay of the
   learning rate, from a seeded initialisation.
5. Early stopping (off by default: on this grid it measured worse, see the guide): with
   ``val_fraction > 0`` a seeded random share of the training nodes is
   held out; the latest epoch whose validation loss is within ``val_tolerance`` (10%) of
   the best so far is kept, and training stops once the validation loss has stayed above
   that for ``patience`` evaluations. The network is then refitted on all training nodes
   for that many epochs (same seed; warm-up and cosine decay over that length, so the
   refit anneals fully), so the shipped emulator has seen every node; the validation
   losses of the first pass go into the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._emulator import (
    _TABLES,
    ACTIVATIONS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_FILE,
    NebularEmulator,
    _sha256,
)
from ._grid import NebularGrid

__all__ = [
    "EmulatorTrainConfig",
    "every_other_node_mask",
    "node_accuracy",
    "save_nebular_emulator",
    "train_nebular_emulator",
]

_C_AA_PER_S = 2.99792458e18
HBETA = "H 1 4861.32A"
_LOG_OFFSET_REL = 1e-10  # as ExactNebularModel
_SHAPE_FLOOR_REL = 1e-3  # floor of the reference shape, relative to the largest nu L_nu
PCA_BAND_AA = (912.0, 5e4)  # the continuum shape PCA is fitted in this band (weight 1)
_PCA_OUT_OF_BAND_WEIGHT = 1e-4
ACCURACY_BAND_AA = (912.0, 3e4)  # continuum errors are reported in this band
STRONG_LINE_REL_HBETA = 0.01  # "strong": > 1% of H-beta at that node


@dataclasses.dataclass(frozen=True)
class EmulatorTrainConfig:
    """Settings of ``emulate-neb train`` (defaults: the shipped ``cloudy_v25``).

    Attributes:
        hidden: widths of the hidden layers.
        activation: hidden activation, one of ``silu``, ``gelu``, ``tanh``, ``softplus``.
        n_pca: number of continuum shape components.
        age_rbf: add Gaussian bumps centred on the age nodes (width: the mean node spacing)
            to the inputs; helps the network follow the fast age evolution (Wolf-Rayet phase,
            the drop of the ionizing output after 3 Myr) without kinks.
        epochs: maximum number of full-batch steps.
        learning_rate: peak learning rate (AdamW).
        warmup_epochs: linear warm-up length.
        weight_decay: AdamW weight decay.
        val_fraction: share of training nodes held out for early stopping (0, the default:
            none; measured to hurt, see the guide).
        val_tolerance: early stopping keeps the latest epoch whose validation loss is
            within this fraction of the best so far, and stops after ``patience`` checks
            beyond it (the error between nodes flattens long before the fit at the nodes
            stops improving).
        eval_every: epochs between validation evaluations.
        patience: evaluations without improvement before stopping.
        seed: initialisation and validation-split seed.
        max_log_zsol: upper end of the metallicity domain (the grid's nodes above it are
            left out; default 0, i.e. Z <= Z_sun).
    """

    hidden: tuple[int, ...] = (256, 256, 256, 256)
    activation: str = "silu"
    n_pca: int = 48
    age_rbf: bool = True
    epochs: int = 10000
    learning_rate: float = 3e-3
    warmup_epochs: int = 200
    weight_decay: float = 0.0
    val_fraction: float = 0.0
    val_tolerance: float = 0.1
    eval_every: int = 100
    patience: int = 20
    seed: int = 0
    max_log_zsol: float = 0.0

    def validate(self) -> None:
        if not self.hidden or any(int(w) < 1 for w in self.hidden):
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.n_pca < 1:
            raise ValueError(f"n_pca must be >= 1, got {self.n_pca}")
        if self.epochs < 1 or self.eval_every < 1 or self.patience < 1:
            raise ValueError("epochs, eval_every and patience must be >= 1")
        if not self.val_tolerance >= 0:
            raise ValueError(f"val_tolerance must be >= 0, got {self.val_tolerance}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def every_other_node_mask(grid: NebularGrid) -> np.ndarray:
    """(n_age, n_met, n_u) training mask: metallicity index even AND log U index even.

    The held-out nodes (every other metallicity and log U node) are the unseen truth of
    the held-out experiment (tools/bench/bench_nebular_emulator.py).
    """
    z_even = (np.arange(grid.n_met) % 2) == 0
    u_even = (np.arange(grid.n_u) % 2) == 0
    return np.broadcast_to(z_even[None, :, None] & u_even[None, None, :],
                           (grid.n_age, grid.n_met, grid.n_u)).copy()


def domain_grid(grid: NebularGrid, max_log_zsol: float) -> NebularGrid:
    """The grid's nodes with log_zsol <= max_log_zsol (at least two metallicities)."""
    z = np.asarray(grid.log_zsol, dtype=np.float64)
    keep = np.flatnonzero(z <= max_log_zsol + 1e-6)
    if keep.size < 2:
        raise ValueError(
            f"max_log_zsol={max_log_zsol} keeps {keep.size} metallicity node(s) of grid "
            f"{grid.name!r} ({np.round(z, 3).tolist()}); at least two are needed"
        )
    return grid if keep.size == grid.n_met else grid.take_nodes(met_idx=keep)


# ---------------------------------------------------------------------------------------
# Targets


def _continuum_norm(cont: np.ndarray, wave: np.ndarray) -> np.ndarray:
    nu = _C_AA_PER_S / wave
    return np.sum(0.5 * (cont[..., 1:] + cont[..., :-1]) * (nu[:-1] - nu[1:]), axis=-1)


def _prepare(grid: NebularGrid, train: np.ndarray, config: EmulatorTrainConfig) -> dict:
    """Inputs, targets, loss weights and fixed tables from the training nodes (numpy)."""
    x = np.asarray(grid.node_params(), dtype=np.float64)
    lines = np.asarray(grid.line_lum_lsun_per_msun, np.float64).reshape(-1, grid.n_lines)
    cont = np.asarray(grid.cont_lnu_lsun_per_hz_per_msun, np.float64).reshape(-1, grid.n_wave)
    wave = np.asarray(grid.wave_aa, np.float64)
    nu = _C_AA_PER_S / wave
    t = train.reshape(-1)

    offset = _LOG_OFFSET_REL * lines[t].max(axis=0)
    offset[offset <= 0] = 1.0
    log_lines = np.log(lines + offset)
    norm = _continuum_norm(cont, wave)
    if np.any(norm[t] <= 0):
        raise ValueError(f"grid {grid.name!r}: a training node has no nebular continuum")
    shape = cont / norm[:, None]
    floor = _SHAPE_FLOOR_REL * float((shape[t] * nu).max()) / nu
    ref = np.exp(np.log(shape[t] + floor).mean(axis=0))
    rel = shape / ref
    rel_mean = rel[t].mean(axis=0)
    band = (wave > PCA_BAND_AA[0]) & (wave < PCA_BAND_AA[1])
    sqrt_w = np.sqrt(np.where(band, 1.0, _PCA_OUT_OF_BAND_WEIGHT))
    n_pca = min(config.n_pca, int(t.sum()))
    _, _, vt = np.linalg.svd((rel[t] - rel_mean) * sqrt_w, full_matrices=False)
    basis_w = vt[:n_pca]  # orthonormal in the weighted space
    coef = ((rel - rel_mean) * sqrt_w) @ basis_w.T
    basis = basis_w / sqrt_w

    hb = grid.line_index(HBETA) if HBETA in grid.line_names else None
    ref_mask = np.zeros(grid.n_lines)
    if hb is not None:  # other lines as log ratios to H-beta
        ref_mask[:] = 1.0
        ref_mask[hb] = 0.0
    ref_idx = 0 if hb is None else hb
    y_lines = log_lines - ref_mask * log_lines[:, ref_idx : ref_idx + 1]
    y = np.concatenate([y_lines, np.log(norm)[:, None], coef], axis=1)
    out_shift = y[t].mean(axis=0)
    out_scale = y[t].std(axis=0)
    out_scale[out_scale <= 0] = 1.0

    ref_line = lines[:, hb : hb + 1] if hb is not None else lines.max(axis=1, keepdims=True)
    line_w = np.clip(lines / np.maximum(1e-3 * ref_line, 1e-300), 0.01, 1.0)
    # Per-output loss weights in physical units (squared fractional error).
    out_w = np.concatenate([np.full(grid.n_lines, 1.0 / grid.n_lines), [1.0],
                            np.full(n_pca, 1.0 / band.sum())])
    age_nodes = np.asarray(grid.log_age_yr, np.float64)
    lo, hi = x.min(axis=0), x.max(axis=0)
    tables = {
        "log_age_yr": age_nodes,
        "log_zsol": np.asarray(grid.log_zsol, np.float64),
        "log_u": np.asarray(grid.log_u, np.float64),
        "line_wave_aa": np.asarray(grid.line_wave_aa, np.float64),
        "wave_aa": wave,
        "input_shift": 0.5 * (lo + hi),
        "input_scale": 0.5 * (hi - lo),
        "age_rbf_centres": age_nodes if config.age_rbf else np.zeros((0,)),
        "age_rbf_width": np.asarray(float(np.diff(age_nodes).mean())),
        "out_shift": out_shift,
        "out_scale": out_scale,
        "line_log_offset": offset,
        "line_ref_mask": ref_mask,
        "cont_ref_shape": ref,
        "cont_pca_mean": rel_mean,
        "cont_pca_basis": basis.astype(np.float32),
    }
    return {"x": x, "y_std": (y - out_shift) / out_scale, "line_w": line_w, "out_w": out_w,
            "tables": tables, "n_pca": n_pca, "line_ref": ref_idx,
            "line_reference": None if hb is None else grid.line_names[hb]}


def _features(tables: dict, x: np.ndarray) -> np.ndarray:
    """Network inputs: the same transformation as `_emulator._network` (in numpy)."""
    h = (x - tables["input_shift"]) / tables["input_scale"]
    c = tables["age_rbf_centres"]
    if c.size:
        bumps = np.exp(-0.5 * ((x[:, :1] - c[None, :]) / tables["age_rbf_width"]) ** 2)
        h = np.concatenate([h, bumps], axis=1)
    return h


# ---------------------------------------------------------------------------------------
# Network and optimisation (flax nnx + optax)


def _make_mlp(dims, activation, seed):
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List(
                [nnx.Linear(dims[i], dims[i + 1], rngs=rngs) for i in range(len(dims) - 1)]
            )

        def __call__(self, h):
            act = ACTIVATIONS[activation]
            n = len(self.layers)
            for i in range(n - 1):
                h = act(self.layers[i](h))
            return self.layers[n - 1](h)

    return MLP(nnx.Rngs(seed))


def _layer_arrays(model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(lay.kernel[...]), np.asarray(lay.bias[...])) for lay in model.layers]


def _fit(h, y, line_w, out_w, out_scale, ref_mask, ref, config, *, epochs, val=None,
         desc="train", progress=True):
    """Full-batch training; returns (layer arrays, chosen epoch, best val loss, history)."""
    import optax
    from flax import nnx
    from tqdm.auto import tqdm

    dims = [h.shape[1], *config.hidden, y.shape[1]]
    model = _make_mlp(dims, config.activation, config.seed)
    # The schedule spans this fit's epochs: the refit after early stopping anneals fully
    # over the chosen length (truncating a longer schedule would stop at a high rate).
    warmup = min(config.warmup_epochs, max(epochs // 10, 1))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, warmup, max(epochs, warmup + 1), config.learning_rate * 1e-3
    )
    tx = optax.adamw(schedule, weight_decay=config.weight_decay)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    f32 = jnp.float32
    n_lines = ref_mask.shape[0]
    scale = jnp.asarray(out_scale, f32)
    w = jnp.asarray(out_w, f32)
    mask = jnp.asarray(ref_mask, f32)

    def loss_of(m, hh, yy, lw):
        d = (m(hh) - yy) * scale  # physical output errors
        d_lines = d[:, :n_lines] + mask * d[:, ref : ref + 1]  # errors of log L
        lines = jnp.sum(w[:n_lines] * lw * d_lines**2, -1)
        return jnp.mean(lines + jnp.sum(w[n_lines:] * d[:, n_lines:] ** 2, -1))

    @nnx.jit
    def step(m, o, hh, yy, lw):
        loss, grads = nnx.value_and_grad(loss_of)(m, hh, yy, lw)
        o.update(m, grads)
        return loss

    @nnx.jit
    def evaluate(m, hh, yy, lw):
        return loss_of(m, hh, yy, lw)

    data = tuple(jnp.asarray(a, f32) for a in (h, y, line_w))
    vdata = None if val is None else tuple(jnp.asarray(a, f32) for a in val)
    best_val, bad = np.inf, 0
    chosen, chosen_epoch = _layer_arrays(model), 0
    history = []
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, mininterval=1.0,
               unit="epoch", dynamic_ncols=True)
    for epoch in bar:
        loss = step(model, opt, *data)
        if epoch % config.eval_every == 0 or epoch == epochs:
            loss = float(loss)
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} (loss {loss}); lower --lr"
                )
            vloss = float(evaluate(model, *vdata)) if vdata is not None else loss
            history.append((epoch, loss, vloss))
            best_val = min(best_val, vloss)
            # Keep the latest epoch whose validation loss is within val_tolerance of the
            # best: the fit at the nodes keeps improving while the validation loss (error
            # between nodes) is flat; stop once it has been worse for `patience` checks.
            if vloss <= best_val * (1.0 + config.val_tolerance):
                chosen, chosen_epoch, bad = _layer_arrays(model), epoch, 0
            else:
                bad += 1
            bar.set_postfix(loss=f"{loss:.3g}", val=f"{vloss:.3g}" if vdata else "-",
                            refresh=False)
            if vdata is not None and bad >= config.patience:
                break
    bar.close()
    if vdata is None:  # no validation: the last epoch
        chosen, chosen_epoch = _layer_arrays(model), history[-1][0]
    return chosen, chosen_epoch, best_val, history


# ---------------------------------------------------------------------------------------
# Accuracy


def node_accuracy(model, grid: NebularGrid, node_mask: np.ndarray | None = None) -> dict:
    """Fractional errors of a nebular model at grid nodes (against the grid itself).

    Args:
        model: anything with ``ssp_line_lum_lsun`` and ``ssp_cont_lnu_lsun_per_hz`` and the
            grid's line list (a `NebularEmulator` or an `ExactNebularModel`).
        grid: the truth, on the model's domain.
        node_mask: (n_age, n_met, n_u) nodes to evaluate (default: all).

    Returns:
        ``{"n_nodes", "lines_strong": {"median", "p95", "n"}, "lines_0.1-1%": {...},
        "continuum": {"median", "p95", "band_aa"}, "per_line": {name: {"median", "p95",
        "n_nodes"}}}``: lines where they carry > 1% of H-beta at that node (per line and
        pooled), lines between 0.1% and 1% of H-beta (pooled), continuum pixels between
        912 A and 3 micron with non-zero truth.
    """
    mask = np.ones((grid.n_age, grid.n_met, grid.n_u), bool) if node_mask is None else node_mask
    p = np.asarray(grid.node_params(), np.float64)[mask.reshape(-1)]
    lines_t = np.asarray(grid.line_lum_lsun_per_msun, np.float64).reshape(-1, grid.n_lines)
    lines_t = lines_t[mask.reshape(-1)]
    cont_t = np.asarray(grid.cont_lnu_lsun_per_hz_per_msun, np.float64).reshape(-1, grid.n_wave)
    cont_t = cont_t[mask.reshape(-1)]
    pl, pc = _predict_nodes(model, p)
    hb = grid.line_index(HBETA)
    rel = lines_t / lines_t[:, hb : hb + 1]
    err = np.abs(pl / np.where(lines_t > 0, lines_t, 1.0) - 1.0)
    strong = rel > STRONG_LINE_REL_HBETA
    mid = (rel > 1e-3) & ~strong
    wave = np.asarray(grid.wave_aa, np.float64)
    band = (wave > ACCURACY_BAND_AA[0]) & (wave < ACCURACY_BAND_AA[1])
    ct, cp = cont_t[:, band], pc[:, band]
    good = ct > 0
    cerr = np.abs(cp[good] / ct[good] - 1.0)

    def stats(e):
        if e.size == 0:
            return {"median": None, "p95": None, "n": 0}
        return {"median": float(np.median(e)), "p95": float(np.percentile(e, 95)), "n": int(e.size)}

    per_line = {}
    for i, name in enumerate(grid.line_names):
        s = strong[:, i]
        if s.any():
            per_line[name] = {"median": float(np.median(err[s, i])),
                              "p95": float(np.percentile(err[s, i], 95)), "n_nodes": int(s.sum())}
    return {
        "n_nodes": int(mask.sum()),
        "lines_strong": stats(err[strong]),
        "lines_0.1-1%": stats(err[mid]),
        "continuum": {**stats(cerr), "band_aa": list(ACCURACY_BAND_AA)},
        "per_line": per_line,
    }


@jax.jit
def _predict_jit(model, a, z, u):
    def one(a_, z_, u_):
        return model.ssp_line_lum_lsun(a_, z_, u_), model.ssp_cont_lnu_lsun_per_hz(a_, z_, u_)

    return jax.vmap(one)(a, z, u)


def _predict_nodes(model, p: np.ndarray):
    dtype = jnp.result_type(float)
    lines, cont = [], []
    for start in range(0, p.shape[0], 256):  # bounded memory (the continuum is 13216 wide)
        chunk = jnp.asarray(p[start : start + 256], dtype=dtype)
        pl, pc = _predict_jit(model, chunk[:, 0], chunk[:, 1], chunk[:, 2])
        lines.append(np.asarray(pl, np.float64))
        cont.append(np.asarray(pc, np.float64))
    return np.concatenate(lines), np.concatenate(cont)


# ---------------------------------------------------------------------------------------
# Public entry points


def _grid_sha256(grid: NebularGrid) -> str:
    h = hashlib.sha256()
    for key in ("log_age_yr", "log_zsol", "log_u", "line_wave_aa", "line_lum_lsun_per_msun",
                "wave_aa", "cont_lnu_lsun_per_hz_per_msun"):
        h.update(np.ascontiguousarray(np.asarray(getattr(grid, key), np.float64)).tobytes())
    h.update("\n".join(grid.line_names).encode())
    return h.hexdigest()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("emulate-neb", "sedcore", "jax", "flax", "optax", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def train_nebular_emulator(
    grid: NebularGrid,
    config: EmulatorTrainConfig = EmulatorTrainConfig(),
    *,
    train_mask: np.ndarray | None = None,
    holdout: str = "none",
    name: str | None = None,
    progress: bool = True,
) -> NebularEmulator:
    """Train a `NebularEmulator` on a grid (the recipe of the module docstring).

    Args:
        grid: the nebular grid (e.g. ``load_nebular_grid("cloudy")``).
        config: settings; the defaults make the shipped ``cloudy_v25``.
        train_mask: (n_age, n_met, n_u) boolean mask over the nodes of the *domain* grid
            (``log_zsol <= config.max_log_zsol``) to train on; default all. The continuum
            PCA and the output scaling also use only these nodes.
        holdout: label of the split recorded in the manifest (``"none"``, ``"every-other"``).
        name: label of the emulator (default: the grid's name + "-emulator").
        progress: show a tqdm progress bar.

    Returns:
        The trained emulator; its manifest (``emulator.manifest_dict()``) records the
        domain, architecture, training set, validation losses and the accuracy at every node
        of the domain (split into trained and held-out nodes when ``train_mask`` leaves some
        out). Save it with `save_nebular_emulator`.
    """
    config.validate()
    t0 = time.perf_counter()
    dom = domain_grid(grid, config.max_log_zsol)
    shape = (dom.n_age, dom.n_met, dom.n_u)
    train = np.ones(shape, bool) if train_mask is None else np.asarray(train_mask, bool)
    if train.shape != shape:
        raise ValueError(f"train_mask has shape {train.shape}, expected {shape} (the domain grid)")
    if train.sum() < 4:
        raise ValueError(f"train_mask selects {int(train.sum())} nodes; at least 4 are needed")
    data = _prepare(dom, train, config)
    h = _features(data["tables"], data["x"])
    idx = np.flatnonzero(train.reshape(-1))
    n_lines = dom.n_lines
    args = (data["line_w"], data["out_w"], data["tables"]["out_scale"],
            data["tables"]["line_ref_mask"], data["line_ref"], config)

    rng = np.random.default_rng(config.seed)
    phase1 = None
    n_val = int(round(config.val_fraction * idx.size))
    if n_val > 0:
        perm = rng.permutation(idx)
        val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        _, chosen_epoch, best_val, hist = _fit(
            h[fit_idx], data["y_std"][fit_idx], data["line_w"][fit_idx], *args[1:],
            epochs=config.epochs,
            val=(h[val_idx], data["y_std"][val_idx], data["line_w"][val_idx]),
            desc="train (early stopping)", progress=progress,
        )
        val_at = {e: v for e, _, v in hist}
        phase1 = {
            "n_fit_nodes": int(fit_idx.size), "n_val_nodes": int(val_idx.size),
            "chosen_epoch": int(chosen_epoch), "best_val_loss": float(best_val),
            "val_loss_at_chosen": float(val_at[chosen_epoch]), "last_epoch": int(hist[-1][0]),
            "val_tolerance": config.val_tolerance,
        }
        epochs = max(int(chosen_epoch), 1)
    else:
        epochs = config.epochs
    layers, final_epoch, _, hist = _fit(
        h[idx], data["y_std"][idx], data["line_w"][idx], *args[1:], epochs=epochs,
        desc="train (all training nodes)", progress=progress,
    )
    emu = NebularEmulator(
        data["tables"], [k for k, _ in layers], [b for _, b in layers],
        line_names=dom.line_names, name=name or f"{dom.name}-emulator",
        activation=config.activation, line_ref=data["line_ref"],
    )
    if phase1 is not None:
        # Validation errors of the first pass, from a model fitted without those nodes.
        phase1["note"] = "losses in squared fractional error; chosen_epoch sets the refit length"
    accuracy = {"all_nodes": node_accuracy(emu, dom)}
    if not train.all():
        accuracy["trained_nodes"] = node_accuracy(emu, dom, train)
        accuracy["held_out_nodes"] = node_accuracy(emu, dom, ~train)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": emu.name,
        "description": (
            "Neural emulator of nebular line luminosities and continuum per M_sun formed "
            "(L_sun, L_sun/Hz) of SSPs as a function of (log10 age/yr, log10 Z/Z_sun, "
            "log10 U); see docs/emulate-neb.md."
        ),
        "domain": {
            "inputs": ["log_age_yr", "log_zsol", "log_u"],
            "log_age_yr": [float(dom.log_age_yr[0]), float(dom.log_age_yr[-1])],
            "log_zsol": [float(dom.log_zsol[0]), float(dom.log_zsol[-1])],
            "log_u": [float(dom.log_u[0]), float(dom.log_u[-1])],
            "rule": ("log_zsol, log_u outside: ValueError when concrete, clipped under jit; "
                     "ages below the youngest node use it, above max_age_yr emit nothing"),
            "n_age": dom.n_age, "n_met": dom.n_met, "n_u": dom.n_u, "n_wave": dom.n_wave,
            "z_sun": dom.z_sun,
        },
        "line_names": list(dom.line_names),
        "line_wave_aa": [float(v) for v in np.asarray(dom.line_wave_aa, np.float64)],
        "n_pca": int(data["n_pca"]),
        "architecture": {
            "type": "mlp", "hidden": [int(w) for w in config.hidden],
            "activation": config.activation, "age_rbf": int(data["tables"]["age_rbf_centres"].size),
            "outputs": (f"log L(H-beta), {n_lines - 1} log line ratios to H-beta, log N, "
                        f"{data['n_pca']} PCA coefficients"),
            "line_reference": data["line_reference"],
            "continuum": {"pca_band_aa": list(PCA_BAND_AA),
                          "out_of_band_weight": _PCA_OUT_OF_BAND_WEIGHT,
                          "reference_shape_floor_rel": _SHAPE_FLOOR_REL},
        },
        "training": {
            "seed": config.seed, "holdout": holdout,
            "n_domain_nodes": int(np.prod(shape)), "n_train_nodes": int(train.sum()),
            "epochs_max": config.epochs, "epochs_final": int(final_epoch),
            "learning_rate": config.learning_rate, "warmup_epochs": config.warmup_epochs,
            "weight_decay": config.weight_decay, "optimizer": "adamw, warmup + cosine decay",
            "val_fraction": config.val_fraction, "patience": config.patience,
            "eval_every": config.eval_every, "early_stopping": phase1,
            "final_train_loss": float(hist[-1][1]), "wall_s": round(time.perf_counter() - t0, 1),
            "max_log_zsol": config.max_log_zsol,
        },
        "grid": {"name": dom.name, "source_name": grid.name, "sha256": _grid_sha256(dom)},
        "versions": _versions(),
        "weights": {},
        "accuracy": accuracy,
    }
    emu.manifest = json.dumps(manifest, sort_keys=True)
    return emu


def save_nebular_emulator(emulator: NebularEmulator, out_dir) -> Path:
    """Write ``emulator`` as ``out_dir/manifest.json`` plus its weights file, atomically.

    The weights (flax msgpack bytes of the network and tables) are written first under a
    name holding their sha256, then the manifest that names them; each file is renamed into
    place when complete, so a reader sees either the old pair or the new one. Stale weights
    files of earlier runs in ``out_dir`` are then removed.

    Returns:
        The path of the manifest.
    """
    import sedcore
    from flax import serialization

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {
        "tables": {k: np.asarray(getattr(emulator, k)) for k in _TABLES},
        "network": {
            f"dense_{i}": {"kernel": np.asarray(k, np.float32), "bias": np.asarray(b, np.float32)}
            for i, (k, b) in enumerate(zip(emulator.kernels, emulator.biases))
        },
    }
    blob = serialization.to_bytes(state)
    sha = hashlib.sha256(blob).hexdigest()
    weights_name = f"weights-{sha[:12]}.msgpack"
    with sedcore.atomic_output(out / weights_name) as tmp:
        tmp.write_bytes(blob)
    if _sha256(out / weights_name) != sha:
        raise OSError(f"{out / weights_name}: written file does not match its checksum")
    manifest = emulator.manifest_dict()
    manifest["weights"] = {"file": weights_name, "sha256": sha, "bytes": len(blob),
                           "serialization": "flax.serialization.to_bytes (msgpack)"}
    with sedcore.atomic_output(out / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    for stale in out.glob("weights-*.msgpack"):
        if stale.name != weights_name:
            stale.unlink(missing_ok=True)
    return out / MANIFEST_FILE
