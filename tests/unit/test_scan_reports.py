"""Reports from real trivy JSON: SARIF 2.1.0 and GitLab's schema validate; markdown reads right."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from mltoolkit.scan.db import DbOptions, DbStatus
from mltoolkit.scan.findings import parse_trivy_report
from mltoolkit.scan.gate import GateOptions, evaluate
from mltoolkit.scan.ignore import parse_ignore_text
from mltoolkit.scan.reports import write_json_atomic
from mltoolkit.scan.reports.gitlab import to_gitlab
from mltoolkit.scan.reports.markdown import to_markdown
from mltoolkit.scan.reports.sarif import to_sarif
from mltoolkit.scan.runner import ScanOutcome, ScanRequest
from mltoolkit.scan.severity import Severity

DATA = Path(__file__).resolve().parents[1] / "data"
IMAGE = "127.0.0.1:5555/app@sha256:" + "ab" * 32
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _schema(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((DATA / "schemas" / name).read_text())


def validate_sarif(doc: object) -> None:
    jsonschema.Draft4Validator(_schema("sarif-schema-2.1.0.json")).validate(doc)


def validate_gitlab(doc: object) -> None:
    schema = _schema("gitlab-container-scanning-report-format-15.2.4.json")
    jsonschema.Draft7Validator(schema).validate(doc)


def outcome(*, stale: bool = False, fail_on: Severity = Severity.HIGH) -> ScanOutcome:
    report = parse_trivy_report(
        json.loads((DATA / "scan" / "trivy-rootfs-report.json").read_text())
    )
    ignores = parse_ignore_text(
        "- {id: DS-0001, reason: base image sets no user, expires: 2026-12-31}\n"
        "- {id: DS-0026, reason: no healthcheck in batch jobs, expires: 2026-01-31}\n",
        "ignore.yaml",
    )
    options = GateOptions(fail_on=fail_on, report_severity=Severity.LOW)
    db = DbOptions(cache_dir=Path("/nonexistent"), allow_stale=stale)
    age = dt.timedelta(days=5 if stale else 0, hours=1)
    request = ScanRequest(
        image=IMAGE, digest=IMAGE.split("@")[1], gate=options, db=db, ignores=ignores
    )
    return ScanOutcome(
        request=request,
        trivy_version=report.trivy_version,
        report=report,
        gate=evaluate(report.findings, options, ignores, today=NOW.date()),
        db=DbStatus(
            updated_at=NOW - age,
            next_update=None,
            downloaded_at=None,
            age=age,
            max_age=dt.timedelta(hours=72),
            source="127.0.0.1:5555/trivy-db:2",
        ),
        started_at=NOW,
        finished_at=NOW + dt.timedelta(seconds=2),
        warnings=("vulnerability DB is stale",) if stale else (),
    )


@pytest.mark.parametrize("fail_on", [Severity.HIGH, Severity.CRITICAL])
def test_sarif_is_valid_and_levels_follow_the_gate(fail_on: Severity) -> None:
    result = outcome(fail_on=fail_on)
    doc = to_sarif(result)
    validate_sarif(doc)
    run = doc["runs"][0]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["aws-access-key-id"] == "error"
    assert levels["CVE-2018-18074"] == "error"  # HIGH is an error by severity either way
    gate = {r["ruleId"]: r["properties"]["gate"] for r in run["results"]}
    assert gate["CVE-2018-18074"] == ("fail" if fail_on == Severity.HIGH else "report")
    assert "DS-0001" not in levels  # ignored findings are not shown
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["CVE-2018-18074"]["properties"]["security-severity"] == "8.0"
    for res in run["results"]:
        assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
    assert run["properties"]["verdict"] == "fail"


def test_gitlab_report_is_valid_and_lists_vulnerabilities_with_fixes() -> None:
    doc = to_gitlab(outcome())
    validate_gitlab(doc)
    vulns = {v["identifiers"][0]["value"]: v for v in doc["vulnerabilities"]}
    assert set(vulns) == {"CVE-2018-18074", "CVE-2023-32681", "CVE-2099-0001"}
    high = vulns["CVE-2018-18074"]
    assert high["severity"] == "High"
    assert high["solution"] == "Upgrade requests to 2.20.0"
    assert high["location"]["dependency"] == {"package": {"name": "requests"}, "version": "2.19.0"}
    assert high["location"]["image"] == IMAGE
    assert vulns["CVE-2099-0001"]["solution"] == "No fixed version is known yet"
    assert len({v["id"] for v in doc["vulnerabilities"]}) == 3


def test_gitlab_report_carries_warnings_and_stays_valid() -> None:
    doc = to_gitlab(outcome(stale=True))
    validate_gitlab(doc)
    assert doc["scan"]["messages"] == [{"level": "warn", "value": "vulnerability DB is stale"}]


def test_markdown_puts_the_verdict_first_and_folds_the_rest() -> None:
    text = to_markdown(outcome())
    first = text.splitlines()[0]
    assert first.startswith("## ❌ Scan FAIL") and IMAGE in first
    failing = text.index("### Findings that failed the gate")
    details = text.index("<details>")
    assert failing < details
    head = text[failing:details]
    assert "| HIGH | CVE-2018-18074 | requests | 2.19.0 | 2.20.0 |" in head
    assert "aws-secret-access-key" in head
    assert "CVE-2023-32681" not in head and "CVE-2023-32681" in text[details:]
    assert "`DS-0026` (ignore.yaml:2) expired 2026-01-31" in text
    assert "base image sets no user" in text


def test_markdown_says_when_the_db_was_stale() -> None:
    assert "STALE" in to_markdown(outcome(stale=True))
    assert "STALE" not in to_markdown(outcome())


def test_result_json_names_expired_entries_and_ignored_reasons(tmp_path: Path) -> None:
    doc = outcome().to_dict()
    assert doc["verdict"] == "fail"
    assert [e["id"] for e in doc["expired_ignores"]] == ["DS-0026"]
    assert doc["expired_ignores"][0]["matched"] == ["DS-0026"]
    assert doc["ignored"][0]["ignored_by"]["reason"] == "base image sets no user"
    assert doc["counts"]["CRITICAL"] == 2
    assert doc["db"]["stale"] is False and doc["trivy"]["version"] == "0.76.0"
    target = tmp_path / "out" / "result.json"
    write_json_atomic(target, doc)
    assert json.loads(target.read_text())["digest"] == doc["digest"]
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_vuln_predicate_wraps_the_result_the_cosign_way() -> None:
    from mltoolkit.scan.predicates import vuln_predicate

    result = outcome()
    predicate = vuln_predicate(result)
    assert set(predicate) == {"invocation", "scanner", "metadata"}
    scanner = predicate["scanner"]
    assert scanner["uri"] == "pkg:github/aquasecurity/trivy@v0.76.0"
    assert scanner["db"]["uri"] == "127.0.0.1:5555/trivy-db:2"
    assert scanner["result"]["verdict"] == "fail"
    assert scanner["result"]["digest"] == IMAGE.split("@")[1]
    assert predicate["metadata"] == {
        "scanStartedOn": "2026-06-01T12:00:00Z",
        "scanFinishedOn": "2026-06-01T12:00:02Z",
    }
    json.dumps(predicate)  # serialisable as is
