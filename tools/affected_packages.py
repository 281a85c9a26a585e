#!/usr/bin/env python3
"""Print the packages changed since a git revision plus every package depending on them.

Used by .github/workflows/ci.yml to run the changed package's tests and its dependents'.
The dependency graph is read from each package's pyproject.toml (in-repo names only), so it
never goes stale. Changes outside packages/ (root config, lock file, tools) select all.

    python3 tools/affected_packages.py --base origin/main          # one name per line
    python3 tools/affected_packages.py --base HEAD~1 --json        # packages=["sedcore", ...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dependency_graph() -> dict[str, set[str]]:
    """Map each in-repo distribution to the in-repo distributions it depends on."""
    meta = {}
    for pp in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pp.read_text())["project"]
        meta[project["name"]] = (pp.parent.name, project.get("dependencies", []))
    names = set(meta)
    graph = {}
    for name, (_, deps) in meta.items():
        dep_names = {re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0] for d in deps}
        graph[name] = dep_names & names
    return graph


def dependents_closure(changed: set[str], graph: dict[str, set[str]]) -> set[str]:
    out = set(changed)
    grew = True
    while grew:
        grew = False
        for pkg, deps in graph.items():
            if pkg not in out and deps & out:
                out.add(pkg)
                grew = True
    return out


def changed_files(base: str) -> list[str] | None:
    try:
        res = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except subprocess.CalledProcessError:
        return None  # unknown base (first push, force push): test everything
    return [line for line in res.stdout.splitlines() if line]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="origin/main")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    graph = dependency_graph()
    files = changed_files(args.base) if args.base and set(args.base) != {"0"} else None
    if files is None or any(not f.startswith(("packages/", "docs/", "tests-integration/")) for f in files):
        selected = set(graph)
    else:
        dirs = {f.split("/")[1] for f in files if f.startswith("packages/")}
        changed = {name for name in graph if (ROOT / "packages" / name).name in dirs}
        selected = dependents_closure(changed, graph)
    ordered = sorted(selected)
    if args.json:
        print(f"packages={json.dumps(ordered)}")
    else:
        print("\n".join(ordered))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
