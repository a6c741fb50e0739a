"""The ignore file: required reason and expiry, file:line errors, matching, expiry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mltoolkit.errors import ExitCode, InputError
from mltoolkit.scan.findings import Finding
from mltoolkit.scan.ignore import load_ignore_file, parse_ignore_text
from mltoolkit.scan.severity import Severity

VULN = Finding(
    kind="vulnerability",
    id="CVE-2018-18074",
    severity=Severity.HIGH,
    title="t",
    target="Python",
    package="requests",
    installed_version="2.19.0",
    fixed_version="2.20.0",
    purl="pkg:pypi/requests@2.19.0",
    path="usr/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA",
)
SECRET = Finding(
    kind="secret",
    id="aws-access-key-id",
    severity=Severity.CRITICAL,
    title="AWS Access Key ID",
    target="app/credentials",
    path="app/credentials",
    line=1,
)


def test_entries_are_read_with_their_location() -> None:
    text = """\
ignores:
  - id: CVE-2018-18074
    package: requests
    reason: no redirects to untrusted hosts
    expires: 2030-01-31
  - id: aws-access-key-id
    path: app/*
    reason: canary key
    expires: "2030-02-01"
"""
    first, second = parse_ignore_text(text, "ignore.yaml")
    assert (first.id, first.package, first.expires) == (
        "CVE-2018-18074",
        "requests",
        dt.date(2030, 1, 31),
    )
    assert first.source == "ignore.yaml:2"
    assert second.source == "ignore.yaml:6"
    assert first.matches(VULN) and not first.matches(SECRET)
    assert second.matches(SECRET) and not second.matches(VULN)


def test_a_top_level_list_is_accepted() -> None:
    (entry,) = parse_ignore_text("- {id: X, reason: r, expires: 2030-01-01}\n", "f")
    assert entry.id == "X"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("ignores:\n  - id: CVE-1\n    expires: 2030-01-01\n", 2, "has no 'reason'"),
        ("ignores:\n  - id: CVE-1\n    reason: r\n", 2, "has no 'expires'"),
        ("ignores:\n  - reason: r\n    expires: 2030-01-01\n", 2, "has no 'id'"),
        ("ignores:\n  - id: CVE-1\n    reason: r\n    expires: soon\n", 2, "not a date"),
        (
            "ignores:\n  - id: CVE-1\n    reason: r\n    expires: 2030-01-01\n    owner: me\n",
            5,
            "unknown key 'owner'",
        ),
        (
            "ignores:\n  - id: CVE-1\n    reason: ''\n    expires: 2030-01-01\n",
            3,
            "'reason' must be",
        ),
        ("ignores: [\n", 2, "not valid YAML"),
    ],
)
def test_bad_entries_are_input_errors_with_file_and_line(
    text: str, line: int, message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_ignore_text(text, "ignore.yaml")
    assert caught.value.where == f"ignore.yaml:{line}"
    assert caught.value.exit_code == ExitCode.USAGE


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the ignore file"):
        load_ignore_file(tmp_path / "absent.yaml")


def test_optional_fields_narrow_the_match() -> None:
    def entry(extra: str) -> bool:
        (e,) = parse_ignore_text(
            f"- {{id: cve-2018-18074, reason: r, expires: 2030-01-01{extra}}}", "f"
        )
        return e.matches(VULN)

    assert entry("")  # ids compare without case
    assert entry(", package: requests")
    assert not entry(", package: urllib3")
    assert entry(", purl: pkg:pypi/requests")
    assert entry(", purl: 'pkg:pypi/requests@2.19.0'")
    assert not entry(", purl: 'pkg:pypi/requests@2.20.0'")
    assert entry(", path: usr/lib/*/requests-*")
    assert not entry(", path: opt/*")


def test_expiry_is_inclusive_of_the_last_day() -> None:
    (e,) = parse_ignore_text("- {id: X, reason: r, expires: 2030-01-31}", "f")
    assert not e.expired(dt.date(2030, 1, 31))
    assert e.expired(dt.date(2030, 2, 1))


def test_empty_file_means_no_entries() -> None:
    assert parse_ignore_text("", "f") == ()
    assert parse_ignore_text("ignores:\n", "f") == ()
