"""The GitHub Actions adapter, read back the way GitHub's runner reads it.

``parse_env_file`` and ``parse_command`` re-implement the runner's parsers (actions/runner:
FileCommandManager.cs, ActionCommand.cs) as a fake of the runner, which cannot run here.
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest

from mltoolkit.ci import detect, masking
from mltoolkit.ci.github import GitHubActions, escape_data, escape_property
from mltoolkit.errors import ExternalError, InputError


@pytest.fixture(autouse=True)
def _no_secrets_between_tests():
    masking.forget_all()
    yield
    masking.forget_all()


def parse_env_file(text: str) -> dict[str, str]:
    """GitHub's parser of $GITHUB_OUTPUT / $GITHUB_ENV (Linux: lines end at LF)."""
    values: dict[str, str] = {}
    index = 0

    def read_line() -> tuple[str | None, int]:
        nonlocal index
        if index >= len(text):
            return None, 0
        end = text.find("\n", index)
        if end < 0:
            line, index = text[index:], len(text)
            return line, 0
        line, index = text[index:end], end + 1
        return line, 1

    line, _ = read_line()
    while line is not None:
        if line:
            eq, heredoc = line.find("="), line.find("<<")
            if eq >= 0 and (heredoc < 0 or eq < heredoc):
                name, value = line.split("=", 1)
                values[name] = value
            elif heredoc >= 0:
                name, delimiter = line.split("<<", 1)
                assert name and delimiter
                start = end = index
                temp, newline = read_line()
                while temp != delimiter:
                    assert temp is not None, f"matching delimiter not found {delimiter!r}"
                    end = index - newline
                    temp, newline = read_line()
                values[name] = text[start:end] if end > start else ""
            else:
                raise AssertionError(f"invalid format {line!r}")
        line, _ = read_line()
    return values


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


_COMMAND = re.compile(r"^::(?P<name>[a-z-]+)(?: (?P<props>[^:]*))?::(?P<data>.*)$")


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """The runner's reading of one ``::command props::data`` line."""
    match = _COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    props = {}
    if match["props"]:
        for pair in match["props"].split(","):
            key, value = pair.split("=", 1)
            props[key] = unescape_property(value)
    return match["name"], props, unescape_data(match["data"])


@pytest.fixture
def github_env(tmp_path: Path) -> dict[str, str]:
    output = tmp_path / "output"
    summary = tmp_path / "summary"
    output.touch()
    summary.touch()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/fraud",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_WORKFLOW_REF": "acme/fraud/.github/workflows/release.yml@refs/heads/main",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_ACTOR": "octocat",
    }


def test_outputs_survive_newlines_and_tricky_values(github_env):
    stream = io.StringIO()
    adapter = detect(github_env, stream=stream)
    values = {
        "digest": "sha256:" + "ab" * 32,
        "report": "line one\nline two\n\nEOF\nname=value\nx<<y\n",
        "trailing-newline": "a\n",
        "empty": "",
        "crlf": "a\r\nb",
        "unicode": "résumé ✓",
    }
    adapter.set_outputs(values)
    adapter.set_outputs({"second": "call"})

    # The runner reads bytes as UTF-8 without newline translation.
    text = Path(github_env["GITHUB_OUTPUT"]).read_bytes().decode("utf-8")
    assert parse_env_file(text) == {**values, "second": "call"}
    assert stream.getvalue() == ""


def test_delimiter_is_random_and_never_inside_the_value(github_env, monkeypatch):
    adapter = GitHubActions(github_env)
    adapter.set_outputs({"a": "x", "b": "y"})
    text = Path(github_env["GITHUB_OUTPUT"]).read_text()
    delimiters = re.findall(r"^[ab]<<(.+)$", text, flags=re.MULTILINE)
    assert len(delimiters) == 2
    assert delimiters[0] != delimiters[1]
    assert all(d.startswith("ghadelimiter_") for d in delimiters)

    # A value that holds the first candidate delimiter forces a new draw.
    fixed = [uuid.UUID(int=1), uuid.UUID(int=1), uuid.UUID(int=2)]
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed.pop(0))
    hostile = f"before\nghadelimiter_{uuid.UUID(int=1)}\ninjected=1"
    Path(github_env["GITHUB_OUTPUT"]).write_text("")
    adapter.set_outputs({"value": hostile})
    text = Path(github_env["GITHUB_OUTPUT"]).read_text()
    assert f"value<<ghadelimiter_{uuid.UUID(int=2)}\n" in text
    assert parse_env_file(text) == {"value": hostile}


@pytest.mark.parametrize("name", ["", "a b", "a=b", "a<<b", "1st", "x\ny", "ü"])
def test_bad_output_names_are_refused(github_env, name):
    with pytest.raises(InputError, match="output name"):
        GitHubActions(github_env).set_outputs({name: "v"})
    assert Path(github_env["GITHUB_OUTPUT"]).read_text() == ""


def test_outputs_without_github_output_fail_clearly(github_env):
    del github_env["GITHUB_OUTPUT"]
    with pytest.raises(ExternalError, match="GITHUB_OUTPUT is not set"):
        GitHubActions(github_env).set_outputs({"a": "b"})


def test_summary_is_appended(github_env):
    adapter = GitHubActions(github_env, io.StringIO())
    adapter.summary("# Scan\n\n| a | b |")
    adapter.summary("second")
    assert Path(github_env["GITHUB_STEP_SUMMARY"]).read_text() == (
        "# Scan\n\n| a | b |\n\nsecond\n\n"
    )


def test_summary_is_truncated_at_the_runner_limit(github_env, monkeypatch):
    monkeypatch.setattr("mltoolkit.ci.github.SUMMARY_LIMIT_BYTES", 200)
    stream = io.StringIO()
    adapter = GitHubActions(github_env, stream)
    adapter.summary("x" * 500)
    written = Path(github_env["GITHUB_STEP_SUMMARY"]).read_bytes()
    assert len(written) <= 200
    assert b"truncated" in written
    assert stream.getvalue().startswith("::warning::")


def test_annotations_escape_message_and_properties(github_env):
    stream = io.StringIO()
    adapter = GitHubActions(github_env, stream)
    message = "100% broken\r\nsecond line: a, b"
    path = "dir:x/a,b%.py"
    adapter.error(message, file=path, line=7)
    adapter.warning("plain")
    adapter.error("no line", file="f.py")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0] == (
        "::error file=dir%3Ax/a%2Cb%25.py,line=7::100%25 broken%0D%0Asecond line: a, b"
    )
    assert parse_command(lines[0]) == ("error", {"file": path, "line": "7"}, message)
    assert parse_command(lines[1]) == ("warning", {}, "plain")
    assert parse_command(lines[2]) == ("error", {"file": "f.py"}, "no line")


def test_escape_functions_match_the_toolkit():
    assert escape_data("%\r\n:,") == "%25%0D%0A:,"
    assert escape_property("%\r\n:,") == "%25%0D%0A%3A%2C"


def test_sections_are_groups_and_do_not_nest(github_env):
    stream = io.StringIO()
    adapter = GitHubActions(github_env, stream)
    with adapter.section("Build\nimage"), adapter.section("inner"):
        adapter.warning("w")
    assert stream.getvalue().splitlines() == [
        "::group::Build%0Aimage",
        "-- inner",
        "::warning::w",
        "::endgroup::",
    ]


def test_group_is_closed_when_the_body_fails(github_env):
    stream = io.StringIO()
    adapter = GitHubActions(github_env, stream)
    with pytest.raises(RuntimeError), adapter.section("s"):
        raise RuntimeError("boom")
    assert stream.getvalue().splitlines()[-1] == "::endgroup::"


def test_mask_adds_each_line_and_nothing_else_leaks(github_env, capsys):
    secret = "-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA7\n-----END KEY-----"
    adapter = GitHubActions(github_env)
    adapter.mask(secret)
    adapter.error(f"failed with {secret}", file=f"{secret}.pem", line=1)
    adapter.warning("line: MIIEpAIBAAKCAQEA7")
    adapter.summary(f"key was {secret}")
    with adapter.section(f"using {secret}"):
        pass
    with pytest.raises(InputError, match="masked secret"):
        adapter.set_outputs({"key": secret})
    with pytest.raises(InputError, match="masked secret"):
        adapter.set_outputs({"part": "x MIIEpAIBAAKCAQEA7 y"})

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    masks = [parse_command(line)[2] for line in lines if line.startswith("::add-mask::")]
    assert masks == secret.splitlines()
    others = "\n".join(line for line in lines if not line.startswith("::add-mask::"))
    files = (
        Path(github_env["GITHUB_OUTPUT"]).read_text()
        + Path(github_env["GITHUB_STEP_SUMMARY"]).read_text()
    )
    for part in secret.splitlines():
        assert part not in others
        assert part not in files
    assert "***" in others and "***" in files


def test_mask_escapes_percent_and_skips_blank(github_env):
    stream = io.StringIO()
    adapter = GitHubActions(github_env, stream)
    adapter.mask("p%ss:word")
    adapter.mask("   ")
    assert stream.getvalue() == "::add-mask::p%25ss:word\n"


def test_run_info(github_env):
    info = detect(github_env).run_info()
    assert info.platform == "github"
    assert info.repository_url == "https://github.com/acme/fraud"
    assert info.ref == "refs/heads/main"
    assert info.commit == github_env["GITHUB_SHA"]
    assert info.workflow == "acme/fraud/.github/workflows/release.yml@refs/heads/main"
    assert info.run_id == "4242"
    assert info.run_url == "https://github.com/acme/fraud/actions/runs/4242/attempts/2"
    assert info.actor == "octocat"
    assert info.builder_id == (
        "https://github.com/acme/fraud/.github/workflows/release.yml@refs/heads/main"
    )


def test_run_info_with_variables_missing():
    info = GitHubActions({"GITHUB_ACTIONS": "true", "GITHUB_SHA": ""}).run_info()
    assert info.platform == "github"
    assert info.commit is None
    assert info.run_url is None
    assert info.builder_id is None
