"""The CLI contract, for every command registered in ``COMMANDS`` (found, not listed here).

Commands and subcommands of groups are discovered from ``mltoolkit.cli.main.COMMANDS``, so a
command added later is covered without touching this file. For each one:
- bad usage exits 2 with one line on stderr and no traceback; with ``--json`` stdout is one JSON
  document (the error document);
- ``--help`` imports none of the heavy libraries (checked in a fresh interpreter);
and, for the group: an ``Error`` raised inside a command is one line with its exit code, and
``--verbose`` adds the traceback.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import click
import pytest

from mltoolkit.cli import main as cli_main
from mltoolkit.cli.context import emit
from mltoolkit.errors import DeniedError, Error, ExternalError, InputError

HEAVY = ("mlflow", "great_expectations", "pandas", "pyspark", "sigstore", "docker", "numpy")


def _discover() -> tuple[list[tuple[str, ...]], dict[str, str]]:
    """Every command path (``("keys", "generate")``...), and the names that fail to load."""
    paths: list[tuple[str, ...]] = []
    broken: dict[str, str] = {}

    def walk(command: click.Command, path: tuple[str, ...], parent: click.Context) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=path[-1], parent=parent)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    walk(sub, (*path, name), ctx)

    root = click.Context(cli_main.cli, info_name="mltoolkit")
    for name in sorted(cli_main.COMMANDS):
        try:
            command = cli_main.cli.get_command(root, name)
        except Exception as exc:  # reported by test_every_registered_command_loads
            broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        if command is not None:
            walk(command, (name,), root)
    return paths, broken


COMMAND_PATHS, BROKEN = _discover()
IDS = [" ".join(path) for path in COMMAND_PATHS]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``mltoolkit ARGV`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        cli_main.main(argv)
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def run_cli(args: list[str], cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python [EXTRA] -m mltoolkit ARGS`` in a fresh interpreter, run from ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, *extra, "-m", "mltoolkit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_were_found():
    assert COMMAND_PATHS, "COMMANDS registers no command that loads"
    assert {path[0] for path in COMMAND_PATHS} | set(BROKEN) == set(cli_main.COMMANDS)


@pytest.mark.parametrize("name", sorted(cli_main.COMMANDS))
def test_every_registered_command_loads(name):
    assert name not in BROKEN, f"COMMANDS[{name!r}] does not load: {BROKEN.get(name)}"


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=IDS)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_unknown_option_is_one_line_and_exit_2(path, json_flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = (["--json"] if json_flag else []) + [*path, "--no-such-option"]
    code, out, err = run_main(argv, capsys)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "--no-such-option" in lines[0]
    if json_flag:
        doc = json.loads(out)
        assert doc["ok"] is False
        assert doc["exit_code"] == 2
        assert "--no-such-option" in doc["error"]["message"]
    else:
        assert out == ""


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=IDS)
def test_json_without_arguments_is_still_json(path, capsys, tmp_path, monkeypatch):
    # Run with no arguments in an empty directory, with no credentials: whatever the command
    # makes of that (help for a group, a missing option...), stdout must be one JSON document.
    monkeypatch.chdir(tmp_path)
    for key in ("MLTOOLKIT_KEY_PASSWORD", "COSIGN_PASSWORD", "MLTOOLKIT_POLICY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = run_main(["--json", *path], capsys)
    assert code in (0, 1, 2, 3)
    assert "Traceback" not in err
    doc = json.loads(out)
    assert isinstance(doc, dict)
    if code:
        assert doc["ok"] is False and doc["exit_code"] == code


def test_help_lists_every_command(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for name, (_, summary) in cli_main.COMMANDS.items():
        assert name in out and summary in out


@pytest.mark.parametrize("path", [(), *COMMAND_PATHS], ids=["mltoolkit", *IDS])
def test_help_imports_no_heavy_library(path, tmp_path):
    result = run_cli([*path, "--help"], tmp_path, "-X", "importtime")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout
    imported = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert imported, "no -X importtime output"
    assert not imported & set(HEAVY), f"--help imported {sorted(imported & set(HEAVY))}"


# --- errors raised inside a command --------------------------------------------------------


@pytest.fixture
def failing_command(monkeypatch):
    """Registers ``mltoolkit boom KIND``, a test command that raises the error named."""
    errors: dict[str, Exception] = {
        "input": InputError("the suite is empty", where="suite.yaml:3", fix="add expectations"),
        "denied": DeniedError("signature does not verify", where="r/x@sha256:ab"),
        "external": ExternalError("registry answered 503", where="127.0.0.1:5000"),
        "bug": KeyError("oops"),
    }

    @click.command("boom")
    @click.argument("kind")
    def boom(kind: str) -> None:
        if kind == "gate":
            # A gate prints its result first, then says no.
            emit({"verdict": "fail"}, "verdict: fail")
            raise DeniedError("gate failed", where="r/x@sha256:ab").after_result()
        if kind == "exit":
            click.get_current_context().exit(4)
        raise errors[kind]

    module = types.ModuleType("mltoolkit_test_boom")
    module.boom = boom  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mltoolkit_test_boom", module)
    monkeypatch.setitem(cli_main.COMMANDS, "boom", ("mltoolkit_test_boom:boom", "Fails."))
    return errors


@pytest.mark.parametrize(
    ("kind", "code", "line"),
    [
        ("input", 2, "error: suite.yaml:3: the suite is empty; add expectations"),
        ("denied", 1, "error: r/x@sha256:ab: signature does not verify"),
        ("external", 3, "error: 127.0.0.1:5000: registry answered 503"),
    ],
)
def test_error_inside_a_command_is_one_line(failing_command, capsys, kind, code, line):
    exit_code, out, err = run_main(["boom", kind], capsys)
    assert (exit_code, out, err) == (code, "", line + "\n")

    exit_code, out, err = run_main(["--json", "boom", kind], capsys)
    assert exit_code == code
    assert err == line + "\n"
    error = failing_command[kind]
    assert isinstance(error, Error)
    assert json.loads(out) == {
        "ok": False,
        "exit_code": code,
        "error": {"kind": type(error).__name__, "message": error.diagnostics()},
    }


def test_a_gate_keeps_its_result_as_the_only_json_document(failing_command, capsys):
    exit_code, out, err = run_main(["--json", "boom", "gate"], capsys)
    assert exit_code == 1
    assert json.loads(out) == {"verdict": "fail"}
    assert err == "error: r/x@sha256:ab: gate failed\n"


def test_ctx_exit_code_is_the_process_exit_code(failing_command, capsys):
    exit_code, _, _ = run_main(["boom", "exit"], capsys)
    assert exit_code == 4


def test_verbose_shows_the_traceback(failing_command, capsys):
    exit_code, _, err = run_main(["--verbose", "boom", "denied"], capsys)
    assert exit_code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1] == "error: r/x@sha256:ab: signature does not verify"


def test_a_bug_is_one_line_with_exit_3(failing_command, capsys):
    exit_code, _, err = run_main(["boom", "bug"], capsys)
    assert exit_code == 3
    assert len(err.splitlines()) == 1
    assert "unexpected KeyError" in err and "--verbose" in err
    exit_code, _, err = run_main(["-v", "boom", "bug"], capsys)
    assert "Traceback (most recent call last)" in err


def test_error_in_a_subprocess_has_no_traceback(tmp_path):
    # The real entry point, end to end: an unknown command.
    result = run_cli(["--json", "no-such-command"], tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--json", "scan"], True),
        (["--policy", "p.yaml", "--json", "scan"], True),
        (["--policy", "--json", "scan"], False),  # "--json" is the policy file's name here
        (["scan", "--json", "out.json"], False),  # the command's own report option
        (["validate-data", "--json=out.json"], False),
        ([], False),
    ],
)
def test_global_flags_are_read_only_before_the_command(argv, expected):
    from mltoolkit.cli.main import _wants

    assert _wants("--json", argv) is expected
