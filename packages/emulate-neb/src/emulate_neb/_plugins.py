"""Factories registered as ``sedcore.nebular_models`` entry points (see pyproject.toml).

``sedcore.load_nebular_model("cloudy")`` finds them without importing this package by
name, so the ``emulate-sps`` command line can offer nebular emission (``--nebular
cloudy``) while emulate-sps itself depends only on the sedcore protocol.
"""

from __future__ import annotations

import os

from ._bagpipes import load_nebular_grid
from ._emulator import NebularEmulator, load_nebular_emulator
from ._model import ExactNebularModel

__all__: list[str] = []


def cloudy_exact(
    *, cache_dir: str | os.PathLike | None = None, line_window_px: int = 100
) -> ExactNebularModel:
    """`ExactNebularModel` on the built-in Cloudy grid (``load_nebular_grid("cloudy")``)."""
    return ExactNebularModel(
        load_nebular_grid("cloudy", cache_dir=cache_dir), line_window_px=line_window_px
    )


def cloudy_emulator(*, line_window_px: int = 100) -> NebularEmulator:
    """The shipped neural emulator of the Cloudy grid (``load_nebular_emulator("cloudy_v25")``).

    Its domain is Z <= Z_sun (see docs/emulate-neb.md); ``line_window_px`` as for the exact
    model.
    """
    return load_nebular_emulator("cloudy_v25", line_window_px=line_window_px)
