"""Command line: ``emulate-sps model`` computes model photometry for a table of galaxies.

::

    emulate-sps model params.ecsv --filters sdss_u0 sdss_g0 sdss_r0 --out phot.ecsv
    emulate-sps model --list-columns --sfh tau --dust-emission

The input table (ECSV, FITS or CSV, told apart by the file extension) has one row per
galaxy and one column per parameter of the engine (`emulate_sps.param_space`), named as
there; ``--list-columns`` prints them for the chosen options. With the defaults
(``--sfh delayed_tau``, Calzetti dust with birth clouds, no dust emission):

=============  =========  ==============================================================
column         unit       meaning
=============  =========  ==============================================================
z              --         redshift, 0 <= z <= --z-max
log_mass       dex(Msun)  log10 of the stellar mass formed
log_zsol       dex        log10(Z / Z_sun) inside the grid (BC03: -2.3 to 0.7)
dust2          --         diffuse-dust optical depth at 5500 A (A_V = 1.0857 dust2)
dust1          --         extra birth-cloud optical depth at 5500 A (stars < 10 Myr)
sfh_age_yr     yr         lookback time when star formation began (<= age of universe)
sfh_tau_yr     yr         SFH timescale
=============  =========  ==============================================================

Non-parametric SFHs (``--sfh continuity`` or ``--sfh dirichlet``, ``--sfh-bins N``, default
7) use the Leja et al. (2019) bins rebuilt at each row's redshift (0-30 Myr, 30-100 Myr,
log-spaced to 0.85 t_univ, then to the Big Bang) and take a vector parameter: either
columns ``sfh_log_sfr_ratios_0 .. sfh_log_sfr_ratios_{N-2}`` (log10 SFR ratio of bin i to
bin i+1, youngest first) or ``sfh_fractions_0 .. sfh_fractions_{N-1}`` (Dirichlet SFR
fractions, summing to 1), or one multidimensional column of that name (ECSV, FITS).

``--nebular cloudy`` adds nebular lines and continuum (Cloudy grids through emulate-neb,
found by name with `sedcore.load_nebular_model`) and the columns ``log_u`` (log10 of the
ionization parameter), ``sigma_kms`` (line velocity dispersion, km/s) and, unless
``--gas-metallicity stellar``, ``gas_log_zsol``.

Other columns are copied to the output unchanged. The output table (same formats) holds
the input columns, ``maggies_<band>`` for every filter (band-averaged f_nu in maggies;
AB = -2.5 log10), ``mass_formed_msun`` and ``surviving_mass_msun``. It is written to a
temporary file and renamed when complete. Rows are counted from 1 in error messages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import sfh_priors

_FORMATS = {".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".csv": "ascii.csv"}
# SFH forms by name (sfh_priors.model_from_name); the binned ones use the Leja et al.
# (2019) bins, rebuilt at each galaxy's redshift.
_BINNED = tuple(sfh_priors.BINNED_MODELS)
_SFH_NAMES = (*sfh_priors.PARAMETRIC_MODELS, *_BINNED)


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _table_format(path: Path, what: str) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CLIError(
            f"{what} {path}: unknown table format {path.suffix!r}; use one of {sorted(_FORMATS)} "
            "(ECSV, FITS or CSV)."
        )
    return fmt


def _sfh_model(name: str, n_bins: int = 7):
    # The hyper-parameters are priors, irrelevant for computing models.
    try:
        return sfh_priors.model_from_name(name, n_bins)
    except ValueError as err:
        raise CLIError(f"--sfh {name} --sfh-bins {n_bins}: {err}") from None


def _filter_specs(values: list[str]) -> list[str]:
    specs = [s.strip() for v in values for s in v.split(",") if s.strip()]
    if not specs:
        raise CLIError("--filters: give at least one astro-sedpy filter name or file path.")
    return specs


def _build_config(args):
    import sedcore

    import emulate_sps

    if getattr(args, "emulator", None):
        em = emulate_sps.load_emulator(args.emulator)
        if isinstance(em, emulate_sps.SpectrumEmulator):
            if not args.filters:
                raise CLIError(
                    f"emulator {args.emulator!r} emulates rest-frame spectra: give --filters "
                    "(any astro-sedpy names or filter files) for its photometry."
                )
            return emulate_sps.spectral_photometry_state(em, _filter_specs(args.filters))
        if args.filters and _filter_specs(args.filters) != list(em.filter_names):
            raise CLIError(
                f"--filters {_filter_specs(args.filters)} differ from the bands of emulator "
                f"{args.emulator!r}, {list(em.filter_names)}; leave --filters out to use them."
            )
        return em

    grid = emulate_sps.load_ssp_grid(args.grid)
    filters = sedcore.load_filters(_filter_specs(args.filters)) if args.filters else None
    return emulate_sps.SynthesisConfig.create(
        grid,
        _sfh_model(args.sfh, args.sfh_bins),
        filters,
        z_max=args.z_max,
        diffuse_law=None if args.dust_law == "none" else args.dust_law,
        birth_clouds=not args.no_birth_clouds,
        igm=None if args.igm == "none" else args.igm,
        metallicity_rule=args.metallicity_rule,
        dust_emission=emulate_sps.load_dl07_templates() if args.dust_emission else None,
        nebular=sedcore.load_nebular_model(args.nebular) if args.nebular else None,
        gas_metallicity=args.gas_metallicity,
    )


def _column_names(p) -> list[str]:
    """Table columns of one engine parameter: itself, or ``name_0 .. name_{k-1}`` for vectors."""
    if p.shape == ():
        return [p.name]
    (k,) = p.shape
    return [f"{p.name}_{i}" for i in range(k)]


def _columns_text(config) -> str:

    space = _param_space(config)
    lines = [f"{'column':<24} {'unit':<11} {'range':<26} meaning"]
    for p in space.params:
        rng = f"[{p.lower:g}, {p.upper:g}]"
        names = _column_names(p)
        what = p.description
        if len(names) > 1:
            what += f" (element i, youngest bin first; or one {len(names)}-wide column {p.name})"
        for name in names:
            lines.append(f"{name:<24} {p.unit or '--':<11} {rng:<26} {what}")
    return "\n".join(lines)


def _read_params(path: Path, config):
    from astropy.table import Table


    if not path.is_file():
        raise CLIError(f"parameter table {path} does not exist.")
    try:
        table = Table.read(path, format=_table_format(path, "parameter table"))
    except CLIError:
        raise
    except Exception as err:  # astropy raises many types for unreadable files
        raise CLIError(f"parameter table {path}: cannot be read ({err}).") from err
    space = _param_space(config)
    missing = [
        n
        for p in space.params
        if p.name not in table.colnames
        for n in _column_names(p)
        if n not in table.colnames
    ]
    if missing:
        raise CLIError(
            f"parameter table {path}: missing column(s) {missing}. This model needs "
            f"{[n for p in space.params for n in _column_names(p)]} (see `emulate-sps model "
            "--list-columns` with the same options)."
        )
    if len(table) == 0:
        raise CLIError(f"parameter table {path}: no rows.")
    values = {}
    for p in space.params:
        if p.name in table.colnames:
            columns = [(p.name, table[p.name])]
            if tuple(np.shape(table[p.name])[1:]) != p.shape:
                raise CLIError(
                    f"parameter table {path}, column {p.name!r}: shape per row "
                    f"{tuple(np.shape(table[p.name])[1:])}, expected {p.shape} "
                    f"(or separate columns {_column_names(p)})."
                )
        else:
            columns = [(n, table[n]) for n in _column_names(p)]
        parts = [_column_values(path, name, col, p) for name, col in columns]
        data = parts[0] if len(parts) == 1 else np.stack(parts, axis=1)
        values[p.name] = data.reshape((len(table), *p.shape))
    return table, values


def _column_values(path: Path, name: str, col, p) -> np.ndarray:
    """One column as float64 (flattened per row), with missing/non-numeric/range checks."""
    n = len(col)
    mask = np.asarray(getattr(col, "mask", np.zeros(np.shape(col), bool)), dtype=bool)
    mask = mask.reshape(n, -1).any(axis=1)
    if mask.any():
        row = int(np.flatnonzero(mask)[0]) + 1
        raise CLIError(f"parameter table {path}, row {row}, column {name!r}: value is missing.")
    try:
        data = np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise CLIError(f"parameter table {path}, column {name!r}: not numeric ({err}).") from err
    bad = (~np.isfinite(data) | (data < p.lower) | (data > p.upper)).reshape(n, -1).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CLIError(
            f"parameter table {path}, row {row + 1}, column {name!r}: "
            f"{data[row].tolist()!r} is outside [{p.lower:g}, {p.upper:g}] {p.unit}".rstrip()
            + f" ({int(bad.sum())} bad row(s) in this column)."
        )
    return data


def _is_emulator(config) -> bool:
    import emulate_sps

    return isinstance(config, (emulate_sps.PhotometryEmulator, emulate_sps.SpectralPhotometry))


def _param_space(config):
    import emulate_sps

    if isinstance(config, emulate_sps.SpectralPhotometry):
        return emulate_sps.spectral_param_space(config)
    return emulate_sps.param_space(config)


def _compute(config, values: dict[str, np.ndarray], batch_size: int, progress: bool):
    import jax
    import jax.numpy as jnp
    from tqdm import tqdm

    import emulate_sps

    spectral = isinstance(config, emulate_sps.SpectralPhotometry)
    phot_fn = emulate_sps.spectral_photometry if spectral else emulate_sps.photometry
    mass_fn = emulate_sps.spectral_stellar_masses if spectral else emulate_sps.stellar_masses

    def one(cfg, p):
        masses = mass_fn(cfg, p)
        phot = phot_fn(cfg, p) if cfg.n_filters else jnp.zeros((0,))
        return phot, masses.mass_formed_msun, masses.surviving_mass_msun

    run = jax.jit(jax.vmap(one, in_axes=(None, 0)))
    n = len(next(iter(values.values())))
    dtype = np.float32 if _is_emulator(config) else config.log_age_yr.dtype
    phot_out = np.empty((n, config.n_filters))
    formed = np.empty(n)
    surviving = np.empty(n)
    starts = range(0, n, batch_size)
    bar = tqdm(starts, unit="batch", desc="emulate-sps model", disable=not progress)
    for start in bar:
        stop = min(start + batch_size, n)
        # Pad the last batch to the full size so that only one program is compiled.
        idx = np.minimum(np.arange(start, start + batch_size), n - 1)
        batch = {k: jnp.asarray(v[idx], dtype=dtype) for k, v in values.items()}
        phot, mf, ms = (np.asarray(x, dtype=np.float64) for x in run(config, batch))
        keep = stop - start
        phot_out[start:stop] = phot[:keep]
        formed[start:stop], surviving[start:stop] = mf[:keep], ms[:keep]
    return phot_out, formed, surviving


def _explain_nan_rows(config, values, bad_rows, path: Path):
    import emulate_sps

    row = int(bad_rows[0])
    params = {k: v[row] for k, v in values.items()}
    try:
        emulate_sps.check_params(config, params)
    except (ValueError, KeyError) as err:
        raise CLIError(
            f"parameter table {path}, row {row + 1}: {err} (sfh-priors names its parameters "
            f"params.<name>; their columns are sfh_<name>; {len(bad_rows)} such row(s))."
        ) from err
    raise CLIError(  # pragma: no cover - NaN without a reason would be a bug
        f"parameter table {path}, row {row + 1}: the model is not finite for these parameters."
    )


def _write_atomic(table, path: Path) -> None:
    fmt = _table_format(path, "output table")
    import sedcore

    with sedcore.atomic_output(path) as tmp:
        table.write(tmp, format=fmt, overwrite=True)


def run_model(args) -> Path:
    """The ``model`` command; returns the output path."""
    import astropy.units as u

    import emulate_sps

    if args.list_columns:
        print(_columns_text(_build_config(args)))
        return None
    if args.params is None or args.out is None:
        raise CLIError("model: give the parameter table and --out TABLE (or --list-columns).")
    if not args.filters and not args.emulator:
        raise CLIError("model: --filters is required (astro-sedpy names or filter files).")
    out = Path(args.out)
    _table_format(out, "output table")
    if out.exists() and not args.overwrite:
        raise CLIError(f"output table {out} exists; pass --overwrite to replace it.")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1; got {args.batch_size}.")
    path = Path(args.params)
    if not path.is_file():
        raise CLIError(f"parameter table {path} does not exist.")
    _table_format(path, "parameter table")
    config = _build_config(args)
    table, values = _read_params(path, config)
    progress = sys.stderr.isatty() and len(table) > args.batch_size
    if args.progress is not None:
        progress = args.progress
    phot, formed, surviving = _compute(config, values, args.batch_size, progress)
    finite = np.all(np.isfinite(phot), axis=1) & np.isfinite(formed) & np.isfinite(surviving)
    bad = np.flatnonzero(~finite)
    if bad.size:
        if _is_emulator(config):
            raise CLIError(f"parameter table {path}, row {int(bad[0]) + 1}: the emulator's output is not finite.")
        _explain_nan_rows(config, values, bad, path)
    for i, name in enumerate(config.filter_names):
        table[f"maggies_{name}"] = phot[:, i] * u.dimensionless_unscaled
        table[f"maggies_{name}"].description = f"band-averaged f_nu through {name}, maggies"
    table["mass_formed_msun"] = formed * u.Msun
    table["mass_formed_msun"].description = "stellar mass formed"
    table["surviving_mass_msun"] = surviving * u.Msun
    table["surviving_mass_msun"].description = "surviving stellar mass, as the grid counts it"
    if isinstance(config, emulate_sps.PhotometryEmulator):
        table.meta["SPSEMU"] = config.name or str(args.emulator)
    elif isinstance(config, emulate_sps.SpectralPhotometry):
        table.meta["SPSEMU"] = config.emulator.name or str(args.emulator)
    else:
        table.meta["SPSGRID"] = config.grid_name
    table.meta["SPSSFH"] = args.sfh
    table.meta["SPSNEB"] = args.nebular or "none"
    if args.sfh in _BINNED:
        table.meta["SPSBINS"] = f"{args.sfh_bins} Leja et al. (2019) bins at each z"
    _write_atomic(table, out)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emulate-sps", description="emulate-sps command line")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser(
        "model",
        help="model photometry (maggies) and stellar masses for a table of parameters",
        description=__doc__.split("::")[0].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = m.add_argument
    add("params", nargs="?", help="parameter table (.ecsv, .fits or .csv), one row per galaxy")
    add("--filters", nargs="+", help="astro-sedpy filter names or two-column filter files")
    add("--out", help="output table (.ecsv, .fits or .csv)")
    add("--grid", default="bc03", help="SSP grid: 'bc03' (default), 'fsps' or an HDF5 file")
    add("--emulator", metavar="NAME_OR_DIR",
        help="use a photometric emulator (emulate_sps.load_emulator) instead of the exact engine; "
        "its bands and model options are fixed, --filters may be left out")  # fmt: skip
    add("--sfh", default="delayed_tau", choices=sorted(_SFH_NAMES), help="SFH form")
    add("--sfh-bins", type=int, default=7,
        help="bins of the continuity / dirichlet SFHs (Leja et al. 2019 edges at each z; default 7)")  # fmt: skip
    add("--dust-law", default="calzetti",
        choices=["calzetti", "smc", "kriek_conroy", "power_law", "none"])  # fmt: skip
    add("--no-birth-clouds", action="store_true", help="no dust1 (birth-cloud) component")
    add("--dust-emission", action="store_true", help="DL07 dust emission (columns duste_*)")
    add("--nebular", metavar="NAME",
        help="nebular lines + continuum from a registered model (sedcore.load_nebular_model), "
        "e.g. 'cloudy' from emulate-neb (columns log_u, sigma_kms, gas_log_zsol)")  # fmt: skip
    add("--gas-metallicity", default="free", choices=["free", "stellar"],
        help="with --nebular: own gas_log_zsol column (free) or the stellar log_zsol")  # fmt: skip
    m.add_argument("--igm", default="inoue14", choices=["inoue14", "madau95", "none"])
    m.add_argument("--metallicity-rule", default="log", choices=["log", "linear"])
    m.add_argument("--z-max", type=float, default=20.0, help="largest redshift (default 20)")
    m.add_argument("--batch-size", type=int, default=256, help="galaxies per vectorised batch")
    m.add_argument("--overwrite", action="store_true", help="replace an existing output table")
    m.add_argument("--list-columns", action="store_true", help="print the columns and exit")
    m.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="force a progress bar")  # fmt: skip
    m.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    s = sub.add_parser(
        "simulate",
        help="training set for the emulators: prior draws through the exact engine, in shards",
        description="Simulate (or resume) a training set: parameters drawn from the documented "
        "priors (emulate_sps.TrainingPrior), photometry (AB mag per M_sun formed) and "
        "optionally rest-frame spectra from the exact engine, written in HDF5 shards with a "
        "manifest. Run it again with the same arguments to finish a killed run.",
    )
    s.add_argument("out", help="output folder")
    s.add_argument("--n", type=int, required=True, help="number of galaxies")
    s.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    s.add_argument("--filter-set", default="hst_jwst20", help="named filter set (default hst_jwst20)")
    s.add_argument("--sfh", default="continuity", choices=list(_BINNED))
    s.add_argument("--sfh-bins", type=int, default=7)
    s.add_argument("--nebular", default="cloudy", help="nebular model name, or 'none'")
    s.add_argument("--spectra", nargs="?", const="native", default=None, choices=["native", "cells"],
                   help="also store rest-frame spectra: 'native' (the SSP grid's wavelengths; the "
                   "default of a bare --spectra) or 'cells' (averages over cells of 1e-3 in ln "
                   "lambda, for the spectral emulator)")  # fmt: skip
    s.add_argument("--spec-wave-min", type=float, default=None,
                   help="bluest rest wavelength of stored spectra, Angstrom (default 500)")  # fmt: skip
    s.add_argument("--spec-wave-max", type=float, default=None,
                   help="reddest rest wavelength of stored spectra, Angstrom (default 50000)")  # fmt: skip
    _add_recipe_options(s, "", "not with --filter-set, --sfh, --sfh-bins, --nebular, --spec-wave-min, "
                        "--spec-wave-max")  # fmt: skip
    s.add_argument("--shard-size", type=int, default=10_000)
    s.add_argument("--batch-size", type=int, default=500)
    s.add_argument("--no-progress", action="store_true")
    t = sub.add_parser(
        "train",
        help="train an emulator in one command (simulate train + test sets, fit, validate)",
        description="One command from nothing to a validated emulator: simulates the training "
        "set (seed --seed) and a held-out test set (seed --seed + 1000, never used in training) "
        "with the default recipe (emulate_sps.SimulationRecipe) unless they exist, trains the "
        "network, measures its residuals on the test set and writes weights.msgpack + "
        "manifest.json (with the accuracy) to --out. Resumable: finished shards are kept. "
        "--kind photometry (default): magnitudes in --filter-set. --kind spectrum: rest-frame "
        "spectra on cells of 5e-3 in ln lambda from 909.9 A (1216 A is a cell edge) to "
        "--spec-wave-max (the test set's first 500 galaxies ship with the weights to measure "
        "photometric errors in any filters).",
    )
    t.add_argument("--kind", default="photometry", choices=["photometry", "spectrum"])
    t.add_argument("--out", required=True, help="folder for weights.msgpack and manifest.json")
    t.add_argument("--work", required=True, help="folder for the training and test sets")
    t.add_argument("--name", default=None,
                   help="emulator name (default hst_jwst20_phot / bc03_rest_spec)")  # fmt: skip
    t.add_argument("--filter-set", default="hst_jwst20")
    _add_recipe_options(t, "photometry: ", "replaces --filter-set")
    t.add_argument("--n-train", type=int, default=None, help="default 200000 / 100000")
    t.add_argument("--n-test", type=int, default=10_000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--hidden", type=int, nargs="+", default=[256, 256, 256])
    t.add_argument("--epochs", type=int, default=None, help="default 300 / 500")
    t.add_argument("--batch-size", type=int, default=None, help="default 1024 / 512")
    t.add_argument("--learning-rate", type=float, default=2e-3)
    t.add_argument("--n-components", type=int, default=None, help="spectrum: PCA components (96)")
    t.add_argument("--cell-factor", type=int, default=None,
                   help="spectrum: training cells (1e-3 in ln lambda) per emulator cell (5)")  # fmt: skip
    t.add_argument("--spec-wave-max", type=float, default=None,
                   help="spectrum: reddest rest wavelength, Angstrom (default 60000)")  # fmt: skip
    t.add_argument("--check-filters", action="append", default=[], metavar="LABEL=SPEC[,SPEC...]",
                   help="spectrum: also measure photometry in these filters (names, files, or a "
                   "folder of *.dat files), e.g. hdfn7=/work/shared/data/hdfn/filters")  # fmt: skip
    t.add_argument("--patience", type=int, default=None,
                   help="photometry: stop after this many epochs without a better validation loss "
                   "(default 30)")  # fmt: skip
    t.add_argument("--z-octaves", type=int, default=None,
                   help="photometry: Fourier octaves of ln(1 + z) among the network's inputs "
                   "(default 9; 0 for none)")  # fmt: skip
    t.add_argument("--loss-units", default=None, choices=["mag", "standardised"],
                   help="photometry: units of the bands' errors in the training loss: magnitudes, "
                   "every band alike (default), or each band's spread over the training set "
                   "(the earlier default)")  # fmt: skip
    t.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    t.add_argument("--no-progress", action="store_true")
    v = sub.add_parser(
        "validate",
        help="residuals of an emulator on a held-out test set: report.json + plots",
    )
    v.add_argument("emulator", help="shipped name or folder")
    v.add_argument("--test-set", required=True, help="folder made by emulate-sps simulate")
    v.add_argument("--report", required=True, help="output folder for report.json and residuals.png")
    v.add_argument("--check-filters", action="append", default=[], metavar="LABEL=SPEC[,SPEC...]",
                   help="spectral emulators: also measure photometry in these filters")  # fmt: skip
    return parser


_TRAIN_DEFAULTS = {
    "photometry": {"name": "hst_jwst20_phot", "n_train": 200_000, "epochs": 300, "batch_size": 1024},
    "spectrum": {"name": "bc03_rest_spec", "n_train": 100_000, "epochs": 500, "batch_size": 512,
                 "n_components": 96, "spec_wave_max": 60000.0, "cell_factor": 5},
}  # fmt: skip


def _check_filter_sets(values: list[str]) -> dict[str, list[str]]:
    """``LABEL=SPEC[,SPEC...]`` -> {label: specs}; a folder stands for its *.dat files."""
    out = {}
    for value in values:
        label, sep, rest = value.partition("=")
        if not sep or not label or not rest:
            raise CLIError(f"--check-filters {value!r}: expected LABEL=SPEC[,SPEC...].")
        specs: list[str] = []
        for spec in rest.split(","):
            path = Path(spec)
            if path.is_dir():
                files = sorted(str(f) for f in path.glob("*.dat"))
                if not files:
                    raise CLIError(f"--check-filters {label}: folder {path} has no *.dat filter files.")
                specs.extend(files)
            else:
                specs.append(spec)
        out[label] = specs
    return out


def run_train(args) -> Path:
    """The ``train`` command; returns the emulator folder."""
    for key, value in _TRAIN_DEFAULTS[args.kind].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.kind == "spectrum":
        if args.recipe is not None or args.prior is not None:
            raise CLIError("--recipe and --prior are for --kind photometry; the spectral emulator "
                           "trains on the default recipe and prior.")  # fmt: skip
        if args.z_octaves is not None or args.patience is not None or args.loss_units is not None:
            raise CLIError("--z-octaves, --patience and --loss-units are for --kind photometry.")
        return _run_train_spectrum(args)
    import emulate_sps

    if args.z_octaves is None:
        args.z_octaves = emulate_sps.Z_OCTAVES
    if args.patience is None:
        args.patience = 30
    if args.loss_units is None:
        args.loss_units = "mag"
    if not 0 <= args.z_octaves <= 16 or args.patience < 1:
        raise CLIError(f"--z-octaves must be in 0..16 and --patience >= 1; got {args.z_octaves} and "
                       f"{args.patience}.")  # fmt: skip
    if args.recipe is not None:
        recipe = _read_json_setting(args.recipe, "--recipe", emulate_sps.SimulationRecipe.from_dict)
    else:
        recipe = emulate_sps.SimulationRecipe(filters=args.filter_set)
    prior = None
    if args.prior is not None:
        prior = _read_json_setting(args.prior, "--prior", emulate_sps.TrainingPrior.from_dict)
    work = Path(args.work)
    progress = not args.no_progress
    common = dict(recipe=recipe, prior=prior, shard_size=20_000, batch_size=500, progress=progress)
    emulate_sps.simulate(work / "train", args.n_train, seed=args.seed, **common)
    emulate_sps.simulate(work / "test", args.n_test, seed=args.seed + 1000, **common)
    em, info = emulate_sps.train_photometry_emulator(
        work / "train", name=args.name, hidden=tuple(args.hidden), epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
        max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes,
        progress=progress, z_octaves=args.z_octaves, patience=args.patience,
        loss_units=args.loss_units,
    )  # fmt: skip
    accuracy = emulate_sps.validate_emulator(em, work / "test")
    info["test_set"] = {"seed": args.seed + 1000, "rows": accuracy["n"]}
    info["command"] = "emulate-sps train " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in sorted(vars(args).items())
        if k not in ("command", "no_progress", "out", "work", "kind", "n_components", "spec_wave_max",
                     "check_filters", "cell_factor")
        and v is not None and not (k == "filter_set" and args.recipe is not None)
    )  # fmt: skip
    out = emulate_sps.save_emulator(em, args.out, info, accuracy)
    print(_accuracy_text(accuracy))
    return out


def _add_recipe_options(parser, prefix: str, note: str) -> None:
    """--recipe and --prior (JSON files of `SimulationRecipe` / `TrainingPrior` fields)."""
    parser.add_argument("--recipe", default=None, metavar="JSON",
                        help=f"{prefix}the engine configuration as a JSON file of "
                        f"emulate_sps.SimulationRecipe fields, e.g. tools/bench/bagpipes_recipe.json "
                        f"({note})")  # fmt: skip
    parser.add_argument("--prior", default=None, metavar="JSON",
                        help=f"{prefix}the training prior as a JSON file of "
                        "emulate_sps.TrainingPrior.to_dict() fields (default: the documented priors)")  # fmt: skip


def _read_json_setting(path: str, option: str, build):
    """A recipe or prior from a JSON file; any problem is a `CLIError` naming the file."""
    import json

    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise CLIError(f"{option}: file {p} does not exist.") from None
    except (OSError, json.JSONDecodeError) as err:
        raise CLIError(f"{option}: {p} is not readable JSON ({err}).") from None
    if not isinstance(d, dict):
        raise CLIError(f"{option}: {p} must hold a JSON object (field: value); got {type(d).__name__}.")
    try:
        return build(d)
    except (KeyError, TypeError, ValueError) as err:
        raise CLIError(f"{option}: {p}: {err}") from None


def _grid_sha256(name: str) -> str:
    """sha256 of the SSP grid's arrays as the engine sees them (float64 bytes)."""
    import hashlib

    import emulate_sps

    grid = emulate_sps.load_ssp_grid(name)
    h = hashlib.sha256()
    for a in (grid.wave_aa, grid.log_age_yr, grid.log_zsol, grid.lnu_lsun_per_hz_per_msun,
              grid.surviving_mass_frac):  # fmt: skip
        h.update(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes())
    return h.hexdigest()


def _run_train_spectrum(args) -> Path:
    import emulate_sps
    from emulate_sps._spec_emulator import SPEC_WAVE_MIN_AA

    check = _check_filter_sets(args.check_filters)
    recipe = emulate_sps.SimulationRecipe(
        filters=args.filter_set, spec_wave_min_aa=SPEC_WAVE_MIN_AA, spec_wave_max_aa=args.spec_wave_max
    )
    work = Path(args.work)
    progress = not args.no_progress
    common = dict(recipe=recipe, shard_size=10_000, batch_size=500, spectra="cells", progress=progress)
    emulate_sps.simulate(work / "train", args.n_train, seed=args.seed, **common)
    emulate_sps.simulate(work / "test", args.n_test, seed=args.seed + 1000, **common)
    em, info = emulate_sps.train_spectrum_emulator(
        work / "train", name=args.name, n_components=args.n_components, cell_factor=args.cell_factor,
        hidden=tuple(args.hidden),
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes,
        reference_set=work / "test", progress=progress,
    )  # fmt: skip
    accuracy = emulate_sps.validate_spectrum_emulator(em, work / "test", filter_sets=check)
    info["test_set"] = {"seed": args.seed + 1000, "rows": accuracy["n"]}
    info["grid_sha256"] = _grid_sha256(recipe.grid)
    info["command"] = "emulate-sps train " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in sorted(vars(args).items())
        if k not in ("command", "no_progress", "out", "work", "check_filters") and v is not None
    ) + "".join(f" --check-filters {c}" for c in args.check_filters)  # fmt: skip
    out = emulate_sps.save_emulator(em, args.out, info, accuracy)
    print(_spectrum_accuracy_text(accuracy))
    return out


def _spectrum_accuracy_text(acc) -> str:
    s = acc["summary"]
    lines = [
        f"rest spectrum, {acc['n']} held-out galaxies, {s['range_aa'][0]:.0f}-{s['range_aa'][1]:.0f} A: "
        f"median |frac err| per wavelength: max {s['max_over_wavelength_of_median']:.4f} "
        f"(at {s['wavelength_of_max_median_aa']:.0f} A), median {s['median_over_wavelength_of_median']:.4f}; "
        f"{s['fraction_of_cells_median_le_1pct']:.0%} of wavelengths <= 1%; p95 max "
        f"{s['max_over_wavelength_of_p95']:.4f}, median {s['median_over_wavelength_of_p95']:.4f}",
        f"{'set':<10} {'band':<16} {'median':>8} {'p68':>8} {'p95':>8} {'p99':>8} {'ref p68':>8}"
        f" {'net p95':>8} {'net p99':>8} {'cell p95':>8} {'cell p99':>8}   |flux frac err|",
    ]  # fmt: skip
    for label, ph in acc["photometry"].items():
        for band, q in ph["bands"].items():
            net, cell = ph.get("network", {}).get(band), ph.get("cells", {}).get(band)
            split = (f" {net['p95']:8.4f} {net['p99']:8.4f} {cell['p95']:8.4f} {cell['p99']:8.4f}"
                     if net and cell else "")  # fmt: skip
            lines.append(
                f"{label:<10} {band:<16} {q['median']:8.4f} {q['p68']:8.4f} {q['p95']:8.4f} "
                f"{q['p99']:8.4f} {ph['reference_flux_error_frac'][band]:8.4f}{split}"
            )
    lines.append(
        "net: the emulator against the exact spectra on its own cells (the network alone); "
        "cell: those exact cell spectra against the engine (the cells alone)"
    )
    return "\n".join(lines)


def _accuracy_text(accuracy) -> str:
    lines = [f"{'band':<16} {'median':>8} {'p95':>8} {'p99':>8} {'capped':>7}   |delta mag|"]
    for band, q in accuracy["bands"].items():
        lines.append(
            f"{band:<16} {q['median']:8.4f} {q['p95']:8.4f} {q['p99']:8.4f} "
            f"{accuracy['capped_fraction'][band]:7.1%}"
        )
    return "\n".join(lines)


def run_validate(args) -> Path:
    """The ``validate`` command; returns the report folder."""
    import json

    import sedcore

    import emulate_sps

    em = emulate_sps.load_emulator(args.emulator)
    if isinstance(em, emulate_sps.SpectrumEmulator):
        return _run_validate_spectrum(args, em)
    acc = emulate_sps.validate_emulator(em, args.test_set)
    data = emulate_sps.read_training_set(args.test_set)
    out = Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    report = {k: v for k, v in acc.items() if k != "dmag"}
    report["emulator"] = em.name
    report["test_set"] = str(args.test_set)
    with sedcore.atomic_output(out / "report.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    _plot_residuals(em, acc, np.asarray(data["params"]["z"]), out / "residuals.png")
    print(_accuracy_text(acc))
    return out


def _plot_residuals(em, acc, z, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sedcore

    n = len(em.filter_names)
    cols = 5
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), sharex=True, sharey=True,
                             squeeze=False)  # fmt: skip
    for b, band in enumerate(em.filter_names):
        ax = axes[b // cols][b % cols]
        d = acc["dmag"][:, b]
        ok = np.isfinite(d)
        ax.plot(z[ok], d[ok], ",", alpha=0.3, color="k")
        q = acc["bands"][band]
        ax.axhline(0.0, color="tab:red", lw=0.8)
        ax.set_title(f"{band}  med {q['median']:.3f}  p95 {q['p95']:.3f}", fontsize=8)
        ax.set_ylim(-0.1, 0.1)
    for ax in axes[-1]:
        ax.set_xlabel("z")
    for r in range(rows):
        axes[r][0].set_ylabel("emulator - exact [mag]")
    fig.suptitle(f"{em.name}: residuals on {acc['n']} held-out galaxies (capped bands omitted)")
    fig.tight_layout()
    with sedcore.atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _run_validate_spectrum(args, em) -> Path:
    import json

    import sedcore

    import emulate_sps
    from emulate_sps._spec_emulator import _compress_accuracy

    acc = emulate_sps.validate_spectrum_emulator(
        em, args.test_set, filter_sets=_check_filter_sets(args.check_filters)
    )
    out = Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    report = _compress_accuracy(acc, step=1)
    report["emulator"] = em.name
    report["test_set"] = str(args.test_set)
    with sedcore.atomic_output(out / "report.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    _plot_spectrum_residuals(em, acc, out / "residuals.png")
    print(_spectrum_accuracy_text(acc))
    return out


def _plot_spectrum_residuals(em, acc, path: Path) -> None:
    """Fractional error quantiles per rest wavelength, and per band for each filter set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sedcore

    sets = acc["photometry"]
    fig, axes = plt.subplots(1 + len(sets), 1, figsize=(10, 3.2 * (1 + len(sets))), squeeze=False)
    ax = axes[0][0]
    wave = np.asarray(acc["wave_aa"])
    for key, color in (("median", "k"), ("p68", "tab:blue"), ("p95", "tab:orange"), ("p99", "tab:red")):
        ax.plot(wave, 100 * np.asarray(acc["cells"][key]), color=color, lw=0.8, label=key)
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.axvspan(1000, 30000, color="grey", alpha=0.08)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rest wavelength [A]")
    ax.set_ylabel("|emulated / exact - 1| [%]")
    ax.legend(fontsize=8, ncol=4)
    ax.set_title(f"{em.name}: rest spectrum residuals on {acc['n']} held-out galaxies")
    for i, (label, ph) in enumerate(sets.items(), start=1):
        ax = axes[i][0]
        bands = list(ph["bands"])
        x = np.arange(len(bands))
        for off, key, color in ((-0.2, "median", "k"), (0.0, "p68", "tab:blue"), (0.2, "p95", "tab:orange")):
            ax.bar(x + off, [100 * ph["bands"][b][key] for b in bands], width=0.2, color=color, label=key)
        ax.plot(x, [100 * ph["reference_flux_error_frac"][b] for b in bands], "rs", ms=4,
                label="flux_error_frac (reference sample)")  # fmt: skip
        ax.set_xticks(x, bands, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("|flux err| [%]")
        ax.set_title(f"{label}: photometry from the emulated spectrum vs the exact engine", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with sedcore.atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def run_simulate(args) -> Path:
    """The ``simulate`` command; returns the output folder."""
    import emulate_sps

    if args.recipe is not None:
        given = [f"--{k.replace('_', '-')}" for k, default in _SIMULATE_RECIPE_OPTIONS.items()
                 if getattr(args, k) != default]  # fmt: skip
        if given:
            raise CLIError(f"--recipe sets the whole engine configuration; drop {', '.join(given)}.")
        recipe = _read_json_setting(args.recipe, "--recipe", emulate_sps.SimulationRecipe.from_dict)
    else:
        waves = {}
        if args.spec_wave_min is not None:
            waves["spec_wave_min_aa"] = args.spec_wave_min
        if args.spec_wave_max is not None:
            waves["spec_wave_max_aa"] = args.spec_wave_max
        recipe = emulate_sps.SimulationRecipe(
            filters=args.filter_set, sfh=args.sfh, sfh_bins=args.sfh_bins,
            nebular=None if args.nebular == "none" else args.nebular, **waves,
        )  # fmt: skip
    prior = None
    if args.prior is not None:
        prior = _read_json_setting(args.prior, "--prior", emulate_sps.TrainingPrior.from_dict)
    spectra = {None: False, "native": True, "cells": "cells"}[args.spectra]
    return emulate_sps.simulate(
        args.out, args.n, recipe=recipe, prior=prior, seed=args.seed, shard_size=args.shard_size,
        batch_size=args.batch_size, spectra=spectra, progress=not args.no_progress,
    )  # fmt: skip


#: Options of ``simulate`` that --recipe replaces, with their defaults.
_SIMULATE_RECIPE_OPTIONS = {"filter_set": "hst_jwst20", "sfh": "continuity", "sfh_bins": 7,
                            "nebular": "cloudy", "spec_wave_min": None, "spec_wave_max": None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``emulate-sps`` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "model":
            out = run_model(args)
            if out is not None:
                print(f"wrote {out}")
        elif args.command == "simulate":
            print(f"training set complete: {run_simulate(args)}")
        elif args.command == "train":
            print(f"wrote {run_train(args)}")
        elif args.command == "validate":
            print(f"wrote {run_validate(args)}")
    except (CLIError, ValueError, KeyError, FileNotFoundError, ImportError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"emulate-sps: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
