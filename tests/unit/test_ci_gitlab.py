"""The GitLab CI adapter: dotenv report, summary file, sections, masking and run identity.

``gitlab_reads`` is a fake of GitLab's dotenv parser (Ci::ParseDotenvArtifactService:
``/^(.*?)=(.*)$/`` per line, both sides stripped, keys of ASCII letters, digits and '_').
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from mltoolkit.ci import detect, masking
from mltoolkit.ci.gitlab import GitLabCI, dotenv_key
from mltoolkit.errors import InputError

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(autouse=True)
def _no_secrets_between_tests():
    masking.forget_all()
    yield
    masking.forget_all()


def gitlab_reads(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines(keepends=True):
        match = re.findall(r"^(.*?)=(.*)$", line, flags=re.MULTILINE)
        assert match, f"Invalid Format: {line!r}"
        key, value = (part.strip() for part in match[-1])
        assert re.fullmatch(r"[A-Za-z0-9_]+", key), f"bad key {key!r}"
        values[key] = value
    return values


@pytest.fixture
def gitlab_env(tmp_path: Path) -> dict[str, str]:
    return {
        "GITLAB_CI": "true",
        "MLTOOLKIT_DOTENV": str(tmp_path / "out" / "build.env"),
        "MLTOOLKIT_SUMMARY": str(tmp_path / "summary.md"),
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_PROJECT_URL": "https://gitlab.example.com/acme/fraud",
        "CI_PROJECT_PATH": "acme/fraud",
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
        "CI_PIPELINE_ID": "981",
        "CI_JOB_URL": "https://gitlab.example.com/acme/fraud/-/jobs/5521",
        "CI_CONFIG_PATH": ".gitlab-ci.yml",
        "GITLAB_USER_LOGIN": "alice",
    }


def test_outputs_land_in_the_dotenv_report_and_merge(gitlab_env):
    adapter = detect(gitlab_env, stream=io.StringIO())
    adapter.set_outputs({"digest": "sha256:" + "ab" * 32, "image-ref": "r/x@sha256:1=2"})
    adapter.set_outputs({"digest": "sha256:" + "cd" * 32, "signed": "true"})
    path = Path(gitlab_env["MLTOOLKIT_DOTENV"])
    assert gitlab_reads(path.read_text()) == {
        "MLTOOLKIT_DIGEST": "sha256:" + "cd" * 32,
        "MLTOOLKIT_IMAGE_REF": "r/x@sha256:1=2",
        "MLTOOLKIT_SIGNED": "true",
    }
    assert not [p for p in path.parent.iterdir() if p.name != "build.env"]  # no temp left


def test_dotenv_defaults_to_the_working_directory(gitlab_env, tmp_path, monkeypatch):
    del gitlab_env["MLTOOLKIT_DOTENV"]
    monkeypatch.chdir(tmp_path)
    GitLabCI(gitlab_env).set_outputs({"a": "1"})
    assert (tmp_path / "mltoolkit.env").read_text() == "MLTOOLKIT_A=1\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("two\nlines", "a line break"),
        ("a\rb", "a carriage return"),
        ("cost $HOME", "'\\$'"),
        (" padded", "leading or trailing blanks"),
        ("padded\t", "leading or trailing blanks"),
    ],
)
def test_values_gitlab_would_change_are_refused(gitlab_env, value, reason):
    adapter = GitLabCI(gitlab_env)
    adapter.set_outputs({"kept": "yes"})
    with pytest.raises(InputError, match=reason):
        adapter.set_outputs({"bad": value, "other": "x"})
    # Nothing of a refused call is written; what was there stays.
    assert gitlab_reads(Path(gitlab_env["MLTOOLKIT_DOTENV"]).read_text()) == {
        "MLTOOLKIT_KEPT": "yes"
    }


def test_names_that_collide_once_upper_cased_are_refused(gitlab_env):
    with pytest.raises(InputError, match="both become MLTOOLKIT_A_B"):
        GitLabCI(gitlab_env).set_outputs({"a-b": "1", "A_b": "2"})
    assert dotenv_key("image-digest") == "MLTOOLKIT_IMAGE_DIGEST"


def test_a_corrupt_existing_report_is_an_input_error(gitlab_env):
    path = Path(gitlab_env["MLTOOLKIT_DOTENV"])
    path.parent.mkdir()
    path.write_text("not a dotenv line\n")
    with pytest.raises(InputError, match="not KEY=VALUE"):
        GitLabCI(gitlab_env).set_outputs({"a": "1"})


def test_oversized_report_warns(gitlab_env):
    stream = io.StringIO()
    GitLabCI(gitlab_env, stream).set_outputs({f"v{i}": "x" for i in range(21)})
    assert "GitLab.com refuses" in ANSI.sub("", stream.getvalue())


def test_summary_goes_to_a_file_and_a_section(gitlab_env):
    stream = io.StringIO()
    adapter = GitLabCI(gitlab_env, stream)
    adapter.summary("# Scan\n| a |")
    adapter.summary("more")
    assert Path(gitlab_env["MLTOOLKIT_SUMMARY"]).read_text() == "# Scan\n| a |\n\nmore\n\n"
    log = stream.getvalue()
    assert re.search(r"\x1b\[0Ksection_start:\d+:mltoolkit_summary_1\r\x1b\[0KSummary\n", log)
    assert re.search(r"\x1b\[0Ksection_end:\d+:mltoolkit_summary_1\r\x1b\[0K\n", log)
    assert "# Scan\n| a |\n" in log


def test_sections_collapse_on_request_and_close_on_error(gitlab_env):
    stream = io.StringIO()
    adapter = GitLabCI(gitlab_env, stream)
    with pytest.raises(RuntimeError), adapter.section("Trivy: scan!", collapsed=True):
        raise RuntimeError("x")
    lines = stream.getvalue().split("\n")
    assert re.fullmatch(
        r"\x1b\[0Ksection_start:\d+:mltoolkit_trivy_scan_1\[collapsed=true\]\r\x1b\[0KTrivy: scan!",
        lines[0],
    )
    assert re.fullmatch(r"\x1b\[0Ksection_end:\d+:mltoolkit_trivy_scan_1\r\x1b\[0K", lines[1])


def test_errors_and_warnings_are_plain_lines(gitlab_env):
    stream = io.StringIO()
    adapter = GitLabCI(gitlab_env, stream)
    adapter.error("bad thing", file="policy.yaml", line=3)
    adapter.warning("careful")
    assert ANSI.sub("", stream.getvalue()).splitlines() == [
        "error: policy.yaml:3: bad thing",
        "warning: careful",
    ]


def test_masked_secrets_never_printed_or_written(gitlab_env, capsys):
    secret = "glpat-Sup3rS3cretT0ken\nsecond-line-of-it"
    adapter = GitLabCI(gitlab_env)
    adapter.mask(secret)
    adapter.error(f"auth failed for {secret}", file="x", line=1)
    adapter.warning('json: "glpat-Sup3rS3cretT0ken\\nsecond-line-of-it"')
    adapter.summary(f"token {secret} and url glpat-Sup3rS3cretT0ken%0Asecond")
    with adapter.section("with second-line-of-it"):
        pass
    with pytest.raises(InputError, match="masked secret"):
        adapter.set_outputs({"token": "glpat-Sup3rS3cretT0ken"})
    adapter.set_outputs({"safe": "value"})

    captured = capsys.readouterr()
    written = Path(gitlab_env["MLTOOLKIT_SUMMARY"]).read_text()
    written += Path(gitlab_env["MLTOOLKIT_DOTENV"]).read_text()
    everything = captured.out + captured.err + written
    for part in ("glpat-Sup3rS3cretT0ken", "second-line-of-it", "Sup3rS3cret"):
        assert part not in everything
    assert "***" in captured.err and "***" in written


def test_run_info(gitlab_env):
    info = detect(gitlab_env).run_info()
    assert info.to_dict() == {
        "platform": "gitlab",
        "repository_url": "https://gitlab.example.com/acme/fraud",
        "ref": "refs/heads/main",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "workflow": ".gitlab-ci.yml",
        "run_id": "981",
        "run_url": "https://gitlab.example.com/acme/fraud/-/jobs/5521",
        "actor": "alice",
        "builder_id": "https://gitlab.example.com/acme/fraud//.gitlab-ci.yml@refs/heads/main",
    }


def test_run_info_for_tags_and_merge_requests(gitlab_env):
    tag = GitLabCI({**gitlab_env, "CI_COMMIT_TAG": "v1.2.0", "CI_COMMIT_REF_NAME": "v1.2.0"})
    assert tag.run_info().ref == "refs/tags/v1.2.0"
    mr = GitLabCI({**gitlab_env, "CI_MERGE_REQUEST_IID": "17"})
    assert mr.run_info().ref == "refs/merge-requests/17/head"
    bare = GitLabCI({"GITLAB_CI": "true"}).run_info()
    assert bare.repository_url is None and bare.builder_id is None
