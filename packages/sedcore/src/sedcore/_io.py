"""Atomic file output: nothing is ever written half (DESIGN.md, "Files")."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output", "open_hdf5", "sha256_file"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Write a file under a temporary name beside ``path``; rename it when complete.

    The temporary file lives in the destination directory (so the final ``os.replace`` is
    atomic on POSIX and Windows), keeps the destination's suffix by default (writers such as
    astropy and matplotlib pick the format from it) and is removed if the block raises, so a
    crash or a kill leaves either the old file or the new one, never half of one. Parent
    directories are created. The file gets mode 0644 like a normal new file (``mkstemp``
    creates 0600).

    Args:
        path: destination file.
        suffix: suffix of the temporary file; the destination's suffix when None.

    Yields:
        The temporary path to write to.

    Example:
        >>> with sedcore.atomic_output("out/table.ecsv") as tmp:  # doctest: +SKIP
        ...     table.write(tmp, format="ascii.ecsv")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def open_hdf5(path: str | os.PathLike, *, what: str, hint: str = ""):
    """Open an HDF5 file for reading, or raise an error that names the file and the fix.

    Args:
        path: the file.
        what: what the file should be, for the messages (e.g. "SSP grid file").
        hint: a sentence appended to the "cannot be opened" message (how to rebuild it...).

    Returns:
        An open ``h5py.File`` (use it as a context manager).

    Raises:
        FileNotFoundError: naming ``what`` and the path, if it does not exist.
        ValueError: naming the path, if it is not HDF5, or is corrupt or truncated.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{path}: cannot be opened as HDF5 ({err}); the file is corrupt, truncated or not "
            f"HDF5. {hint}".rstrip()
        ) from err


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks); for manifests of shipped files."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
