"""`mltoolkit policy validate|schema` through the real entry point (main), exit codes included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mltoolkit.cli.main import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "policy" / "mltoolkit.yaml"
PUBLISHED = REPO / "schemas" / "mltoolkit-policy.schema.json"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTOOLKIT_POLICY", raising=False)
    return tmp_path


def test_validate_summarizes_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--policy", str(EXAMPLE), "policy", "validate"], capsys)
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"policy {EXAMPLE}: valid (version 1)"
    assert lines[1] == (
        "signers: ci (key), release-manager (key), github-release (identity), alice (identity)"
    )
    assert lines[2].startswith("gates: scan fails on HIGH and above, reports LOW and above")
    assert lines[4].startswith("  staging (first): registry.internal:5000/card-fraud/staging;")
    assert lines[5].startswith("  production (from staging):")
    assert "2 approvals from release-manager, alice, not by the builder, at most 7d old" in lines[5]


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "--policy", str(EXAMPLE), "policy", "validate"],
        ["--policy", str(EXAMPLE), "policy", "validate", "--json"],
    ],
)
def test_validate_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _ = run(args, capsys)
    assert code == 0
    document = json.loads(out)
    assert document["ok"] is True
    assert document["version"] == 1
    assert document["warnings"] == []
    assert document["environment_order"] == ["staging", "production"]
    assert sorted(document["environments"]) == ["production", "staging"]
    assert document["environments"]["production"]["approvals"]["required"] == 2
    assert document["gates"]["scan"]["fail-on"] == "HIGH"
    assert document["trust"]["keys"]["ci"]["path"] == str(EXAMPLE.parent / "keys" / "ci.pub")


def test_validate_reads_the_default_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "mltoolkit.yaml").write_text("version: 1\n", encoding="utf-8")
    code, out, _ = run(["policy", "validate"], capsys)
    assert code == 0
    assert out.splitlines()[0] == "policy mltoolkit.yaml: valid (version 1)"
    assert "environments: none" in out


def test_validate_reads_mltoolkit_policy_env(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "other.yaml").write_text("version: 1\n", encoding="utf-8")
    monkeypatch.setenv("MLTOOLKIT_POLICY", "other.yaml")
    code, out, _ = run(["policy", "validate"], capsys)
    assert code == 0
    assert out.startswith("policy other.yaml: valid")


def test_validate_warns_about_missing_key_files(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "mltoolkit.yaml").write_text(
        "version: 1\ntrust: {keys: {ci: {path: ci.pub}}}\n", encoding="utf-8"
    )
    code, _, err = run(["policy", "validate"], capsys)
    assert code == 0
    assert err == f"warning: trust.keys.ci: key file {workdir / 'ci.pub'} does not exist\n"


def test_missing_default_file_exits_2_with_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["policy", "validate"], capsys)
    assert code == 2
    assert out == ""
    assert err == (
        "error: no policy file: mltoolkit.yaml does not exist; "
        "create it (see examples/policy/mltoolkit.yaml) or pass --policy FILE\n"
    )


def test_invalid_policy_exits_2_with_file_line_and_key(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "mltoolkit.yaml").write_text(
        "version: 1\ntrust:\n  keys: {ci: {path: ci.pub}}\n"
        "environments:\n  production:\n    repository: r/m\n"
        "    approvals:\n      required: -1\n",
        encoding="utf-8",
    )
    code, out, err = run(["policy", "validate"], capsys)
    assert code == 2
    assert out == ""
    assert err == (
        "error: mltoolkit.yaml:8: environments.production.approvals.required: "
        "must be a positive integer, not -1\n"
    )


def test_invalid_policy_as_json(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "mltoolkit.yaml").write_text("version: 1\ngates: {scna: {}}\n", encoding="utf-8")
    code, out, err = run(["--json", "policy", "validate"], capsys)
    assert code == 2
    message = "mltoolkit.yaml:2: gates.scna: unknown key; did you mean 'scan'?"
    assert err == f"error: {message}\n"
    assert json.loads(out)["error"] == {"kind": "InputError", "message": message}


def test_schema_prints_the_published_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["policy", "schema"], capsys)
    assert code == 0
    assert out == PUBLISHED.read_text(encoding="utf-8")


def test_installed_command_fails_without_traceback(workdir: Path) -> None:
    (workdir / "mltoolkit.yaml").write_text("version: 1\nversion: 1\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mltoolkit", "policy", "validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "error: mltoolkit.yaml:2: version: duplicate key (first at line 1); keep one of them\n"
    )
