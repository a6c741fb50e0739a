"""Files are written whole, with the mode asked for, and a failure leaves nothing behind."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mltoolkit.errors import InputError
from mltoolkit.files import write_atomic, write_json_report, write_report


def test_write_atomic_sets_the_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "key"
    write_atomic(target, b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomic(target, "replaced")
    assert target.read_text() == "replaced"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["key"]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    class Unencodable:
        pass

    with pytest.raises(TypeError):
        write_atomic(target, Unencodable())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_report_that_cannot_be_written_is_exit_2_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot write") as caught:
        write_report(blocker / "report.sarif", "{}")
    assert caught.value.exit_code == 2
    assert str(blocker / "report.sarif") in caught.value.diagnostics()


def test_json_reports_keep_the_order_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_json_report(target, {"b": 1, "a": 2}, sort_keys=False)
    assert list(json.loads(target.read_text())) == ["b", "a"]
    write_json_report(target, {"b": 1, "a": 2})
    assert list(json.loads(target.read_text())) == ["a", "b"]
