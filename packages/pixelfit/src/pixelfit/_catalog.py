"""Whole catalogs on Dask: chunks fitted by workers, written atomically, resumable.

A run lives in one output folder::

    OUT/run.json                 what was fitted and how (checked by --resume)
    OUT/chunks/chunk_00012.ecsv  summary rows of chunk 12: written last, marks it finished
    OUT/posteriors/<id>.nc       ArviZ InferenceData per fitted object (optional)
    OUT/plots/<id>_{sed,sfh,corner}.png   (optional)
    OUT/summary.ecsv, OUT/summary.fits    every row, in input order, when all chunks are done

The catalog is split into chunks of consecutive rows. Each chunk is a Dask task that
rebuilds the `FitModel` from a `ModelSpec` (plain values; cached per worker process, so a
worker compiles once), fits the chunk with `fit_observations` and returns its files as
bytes; the client writes them, each atomically, the chunk's summary last. Object ``row``
always draws from ``fold_in(key(seed), row)`` and chunks and batches are the same on a
rerun, so a run killed at any moment and resumed gives exactly the rows of an
uninterrupted run: none lost, none duplicated.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jax
import numpy as np
import sedcore
import sfh_priors
from astropy.table import Table, vstack

from ._diagnostics import Thresholds
from ._inputs import PreparedObservations, prepare_photometry
from ._model import DEFAULT_NOISE_FLOOR, FitModel, SpectrumSettings
from ._sampler import SamplerSettings

__all__ = ["ModelSpec", "build_fit_model", "fit_catalog", "read_catalog_summary"]

_SFH_BINNED = tuple(sfh_priors.BINNED_MODELS)
_SFH_PARAMETRIC = tuple(sfh_priors.PARAMETRIC_MODELS)
_RUN_FILE = "run.json"
_CHUNK_DIR = "chunks"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The fitted model in plain values, so that every Dask worker can rebuild it.

    Attributes:
        filters: one filter per band, astro-sedpy names or two-column files (absolute
            paths: workers must see them); with ``emulator`` its bands (or a subset of
            them, in any order, for the catalog's columns).
        emulator: a shipped emulator name or folder (`emulate_sps.load_emulator`) used as
            the forward model: a photometric emulator (its bands only) or a rest-frame
            spectral emulator (any filters, projected at each redshift); None (default)
            uses the exact engine. Its training recipe fixes the model (``sfh`` must be
            the recipe's; its cosmology is used, and what its training held fixed stays
            fixed), e.g. an emulator of bagpipes' delayed-tau model (``sfh="delayed_tau"``).
        grid: SSP grid for the exact engine (``"bc03"``).
        sfh: ``"continuity"`` (default; Leja et al. 2019 bins at each redshift),
            ``"dirichlet"``, or a parametric form (``"delayed_tau"``, ``"tau"``, ...).
        sfh_bins: bins of the non-parametric SFHs (default 7).
        nebular: nebular model name (`sedcore.load_nebular_model`, ``"cloudy"`` default)
            or None.
        free_redshift: fit the redshift with a uniform prior on [z_min, z_max].
        z_min, z_max: redshift prior range when free; ``z_max`` also bounds fixed
            redshifts (rows above it are skipped and flagged).
        noise_floor: fractional model-flux error floor (default 0.05).
        emulator_error: add the emulator's measured error to the noise floor.
        spectrum_wave_aa: observed (vacuum) wavelengths in Angstrom of the spectra fitted
            with the photometry, one grid for every row (`read_spectra`); None (default)
            fits photometry alone. The model spectrum is the exact engine's, whatever
            ``emulator`` is (see `SpectrumSettings`).
        spectrum_resolution: the spectra's resolving power R = lambda / FWHM (a constant),
            or None if unknown (the free velocity dispersion then absorbs it).
        spectrum_sigma_max_kms: largest total broadening modelled (default 1000 km/s).
        spectrum_calibration_order: degree of the calibration polynomial (default 2).
        spectrum_jitter: fit a factor on the spectra's errors (default True).
        spectrum_noise_floor: fractional error floor on the model spectrum (default 0).
    """

    filters: tuple[str, ...]
    emulator: str | None = None
    grid: str = "bc03"
    sfh: str = "continuity"
    sfh_bins: int = 7
    nebular: str | None = "cloudy"
    free_redshift: bool = False
    z_min: float = 0.0
    z_max: float = 12.0
    noise_floor: float = DEFAULT_NOISE_FLOOR
    emulator_error: bool = True
    spectrum_wave_aa: tuple[float, ...] | None = None
    spectrum_resolution: float | None = None
    spectrum_sigma_max_kms: float = 1000.0
    spectrum_calibration_order: int = 2
    spectrum_jitter: bool = True
    spectrum_noise_floor: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(str(f) for f in self.filters))
        if self.spectrum_wave_aa is not None:
            wave = np.asarray(self.spectrum_wave_aa, dtype=np.float64)
            if wave.ndim != 1 or wave.size < 2 or not np.all(np.isfinite(wave) & (wave > 0)):
                raise ValueError(
                    "ModelSpec.spectrum_wave_aa must be >= 2 finite wavelengths > 0 (Angstrom); "
                    f"got shape {wave.shape}."
                )
            if np.any(np.diff(wave) <= 0):
                raise ValueError("ModelSpec.spectrum_wave_aa must be strictly increasing.")
            object.__setattr__(self, "spectrum_wave_aa", tuple(float(w) for w in wave))
        # the spectrum settings' own checks, before any worker builds the model
        self.spectrum_settings()
        if not self.filters:
            raise ValueError("ModelSpec.filters: give at least one filter (one per band).")
        if self.sfh not in _SFH_BINNED and self.sfh not in _SFH_PARAMETRIC:
            raise ValueError(
                f"ModelSpec.sfh must be one of {sorted((*_SFH_BINNED, *_SFH_PARAMETRIC))}; "
                f"got {self.sfh!r}."
            )
        if self.sfh in _SFH_BINNED and self.sfh_bins < 4:
            raise ValueError(
                f"ModelSpec.sfh_bins must be >= 4 (Leja+19 bins); got {self.sfh_bins}."
            )
        if not (0.0 <= self.z_min < self.z_max):
            raise ValueError(
                f"ModelSpec: need 0 <= z_min < z_max; got z_min={self.z_min}, z_max={self.z_max}."
            )

    @property
    def fits_spectrum(self) -> bool:
        """Whether a spectrum is fitted with the photometry."""
        return self.spectrum_wave_aa is not None

    def spectrum_settings(self) -> SpectrumSettings | None:
        """The `SpectrumSettings` of the spectrum likelihood, or None without spectra."""
        if not self.fits_spectrum:
            return None
        res = self.spectrum_resolution
        if res is not None and not (isinstance(res, (int, float)) and math.isfinite(res) and res > 0):
            raise ValueError(f"ModelSpec.spectrum_resolution must be a number > 0 or None; got {res!r}.")
        sig = self.spectrum_sigma_max_kms
        if not (isinstance(sig, (int, float)) and math.isfinite(sig) and sig > 0):
            raise ValueError(f"ModelSpec.spectrum_sigma_max_kms must be a number > 0; got {sig!r}.")
        base = SpectrumSettings()
        return SpectrumSettings(
            calibration_order=self.spectrum_calibration_order,
            jitter_prior=base.jitter_prior if self.spectrum_jitter else None,
            noise_floor=self.spectrum_noise_floor,
        ).check()

    def config_options(self) -> dict[str, Any]:
        """Keyword arguments of `SynthesisConfig.create` for the spectrum (empty without)."""
        if not self.fits_spectrum:
            return {}
        return {
            "spectrum_wave_obs_aa": np.asarray(self.spectrum_wave_aa, dtype=np.float64),
            "spectrum_resolution": self.spectrum_resolution,
            "spectrum_sigma_max_kms": self.spectrum_sigma_max_kms,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain values (``run.json``); the spectrum fields only when spectra are fitted, so
        the record of a photometry-only run is what it was before they existed."""
        d = dataclasses.asdict(self) | {"filters": list(self.filters)}
        if self.spectrum_wave_aa is not None:
            d["spectrum_wave_aa"] = list(self.spectrum_wave_aa)
        else:
            d = {k: v for k, v in d.items() if not k.startswith("spectrum_")}
        return d


def _sfh_model(spec: ModelSpec):
    return sfh_priors.model_from_name(spec.sfh, spec.sfh_bins)


def _emulator_recipe(name_or_path: str) -> dict[str, Any]:
    """The training recipe recorded in an emulator's manifest (its model)."""
    import emulate_sps

    manifest = emulate_sps.emulator_manifest(name_or_path)
    if "recipe" not in manifest:
        raise ValueError(
            f"emulator {name_or_path!r}: its manifest "
            f"({emulate_sps.emulator_manifest_path(name_or_path)}) has no training recipe; "
            "give a shipped name (emulate_sps.shipped_emulators()) or a folder made by "
            "`emulate-sps train`."
        )
    return manifest["recipe"]


@functools.lru_cache(maxsize=4)
def build_fit_model(spec: ModelSpec) -> FitModel:
    """The `FitModel` of ``spec`` (cached: one per process and spec).

    Loads the grid, filters and nebular model (or the emulator and the configuration of
    the model it was trained on), with the default priors of `FitModel.create`.
    """
    import emulate_sps
    import numpyro.distributions as dist

    z_prior = dist.Uniform(spec.z_min, spec.z_max) if spec.free_redshift else None
    sfh = _sfh_model(spec)
    if spec.emulator is not None:
        em = emulate_sps.load_emulator(spec.emulator)
        recipe = emulate_sps.SimulationRecipe.from_dict(_emulator_recipe(spec.emulator))
        spectral = getattr(emulate_sps, "SpectrumEmulator", None)
        if spectral is not None and isinstance(em, spectral):
            # A rest-frame spectral emulator: photometry in the catalog's own filters.
            if spec.sfh != recipe.sfh or spec.sfh_bins != recipe.sfh_bins:
                raise ValueError(
                    f"emulator {spec.emulator!r} was trained with sfh={recipe.sfh!r}, "
                    f"sfh_bins={recipe.sfh_bins}; got sfh={spec.sfh!r}, sfh_bins={spec.sfh_bins}."
                )
            state = emulate_sps.spectral_photometry_state(em, list(spec.filters), z_max=spec.z_max)
            config = dataclasses.replace(recipe, filters=tuple(spec.filters), z_max=spec.z_max)
            config = config.build_config(**spec.config_options())
            return _fit_model_of(config, sfh, spec, z_prior, forward_state=state,
                                 cosmology=recipe.cosmology_model())  # fmt: skip
        unknown = [f for f in spec.filters if f not in em.filter_names]
        if unknown:
            raise ValueError(
                f"filters {unknown} are not bands of emulator {spec.emulator!r} "
                f"({list(em.filter_names)}); fit them with the exact engine or a spectral "
                "emulator instead."
            )
        if spec.sfh != recipe.sfh or spec.sfh_bins != recipe.sfh_bins:
            raise ValueError(
                f"emulator {spec.emulator!r} was trained with sfh={recipe.sfh!r}, "
                f"sfh_bins={recipe.sfh_bins}; got sfh={spec.sfh!r}, sfh_bins={spec.sfh_bins}."
            )
        if spec.z_max > recipe.z_max:
            raise ValueError(
                f"z_max={spec.z_max} exceeds the emulator's training range (z <= {recipe.z_max})."
            )
        config = dataclasses.replace(recipe, filters=tuple(em.filter_names))
        config = config.build_config(**spec.config_options())
        return _fit_model_of(config, sfh, spec, z_prior, forward_state=em, cosmology=recipe.cosmology_model())
    config = emulate_sps.SynthesisConfig.create(
        emulate_sps.load_ssp_grid(spec.grid),
        sfh,
        sedcore.load_filters(list(spec.filters)),
        z_max=spec.z_max,
        nebular=sedcore.load_nebular_model(spec.nebular) if spec.nebular else None,
        **spec.config_options(),
    )
    return _fit_model_of(config, sfh, spec, z_prior)


def _fit_model_of(config, sfh, spec: ModelSpec, z_prior, forward_state=None, cosmology=None) -> FitModel:
    return FitModel.create(
        config,
        sfh,
        z_prior=z_prior,
        noise_floor=spec.noise_floor,
        forward_state=forward_state,
        emulator_error=spec.emulator_error,
        spectrum=spec.spectrum_settings(),
        cosmology=cosmology,
    )


def _digest(prepared: PreparedObservations) -> str:
    """sha256 of what is fitted: fluxes, errors, masks, redshifts, ids, flags."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(prepared.obs):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    h.update(json.dumps([str(i) for i in np.asarray(prepared.ids)]).encode())
    h.update(np.ascontiguousarray(prepared.band_flags).tobytes())
    h.update(np.ascontiguousarray(prepared.row_flags).tobytes())
    h.update(json.dumps(list(prepared.band_names)).encode())
    return h.hexdigest()


def _file_stems(ids: np.ndarray) -> list[str]:
    """File names per object: the id made filename-safe, or ``row_NNNNNN`` if not unique."""
    stems = [re.sub(r"[^A-Za-z0-9_.+-]", "_", str(i)) or "_" for i in ids]
    if len(set(stems)) != len(stems):
        width = max(6, len(str(len(ids))))
        return [f"row_{r:0{width}d}" for r in range(len(ids))]
    return stems


def _fit_chunk(
    spec: ModelSpec,
    settings: SamplerSettings,
    thresholds: Thresholds,
    seed: int,
    rows: np.ndarray,
    chunk: PreparedObservations,
    stems: list[str],
    batch_size: int,
    posteriors: bool,
    plots: bool,
) -> dict[str, bytes]:
    """Fit one chunk (runs on a Dask worker); return ``{relative path: file bytes}``."""
    import jax

    from ._outputs import summary_table, to_inference_data, write_inference_data
    from ._run import fit_observations
    from ._sampler import object_keys

    fit = build_fit_model(spec)
    keys = object_keys(jax.random.key(seed), rows)
    results = fit_observations(
        keys, fit, chunk, settings, batch_size=batch_size, thresholds=thresholds, progress=False
    )
    table = summary_table(results)
    table["row"] = np.asarray(rows, dtype=np.int64)
    table.meta["chunk_fit_seconds"] = round(float(results.seconds), 3)
    files: dict[str, bytes] = {}
    curves = sedcore.load_filters(list(spec.filters)) if plots else None  # once per chunk
    with tempfile.TemporaryDirectory(prefix="pixelfit_chunk_") as tmp:
        tmp = Path(tmp)
        for local in results.rows:
            if posteriors:
                path = write_inference_data(
                    to_inference_data(results, int(local)), tmp / f"{stems[local]}.nc"
                )
                files[f"posteriors/{path.name}"] = path.read_bytes()
            if plots:
                from ._plots import plot_all

                written = plot_all(results, int(local), tmp, stems[local], filters=curves)
                for path in written.values():
                    files[f"plots/{Path(path).name}"] = Path(path).read_bytes()
        table.write(tmp / "summary.ecsv", format="ascii.ecsv")
        files["summary"] = (tmp / "summary.ecsv").read_bytes()
    return files


def _write_bytes(path: Path, data: bytes) -> None:
    with sedcore.atomic_output(path) as tmp:
        Path(tmp).write_bytes(data)


def default_workers() -> int:
    """Threads of the local cluster by default: the CPU cores on a CPU backend, else 1."""
    import jax

    if jax.default_backend() != "cpu":
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _run_record(spec, prepared, settings, thresholds, seed, chunk_size, batch_size, min_bands,
                posteriors, plots, source) -> dict[str, Any]:  # fmt: skip
    import jax

    import emulate_sps

    return {
        "input": {"source": source, "sha256": _digest(prepared), "n_rows": len(prepared)},
        "model": spec.to_dict(),
        "settings": settings._asdict(),
        "thresholds": thresholds._asdict(),
        "seed": int(seed),
        "chunk_size": int(chunk_size),
        "batch_size": int(batch_size),
        "min_bands": int(min_bands),
        "outputs": {"posteriors": bool(posteriors), "plots": bool(plots)},
        # the emulator's manifest (it holds the weights' checksum): retrained weights under
        # the same name make a resume refuse instead of mixing two models
        "emulator_manifest_sha256": (
            sedcore.sha256_file(emulate_sps.emulator_manifest_path(spec.emulator)) if spec.emulator else None
        ),
        "versions": {
            "pixelfit": version("pixelfit"),
            "emulate_sps": emulate_sps.__version__,
            "sedcore": sedcore.__version__,
            "jax": jax.__version__,
        },
    }


def _check_resume(out: Path, record: dict[str, Any]) -> None:
    path = out / _RUN_FILE
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(
            f"--resume: cannot read {path} ({err}); it is not a pixelfit run folder."
        ) from err
    keys = [k for k in record if k != "input"]
    diff = [k for k in keys if old.get(k) != record[k]]
    if old.get("input", {}).get("sha256") != record["input"]["sha256"]:
        diff.insert(0, "input (fluxes, errors, masks, redshifts or ids differ)")
    if diff:
        raise ValueError(
            f"--resume: {out} holds a run made with different {', '.join(diff)}; a resumed run "
            "must repeat the same input and options (see its run.json), or use another --out."
        )


def _finished_chunks(out: Path, bounds: list[tuple[int, int]]) -> set[int]:
    done = set()
    for k, (a, b) in enumerate(bounds):
        path = out / _CHUNK_DIR / f"chunk_{k:05d}.ecsv"
        if not path.is_file():
            continue
        try:
            rows = np.asarray(Table.read(path, format="ascii.ecsv")["row"])
        except Exception:  # noqa: BLE001 - unreadable: fit it again
            continue
        if np.array_equal(rows, np.arange(a, b)):
            done.add(k)
    return done


def read_catalog_summary(out_dir: str | os.PathLike) -> Table:
    """The summary of a finished (or partly finished) run: its chunks' rows, in row order.

    ``meta["fit_seconds_total"]`` is the fits' wall-clock time summed over the chunks
    (compilation included), whatever the number of resumed runs it took.
    """
    out = Path(out_dir)
    paths = sorted((out / _CHUNK_DIR).glob("chunk_*.ecsv"))
    if not paths:
        raise FileNotFoundError(f"{out}: no finished chunks ({out / _CHUNK_DIR}/chunk_*.ecsv).")
    tables = [Table.read(p, format="ascii.ecsv") for p in paths]
    table = vstack(tables, metadata_conflicts="silent")
    table.meta = dict(tables[0].meta)
    table.meta.pop("chunk_fit_seconds", None)
    # wall-clock seconds of the fits (compilation included), summed over chunks and runs
    table.meta["fit_seconds_total"] = round(
        sum(float(t.meta.get("chunk_fit_seconds", np.nan)) for t in tables), 3
    )
    order = np.argsort(np.asarray(table["row"]), kind="stable")
    return table[order]


def fit_catalog(
    photometry: sedcore.Photometry,
    spec: ModelSpec,
    out_dir: str | os.PathLike,
    *,
    settings: SamplerSettings = SamplerSettings(),
    thresholds: Thresholds = Thresholds(),
    seed: int = 0,
    chunk_size: int = 64,
    batch_size: int = 8,
    min_bands: int = 3,
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    posteriors: bool = True,
    plots: bool = False,
    progress: bool | None = None,
    source: str | None = None,
    spectrum: sedcore.Spectrum | None = None,
) -> Table:
    """Fit every row of a catalog on Dask, chunk by chunk, into ``out_dir``.

    Args:
        photometry: the catalog (``sedcore.read_photometry``), bands named as
            ``spec.filters`` (or a subset of the emulator's bands).
        spec: the `ModelSpec`.
        out_dir: output folder (created). A folder that already holds a run is refused
            unless ``resume``.
        settings, thresholds: `SamplerSettings` and `Thresholds`.
        seed: object ``row`` uses ``fold_in(jax.random.key(seed), row)``.
        chunk_size: rows per Dask task (default 64).
        batch_size: objects per compiled vmapped batch inside a task (default 8).
        min_bands: rows with fewer usable bands are skipped and flagged (default 3).
        scheduler: address of a running Dask scheduler (its workers must import pixelfit
            and read the filter files); None starts an in-process local cluster.
        workers: worker threads of the local cluster, each fitting its own batch. Default:
            one per CPU core when JAX runs on the CPU (a fit's small matrix products use one
            core each, so one thread leaves the others idle), one on a GPU.
        resume: continue a killed run in ``out_dir``: finished chunks are kept, the rest
            fitted; the input and every option must be the same (checked).
        posteriors: write ``posteriors/<id>.nc`` per fitted object (default True).
        plots: write ``plots/<id>_{sed,sfh,corner}.png`` per fitted object (default False).
        progress: progress bar (objects); None shows it on a terminal only.
        source: description of the input for run.json (e.g. the file path).
        spectrum: the rows' spectra when ``spec`` fits spectra (``spec.spectrum_wave_aa``):
            a ``sedcore.Spectrum`` of shape (n_rows, n_wave) on those wavelengths
            (`read_spectra` makes one from a folder of files); rows whose pixels are all
            masked are fitted on their photometry and flagged ``flag_no_spectrum``.

    Returns:
        The summary table (also written to ``summary.ecsv`` and ``summary.fits``).

    Raises:
        ValueError: bad options, bands not in the model, a folder holding another run.
        RuntimeError: a chunk failed (the others are written; rerun with ``resume``).
    """
    from tqdm.auto import tqdm

    settings = settings.check()
    if workers is None:
        workers = default_workers()
    sizes = (("chunk_size", chunk_size), ("batch_size", batch_size), ("workers", workers))
    for name, value in sizes:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
    if not isinstance(photometry, sedcore.Photometry):
        raise TypeError(
            f"photometry must be a sedcore.Photometry (sedcore.read_photometry); got "
            f"{type(photometry).__name__}."
        )
    if spec.fits_spectrum and spectrum is None:
        raise ValueError(
            "spec fits spectra (ModelSpec.spectrum_wave_aa is set): pass spectrum= (one per "
            "row, pixelfit.read_spectra) or build the ModelSpec without spectrum_wave_aa."
        )
    if spectrum is not None and not spec.fits_spectrum:
        raise ValueError(
            "spectrum was given but the ModelSpec fits photometry only: set "
            "ModelSpec(spectrum_wave_aa=<the spectra's wavelengths>, spectrum_resolution=R)."
        )
    fit = build_fit_model(spec)
    prepared = prepare_photometry(fit, photometry, min_bands=min_bands, spectrum=spectrum)
    out = Path(out_dir)
    record = _run_record(spec, prepared, settings, thresholds, seed, chunk_size, batch_size,
                         min_bands, posteriors, plots, source)  # fmt: skip
    if (out / _RUN_FILE).exists():
        if not resume:
            raise ValueError(
                f"{out} already holds a pixelfit run ({out / _RUN_FILE}); continue it with "
                "resume=True (--resume) or choose another output folder."
            )
        _check_resume(out, record)
    else:
        out.mkdir(parents=True, exist_ok=True)
        _write_bytes(out / _RUN_FILE, json.dumps(record, indent=1).encode())
    (out / _CHUNK_DIR).mkdir(exist_ok=True)
    if posteriors:
        (out / "posteriors").mkdir(exist_ok=True)
    if plots:
        (out / "plots").mkdir(exist_ok=True)

    n = len(prepared)
    bounds = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
    done = _finished_chunks(out, bounds)
    todo = [k for k in range(len(bounds)) if k not in done]
    stems = _file_stems(np.asarray(prepared.ids))
    fitted = prepared.fitted
    n_todo = int(sum(fitted[a:b].sum() for k, (a, b) in enumerate(bounds) if k in todo))
    start = time.perf_counter()
    failures: list[tuple[int, str]] = []
    if todo:
        from distributed import Client, LocalCluster, as_completed

        if scheduler is None:
            cluster = LocalCluster(
                n_workers=1, threads_per_worker=workers, processes=False, dashboard_address=None
            )
            client = Client(cluster)
        else:
            cluster, client = None, Client(scheduler)
        bar = tqdm(total=n_todo, desc="pixelfit catalog", unit="obj",
                   disable=(None if progress is None else not progress))  # fmt: skip
        try:
            futures = {}
            for k in todo:
                a, b = bounds[k]
                rows = np.arange(a, b)
                fut = client.submit(
                    _fit_chunk, spec, settings, thresholds, seed, rows, prepared.subset(rows),
                    stems[a:b], batch_size, posteriors, plots,
                    key=f"pixelfit-chunk-{k:05d}-{record['input']['sha256'][:12]}", pure=False,
                )  # fmt: skip
                futures[fut] = k
            for fut in as_completed(futures):
                k = futures[fut]
                a, b = bounds[k]
                try:
                    files = fut.result()
                except Exception:  # noqa: BLE001 - reported after the other chunks
                    failures.append((k, traceback.format_exc()))
                    continue
                summary = files.pop("summary")
                for rel, data in files.items():
                    _write_bytes(out / rel, data)
                _write_bytes(out / _CHUNK_DIR / f"chunk_{k:05d}.ecsv", summary)
                bar.update(int(fitted[a:b].sum()))
        finally:
            bar.close()
            client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - start
    if failures:
        k, tb = failures[0]
        raise RuntimeError(
            f"{len(failures)} chunk(s) failed ({[k for k, _ in failures]}); the others are "
            "written. "
            f"Fix the cause and rerun with resume=True (--resume). First failure, chunk {k}:\n{tb}"
        )
    table = read_catalog_summary(out)
    if not np.array_equal(np.asarray(table["row"]), np.arange(n)):
        raise RuntimeError(
            f"{out}: the chunk summaries do not hold rows 0..{n - 1} exactly once; remove "
            f"{out / _CHUNK_DIR} and rerun."
        )
    table.meta["catalog_seconds_this_call"] = round(seconds, 3)
    table.meta["run"] = {k: record[k] for k in ("input", "model", "seed", "chunk_size")}
    from ._outputs import write_summary

    write_summary(table, out / "summary.ecsv")
    write_summary(table, out / "summary.fits")
    return table

