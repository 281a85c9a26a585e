"""atomic_output: a failed write leaves the old file intact and no temporary behind."""

import stat

import pytest

import sedcore


def test_complete_write_replaces_file(tmp_path):
    path = tmp_path / "sub" / "table.ecsv"
    with sedcore.atomic_output(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".ecsv"
        tmp.write_text("new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["table.ecsv"]


def test_failed_write_keeps_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "grid.h5"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with sedcore.atomic_output(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.h5"]


def test_open_hdf5_names_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="my grid not found: .*absent.h5"):
        sedcore.open_hdf5(tmp_path / "absent.h5", what="my grid")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"bad.h5: cannot be opened as HDF5 .*Rebuild it\."):
        sedcore.open_hdf5(bad, what="my grid", hint="Rebuild it.")


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    data = bytes(range(256)) * 5000  # > 1 MiB: several blocks
    (tmp_path / "f").write_bytes(data)
    assert sedcore.sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
