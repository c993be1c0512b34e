"""Atomic writes: the target appears whole or not at all, with a plain file's permissions."""

from __future__ import annotations

import os

import pytest

from pebal.atomic import write_atomically, write_bytes_atomically


def test_write_creates_folders_and_follows_the_umask(tmp_path):
    path = tmp_path / "a" / "b" / "x.bin"
    old = os.umask(0o022)
    try:
        write_bytes_atomically(path, b"abc")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]
