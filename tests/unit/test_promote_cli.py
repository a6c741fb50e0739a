"""Usage errors of promote, approve, audit and report: exit 2 with one line, before any service."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mltoolkit.cli.main import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "m", "--version", "1", "--to", "prod"], "--key is required"),
        (["promote", "m", "--version", "x", "--to", "prod", "--dry-run"], "not a whole number"),
        (["promote", "m", "--version", "0", "--to", "prod", "--dry-run"], "must be 1 or more"),
        (["approve", "m", "--version", "1", "--env", "prod"], "exactly one of --key and --keyless"),
        (["audit", "m", "--at", "yesterday"], "is not a time"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "mltoolkit.yaml"
    policy.write_text("version: 1\nenvironments:\n  prod: {from: null, repository: r.example/p}\n")
    with pytest.raises(SystemExit) as exited:
        main(["--policy", str(policy), *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_unknown_environment_exits_2(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    policy = tmp_path / "mltoolkit.yaml"
    policy.write_text("version: 1\nenvironments:\n  prod: {from: null, repository: r.example/p}\n")
    with pytest.raises(SystemExit) as exited:
        main(["--policy", str(policy), "audit", "m", "--env", "qa", "--at", "2026-01-01T00:00:00Z"])
    assert exited.value.code == 2
    assert "unknown environment 'qa'" in capsys.readouterr().err


def test_gate_table_goes_to_the_github_job_summary(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_gates_render import _evaluation

    from mltoolkit.cli.commands.promote import publish

    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("MLTOOLKIT_PLATFORM", raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assessment = SimpleNamespace(evaluation=_evaluation())
    publish(assessment, {"passed": "false"})  # type: ignore[arg-type]
    text = summary.read_text()
    assert "### :x: fraud version 4 -> production: 1 gate(s) fail" in text
    assert "| approvals | 2 distinct of alice, bob |" in text
    assert "passed<<" in outputs.read_text()
    assert "::error::gate approvals failed: 1 approval short" in capsys.readouterr().err


def test_keyless_approver_is_read_from_the_token_claims() -> None:
    import base64
    import json

    from mltoolkit.approvals.give import token_identity

    def token(claims: dict[str, str]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"e30.{body}.sig"

    assert token_identity(token({"email": "alice@example.com", "sub": "1"})) == "alice@example.com"
    assert token_identity(token({"sub": "repo:acme/fraud:environment:production"})).endswith(
        "environment:production"
    )
    assert token_identity("not-a-jwt") == "keyless"
