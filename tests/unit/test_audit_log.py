"""The hash-chained, signed audit log: appends, verification, and each kind of tampering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mltoolkit.audit.history import environments_of, in_environment_at, promotions
from mltoolkit.audit.log import GENESIS, append_entry, log_path, verify_log
from mltoolkit.errors import InputError
from mltoolkit.models.location import Location, resolve_location
from mltoolkit.signing.keys import FileSigner


@pytest.fixture
def signer() -> FileSigner:
    return FileSigner("promoter.key", ec.generate_private_key(ec.SECP256R1()))


def _promote(path: Path, signer: FileSigner, env: str, version: int, hour: int) -> None:
    append_entry(
        path,
        {
            "action": "promote",
            "time": f"2026-11-27T{hour:02d}:00:00Z",
            "model": "fraud",
            "environment": env,
            "version": version,
            "previous_version": None,
            "digest": "sha256:" + "a" * 64,
            "approvals": [{"approver": "alice"}],
        },
        signer,
    )


@pytest.fixture
def log(tmp_path: Path, signer: FileSigner) -> Path:
    path = tmp_path / "audit.jsonl"
    _promote(path, signer, "staging", 1, 1)
    _promote(path, signer, "production", 1, 2)
    _promote(path, signer, "staging", 2, 3)
    _promote(path, signer, "production", 2, 4)
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_chain_verifies_and_answers(log: Path, signer: FileSigner) -> None:
    result = verify_log(log, {"ci": signer.public_key()})
    assert result.ok, result.problems
    assert [e.seq for e in result.entries] == [1, 2, 3, 4]
    assert result.entries[0].get("prev") == GENESIS
    history = promotions(result.entries, "fraud")
    at = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)
    assert in_environment_at(history, "production", at).version == 1  # type: ignore[union-attr]
    assert in_environment_at(history, "staging", at).version == 2  # type: ignore[union-attr]
    assert in_environment_at(history, "production", datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert environments_of(history, 1) == ("production", "staging")


def test_edited_entry_is_named(log: Path, signer: FileSigner) -> None:
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["version"] = 7
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")
    problems = verify_log(log, {"ci": signer.public_key()}).problems
    assert "entry 2 (line 2) was edited: its signature does not verify" in problems
    assert any(p.startswith("entry 3 (line 3) does not chain") for p in problems)


def test_removed_entry_is_named(log: Path, signer: FileSigner) -> None:
    lines = _lines(log)
    del lines[1]
    log.write_text("\n".join(lines) + "\n")
    problems = verify_log(log, {"ci": signer.public_key()}).problems
    assert problems[0] == "entry 2 is missing: removed from the log"


def test_removed_first_entry_is_named(log: Path, signer: FileSigner) -> None:
    log.write_text("\n".join(_lines(log)[1:]) + "\n")
    problems = verify_log(log, {"ci": signer.public_key()}).problems
    assert "entry 1 is missing: removed from the log" in problems


def test_garbage_line_is_named(log: Path, signer: FileSigner) -> None:
    lines = _lines(log)
    lines[2] = lines[2][:-5]
    log.write_text("\n".join(lines) + "\n")
    problems = verify_log(log, {"ci": signer.public_key()}).problems
    assert "line 3 is not a JSON entry: the log was edited" in problems


def test_untrusted_signer(log: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    problems = verify_log(log, {"ci": other}).problems
    assert len(problems) == 4
    assert "which the policy does not trust for promotion" in problems[0]


def test_resigned_forgery_by_another_key_is_refused(log: Path, signer: FileSigner) -> None:
    forger = FileSigner("x", ec.generate_private_key(ec.SECP256R1()))
    _promote(log, forger, "production", 9, 5)
    problems = verify_log(log, {"ci": signer.public_key()}).problems
    assert problems == [
        "entry 5 (line 5) is signed by key "
        + json.loads(_lines(log)[4])["signer"]["key_id"]
        + ", which the policy does not trust for promotion"
    ]


def test_log_location(tmp_path: Path) -> None:
    embedded = resolve_location({}, cwd=tmp_path)
    assert log_path(embedded, {}) == tmp_path / ".mltoolkit" / "audit.jsonl"
    sqlite = Location("sqlite:////data/mlflow/store.db", "sqlite:////data/mlflow/store.db")
    assert log_path(sqlite, {}) == Path("/data/mlflow/audit.jsonl")
    server = Location("http://mlflow:5000", "http://mlflow:5000")
    assert log_path(server, {"MLTOOLKIT_AUDIT_LOG": "/shared/a.jsonl"}) == Path("/shared/a.jsonl")
    with pytest.raises(InputError, match="MLTOOLKIT_AUDIT_LOG"):
        log_path(server, {})
