"""Choosing the adapter from the environment, the local adapter and the secret register."""

from __future__ import annotations

import io

import pytest

from mltoolkit.ci import CIPlatform, RunInfo, detect, masking, redact
from mltoolkit.errors import InputError


@pytest.fixture(autouse=True)
def _no_secrets_between_tests():
    masking.forget_all()
    yield
    masking.forget_all()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "local"),
        ({"CI": "true"}, "local"),
        ({"GITHUB_ACTIONS": "true"}, "github"),
        ({"GITHUB_ACTIONS": "false"}, "local"),
        ({"GITLAB_CI": "true"}, "gitlab"),
        ({"GITLAB_CI": "true", "MLTOOLKIT_PLATFORM": "local"}, "local"),
        ({"MLTOOLKIT_PLATFORM": "GitLab"}, "gitlab"),
        ({"GITLAB_CI": "true", "GITHUB_ACTIONS": "true"}, "github"),
    ],
)
def test_detect_picks_the_platform(environ, expected):
    adapter = detect(environ)
    assert adapter.name == expected
    assert isinstance(adapter, CIPlatform)
    assert adapter.run_info().platform == expected


def test_detect_reads_os_environ_by_default(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("MLTOOLKIT_PLATFORM", raising=False)
    monkeypatch.setenv("GITLAB_CI", "true")
    assert detect().name == "gitlab"


def test_unknown_platform_override_is_an_input_error():
    with pytest.raises(InputError, match="MLTOOLKIT_PLATFORM: unknown platform 'jenkins'"):
        detect({"MLTOOLKIT_PLATFORM": "jenkins"})


def test_local_adapter_prints_to_stderr_only(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    adapter = detect({})
    adapter.set_outputs({"digest": "sha256:00"})
    adapter.summary("# Result\n")
    adapter.error("broken", file="a.yaml", line=2)
    adapter.warning("odd", file="b.yaml")
    with adapter.section("Step"):
        pass
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: a.yaml:2: broken",
        "warning: b.yaml: odd",
        "-- Step",
    ]
    assert list(tmp_path.iterdir()) == []
    assert adapter.run_info() == RunInfo(platform="local")


def test_local_summary_goes_to_the_named_file_only(capsys, tmp_path):
    target = tmp_path / "summary.md"
    detect({"MLTOOLKIT_SUMMARY": str(target)}).summary("# Result\n")
    assert target.read_text() == "# Result\n\n"
    assert capsys.readouterr().err == ""


def test_local_adapter_still_checks_outputs():
    with pytest.raises(InputError, match="output name"):
        detect({}).set_outputs({"bad name": "x"})


def test_local_mask_redacts_what_it_prints():
    stream = io.StringIO()
    adapter = detect({}, stream=stream)
    adapter.mask("hunter2hunter2")
    adapter.error("password hunter2hunter2 rejected")
    assert stream.getvalue() == "error: password *** rejected\n"


def test_redact_covers_lines_and_escaped_forms():
    masking.register("first-line\nsecond-line/with+chars")
    text = 'a first-line b "first-line\\nsecond-line/with+chars" c second-line%2Fwith%2Bchars'
    assert redact(text) == 'a *** b "***" c ***'


def test_short_lines_of_a_multiline_secret_are_not_redacted_alone():
    masking.register("ab\nlong-enough")
    assert redact("ab long-enough") == "ab ***"
    assert redact("ab\nlong-enough") == "***"


def test_blank_secrets_are_ignored():
    assert masking.register("  \n ") == []
    assert redact("some text") == "some text"
