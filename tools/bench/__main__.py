"""Run benchmark scripts in tools/bench: ``python -m tools.bench [name ...]``.

Each script runs in its own process (``python -m tools.bench.bench_<name>``) so that a
peer code that changes global JAX state (``import dsps`` turns on float64) cannot
contaminate the others.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    failed = []
    for name in names:
        rc = subprocess.run(
            [sys.executable, "-m", f"tools.bench.bench_{name}"], cwd=here.parents[1]
        ).returncode
        if rc:
            failed.append(name)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
