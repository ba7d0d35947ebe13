"""Atomic writes: a failure leaves the old file or folder in place and no temporary behind."""

from __future__ import annotations

import json

import pytest

from xldiag.atomic import atomic_dir, atomic_path, read_json, write_json, write_text


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and leftovers(target.parent) == []
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible before the rename
    assert target.read_text() == "new" and leftovers(target.parent) == []


def test_atomic_dir_swaps_a_whole_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("v2, half")
            raise KeyboardInterrupt
    assert (target / "weights").read_text() == "v1" and leftovers(tmp_path) == []
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v2")
    assert (target / "weights").read_text() == "v2" and leftovers(tmp_path) == []


def test_json_round_trip_and_tolerant_reading(tmp_path):
    path = tmp_path / "status.json"
    write_json(path, {"state": "running", "zh": "中文", "path": tmp_path})
    assert read_json(path) == {"state": "running", "zh": "中文", "path": str(tmp_path)}
    assert "中文" in path.read_text(encoding="utf-8")  # readable, not \\u-escaped
    assert read_json(tmp_path / "missing.json") is None
    path.write_text('{"state": "runn')  # someone else's write caught half-way
    assert read_json(path) is None
    path.write_text(json.dumps([1, 2]))  # not an object
    assert read_json(path) is None
