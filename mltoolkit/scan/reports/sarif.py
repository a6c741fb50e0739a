"""SARIF 2.1.0 for GitHub code scanning: one rule per finding id, one result per finding shown.

A result's level says what the gate did with it (``error`` = failed the gate), so uploading the
file shows the same verdict the gate reached; it never decides anything itself.
"""

from __future__ import annotations

from typing import Any

from mltoolkit.scan.findings import Finding
from mltoolkit.scan.runner import ScanOutcome
from mltoolkit.scan.severity import Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# GitHub's security-severity bands: critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.UNKNOWN: "0.0",
}


def _level(severity: Severity) -> str:
    if severity >= Severity.HIGH:
        return "error"
    return "warning" if severity >= Severity.MEDIUM else "note"


def _rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": finding.kind.title().replace("_", ""),
        "shortDescription": {"text": finding.title[:1000] or finding.id},
        "fullDescription": {"text": (finding.description or finding.title or finding.id)[:4000]},
        "defaultConfiguration": {"level": _level(finding.severity)},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[finding.severity],
            "tags": ["security", finding.kind, finding.severity.name],
            "precision": "very-high",
        },
    }
    if finding.url:
        rule["helpUri"] = finding.url
    return rule


def _message(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        fixed = f"; fixed in {finding.fixed_version}" if finding.fixed_version else "; no fix yet"
        return (
            f"{finding.id} ({finding.severity.name}) in {finding.package} "
            f"{finding.installed_version}{fixed}: {finding.title}"
        )
    where = f" at line {finding.line}" if finding.line else ""
    return f"{finding.title} ({finding.severity.name}) in {finding.target}{where}"


def _result(finding: Finding, index: int, failing: bool) -> dict[str, Any]:
    location: dict[str, Any] = {
        "artifactLocation": {"uri": (finding.path or finding.target or "image").lstrip("/")}
    }
    if finding.line:
        location["region"] = {"startLine": finding.line}
    return {
        "ruleId": finding.id,
        "ruleIndex": index,
        "level": "error" if failing else _level(finding.severity),
        "message": {"text": _message(finding)},
        "locations": [{"physicalLocation": location}],
        "properties": {"gate": "fail" if failing else "report"},
    }


def to_sarif(outcome: ScanOutcome) -> dict[str, Any]:
    """The SARIF log for the findings the gate shows (failing first)."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    shown = [(f, True) for f in outcome.gate.failing] + [(f, False) for f in outcome.gate.reported]
    for finding, failing in shown:
        if finding.id not in index:
            index[finding.id] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, index[finding.id], failing))
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mltoolkit-scan",
                        "fullName": f"mltoolkit scan (trivy {outcome.trivy_version})",
                        "version": outcome.trivy_version or "unknown",
                        "informationUri": "https://github.com/aquasecurity/trivy",
                        "rules": rules,
                    }
                },
                "results": results,
                "automationDetails": {"id": f"mltoolkit-scan/{outcome.request.digest}"},
                "properties": {
                    "image": outcome.request.image,
                    "verdict": outcome.gate.verdict,
                    "db": outcome.db.to_dict() if outcome.db else None,
                },
            }
        ],
    }
