"""Every ```python block in the READMEs and docs/ runs as written.

Blocks of one file run in order in one namespace (a page reads top to bottom), with the
repository root as the working directory and a non-interactive matplotlib backend. Blocks
fenced as ```py (not ```python) are illustrations and are not run. Pages whose examples use
../shared/data are skipped with a reason when that folder is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md"]
    + list(ROOT.glob("packages/*/README.md"))
    + list((ROOT / "docs").rglob("*.md"))
)
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(page, tmp_path, monkeypatch):
    blocks = _blocks(page)
    source = "\n".join(blocks)
    if "shared/data" in source and not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("example uses ../shared/data, which is absent here")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("SEDCORE_EXAMPLE_OUT", str(tmp_path))
    namespace: dict = {"__name__": "__doc_example__"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{page.relative_to(ROOT)}[block {i + 1}]", "exec")
        exec(code, namespace)  # noqa: S102 - running our own documentation


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "python3 tools/dev.py demo" in text
    assert "python3 tools/dev.py test" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tools/dev.py test" in ci
