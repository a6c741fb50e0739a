"""The gate, from real trivy JSON (tests/data/scan/trivy-rootfs-report.json)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.policy.model import ScanGate, Scanner
from mltoolkit.policy.model import Severity as PolicySeverity
from mltoolkit.scan.findings import parse_trivy_report
from mltoolkit.scan.gate import GateOptions, evaluate
from mltoolkit.scan.ignore import parse_ignore_text
from mltoolkit.scan.settings import Overrides, parse_scanners, resolve
from mltoolkit.scan.severity import Severity

DATA = Path(__file__).resolve().parents[1] / "data" / "scan"
TODAY = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return parse_trivy_report(json.loads((DATA / "trivy-rootfs-report.json").read_text()))


def _ids(findings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(f.id for f in findings)


def test_trivy_report_is_read_into_findings(report) -> None:  # type: ignore[no-untyped-def]
    kinds = {(f.kind, f.id) for f in report.findings}
    assert ("vulnerability", "CVE-2018-18074") in kinds
    assert ("secret", "aws-access-key-id") in kinds
    assert ("misconfiguration", "DS-0002") in kinds
    vuln = next(f for f in report.findings if f.id == "CVE-2018-18074")
    assert (vuln.severity, vuln.package, vuln.installed_version, vuln.fixed_version) == (
        Severity.HIGH,
        "requests",
        "2.19.0",
        "2.20.0",
    )
    assert vuln.purl == "pkg:pypi/requests@2.19.0"
    secret = next(f for f in report.findings if f.kind == "secret")
    assert secret.line == 1 and "****" not in json.dumps(secret.to_dict())
    assert report.trivy_version == "0.76.0"


def test_not_a_trivy_report_is_an_external_error() -> None:
    with pytest.raises(ExternalError, match="SchemaVersion 2"):
        parse_trivy_report({"SchemaVersion": 1})


def test_fail_on_high_fails_on_high_and_secrets(report) -> None:  # type: ignore[no-untyped-def]
    result = evaluate(report.findings, GateOptions(fail_on=Severity.HIGH), today=TODAY)
    assert not result.passed and result.verdict == "fail"
    assert _ids(result.failing) == [
        "CVE-2018-18074",
        "DS-0002",
        "aws-access-key-id",
        "aws-secret-access-key",
    ]
    assert result.counts == {"CRITICAL": 2, "HIGH": 2, "MEDIUM": 2, "LOW": 2, "UNKNOWN": 0}


def test_secrets_fail_whatever_the_threshold(report) -> None:  # type: ignore[no-untyped-def]
    no_secrets = [f for f in report.findings if f.kind != "secret"]
    assert evaluate(no_secrets, GateOptions(fail_on=Severity.CRITICAL), today=TODAY).passed
    result = evaluate(report.findings, GateOptions(fail_on=None), today=TODAY)
    assert not result.passed
    assert {f.kind for f in result.failing} == {"secret"}


def test_report_severity_changes_what_is_shown_not_the_verdict(report) -> None:  # type: ignore[no-untyped-def]
    vulns = [f for f in report.findings if f.kind == "vulnerability"]
    low = evaluate(
        vulns, GateOptions(fail_on=Severity.CRITICAL, report_severity=Severity.LOW), today=TODAY
    )
    high = evaluate(
        vulns, GateOptions(fail_on=Severity.CRITICAL, report_severity=Severity.HIGH), today=TODAY
    )
    assert low.passed and high.passed
    assert _ids(low.reported) == ["CVE-2018-18074", "CVE-2023-32681", "CVE-2099-0001"]
    assert _ids(high.reported) == ["CVE-2018-18074"]
    assert high.below_report_severity == 2
    assert low.counts == high.counts


def test_ignore_unfixed_skips_vulnerabilities_without_a_fix(report) -> None:  # type: ignore[no-untyped-def]
    vulns = [f for f in report.findings if f.kind == "vulnerability"]
    gate = GateOptions(fail_on=Severity.LOW, ignore_unfixed=True)
    result = evaluate(vulns, gate, today=TODAY)
    assert _ids(result.unfixed_skipped) == ["CVE-2099-0001"]
    assert "CVE-2099-0001" not in _ids(result.failing)


def test_unexpired_ignore_suppresses_and_expired_one_is_named(report) -> None:  # type: ignore[no-untyped-def]
    ignores = parse_ignore_text(
        """\
- id: aws-access-key-id
  path: app/credentials
  reason: canary key, never valid
  expires: 2026-06-01
- id: aws-secret-access-key
  reason: canary key, never valid
  expires: 2026-05-31
""",
        "ignore.yaml",
    )
    secrets = [f for f in report.findings if f.kind == "secret"]
    result = evaluate(secrets, GateOptions(), ignores, today=TODAY)
    assert [i.finding.id for i in result.ignored] == ["aws-access-key-id"]
    assert result.ignored[0].entry.reason == "canary key, never valid"
    assert _ids(result.failing) == ["aws-secret-access-key"]
    assert [e.id for e in result.expired_entries] == ["aws-secret-access-key"]
    assert [m.finding.id for m in result.expired_matches] == ["aws-secret-access-key"]
    later = evaluate(secrets, GateOptions(), ignores, today=TODAY + dt.timedelta(days=1))
    assert not later.ignored and len(later.failing) == 2


def test_flags_override_the_policy() -> None:
    policy = ScanGate(
        fail_on=PolicySeverity.CRITICAL,
        report_severity=PolicySeverity.MEDIUM,
        ignore_unfixed=True,
        ignore_file=Path("policy-ignore.yaml"),
        max_db_age=dt.timedelta(hours=24),
        scanners=(Scanner.VULN,),
    )
    from_policy = resolve(policy, Overrides())
    assert from_policy.gate.fail_on == Severity.CRITICAL
    assert from_policy.gate.report_severity == Severity.MEDIUM
    assert from_policy.gate.ignore_unfixed is True
    assert from_policy.gate.scanners == ("vuln",)
    assert from_policy.ignore_file == Path("policy-ignore.yaml")
    assert from_policy.max_db_age == dt.timedelta(hours=24)
    flags = resolve(
        policy,
        Overrides(
            fail_on="high",
            report_severity="LOW",
            ignore_unfixed=False,
            max_db_age="3d",
            scanners="vuln,secret",
        ),
    )
    assert flags.gate.fail_on == Severity.HIGH
    assert flags.gate.report_severity == Severity.LOW
    assert flags.gate.ignore_unfixed is False
    assert flags.max_db_age == dt.timedelta(days=3)
    assert flags.gate.scanners == ("vuln", "secret")
    defaults = resolve(None, Overrides())
    assert defaults.gate.fail_on == Severity.HIGH
    assert defaults.max_db_age == dt.timedelta(hours=72)
    assert resolve(None, Overrides(fail_on="none")).gate.fail_on is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (Overrides(fail_on="SEVERE"), "unknown severity"),
        (Overrides(report_severity="x"), "unknown severity"),
        (Overrides(max_db_age="soon"), "not a duration"),
        (Overrides(scanners="vuln,license"), "unknown scanner license"),
    ],
)
def test_bad_flags_are_input_errors(overrides: Overrides, message: str) -> None:
    with pytest.raises(InputError, match=message):
        resolve(None, overrides)


def test_scanner_list_is_deduplicated() -> None:
    assert parse_scanners("vuln, secret,vuln") == ("vuln", "secret")
