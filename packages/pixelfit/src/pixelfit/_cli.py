"""Command line: ``pixelfit catalog``, ``pixelfit demo``, ``pixelfit demo-catalog``.

::

    pixelfit demo --out demo-output/catalog            # fit the built-in demo catalog
    pixelfit catalog cat.fits --filters f1 f2 ... --flux-columns F1 F2 ... \\
        --error-columns E1 E2 ... --units uJy --redshift-column z --out fits/
    pixelfit catalog hdfn.cat --filters filters/*.dat --translate zphot.translate \\
        --zero-point 25 --missing-below -90 --free-redshift --sfh delayed_tau --out hdfn/
    pixelfit catalog cat.ecsv ... --id-column id --spectra spectra/ \\
        --spectrum-resolution 1000 --spectrum-flux-unit "1e-17 erg/(s cm2 AA)" --out fits/

``catalog`` reads the catalog with ``sedcore.read_photometry`` (FITS, ECSV, CSV or
whitespace ASCII with a ``#`` header), checks every column, unit and filter before
anything is fitted, then fits it chunk by chunk on Dask (`pixelfit.fit_catalog`): an
in-process cluster by default, ``--scheduler ADDRESS`` for a running one. ``--resume``
continues a killed run. ``--spectra DIR`` fits a spectrum with each row's photometry: one
file per object named ``<id>.<ext>``, all on the same wavelengths (`pixelfit.read_spectra`);
rows without a file are fitted on their photometry and flagged. Outputs:
``OUT/summary.{ecsv,fits}``, ``OUT/posteriors/<id>.nc``, ``OUT/plots/`` with ``--plots``;
see docs/pixelfit.md.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from ._catalog import _SFH_BINNED, _SFH_PARAMETRIC

_SFH_CHOICES = sorted((*_SFH_BINNED, *_SFH_PARAMETRIC))


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _specs(values: list[str]) -> list[str]:
    """Filter specs: names as given, existing files as absolute paths, globs expanded."""
    out: list[str] = []
    for value in values:
        for spec in (s.strip() for s in value.split(",")):
            if not spec:
                continue
            if any(c in spec for c in "*?["):
                matches = sorted(glob.glob(spec))
                if not matches:
                    raise CLIError(f"--filters: {spec!r} matches no file.")
                out.extend(str(Path(m).resolve()) for m in matches)
            elif Path(spec).is_file():
                out.append(str(Path(spec).resolve()))
            else:
                out.append(spec)
    if not out:
        raise CLIError("--filters: give at least one filter (astro-sedpy name or file).")
    return out


def _add_sampler(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("--chains", type=int, default=4, help="chains per object (default 4)")
    add("--warmup", type=int, default=500, help="adaptation steps per chain (default 500)")
    add("--draws", type=int, default=500, help="kept draws per chain (default 500)")
    add("--max-doublings", type=int, default=8, help="NUTS tree depth limit (default 8)")
    add("--dense-mass", action="store_true", help="adapt a dense mass matrix")
    add("--init-draws", type=int, default=64, help="prior draws scored to start (default 64)")
    add("--init-steps", type=int, default=200, help="Adam steps per start (default 200)")
    add("--init-starts", type=int, default=8, help="best draws refined by Adam (default 8)")
    add("--seed", type=int, default=0, help="run seed (object row r uses fold_in(seed, r))")
    add("--chunk-size", type=int, default=64, help="rows per Dask task (default 64; demo 8)")
    add("--batch-size", type=int, default=8, help="objects per compiled batch (default 8)")
    add("--scheduler", default=None, help="address of a running Dask scheduler")
    add("--workers", type=int, default=None,
        help="threads of the local cluster (default: one per CPU core; 1 on a GPU)")
    add("--resume", action="store_true", help="continue a killed run in --out")
    add("--plots", action="store_true", help="SED, SFH and corner plots per object")
    add("--no-posteriors", action="store_true", help="no per-object netCDF files")
    add("--no-progress", action="store_true", help="no progress bar")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--compile-cache", metavar="DIR", default=None,
        help="keep compiled fit programs here for later runs (default $PIXELFIT_COMPILE_CACHE, "
             "else $XDG_CACHE_HOME/pixelfit/jax, i.e. ~/.cache/pixelfit/jax)")  # fmt: skip
    cache.add_argument("--no-compile-cache", action="store_true", help="do not keep compiled programs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelfit", description="NUTS fits of galaxy photometry, whole catalogs on Dask."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "catalog",
        help="fit every row of a photometric catalog",
        description=__doc__.split("\n\n")[2],
    )
    add = c.add_argument
    add("input", help="catalog file (FITS, ECSV, CSV, whitespace ASCII with # header)")
    add("--out", required=True, help="output folder")
    add("--filters", nargs="+", required=True,
        help="one filter per band: astro-sedpy names or filter files (globs allowed)")  # fmt: skip
    add("--flux-columns", nargs="+", help="flux column per band (or --translate)")
    add("--error-columns", nargs="+", help="error column per band")
    add("--translate", help="EAZY translate file mapping bands to F/E columns")
    add("--units", help="flux unit of columns without one (uJy, nJy, Jy, maggies, ...)")
    add("--zero-point", type=float, help="AB zero point of the fluxes (AB = zp - 2.5 log f)")
    add("--missing-below", type=float, help="raw values below this mean not observed (-90)")
    add("--redshift-column", help="known redshifts (needed unless --free-redshift)")
    add("--id-column", help="integer object ids")
    add("--format", help="table format when the extension does not tell")
    add("--emulator", help="photometric emulator as the forward model (name or folder)")
    add("--grid", default="bc03", help="SSP grid of the exact engine (default bc03)")
    add("--sfh", default="continuity", choices=_SFH_CHOICES)
    add("--sfh-bins", type=int, default=7)
    add("--nebular", default="cloudy", help="nebular model name, or 'none'")
    add("--free-redshift", action="store_true", help="fit z with a uniform prior")
    add("--z-min", type=float, default=0.0, help="free-z prior lower bound (default 0)")
    add("--z-max", type=float, default=12.0, help="largest redshift (default 12)")
    add("--noise-floor", type=float, default=0.05, help="fractional model error (default 0.05)")
    add("--no-emulator-error", action="store_true", help="do not add the emulator's error")
    add("--min-bands", type=int, default=3, help="fewer usable bands: skipped (default 3)")
    sp = c.add_argument_group("spectra (fitted with the photometry; the exact engine's model)")
    add = sp.add_argument
    add("--spectra", help="folder of spectra, one file per object named <id>.<ext>, one grid")
    add("--spectrum-columns", nargs=3, metavar=("WAVE", "FLUX", "ERROR"),
        default=["wave", "flux", "flux_err"], help="column names (default wave flux flux_err)")
    add("--spectrum-wave-unit", help="wavelength unit of columns without one (AA, nm, um)")
    add("--spectrum-flux-unit", help="flux unit of columns without one ('1e-17 erg/(s cm2 AA)')")
    add("--spectrum-bad-pixel-column", help="column, nonzero = bad pixel")
    add("--spectrum-resolution", type=float, help="resolving power R = lambda / FWHM")
    add("--spectrum-sigma-max", type=float, default=1000.0,
        help="upper end of the velocity-dispersion prior, km/s (default 1000)")
    add("--spectrum-calibration-order", type=int, default=2,
        help="degree of the calibration polynomial (default 2)")
    add("--spectrum-no-jitter", action="store_true", help="use the spectra's errors as given")
    _add_sampler(c)
    d = sub.add_parser(
        "demo",
        help="fit the built-in demo catalog (mock galaxies with known truths)",
        description="Fit the shipped demo catalog (24 mocks, 20 HST+JWST bands) through the "
        "shipped emulator; write the summary, per-object plots and truth-vs-fit figures.",
    )
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--quick", action="store_true",
                   help="6 objects, 2 chains x (150 + 150): a check of the machinery")  # fmt: skip
    _add_sampler(d)
    d.set_defaults(chunk_size=8)
    m = sub.add_parser(
        "demo-catalog",
        help="remake the demo catalog from the project's code",
        description="Draw mock galaxies, compute their photometry with the exact engine, add "
        "noise and bad input on purpose (see pixelfit._demo).",
    )
    m.add_argument("--out", required=True, help="output ECSV file")
    m.add_argument("--n", type=int, default=24)
    m.add_argument("--seed", type=int, default=0)
    return parser


def _settings(args):
    from ._sampler import SamplerSettings

    return SamplerSettings(
        num_warmup=args.warmup,
        num_draws=args.draws,
        num_chains=args.chains,
        max_num_doublings=args.max_doublings,
        dense_mass=args.dense_mass,
        num_init_draws=args.init_draws,
        num_init_steps=args.init_steps,
        num_init_starts=args.init_starts,
    ).check()


def _run_kwargs(args) -> dict:
    return dict(
        settings=_settings(args),
        seed=args.seed,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        scheduler=args.scheduler,
        workers=args.workers,
        resume=args.resume,
        posteriors=not args.no_posteriors,
        plots=args.plots,
        progress=False if args.no_progress else None,
    )


def run_catalog(args) -> Path:
    import sedcore

    from ._catalog import ModelSpec, fit_catalog

    path = Path(args.input)
    if not path.is_file():
        raise CLIError(f"catalog {path} does not exist.")
    filters = _specs(args.filters)
    if not args.free_redshift and args.redshift_column is None:
        raise CLIError(
            "give --redshift-column (known redshifts) or --free-redshift (fit the redshift)."
        )
    photometry = sedcore.read_photometry(
        path,
        filters=filters,
        flux_columns=args.flux_columns,
        error_columns=args.error_columns,
        translate=args.translate,
        units=args.units,
        zero_point=args.zero_point,
        redshift_column=args.redshift_column,
        id_column=args.id_column,
        missing_below=args.missing_below,
        format=args.format,
    )
    spectrum, spectrum_options = _read_spectra(args, photometry)
    spec = ModelSpec(
        filters=tuple(filters),
        emulator=args.emulator,
        grid=args.grid,
        sfh=args.sfh,
        sfh_bins=args.sfh_bins,
        nebular=None if args.nebular in (None, "none") else args.nebular,
        free_redshift=args.free_redshift,
        z_min=args.z_min,
        z_max=args.z_max,
        noise_floor=args.noise_floor,
        emulator_error=not args.no_emulator_error,
        **spectrum_options,
    )
    out = Path(args.out)
    fit_catalog(
        photometry, spec, out, min_bands=args.min_bands, source=str(path.resolve()),
        spectrum=spectrum, **_run_kwargs(args),
    )  # fmt: skip
    return out


_SPECTRUM_OPTIONS = {
    "spectrum_wave_unit": None, "spectrum_flux_unit": None, "spectrum_bad_pixel_column": None,
    "spectrum_resolution": None, "spectrum_sigma_max": 1000.0, "spectrum_calibration_order": 2,
    "spectrum_no_jitter": False, "spectrum_columns": ["wave", "flux", "flux_err"],
}  # fmt: skip


def _read_spectra(args, photometry):
    """``(sedcore.Spectrum or None, ModelSpec keyword arguments)`` from the spectrum options."""
    import numpy as np

    from ._inputs import read_spectra

    if args.spectra is None:
        given = [k for k, v in _SPECTRUM_OPTIONS.items() if getattr(args, k) != v]
        if given:
            raise CLIError(f"--{given[0].replace('_', '-')} needs --spectra (the folder of spectra).")
        return None, {}
    n = int(np.atleast_2d(np.asarray(photometry.flux_maggies)).shape[0])
    ids = np.arange(n) if photometry.id is None else np.atleast_1d(np.asarray(photometry.id))
    wave_col, flux_col, err_col = args.spectrum_columns
    spectrum = read_spectra(
        args.spectra, ids, wave_column=wave_col, flux_column=flux_col, error_column=err_col,
        wave_unit=args.spectrum_wave_unit, flux_unit=args.spectrum_flux_unit,
        bad_pixel_column=args.spectrum_bad_pixel_column, resolution=args.spectrum_resolution,
    )  # fmt: skip
    options = {
        "spectrum_wave_aa": tuple(np.asarray(spectrum.wave_aa, dtype=np.float64)[0].tolist()),
        "spectrum_resolution": args.spectrum_resolution,
        "spectrum_sigma_max_kms": args.spectrum_sigma_max,
        "spectrum_calibration_order": args.spectrum_calibration_order,
        "spectrum_jitter": not args.spectrum_no_jitter,
    }
    return spectrum, options


def run_demo(args) -> Path:
    from ._demo import run_demo as _run

    return _run(args.out, quick=args.quick, **_run_kwargs(args))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pixelfit`` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("catalog", "demo") and not args.no_compile_cache:
            from ._cache import enable_compile_cache

            enable_compile_cache(args.compile_cache)
        if args.command == "catalog":
            print(f"wrote {run_catalog(args)}/summary.ecsv")
        elif args.command == "demo":
            print(f"wrote {run_demo(args)}")
        elif args.command == "demo-catalog":
            from ._demo import write_demo_catalog

            print(f"wrote {write_demo_catalog(args.out, n=args.n, seed=args.seed)}")
    except (CLIError, ValueError, KeyError, FileNotFoundError, ImportError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"pixelfit: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
