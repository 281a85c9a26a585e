"""The monorepo's shape (DESIGN.md): package layout, versions, sibling ranges, allowed imports."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent for p in ROOT.glob("packages/*/pyproject.toml"))

# DESIGN.md "Packages and the only allowed imports" (import names).
ALLOWED = {
    "sedcore": set(),
    "sfh_priors": {"sedcore"},
    "emulate_neb": {"sedcore"},
    "emulate_sps": {"sedcore", "sfh_priors"},  # emulate_neb only through the sedcore protocol
    "pixelfit": {"sedcore", "sfh_priors", "emulate_sps"},
    "popsbi": {"sedcore", "sfh_priors", "emulate_sps"},
}


def _project(pkg: Path) -> dict:
    return tomllib.loads((pkg / "pyproject.toml").read_text())


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_package_layout(pkg):
    data = _project(pkg)
    assert data["build-system"]["build-backend"] == "hatchling.build"
    project = data["project"]
    assert project["name"] == pkg.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"]), "static version required"
    assert "version" not in project.get("dynamic", [])
    import_name = pkg.name.replace("-", "_")
    assert (pkg / "src" / import_name / "__init__.py").is_file()
    assert (pkg / "tests").is_dir() and any((pkg / "tests").glob("test_*.py"))
    readme = (pkg / "README.md").read_text()
    assert "```python" in readme, "README opens with a runnable example"
    changelog = (pkg / "CHANGELOG.md").read_text()
    assert project["version"] in changelog, "CHANGELOG mentions the current version"


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_sibling_dependencies_are_ranges(pkg):
    siblings = {p.name for p in PACKAGES}
    for dep in _project(pkg)["project"].get("dependencies", []):
        name = re.split(r"[\s<>=!~\[;]", dep, maxsplit=1)[0]
        if name in siblings:
            assert "==" not in dep and "<" in dep and ">=" in dep, f"{pkg.name}: {dep!r} must be a range"


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_imports_follow_the_package_graph(pkg):
    import_name = pkg.name.replace("-", "_")
    in_repo = set(ALLOWED)
    declared = {
        re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0].replace("-", "_")
        for d in _project(pkg)["project"].get("dependencies", [])
    }
    for src in (pkg / "src").rglob("*.py"):
        tree = ast.parse(src.read_text(), filename=str(src))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in in_repo and name != import_name:
                    assert name in ALLOWED[import_name], f"{src}: imports {name}, not allowed by DESIGN.md"
                    assert name in declared, f"{src}: imports {name} but {pkg.name} does not declare it"


def test_siblings_come_from_the_working_tree():
    for pkg in PACKAGES:
        name = pkg.name.replace("-", "_")
        spec = importlib.util.find_spec(name)
        assert spec is not None, f"{name} is not installed; run python3 tools/dev.py sync"
        assert (pkg / "src" / name).resolve() in Path(spec.origin).resolve().parents


def test_affected_packages_closure():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import affected_packages as ap
    finally:
        sys.path.pop(0)
    graph = ap.dependency_graph()
    assert graph["sedcore"] == set()
    # Changing sedcore selects everything that depends on it, directly or not.
    closure = ap.dependents_closure({"sedcore"}, graph)
    assert closure == set(graph)
    # A leaf package selects only itself.
    leaves = [p for p in graph if not any(p in deps for deps in graph.values())]
    for leaf in leaves:
        assert ap.dependents_closure({leaf}, graph) == {leaf}


def test_run_stops_when_a_sibling_comes_from_elsewhere(tmp_path):
    # A copy of sedcore earlier on sys.path stands in for one installed from an index: the
    # root conftest must stop the run before any test executes, naming the package.
    import os
    import shutil
    import subprocess

    shutil.copytree(ROOT / "packages" / "sedcore" / "src" / "sedcore", tmp_path / "sedcore")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "packages/sedcore/tests/test_units.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 3, res.stdout + res.stderr
    assert "sedcore: imported from" in res.stdout + res.stderr
