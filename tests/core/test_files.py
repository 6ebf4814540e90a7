"""core.files: a reader sees the old file or the new one, never half of one, and no temp file stays."""

from __future__ import annotations

import pytest

from core.files import atomic_copy, atomic_path, atomic_write_bytes, atomic_write_text


def test_writes_replace_the_target_and_leave_nothing_beside_it(tmp_path):
    target = tmp_path / "报告.html"
    atomic_write_text(target, "第一版")
    atomic_write_text(target, "第二版")
    assert target.read_text("utf-8") == "第二版"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    source = tmp_path / "source.bin"
    source.write_bytes(b"abc" * 1000)
    assert atomic_copy(source, tmp_path / "copy.bin").read_bytes() == b"abc" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "source.bin", "报告.html"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "bulletin.xlsx"
    atomic_write_text(target, "old")

    class WriterCrashed(Exception):
        pass

    with pytest.raises(WriterCrashed), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        assert tmp.parent == target.parent and tmp.name.startswith(".")  # same folder: the rename is atomic
        raise WriterCrashed
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bulletin.xlsx"]


def test_new_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write_text(tmp_path / "receipt.txt", "回执")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
