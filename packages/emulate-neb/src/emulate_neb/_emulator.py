"""`NebularEmulator`: a neural emulator of a `NebularGrid` (sedcore.NebularModel).

Same mapping and call signature as `ExactNebularModel`, with a smooth network in place of
multilinear interpolation, so that gradients have no kinks at grid nodes.

Per SSP age, a multilayer perceptron with smooth activations (silu by default, never ReLU)
maps (log10 age, log10 Z/Z_sun, log10 U), standardised to [-1, 1] and optionally augmented
with Gaussian bumps centred on the grid's age nodes, to standardised outputs:

- the log luminosity of every line per M_sun formed, ``log(L + f)`` with the exact model's
  offset ``f`` (1e-10 of the line's largest value in the training grid), so lines that are
  ~0 stay ~0 and the output is never negative (``max(exp(.) - f, 0)``); H-beta directly,
  the other lines as log ratios to H-beta (ratios vary far less than luminosities, so they
  come out more accurately and consistently, e.g. the Balmer decrement);
- the continuum as ``N x S``: the log of its frequency-integrated luminosity ``N`` and the
  coefficients ``c`` of a PCA of its shape ``S = L_nu / N`` taken relative to a reference
  shape ``M`` (the geometric mean over the training nodes, floored at 1e-3 of the largest
  nu L_nu): ``S = M * (R_mean + c @ B)``. The PCA is weighted to 912 A - 5 micron (weight 1;
  1e-4 elsewhere), where the continuum carries its energy. Being linear in ``c``, the sum
  over a population's SSP ages is one (n_pca x n_wave) product per spectrum. The result is
  clipped at 0.

Populations: as in the exact model, ``emission`` sums over the SSP age bins the mass formed
times the emission per M_sun formed at that age; ages below the youngest node use the
youngest node (and -inf means age 0), ages above ``max_age_yr`` (oldest node + 0.001 dex)
emit nothing. Lines on a wavelength grid are the exact model's pixel-integrated Gaussians
(shared code).

Out-of-domain gas parameters: the emulator's domain is the (sub-)grid it was trained on
(``log_zsol`` and ``log_u`` axes; the shipped ``cloudy_v25`` covers Z <= Z_sun, see the
guide). Outside it, eager calls raise a ValueError and traced calls clip to the edge (zero
gradient in that direction): never extrapolated, like the exact model.

Files (``load_nebular_emulator``): a folder holding ``manifest.json`` and the weights file it
names (``flax.serialization`` msgpack bytes of the network parameters and the PCA tables,
named after its sha256 so that a reader never pairs a manifest with other weights). The
manifest records the format version, the domain, the line names and wavelengths, the PCA
size, the architecture, the training seed, set and split, the grid's checksum, package
versions, the weights' sha256 and the accuracy measured at every node. Loading verifies
the checksum and every array's shape against the manifest and names the file and the part
when something is wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sedcore import NebularEmission

from ._model import AGE_TOLERANCE_DEX, _lines_on_grid, _NebularInputChecks

__all__ = ["NebularEmulator", "load_nebular_emulator", "shipped_emulators"]

FORMAT = "emulate_neb.NebularEmulator"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
#: Activations the emulator can use (all smooth; ReLU would put kinks back).
ACTIVATIONS = {
    "silu": jax.nn.silu, "gelu": jax.nn.gelu, "tanh": jnp.tanh, "softplus": jax.nn.softplus
}
_TABLES = (
    "log_age_yr", "log_zsol", "log_u", "line_wave_aa", "wave_aa", "input_shift",
    "input_scale", "age_rbf_centres", "age_rbf_width", "out_shift", "out_scale",
    "line_log_offset", "line_ref_mask", "cont_ref_shape", "cont_pca_mean", "cont_pca_basis",
)  # fmt: skip
_MANIFEST_KEYS = (
    "format", "format_version", "name", "domain", "line_names", "n_pca", "architecture",
    "training", "grid", "versions", "weights", "accuracy",
)  # fmt: skip


def _weights_dir() -> Path:
    return Path(__file__).resolve().parent / "weights"


def shipped_emulators() -> list[str]:
    """Names of the emulators bundled with the package (folders under ``emulate_neb/weights``)."""
    root = _weights_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST_FILE).is_file())


@jax.tree_util.register_pytree_node_class
class NebularEmulator(_NebularInputChecks):
    """Neural emulator of a nebular grid; implements sedcore.NebularModel.

    Load one with `load_nebular_emulator` (or train one with ``emulate-neb train``). A JAX
    pytree (a few MB of arrays): pass it as an argument of jitted functions.

    Attributes:
        line_names: (n_lines,) tuple of line labels (static).
        line_wave_aa: (n_lines,) rest-frame vacuum wavelengths, Angstrom.
        max_age_yr: SSPs older than this emit no nebular light, yr (static).
        wave_aa: (n_wave,) wavelengths of the continuum, Angstrom.
        log_age_yr, log_zsol, log_u: the axes of the grid the emulator was trained on; the
            ends of ``log_zsol`` and ``log_u`` bound its domain.
        line_window_px: half-width in pixels of each line's window on a wavelength grid
            (static; as in `ExactNebularModel`).
        name: label of the emulator (static).
        activation: name of the hidden-layer activation (static).
        manifest: the manifest it was loaded from, as a JSON string (static; ``{}`` for an
            emulator not loaded from files).

    Example::

        emu = load_nebular_emulator("cloudy_v25")
        lum = emu.ssp_line_lum_lsun(6.3, -0.5, -2.5)   # (n_lines,) L_sun per M_sun formed
    """

    _DATA = (*_TABLES, "kernels", "biases")
    _META = (
        "line_names", "max_age_yr", "line_window_px", "name", "activation", "line_ref", "manifest"
    )  # fmt: skip
    _window_hint = "load_nebular_emulator(..., line_window_px={n})"

    def __init__(
        self,
        tables: dict,
        kernels,
        biases,
        *,
        line_names,
        name: str,
        activation: str = "silu",
        line_ref: int = 0,
        line_window_px: int = 100,
        manifest: str = "{}",
    ):
        """Assemble an emulator from its arrays (use `load_nebular_emulator` instead).

        Args:
            tables: the arrays named in ``_TABLES`` (see the module docstring).
            kernels, biases: per layer, (n_in, n_out) weights and (n_out,) biases.
            line_names: (n_lines,) labels.
            name: label.
            activation: one of ``ACTIVATIONS``.
            line_ref: index of the reference line (H-beta): lines flagged in
                ``tables["line_ref_mask"]`` are predicted as log ratios to it.
            line_window_px: as in `ExactNebularModel`.
            manifest: JSON text of the manifest, kept for reference.
        """
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"NebularEmulator: activation must be one of {sorted(ACTIVATIONS)} (smooth), "
                f"got {activation!r}"
            )
        integer = isinstance(line_window_px, (int, np.integer))
        if not integer or isinstance(line_window_px, bool) or line_window_px < 1:
            raise ValueError(
                f"NebularEmulator: line_window_px must be a positive integer (pixels), got "
                f"{line_window_px!r}"
            )
        dtype = jnp.result_type(float)
        for key in _TABLES:
            setattr(self, key, jnp.asarray(np.asarray(tables[key]), dtype=dtype))
        self.kernels = tuple(jnp.asarray(np.asarray(k), dtype=dtype) for k in kernels)
        self.biases = tuple(jnp.asarray(np.asarray(b), dtype=dtype) for b in biases)
        self.line_names = tuple(str(n) for n in line_names)
        oldest = float(np.asarray(tables["log_age_yr"], dtype=np.float64)[-1])
        self.max_age_yr = float(10.0 ** (oldest + AGE_TOLERANCE_DEX))
        self.line_window_px = int(line_window_px)
        self.name = str(name)
        self.activation = str(activation)
        self.line_ref = int(line_ref)
        self.manifest = str(manifest)

    def __repr__(self) -> str:
        z, u = self.log_zsol, self.log_u
        return (
            f"NebularEmulator(name={self.name!r}, n_lines={len(self.line_names)}, "
            f"n_wave={self.wave_aa.shape[0]}, n_pca={self.cont_pca_basis.shape[0]}, "
            f"hidden={[int(k.shape[1]) for k in self.kernels[:-1]]}, "
            f"activation={self.activation!r}, log_zsol=[{float(z[0]):.3g}, {float(z[-1]):.3g}], "
            f"log_u=[{float(u[0]):.3g}, {float(u[-1]):.3g}], max_age_yr={self.max_age_yr:.4g})"
        )

    @property
    def dtype(self):
        return self.out_scale.dtype

    @property
    def n_lines(self) -> int:
        return len(self.line_names)

    def manifest_dict(self) -> dict:
        """The manifest it was loaded from (domain, training, accuracy...), as a dict."""
        return json.loads(self.manifest)

    # -- kernels behind the public methods of the base class -----------------------------
    def _emission_impl(self, wave, log_age, mass, log_z, log_u, sigma):
        return _emission_kernel(self, wave, log_age, mass, log_z, log_u, sigma)

    def _lines_impl(self, log_age, mass, log_z, log_u):
        return _lines_kernel(self, log_age, mass, log_z, log_u)

    def _ssp_cont_impl(self, log_age, mass, log_z, log_u):
        return _continuum_kernel(self, log_age, mass, log_z, log_u)


def _network(em: NebularEmulator, x: jax.Array) -> jax.Array:
    """(n, 3) raw inputs (log age, log Z, log U) -> (n, n_out) physical outputs."""
    h = (x - em.input_shift) / em.input_scale
    if em.age_rbf_centres.shape[0] > 0:
        bumps = jnp.exp(-0.5 * ((x[:, :1] - em.age_rbf_centres[None, :]) / em.age_rbf_width) ** 2)
        h = jnp.concatenate([h, bumps], axis=-1)
    act = ACTIVATIONS[em.activation]
    for kernel, bias in zip(em.kernels[:-1], em.biases[:-1]):
        h = act(h @ kernel + bias)
    y = h @ em.kernels[-1] + em.biases[-1]
    return y * em.out_scale + em.out_shift


def _ssp_outputs(em: NebularEmulator, log_age, log_z, log_u):
    """Network outputs for each input age, and the 0/1 'emits' mask.

    Ages are clipped to the grid's age range (below the youngest node: the youngest node;
    -inf: age 0, the youngest node) and the gas parameters to the domain.
    """
    nodes = em.log_age_yr
    safe = jnp.where(jnp.isneginf(log_age), nodes[0], log_age)
    emits = (safe <= nodes[-1] + AGE_TOLERANCE_DEX).astype(nodes.dtype)
    age = jnp.clip(safe, nodes[0], nodes[-1])
    z = jnp.clip(log_z, em.log_zsol[0], em.log_zsol[-1])
    u = jnp.clip(log_u, em.log_u[0], em.log_u[-1])
    x = jnp.stack([age, jnp.broadcast_to(z, age.shape), jnp.broadcast_to(u, age.shape)], -1)
    return _network(em, x), emits


def _line_lum_per_msun(em, y):
    """(n, n_lines) L_sun per M_sun formed from network outputs.

    Lines flagged in ``line_ref_mask`` are predicted as log ratios to the reference line
    (H-beta), whose log luminosity carries the steep age evolution of the ionizing output
    common to all lines; ratios vary far less (the Balmer decrement by 5%), so they are
    predicted more accurately and consistently.
    """
    n = em.line_log_offset.shape[0]
    ref = em.line_ref
    log_lum = y[:, :n] + em.line_ref_mask * y[:, ref : ref + 1]
    return jnp.maximum(jnp.exp(log_lum) - em.line_log_offset, 0.0)


def _lines(em, log_age, mass, log_z, log_u):
    y, emits = _ssp_outputs(em, log_age, log_z, log_u)
    return (mass * emits) @ _line_lum_per_msun(em, y)


def _lines_and_continuum(em, log_age, mass, log_z, log_u):
    """Lines (n_lines,) L_sun and continuum on ``em.wave_aa`` (n_wave,) L_sun/Hz."""
    y, emits = _ssp_outputs(em, log_age, log_z, log_u)
    n = em.line_log_offset.shape[0]
    weight = mass * emits
    lines = weight @ _line_lum_per_msun(em, y)
    w = weight * jnp.exp(y[:, n])  # (n_age_in,) frequency-integrated continuum, L_sun
    # The shape is linear in the PCA coefficients: sum over ages first, one product after.
    shape = jnp.sum(w) * em.cont_pca_mean + (w @ y[:, n + 1 :]) @ em.cont_pca_basis
    return lines, jnp.maximum(em.cont_ref_shape * shape, 0.0)


@jax.jit
def _lines_kernel(em, log_age, mass, log_z, log_u):
    return _lines(em, log_age, mass, log_z, log_u)


@jax.jit
def _continuum_kernel(em, log_age, mass, log_z, log_u):
    return _lines_and_continuum(em, log_age, mass, log_z, log_u)[1]


@jax.jit
def _emission_kernel(em, wave, log_age, mass, log_z, log_u, sigma_kms) -> NebularEmission:
    line_lum, cont = _lines_and_continuum(em, log_age, mass, log_z, log_u)
    cont = jnp.interp(wave, em.wave_aa, cont, left=0.0, right=0.0)
    spectrum = cont + _lines_on_grid(em, wave, line_lum, sigma_kms)
    return NebularEmission(lnu_lsun_per_hz=spectrum, line_lum_lsun=line_lum)


# ---------------------------------------------------------------------------------------
# Files


def _sha256(path: Path) -> str:
    import sedcore

    return sedcore.sha256_file(path)


def _resolve(name_or_path) -> Path:
    """The folder holding manifest.json for a shipped name, a folder or a manifest path."""
    if isinstance(name_or_path, str) and name_or_path in shipped_emulators():
        return _weights_dir() / name_or_path
    path = Path(name_or_path)
    if path.is_file() and path.name == MANIFEST_FILE:
        return path.parent
    if path.is_dir():
        if not (path / MANIFEST_FILE).is_file():
            raise FileNotFoundError(
                f"{path / MANIFEST_FILE}: no emulator manifest in this folder (write one with "
                "`emulate-neb train --out DIR`)"
            )
        return path
    raise FileNotFoundError(
        f"nebular emulator {str(name_or_path)!r} not found: not a shipped name "
        f"({shipped_emulators()}) nor a folder holding {MANIFEST_FILE}"
    )


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{path}: cannot be read as a JSON emulator manifest ({err}); the file is corrupt "
            "or truncated. Retrain with `emulate-neb train` or reinstall emulate-neb."
        ) from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(
            f"{path}: not a nebular emulator manifest (format={fmt!r}, expected {FORMAT!r})"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: emulator format_version {manifest.get('format_version')!r}; this emulate-neb "
            f"reads version {FORMAT_VERSION}. Retrain with `emulate-neb train` or install the "
            "matching emulate-neb."
        )
    missing = [k for k in _MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ValueError(f"{path}: manifest lacks {missing} (expected keys {list(_MANIFEST_KEYS)})")
    return manifest


def expected_shapes(manifest: dict) -> dict[str, tuple[int, ...]]:
    """Shapes of every array of the weights file, from the manifest (for validation)."""
    n_lines = len(manifest["line_names"])
    n_wave = int(manifest["domain"]["n_wave"])
    n_pca = int(manifest["n_pca"])
    arch = manifest["architecture"]
    n_rbf = int(arch["age_rbf"])
    dims = [3 + n_rbf, *(int(w) for w in arch["hidden"]), n_lines + 1 + n_pca]
    shapes = {
        "tables/log_age_yr": (int(manifest["domain"]["n_age"]),),
        "tables/log_zsol": (int(manifest["domain"]["n_met"]),),
        "tables/log_u": (int(manifest["domain"]["n_u"]),),
        "tables/line_wave_aa": (n_lines,),
        "tables/wave_aa": (n_wave,),
        "tables/input_shift": (3,),
        "tables/input_scale": (3,),
        "tables/age_rbf_centres": (n_rbf,),
        "tables/age_rbf_width": (),
        "tables/out_shift": (dims[-1],),
        "tables/out_scale": (dims[-1],),
        "tables/line_log_offset": (n_lines,),
        "tables/line_ref_mask": (n_lines,),
        "tables/cont_ref_shape": (n_wave,),
        "tables/cont_pca_mean": (n_wave,),
        "tables/cont_pca_basis": (n_pca, n_wave),
    }
    for i in range(len(dims) - 1):
        shapes[f"network/dense_{i}/kernel"] = (dims[i], dims[i + 1])
        shapes[f"network/dense_{i}/bias"] = (dims[i + 1],)
    return shapes


def _line_ref_index(manifest: dict, manifest_path: Path) -> int:
    ref = manifest["architecture"].get("line_reference")
    if ref is None:
        return 0
    try:
        return [str(n) for n in manifest["line_names"]].index(str(ref))
    except ValueError:
        raise ValueError(
            f"{manifest_path}: architecture.line_reference {ref!r} is not in line_names"
        ) from None


def load_nebular_emulator(
    name_or_path: str | os.PathLike = "cloudy_v25", *, line_window_px: int = 100
) -> NebularEmulator:
    """Load a nebular emulator: a shipped one by name, or a folder written by ``emulate-neb train``.

    Args:
        name_or_path: ``"cloudy_v25"`` (shipped; see `shipped_emulators`), a folder holding
            ``manifest.json`` and its weights file, or the manifest's path.
        line_window_px: half-width in pixels of each line's window (as in
            `ExactNebularModel`).

    Returns:
        The emulator (float32 arrays unless float64 is enabled).

    Raises:
        FileNotFoundError: no such name, folder or weights file (naming it).
        ValueError: naming the file and the part, for a corrupt or truncated manifest or
            weights file (checksum mismatch), an unsupported format version, or arrays whose
            shapes disagree with the manifest (e.g. another line list).
    """
    from flax import serialization

    folder = _resolve(name_or_path)
    manifest_path = folder / MANIFEST_FILE
    manifest = _read_manifest(manifest_path)
    try:
        weights_path = folder / str(manifest["weights"]["file"])
        want_sha = str(manifest["weights"]["sha256"])
        shapes = expected_shapes(manifest)
        names = [str(n) for n in manifest["line_names"]]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{manifest_path}: malformed manifest entry ({err!r})") from err
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: weights file named by {manifest_path} is missing")
    got_sha = _sha256(weights_path)
    if got_sha != want_sha:
        raise ValueError(
            f"{weights_path}: checksum mismatch (sha256 {got_sha[:16]}..., {manifest_path.name} "
            f"says {want_sha[:16]}...): the weights file is corrupt, truncated or not the one "
            "this manifest describes. Retrain with `emulate-neb train` or reinstall emulate-neb."
        )
    try:
        state = serialization.msgpack_restore(weights_path.read_bytes())
    except Exception as err:  # msgpack raises several types for bad bytes
        raise ValueError(f"{weights_path}: cannot be decoded as flax msgpack ({err})") from err
    arrays = {}
    for key, shape in shapes.items():
        node = state
        for part in key.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise ValueError(f"{weights_path}: part {key!r} is missing (expected shape {shape})")
        arr = np.asarray(node)
        if arr.shape != shape:
            raise ValueError(
                f"{weights_path}: part {key!r} has shape {arr.shape}, but {manifest_path.name} "
                f"implies {shape}; the weights and manifest do not belong together"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{weights_path}: part {key!r} holds non-finite values")
        arrays[key] = arr
    n_layers = len(manifest["architecture"]["hidden"]) + 1
    emu = NebularEmulator(
        {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("tables/")},
        [arrays[f"network/dense_{i}/kernel"] for i in range(n_layers)],
        [arrays[f"network/dense_{i}/bias"] for i in range(n_layers)],
        line_names=names,
        name=str(manifest["name"]),
        activation=str(manifest["architecture"]["activation"]),
        line_ref=_line_ref_index(manifest, manifest_path),
        line_window_px=line_window_px,
        manifest=json.dumps(manifest, sort_keys=True),
    )
    return emu
