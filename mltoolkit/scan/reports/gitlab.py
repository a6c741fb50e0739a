"""GitLab's container scanning report (security report schema 15.x) for the vulnerabilities shown.

Secrets and misconfigurations have no place in that format (it needs a package and a version);
they stay in mltoolkit's own JSON report and the summary.
"""

from __future__ import annotations

import uuid
from typing import Any

from mltoolkit import __version__
from mltoolkit.scan.findings import Finding
from mltoolkit.scan.runner import ScanOutcome

SCHEMA_VERSION = "15.2.4"
_NAMESPACE = uuid.UUID("6f1c1d2e-8f0a-4c4e-9d43-6d1b0a1f3c10")


def _identifier(finding: Finding) -> dict[str, Any]:
    kind = finding.id.split("-", 1)[0].lower() if "-" in finding.id else "trivy"
    ident: dict[str, Any] = {"type": kind, "name": finding.id, "value": finding.id}
    if finding.url and finding.url.startswith(("http://", "https://")):
        ident["url"] = finding.url
    return ident


def _vulnerability(finding: Finding, outcome: ScanOutcome) -> dict[str, Any]:
    image = outcome.request.image
    key = f"{image}|{finding.id}|{finding.package}|{finding.installed_version}|{finding.path}"
    solution = (
        f"Upgrade {finding.package} to {finding.fixed_version}"
        if finding.fixed_version
        else "No fixed version is known yet"
    )
    vuln: dict[str, Any] = {
        "id": str(uuid.uuid5(_NAMESPACE, key)),
        "name": finding.title[:255],
        "description": finding.description or finding.title,
        "severity": finding.severity.name.title(),
        "solution": solution,
        "identifiers": [_identifier(finding)],
        "location": {
            "dependency": {
                "package": {"name": finding.package or "unknown"},
                "version": finding.installed_version or "unknown",
            },
            "operating_system": outcome.report.os or "unknown",
            "image": image,
        },
    }
    if finding.url and finding.url.startswith(("http://", "https://")):
        vuln["links"] = [{"url": finding.url}]
    return vuln


def _time(outcome_time: Any) -> str:
    return str(outcome_time.strftime("%Y-%m-%dT%H:%M:%S"))


def to_gitlab(outcome: ScanOutcome) -> dict[str, Any]:
    """The report for ``artifacts:reports:container_scanning``."""
    shown = [*outcome.gate.failing, *outcome.gate.reported]
    vulns = [_vulnerability(f, outcome) for f in shown if f.kind == "vulnerability"]
    return {
        "version": SCHEMA_VERSION,
        "scan": {
            "analyzer": {
                "id": "mltoolkit-scan",
                "name": "mltoolkit scan",
                "version": __version__,
                "vendor": {"name": "mltoolkit"},
            },
            "scanner": {
                "id": "trivy",
                "name": "Trivy",
                "url": "https://github.com/aquasecurity/trivy",
                "version": outcome.trivy_version or "unknown",
                "vendor": {"name": "Aqua Security"},
            },
            "type": "container_scanning",
            "start_time": _time(outcome.started_at),
            "end_time": _time(outcome.finished_at),
            "status": "success",
            "messages": [{"level": "warn", "value": w} for w in outcome.warnings],
        },
        "vulnerabilities": vulns,
    }
