"""Default OCI labels: where each value comes from, SOURCE_DATE_EPOCH, precedence, safe URLs."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mltoolkit.build import labels
from mltoolkit.build.source import SourceInfo, public_url, read_source
from mltoolkit.ci import RunInfo
from mltoolkit.errors import InputError


def test_source_date_epoch_fixes_the_created_time():
    created = labels.build_time("1700000000")
    assert labels.rfc3339(created) == "2023-11-14T22:13:20Z"


def test_created_is_now_without_source_date_epoch():
    now = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert labels.rfc3339(labels.build_time(None, now)) == "2026-01-02T03:04:05Z"
    assert labels.build_time("  ", now) == now


@pytest.mark.parametrize("value", ["yesterday", "-5", "1.5", "99999999999999999999"])
def test_bad_source_date_epoch_is_an_input_error(value):
    with pytest.raises(InputError) as info:
        labels.build_time(value)
    assert info.value.where == "SOURCE_DATE_EPOCH"


def test_default_labels_leave_out_what_is_unknown():
    source = SourceInfo(None, None, None, None, ".")
    created = datetime(2024, 1, 1, tzinfo=UTC)
    assert labels.default_labels(source, created=created, version=None) == {
        labels.CREATED: "2024-01-01T00:00:00Z"
    }
    full = SourceInfo("https://github.com/o/r", "refs/heads/main", "c" * 40, False, ".")
    assert labels.default_labels(full, created=created, version="1.2") == {
        labels.CREATED: "2024-01-01T00:00:00Z",
        labels.SOURCE: "https://github.com/o/r",
        labels.REVISION: "c" * 40,
        labels.VERSION: "1.2",
    }


def test_version_is_the_first_tag_that_is_not_latest():
    assert labels.version_from_tags(["latest", "1.0", "1"]) == "1.0"
    assert labels.version_from_tags(["latest"]) is None


def test_user_labels_win_and_the_replaced_defaults_are_named():
    merged, replaced = labels.merge_labels(
        {labels.VERSION: "1.0", labels.CREATED: "t"},
        {labels.VERSION: "2.0", labels.CREATED: "t", "team": "ml"},
    )
    assert merged == {labels.VERSION: "2.0", labels.CREATED: "t", "team": "ml"}
    assert replaced == [labels.VERSION]


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("https://x-access-token:SECRET@github.com/o/r.git", "https://github.com/o/r"),
        (
            "https://gitlab-ci-token:SECRET@gitlab.example.com:8443/g/p",
            "https://gitlab.example.com:8443/g/p",
        ),
        ("git@github.com:o/r.git", "https://github.com/o/r"),
        ("ssh://git@gitlab.example.com:2222/g/p.git", "https://gitlab.example.com/g/p"),
    ],
)
def test_remote_urls_are_published_without_credentials(remote, url):
    assert public_url(remote) == url
    assert "SECRET" not in public_url(remote)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    _git(tmp_path, "remote", "add", "origin", "https://user:TOKEN@git.example.com/team/model.git")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_source_is_read_from_git_in_the_context(repo):
    info = read_source(repo / "app")
    assert info.commit == _git(repo, "rev-parse", "HEAD")
    assert info.repository_url == "https://git.example.com/team/model"
    assert info.ref == "refs/heads/main"
    assert info.context_path == "app"
    assert info.dirty is False
    assert info.relative(repo / "app" / "Dockerfile") == "app/Dockerfile"
    (repo / "app" / "Dockerfile").write_text("FROM scratch\nLABEL x=1\n")
    assert read_source(repo / "app").dirty is True


def test_ci_run_info_gives_url_and_ref_but_git_gives_the_commit(repo):
    run = RunInfo(
        platform="github",
        repository_url="https://github.com/o/r",
        ref="refs/tags/v1",
        commit="f" * 40,
    )
    info = read_source(repo / "app", run)
    assert info.repository_url == "https://github.com/o/r"
    assert info.ref == "refs/tags/v1"
    assert info.commit == _git(repo, "rev-parse", "HEAD")


def test_outside_git_only_the_ci_run_is_known(tmp_path):
    info = read_source(tmp_path, RunInfo(platform="gitlab", commit="a" * 40))
    assert info.commit == "a" * 40
    assert info.repository_url is None
    assert info.dirty is None
    assert info.context_path == str(tmp_path)
