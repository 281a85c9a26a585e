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


def pytest_configure(config: pytest.Config) -> None:
    # pixelfit's CLI keeps compiled programs in ~/.cache/pixelfit/jax by default; tests keep
    # them in a temporary folder instead (unless a folder was chosen explicitly).
    if not os.environ.get("PIXELFIT_COMPILE_CACHE"):
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
