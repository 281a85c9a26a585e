"""Compiled fit programs kept on disk between runs (JAX's persistent compilation cache).

A fit program takes ~20 s to compile on a 2-core CPU (the NUTS sampler around the
forward model, once per batch shape). With the cache on, a later process that fits the
same model with the same shapes loads the compiled program instead; tracing it (a few
seconds) still happens. The cache key covers the program, JAX's version and the backend,
so a different model, batch size or JAX never picks up a wrong entry.

``pixelfit catalog`` and ``pixelfit demo`` turn it on (``--no-compile-cache`` to stop,
``--compile-cache DIR`` to move it); in Python call `enable_compile_cache` once, before the
first fit. It is a process-wide JAX setting: every later jitted function that takes over
a second to compile is cached there too.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["default_compile_cache_dir", "enable_compile_cache"]


def default_compile_cache_dir() -> Path:
    """``$PIXELFIT_COMPILE_CACHE`` if set, else ``$XDG_CACHE_HOME/pixelfit/jax``
    (``~/.cache/pixelfit/jax`` without that variable)."""
    if os.environ.get("PIXELFIT_COMPILE_CACHE"):
        return Path(os.environ["PIXELFIT_COMPILE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pixelfit" / "jax"


def enable_compile_cache(path: str | os.PathLike | None = None) -> Path:
    """Keep compiled programs that took >= 1 s to compile in ``path`` (created if needed).

    Args:
        path: cache folder (default `default_compile_cache_dir`).

    Returns:
        The folder.

    Raises:
        ValueError: the folder cannot be created or written.
    """
    folder = Path(default_compile_cache_dir() if path is None else path).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"compile cache {folder} cannot be created or written ({err.strerror}); give "
            "another folder (--compile-cache DIR) or turn it off (--no-compile-cache)."
        ) from err
    current = jax.config.jax_compilation_cache_dir
    if current and Path(current).resolve() != folder:
        # JAX opens the cache folder once; a new folder needs it reopened.
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return folder
