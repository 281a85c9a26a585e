"""The persistent compilation cache of `pixelfit catalog` / `pixelfit demo`.

JAX owns the cache itself; these tests check what pixelfit adds: the folder it picks, a
clear error for a folder that cannot be written, and that switching folders in one
process takes effect (JAX opens the folder once). Run in a subprocess: the setting is
process-wide and would otherwise reach every later test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pixelfit


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("PIXELFIT_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pixelfit.default_compile_cache_dir() == tmp_path / "xdg" / "pixelfit" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert pixelfit.default_compile_cache_dir() == Path.home() / ".cache" / "pixelfit" / "jax"
    monkeypatch.setenv("PIXELFIT_COMPILE_CACHE", str(tmp_path / "mine"))
    assert pixelfit.default_compile_cache_dir() == tmp_path / "mine"


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=r"compile cache .*a_file/cache cannot be created"):
        pixelfit.enable_compile_cache(blocker / "cache")


def test_programs_are_kept_and_a_new_folder_takes_effect(tmp_path):
    script = textwrap.dedent(f"""
        import jax, jax.numpy as jnp
        import pixelfit
        for name in ("first", "second"):
            folder = pixelfit.enable_compile_cache({str(tmp_path)!r} + "/" + name)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.jit(lambda x, n=name: jnp.sin(x) * len(n))(jnp.ones(3)).block_until_ready()
            print(folder)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for name in ("first", "second"):
        folder = tmp_path / name
        assert str(folder) in out.stdout
        assert [p for p in folder.iterdir() if p.name.startswith("jit_")], f"nothing cached in {folder}"


def test_cli_options(capsys):
    from pixelfit._cli import build_parser

    args = build_parser().parse_args(["demo", "--out", "x", "--compile-cache", "/tmp/c"])
    assert args.compile_cache == "/tmp/c" and not args.no_compile_cache
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--out", "x", "--compile-cache", "/tmp/c", "--no-compile-cache"])
    assert "not allowed with argument" in capsys.readouterr().err
