"""Atomic writes: the target is either the old file or the new one, never half of either."""

from __future__ import annotations

import os

import pytest

from engine import fileio


def test_write_replaces_whole_file_with_normal_permissions(tmp_path) -> None:
    target = tmp_path / "sub" / "f.json"
    fileio.atomic_write_json(target, {"a": 1})
    fileio.atomic_write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~fileio._umask()
    assert list(target.parent.iterdir()) == [target]  # no temp files left


def test_a_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "f.txt"
    fileio.atomic_write_text(target, "old")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        fileio.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
