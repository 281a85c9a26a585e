"""Training sets for the emulators: draws from documented priors through the exact engine.

A training set is a folder of shards (HDF5, ``shard_00000.h5`` ...) and a ``manifest.json``
that records how it was made (recipe, priors, seed, shard size, package versions) and, per
finished shard, its row count and sha256. Shard ``k`` holds rows ``k * shard_size`` ...;
its parameters come from ``jax.random.fold_in(key(seed), k)`` alone, so a run that is
killed and started again (same settings) recomputes only the shards that are missing or
damaged and gives the same rows: none lost, none duplicated, and the first N rows of a set
do not depend on how many rows were asked for in total. Shards are written to a temporary
name and renamed when complete (`sedcore.atomic_output`); the manifest is rewritten the
same way after each shard.

What a row holds (all per M_sun formed, ``log_mass = 0``; every output scales exactly
with the mass formed, so emulators learn the mass-normalised model and add log mass
analytically):

- ``params/<name>``: the engine parameters (``emulate_sps.param_space`` names; vectors such
  as ``sfh_log_sfr_ratios`` as (n, k) arrays);
- ``mag_ab``: (n, n_bands) AB magnitudes of 1 M_sun formed, in the recipe's filters;
- ``surviving_frac``: surviving stellar mass / mass formed;
- with ``spectra=True`` (or ``"native"``): ``rest_lnu``: (n, n_wave) rest-frame L_nu in
  L_sun/Hz per M_sun formed on the native grid between ``spec_wave_min_aa`` and
  ``spec_wave_max_aa`` (``wave_aa`` in the shard);
- with ``spectra="cells"`` (the spectral emulator's training sets): ``rest_lnu_cells``:
  (n, n_cells) the same rest-frame spectrum averaged over cells of constant width
  `SPEC_CELL_DLNLAM` in ln(lambda) (flux-conserving: the exact integral of the engine's
  piecewise-linear spectrum over each cell, divided by the cell width), cell edges
  ``wave_edges_aa`` (n_cells + 1,) from `spectrum_cell_edges`; about 3x smaller than the
  native spectra between 912 A and 6 micron, and nebular lines fall inside cells.

Priors (`TrainingPrior`, uniform unless said; chosen to cover what fits of real galaxies
need, documented in docs/emulate-sps.md):

=================  ===================  ==============================================
parameter          default              note
=================  ===================  ==============================================
z                  U(0.01, 15)          photometric redshift range of JWST surveys
log_zsol           U(-2.0, 0.19)        inside BC03 (-2.3 to 0.7), Prospector-alpha range
dust2              U(0, 2)              diffuse optical depth at 5500 A (A_V <= 2.2)
dust1              dust2 x U(0, 2)      birth clouds, as a ratio to dust2 (Prospector)
dust_index         U(-1, 0.4)           only for laws with a shape parameter
log_u              U(-4, -1)            ionization parameter, inside the Cloudy grid
gas_log_zsol       U(-2, 0.5)           gas-phase metallicity, inside the Cloudy grid
sigma_kms          100 (fixed)          lines: photometry does not resolve them
sfh_*              the SFH's own prior  continuity: Student-t(0, 0.3, 2) ratios, clipped
                                        to +-5 dex (a bin 1e-5 of its neighbour's SFR)
=================  ===================  ==============================================
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

import numpy as np

__all__ = [
    "SPEC_CELL_DLNLAM",
    "spectrum_cell_edges",
    "TRAINING_FILTER_SETS",
    "SimulationRecipe",
    "TrainingPrior",
    "simulate",
    "read_training_set",
]

#: Named filter sets for emulators (astro-sedpy names).
TRAINING_FILTER_SETS: dict[str, tuple[str, ...]] = {
    # HST/ACS optical + JWST/NIRCam wide and medium bands: the JADES / CEERS configuration
    # of deep JWST fields (20 bands).
    "hst_jwst20": (
        "acs_wfc_f435w", "acs_wfc_f606w", "acs_wfc_f775w", "acs_wfc_f814w", "acs_wfc_f850lp",
        "jwst_f070w", "jwst_f090w", "jwst_f115w", "jwst_f150w", "jwst_f200w", "jwst_f277w",
        "jwst_f356w", "jwst_f444w", "jwst_f182m", "jwst_f210m", "jwst_f335m", "jwst_f410m",
        "jwst_f430m", "jwst_f460m", "jwst_f480m",
    ),  # fmt: skip
}

#: Width in ln(lambda) of the cells of ``spectra="cells"`` training sets (R ~ 1000).
SPEC_CELL_DLNLAM = 1.0e-3

_SHARD_FORMAT = "shard_{:05d}.h5"
_MANIFEST = "manifest.json"
_FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SimulationRecipe:
    """How to build the engine configuration of a training set (JSON-serialisable).

    Attributes:
        grid: SSP grid for `load_ssp_grid` (``"bc03"`` default).
        filters: a name of `TRAINING_FILTER_SETS` or a tuple of astro-sedpy names.
        sfh: ``"continuity"`` (default; Leja et al. 2019 bins at each redshift) or
            ``"dirichlet"``.
        sfh_bins: number of SFH bins (default 7).
        nebular: a model name for `sedcore.load_nebular_model` (``"cloudy"`` default) or
            None for stars only.
        diffuse_law: dust law of the diffuse ISM (``"calzetti"`` default).
        z_max: largest redshift of the configuration (default 15).
        spec_wave_min_aa, spec_wave_max_aa: rest-frame range of stored spectra, Angstrom.

    Further fields, for emulators of other models (e.g. bagpipes' delayed-tau model,
    ``tools/bench/bagpipes_recipe.json``); at their defaults they are left out of
    `to_dict`, so training sets made before they existed keep their settings:

        sfh: also ``"delayed_tau"`` (`sfh_priors.DelayedTau`; age and tau free, the age
            prior cut at the age of the universe today).
        age_sampling_dex: average the grid onto ages 10**(6, 6 + step, ...) yr
            (`resample_age_grid`, bagpipes' sampling with 0.1); None keeps the native ages.
        cosmology: ``{"h0": ..., "om0": ..., "tcmb0_k": ..., "neff": ..., "m_nu_ev":
            [...]}`` (`sedcore.Cosmology` fields; missing ones take its defaults), or
            None for Planck 2018.
        metallicity_rule: ``"log"`` (default) or ``"linear"`` interpolation in
            metallicity (`SynthesisConfig.create`).
        birth_cloud_law: law of the birth clouds (default ``"power_law"``).
        dust_emission: ``"dl07"`` (Draine & Li 2007 templates, parameters
            ``duste_qpah``, ``duste_umin``, ``duste_gamma``) or None.
    """

    grid: str = "bc03"
    filters: str | tuple[str, ...] = "hst_jwst20"
    sfh: str = "continuity"
    sfh_bins: int = 7
    nebular: str | None = "cloudy"
    diffuse_law: str = "calzetti"
    z_max: float = 15.0
    spec_wave_min_aa: float = 500.0
    spec_wave_max_aa: float = 50000.0
    age_sampling_dex: float | None = None
    cosmology: Mapping[str, Any] | None = None
    metallicity_rule: str = "log"
    birth_cloud_law: str = "power_law"
    dust_emission: str | None = None

    def __post_init__(self) -> None:
        if self.sfh not in _RECIPE_SFHS:
            raise ValueError(
                f"SimulationRecipe.sfh must be one of {list(_RECIPE_SFHS)} (binned SFHs follow "
                f"the redshift); got {self.sfh!r}."
            )
        if self.age_sampling_dex is not None and not (
            isinstance(self.age_sampling_dex, (int, float)) and 0 < self.age_sampling_dex <= 1
        ):
            raise ValueError(
                "SimulationRecipe.age_sampling_dex must be None or a step in dex in (0, 1]; "
                f"got {self.age_sampling_dex!r}."
            )
        if self.cosmology is not None:
            import sedcore

            unknown = sorted(set(self.cosmology) - set(sedcore.Cosmology._fields))
            if unknown or "h0" not in self.cosmology or "om0" not in self.cosmology:
                raise ValueError(
                    f"SimulationRecipe.cosmology needs h0 and om0 and takes only the fields of "
                    f"sedcore.Cosmology {list(sedcore.Cosmology._fields)}; got {dict(self.cosmology)}."
                )
        if self.metallicity_rule not in ("log", "linear"):
            raise ValueError(
                f"SimulationRecipe.metallicity_rule must be 'log' or 'linear'; got {self.metallicity_rule!r}."
            )
        if self.dust_emission not in (None, "dl07"):
            raise ValueError(
                f"SimulationRecipe.dust_emission must be None or 'dl07'; got {self.dust_emission!r}."
            )
        if isinstance(self.filters, str) and self.filters not in TRAINING_FILTER_SETS:
            raise ValueError(
                f"SimulationRecipe.filters: unknown filter set {self.filters!r}; known: "
                f"{sorted(TRAINING_FILTER_SETS)}, or give a tuple of astro-sedpy names."
            )
        if not 0 < self.spec_wave_min_aa < self.spec_wave_max_aa:
            raise ValueError(
                "SimulationRecipe: need 0 < spec_wave_min_aa < spec_wave_max_aa; got "
                f"{self.spec_wave_min_aa} and {self.spec_wave_max_aa}."
            )

    @property
    def filter_names(self) -> tuple[str, ...]:
        if isinstance(self.filters, str):
            return TRAINING_FILTER_SETS[self.filters]
        return tuple(self.filters)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["filters"] = d["filters"] if isinstance(d["filters"], str) else list(d["filters"])
        for key, default in _LATER_RECIPE_FIELDS.items():
            if d[key] == default:
                del d[key]  # the settings of sets made before these fields stay the same
        if d.get("cosmology") is not None:
            d["cosmology"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["cosmology"].items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SimulationRecipe":
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(
                f"SimulationRecipe: unknown field(s) {unknown}; known: "
                f"{[f.name for f in dataclasses.fields(cls)]}."
            )
        if isinstance(d.get("filters"), list):
            d["filters"] = tuple(d["filters"])
        return cls(**d)

    def cosmology_model(self):
        """The recipe's `sedcore.Cosmology` (Planck 2018 when ``cosmology`` is None)."""
        import sedcore

        if self.cosmology is None:
            return sedcore.PLANCK18
        c = dict(self.cosmology)
        if "m_nu_ev" in c:
            c["m_nu_ev"] = tuple(float(m) for m in c["m_nu_ev"])
        return sedcore.Cosmology(**c)

    def build_config(self, **options: Any):
        """The `SynthesisConfig` of this recipe (loads the grid, filters, nebular model).

        Args:
            **options: further keyword arguments of `SynthesisConfig.create` that do not
                change the recipe's photometry, e.g. ``spectrum_wave_obs_aa`` and
                ``spectrum_resolution`` for `observed_spectrum` (``pixelfit`` fits a
                spectrum next to emulated photometry that way).
        """
        import sedcore
        import sfh_priors

        from ._dust_emission import load_dl07_templates
        from ._grids import load_ssp_grid, resample_age_grid
        from ._synthesis import SynthesisConfig

        cosmology = self.cosmology_model()
        t_now = float(sedcore.age_of_universe_yr(0.0, cosmology))
        grid = load_ssp_grid(self.grid)
        if self.age_sampling_dex is not None:
            grid = resample_age_grid(grid, t_now, step_dex=float(self.age_sampling_dex))
        if self.sfh == "delayed_tau":
            sfh = sfh_priors.DelayedTau(age_max_yr=t_now)
        else:
            cls = sfh_priors.Continuity if self.sfh == "continuity" else sfh_priors.Dirichlet
            sfh = cls(bin_edges_yr=sfh_priors.Leja19Edges(self.sfh_bins))
        later = {}
        if self.cosmology is not None:
            later["cosmology"] = cosmology
        if self.metallicity_rule != "log":
            later["metallicity_rule"] = self.metallicity_rule
        if self.birth_cloud_law != "power_law":
            later["birth_cloud_law"] = self.birth_cloud_law
        if self.dust_emission == "dl07":
            later["dust_emission"] = load_dl07_templates(dust_model="all")
        return SynthesisConfig.create(
            grid,
            sfh,
            sedcore.load_filters(list(self.filter_names)),
            z_max=self.z_max,
            diffuse_law=self.diffuse_law,
            nebular=sedcore.load_nebular_model(self.nebular) if self.nebular else None,
            **later,
            **options,
        )


#: SFH forms of `SimulationRecipe`.
_RECIPE_SFHS = ("continuity", "dirichlet", "delayed_tau")
#: Fields added to `SimulationRecipe` after its first training sets, with their defaults.
_LATER_RECIPE_FIELDS = {"age_sampling_dex": None, "cosmology": None, "metallicity_rule": "log",
                        "birth_cloud_law": "power_law", "dust_emission": None}  # fmt: skip


_DEFAULT_RANGES = {
    "z": (0.01, 15.0),
    "log_zsol": (-2.0, 0.19),
    "dust2": (0.0, 2.0),
    "dust_index": (-1.0, 0.4),
    "log_u": (-4.0, -1.0),
    "gas_log_zsol": (-2.0, 0.5),
}


@dataclasses.dataclass(frozen=True)
class TrainingPrior:
    """Priors of a training set (see the module docstring for the defaults and why).

    Attributes:
        ranges: ``{name: (low, high)}`` uniform priors; defaults for ``z``,
            ``log_zsol``, ``dust2``, ``dust_index``, ``log_u``, ``gas_log_zsol``.
        dust1_ratio: uniform range of ``dust1 / dust2``.
        fixed: parameters held fixed (``log_mass`` = 0: outputs per M_sun formed;
            ``sigma_kms`` = 100).
        sfh_ratio_clip: SFH log ratios drawn from the SFH's prior are clipped to +- this.
        sfh_age: ``"prior"`` (default): a parametric SFH's ``sfh_age_yr`` from the SFH's
            own prior; ``"log_uniform_universe"``: log-uniform between the SFH's
            ``age_min_yr`` and the age of the universe at each draw's redshift, so every
            draw is a physical age and young ages are as well covered as old ones (for
            emulators of parametric SFHs at known redshift, e.g. bagpipes' delayed tau).
    """

    ranges: tuple[tuple[str, tuple[float, float]], ...] = tuple(_DEFAULT_RANGES.items())
    dust1_ratio: tuple[float, float] = (0.0, 2.0)
    fixed: tuple[tuple[str, float], ...] = (("log_mass", 0.0), ("sigma_kms", 100.0))
    sfh_ratio_clip: float = 5.0
    sfh_age: str = "prior"

    def __post_init__(self) -> None:
        if self.sfh_age not in ("prior", "log_uniform_universe"):
            raise ValueError(
                f"TrainingPrior.sfh_age must be 'prior' or 'log_uniform_universe'; got {self.sfh_age!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        d = {
            "ranges": {k: list(v) for k, v in self.ranges},
            "dust1_ratio": list(self.dust1_ratio),
            "fixed": dict(self.fixed),
            "sfh_ratio_clip": self.sfh_ratio_clip,
        }
        if self.sfh_age != "prior":  # left out at its default: older sets keep their settings
            d["sfh_age"] = self.sfh_age
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainingPrior":
        unknown = sorted(set(d) - {"ranges", "dust1_ratio", "fixed", "sfh_ratio_clip", "sfh_age"})
        if unknown:
            raise ValueError(f"TrainingPrior: unknown field(s) {unknown}.")
        return cls(
            ranges=tuple((k, tuple(v)) for k, v in d["ranges"].items()),
            dust1_ratio=tuple(d["dust1_ratio"]),
            fixed=tuple(d["fixed"].items()),
            sfh_ratio_clip=float(d["sfh_ratio_clip"]),
            sfh_age=str(d.get("sfh_age", "prior")),
        )

    def sample(self, key, config, n: int) -> dict[str, np.ndarray]:
        """``n`` draws of every parameter of ``config`` (numpy float64, engine names)."""
        import jax
        import jax.numpy as jnp
        import sfh_priors

        ranges = dict(self.ranges)
        fixed = dict(self.fixed)
        k_sfh, k_flat = jax.random.split(key)
        sfh = jax.vmap(lambda k: sfh_priors.sample(k, config.sfh))(jax.random.split(k_sfh, n))
        sfh_flat = dict(zip(config.sfh_names, jax.tree_util.tree_leaves(sfh), strict=True))
        out: dict[str, np.ndarray] = {}
        for i, s in enumerate(config.specs):
            k = jax.random.fold_in(k_flat, i)
            if s.name in fixed:
                out[s.name] = np.full((n, *s.shape), float(fixed[s.name]))
            elif s.name in ranges:
                lo, hi = ranges[s.name]
                out[s.name] = np.asarray(jax.random.uniform(k, (n, *s.shape), jnp.float32, lo, hi), np.float64)
            elif s.name == "dust1":
                continue  # after dust2, below
            elif s.name in sfh_flat:
                v = np.asarray(sfh_flat[s.name], np.float64)
                if s.name.startswith("sfh_log_sfr_ratio"):
                    v = np.clip(v, -self.sfh_ratio_clip, self.sfh_ratio_clip)
                out[s.name] = v
            else:
                raise ValueError(
                    f"TrainingPrior: no prior for parameter {s.name!r}; add it to ranges "
                    "(uniform) or fixed."
                )
        if self.sfh_age == "log_uniform_universe" and "sfh_age_yr" in out:
            if "z" not in out:
                raise ValueError("TrainingPrior: sfh_age='log_uniform_universe' needs a redshift.")
            # The engine's own table of the age of the universe (its cosmology).
            table = np.asarray(config.cosmo_log_tuniv, np.float64)
            x = float(config.cosmo_dx) * np.arange(table.shape[0])
            t_univ = np.exp(np.interp(np.log1p(out["z"]), x, table))
            age_min = float(np.asarray(config.sfh.age_min_yr))
            if np.any(t_univ <= age_min):
                raise ValueError(
                    f"TrainingPrior: the universe is younger than the SFH's age_min_yr ({age_min:g} yr) "
                    "at some redshifts of the prior; lower the largest redshift."
                )
            k = jax.random.fold_in(k_flat, len(config.specs) + 1)
            u = np.asarray(jax.random.uniform(k, (n,), jnp.float32), np.float64)
            out["sfh_age_yr"] = age_min * (t_univ / age_min) ** u
        if "dust1" in config.names and "dust1" not in fixed:
            lo, hi = self.dust1_ratio
            k = jax.random.fold_in(k_flat, len(config.specs))
            ratio = np.asarray(jax.random.uniform(k, (n,), jnp.float32, lo, hi), np.float64)
            out["dust1"] = ratio * out.get("dust2", np.ones(n))
        return {name: out[name] for name in config.names}


def spectrum_cell_edges(wave_min_aa: float, wave_max_aa: float,
                        dlnlam: float = SPEC_CELL_DLNLAM) -> np.ndarray:  # fmt: skip
    """Edges of cells of width ``dlnlam`` in ln(lambda) from ``wave_min_aa`` (Angstrom).

    As many whole cells as fit below ``wave_max_aa``:
    ``edges[k] = wave_min_aa * exp(k * dlnlam)``, ``k = 0 .. floor(ln(max/min) / dlnlam)``.
    """
    if not (0 < wave_min_aa < wave_max_aa) or not dlnlam > 0:
        raise ValueError(
            f"spectrum_cell_edges: need 0 < wave_min_aa < wave_max_aa and dlnlam > 0; got "
            f"{wave_min_aa!r}, {wave_max_aa!r}, {dlnlam!r}."
        )
    n = int(math.floor(math.log(wave_max_aa / wave_min_aa) / dlnlam + 1e-9))
    return wave_min_aa * np.exp(dlnlam * np.arange(n + 1))


def _cell_average_matrix(wave_aa: np.ndarray, edges_aa: np.ndarray):
    """Sparse (n_cells, n_wave): spectrum on ``wave_aa`` -> its cell averages in ln(lambda)."""
    from ._photometry import interval_weights

    if edges_aa[0] < wave_aa[0] or edges_aa[-1] > wave_aa[-1]:
        raise ValueError(
            f"spectrum cells {edges_aa[0]:.6g}-{edges_aa[-1]:.6g} A reach outside the SSP grid "
            f"({wave_aa[0]:.6g}-{wave_aa[-1]:.6g} A); narrow spec_wave_min_aa / spec_wave_max_aa."
        )
    widths = np.log(edges_aa[1:] / edges_aa[:-1])
    return interval_weights(wave_aa, edges_aa).multiply(1.0 / widths[:, None]).tocsr()


def _spectra_mode(spectra: Any) -> bool | str:
    """False (none), True (native grid) or "cells" (as recorded in the manifest)."""
    if spectra is False or spectra is None:
        return False
    if spectra is True or spectra == "native":
        return True
    if spectra == "cells":
        return "cells"
    raise ValueError(
        f"simulate: spectra must be False, True / 'native' (native grid) or 'cells' (cell "
        f"averages for the spectral emulator); got {spectra!r}."
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("emulate-sps", "sedcore", "sfh-priors", "emulate-neb", "jax", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _sha256(path: Path) -> str:
    import sedcore

    return sedcore.sha256_file(path)


def _settings(recipe: SimulationRecipe, prior: TrainingPrior, seed: int, shard_size: int,
              spectra: bool | str) -> dict[str, Any]:  # fmt: skip
    out = {
        "format_version": _FORMAT_VERSION,
        "recipe": recipe.to_dict(),
        "prior": prior.to_dict(),
        "seed": int(seed),
        "shard_size": int(shard_size),
        "spectra": spectra,
    }
    if spectra == "cells":
        out["spec_cell_dlnlam"] = SPEC_CELL_DLNLAM
    return out


def _write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    import sedcore

    with sedcore.atomic_output(out_dir / _MANIFEST) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / _MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"training set {out_dir}: {path.name} cannot be read ({err}); remove the folder "
            "or pass another output folder."
        ) from err


def _shard_ok(out_dir: Path, entry: Mapping[str, Any] | None) -> bool:
    if entry is None:
        return False
    path = out_dir / entry["file"]
    return path.is_file() and _sha256(path) == entry["sha256"]


def simulate(
    out_dir: str | os.PathLike,
    n: int,
    *,
    recipe: SimulationRecipe | None = None,
    prior: TrainingPrior | None = None,
    seed: int = 0,
    shard_size: int = 10_000,
    batch_size: int = 500,
    spectra: bool | str = False,
    progress: bool = True,
) -> Path:
    """Simulate (or finish) a training set of ``n`` rows in ``out_dir``.

    Started again on the same folder with the same settings, it keeps the finished shards
    whose checksums match the manifest and computes the rest (a larger ``n`` adds shards;
    the rows already there do not change). Different settings are refused, naming what
    differs.

    Args:
        out_dir: output folder (created).
        n: number of rows (>= 1).
        recipe: the engine configuration (`SimulationRecipe` defaults: BC03, 20
            HST+JWST bands, 7-bin continuity SFH, Cloudy nebular emission, z <= 15).
        prior: `TrainingPrior` (defaults documented in the module docstring).
        seed: base seed; shard ``k`` uses ``fold_in(key(seed), k)``.
        shard_size: rows per shard.
        batch_size: galaxies per vmapped call (memory: ~1 MB each with spectra).
        spectra: also store rest-frame spectra: True (or ``"native"``) on the SSP grid's
            wavelengths, ``"cells"`` as cell averages of width `SPEC_CELL_DLNLAM` in
            ln(lambda) (the spectral emulator's training sets; see the module docstring).
        progress: show a progress bar (tqdm) over rows.

    Returns:
        ``out_dir`` as a Path.
    """
    import jax
    import jax.numpy as jnp
    from tqdm import tqdm

    from ._synthesis import photometry, rest_spectrum, stellar_masses

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"simulate: n must be a positive integer; got {n!r}.")
    for name, v in (("shard_size", shard_size), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"simulate: {name} must be a positive integer; got {v!r}.")
    spectra = _spectra_mode(spectra)
    recipe = recipe or SimulationRecipe()
    prior = prior or TrainingPrior()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(recipe, prior, seed, shard_size, spectra)
    manifest = _read_manifest(out)
    if manifest is not None:
        diff = [k for k in settings if manifest.get(k) != settings[k]]
        if diff:
            raise ValueError(
                f"training set {out} was made with other settings ({', '.join(diff)} differ); "
                "use another folder, or the same settings to resume it."
            )
    else:
        manifest = {**settings, "shards": {}}
    manifest.update(n_requested=int(n), versions=_versions())

    config = recipe.build_config()
    manifest["param_names"] = list(config.names)
    manifest["filters"] = list(config.filter_names)
    manifest["grid"] = config.grid_name
    wave = np.asarray(config.native.wave_aa, np.float64)
    spec_sel = (wave >= recipe.spec_wave_min_aa) & (wave <= recipe.spec_wave_max_aa)
    cell_edges = cell_avg = None
    if spectra == "cells":
        cell_edges = spectrum_cell_edges(recipe.spec_wave_min_aa, recipe.spec_wave_max_aa)
        cell_avg = _cell_average_matrix(wave, cell_edges)
        spec_sel = np.ones_like(spec_sel)  # the whole native spectrum, averaged below
    n_spec = cell_edges.size - 1 if spectra == "cells" else int(spec_sel.sum()) if spectra else 0
    dtype = config.log_age_yr.dtype

    def one(cfg, p):
        phot = photometry(cfg, p)
        masses = stellar_masses(cfg, p)
        frac = masses.surviving_mass_msun / masses.mass_formed_msun
        spec = rest_spectrum(cfg, p)[spec_sel] if spectra else jnp.zeros((0,), dtype)
        return phot, frac, spec

    run = jax.jit(jax.vmap(one, in_axes=(None, 0)))
    n_shards = math.ceil(n / shard_size)
    todo = []
    for k in range(n_shards):
        rows = min(shard_size, n - k * shard_size)
        entry = manifest["shards"].get(str(k))
        if entry is not None and entry["rows"] == rows and _shard_ok(out, entry):
            continue
        todo.append((k, rows))
    done_rows = n - sum(r for _, r in todo)
    bar = tqdm(total=n, initial=done_rows, unit="gal", desc="emulate-sps simulate",
               disable=not progress)  # fmt: skip
    base = jax.random.key(seed)
    for k, rows in todo:
        t0 = time.perf_counter()
        # Draw the whole shard, keep the first `rows`: a partial last shard is a prefix of
        # the full one, so growing n never changes rows already made.
        draws = prior.sample(jax.random.fold_in(base, k), config, shard_size)
        draws = {name: v[:rows] for name, v in draws.items()}
        mags = np.empty((rows, config.n_filters), np.float32)
        frac = np.empty(rows, np.float32)
        spec = np.empty((rows, n_spec), np.float32)
        for start in range(0, rows, batch_size):
            idx = np.minimum(np.arange(start, start + batch_size), rows - 1)
            stop = min(start + batch_size, rows)
            batch = {name: jnp.asarray(v[idx], dtype) for name, v in draws.items()}
            ph, fr, sp = (np.asarray(x) for x in run(config, batch))
            keep = stop - start
            with np.errstate(divide="ignore"):
                mags[start:stop] = -2.5 * np.log10(ph[:keep])
            frac[start:stop] = fr[:keep]
            if cell_avg is not None:
                spec[start:stop] = (cell_avg @ sp[:keep].astype(np.float64).T).T
            else:
                spec[start:stop] = sp[:keep]
            bar.update(keep)
        bad = ~np.isfinite(frac)
        bad |= ~np.all(np.isfinite(mags) | (mags == np.inf), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row = {name: draws[name][i].tolist() for name in draws}
            raise RuntimeError(
                f"simulate: shard {k}, row {i}: the engine returned a non-finite value for "
                f"{row}; this is a bug in the priors or the engine, please report it."
            )
        entry = _write_shard(out, k, draws, mags, frac, spec,
                             wave[spec_sel] if spectra is True else None,
                             config.filter_names, cell_edges)  # fmt: skip
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        manifest["shards"][str(k)] = entry
        _write_manifest(out, manifest)
    bar.close()
    # Shards beyond n (from an earlier, larger request) stay on disk but are not listed.
    manifest["shards"] = {str(k): manifest["shards"][str(k)] for k in range(n_shards)}
    manifest["n"] = int(n)
    _write_manifest(out, manifest)
    return out


def _write_shard(out: Path, k, draws, mags, frac, spec, spec_wave, filter_names,
                 cell_edges=None) -> dict:  # fmt: skip
    import h5py
    import sedcore

    name = _SHARD_FORMAT.format(k)
    with sedcore.atomic_output(out / name) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["shard"] = k
            f.attrs["rows"] = mags.shape[0]
            g = f.create_group("params")
            for pname, v in draws.items():
                g.create_dataset(pname, data=v)
            d = f.create_dataset("mag_ab", data=mags)
            d.attrs["unit"] = "AB mag of 1 M_sun formed"
            d.attrs["filters"] = list(filter_names)
            f.create_dataset("surviving_frac", data=frac)
            if spec_wave is not None:
                f.create_dataset("wave_aa", data=spec_wave)
                s = f.create_dataset("rest_lnu", data=spec)
                s.attrs["unit"] = "L_sun/Hz per M_sun formed (rest frame)"
            if cell_edges is not None:
                f.create_dataset("wave_edges_aa", data=cell_edges)
                s = f.create_dataset("rest_lnu_cells", data=spec)
                s.attrs["unit"] = "L_sun/Hz per M_sun formed (rest frame), cell averages in ln(lambda)"
    return {"file": name, "rows": int(mags.shape[0]), "sha256": _sha256(out / name)}


def read_training_set(path: str | os.PathLike, *, verify: bool = True) -> dict[str, Any]:
    """Read a whole training set written by `simulate` (all shards, in order).

    Args:
        path: the training-set folder.
        verify: check every shard's sha256 against the manifest.

    Returns:
        ``{"manifest": dict, "params": {name: array}, "mag_ab": (n, n_bands),
        "surviving_frac": (n,), ["wave_aa", "rest_lnu"], ["wave_edges_aa",
        "rest_lnu_cells"]}``.

    Raises:
        FileNotFoundError: no manifest (not a training set, or never finished a shard).
        ValueError: a shard missing, truncated or altered, naming the file; an unfinished
            set (fewer rows than requested: run `simulate` again to finish it).
    """
    import h5py

    root = Path(path)
    manifest = _read_manifest(root)
    if manifest is None:
        raise FileNotFoundError(f"{root}: no {_MANIFEST}; not a training set made by simulate.")
    if "n" not in manifest or manifest.get("n") != manifest.get("n_requested"):
        raise ValueError(
            f"training set {root} is unfinished ({sum(e['rows'] for e in manifest['shards'].values())} "
            f"of {manifest.get('n_requested')} rows); run simulate again with the same settings."
        )
    parts: dict[str, list] = {}
    for k in range(len(manifest["shards"])):
        entry = manifest["shards"].get(str(k))
        if entry is None:
            raise ValueError(f"training set {root}: shard {k} is not in the manifest.")
        file = root / entry["file"]
        if not file.is_file():
            raise ValueError(f"training set {root}: {file.name} is missing; run simulate again.")
        if verify and _sha256(file) != entry["sha256"]:
            raise ValueError(
                f"training set {root}: {file.name} does not match its checksum in the manifest "
                "(truncated or altered); delete it and run simulate again to remake it."
            )
        try:
            with h5py.File(file, "r") as f:
                for pname in manifest["param_names"]:
                    parts.setdefault(f"params/{pname}", []).append(f["params"][pname][...])
                for ds in ("mag_ab", "surviving_frac", "rest_lnu", "rest_lnu_cells"):
                    if ds in f:
                        parts.setdefault(ds, []).append(f[ds][...])
                for ds in ("wave_aa", "wave_edges_aa"):
                    if ds in f:
                        parts[ds] = [f[ds][...]]
        except (OSError, KeyError) as err:
            raise ValueError(f"training set {root}: {file.name} cannot be read ({err}).") from err
    out: dict[str, Any] = {"manifest": manifest, "params": {}}
    for key, arrays in parts.items():
        value = arrays[0] if key in ("wave_aa", "wave_edges_aa") else np.concatenate(arrays)
        if key.startswith("params/"):
            out["params"][key[len("params/"):]] = value
        else:
            out[key] = value
    return out
