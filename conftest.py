"""Repository-wide pytest guard.

Every in-repo package must be imported from this working tree. If a sibling was
installed from a package index (or an old wheel), tests would silently exercise the
wrong code; this check stops the whole run instead. It runs for any test path under
the repository root, so it also guards one package's tests run alone.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent


def _misplaced_packages() -> list[str]:
    problems = []
    for src in sorted(_ROOT.glob("packages/*/src/*/__init__.py")):
        pkg_dir = src.parent
        name = pkg_dir.name
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue  # not installed in this environment: its own tests will not run
        origin = Path(spec.origin).resolve()
        if pkg_dir.resolve() not in origin.parents:
            problems.append(
                f"  {name}: imported from {origin}, expected {pkg_dir.resolve()}"
            )
    return problems


def _xdist_controller(config: pytest.Config) -> bool:
    """True in the process that hands tests to pytest-xdist workers (which run none)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def _warm_bagpipes() -> None:
    # `import bagpipes` writes an IGM table into its install folder the first time; two
    # workers importing it at once could read a half-written file. Import it once, in a
    # child process, before the workers start.
    # (17 s here, so skipped when the table is already there.)
    spec = importlib.util.find_spec("bagpipes")
    if spec is None or spec.origin is None:
        return
    if (Path(spec.origin).parent / "models" / "grids" / "d_igm_grid_inoue14.fits").exists():
        return
    subprocess.run([sys.executable, "-c", "import bagpipes"], capture_output=True, check=False)


def pytest_configure(config: pytest.Config) -> None:
    controller = _xdist_controller(config)
    if controller:
        _warm_bagpipes()
    # pixelfit's CLI keeps compiled programs in ~/.cache/pixelfit/jax by default; tests keep
    # them in a temporary folder instead (unless a folder was chosen explicitly), one per
    # test process (xdist workers make their own).
    if not controller and not os.environ.get("PIXELFIT_COMPILE_CACHE"):
        folder = tempfile.mkdtemp(prefix="pixelfit_jax_cache_")
        os.environ["PIXELFIT_COMPILE_CACHE"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    problems = _misplaced_packages()
    if problems:
        pytest.exit(
            "In-repo packages are not installed from this working tree:\n"
            + "\n".join(problems)
            + "\nReinstall from the root with `python3 tools/dev.py sync` "
            "(uv sync --all-packages installs every package editable).",
            returncode=3,
        )
