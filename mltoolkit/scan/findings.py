"""What trivy found, as one flat list of typed findings read from trivy's JSON report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mltoolkit.errors import ExternalError
from mltoolkit.scan.severity import Severity

Kind = Literal["vulnerability", "secret", "misconfiguration"]


@dataclass(frozen=True)
class Finding:
    """One vulnerability, secret or misconfiguration, in the fields the gate and reports need."""

    kind: Kind
    id: str
    severity: Severity
    title: str
    target: str
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    purl: str | None = None
    path: str | None = None
    line: int | None = None
    url: str | None = None
    description: str = ""

    @property
    def fixable(self) -> bool:
        """Whether a fixed version exists (always true for secrets and misconfigurations)."""
        return self.kind != "vulnerability" or bool(self.fixed_version)

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict (the severity by name)."""
        doc: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "severity": self.severity.name,
            "title": self.title,
            "target": self.target,
        }
        optional = {
            "package": self.package,
            "installed_version": self.installed_version,
            "fixed_version": self.fixed_version,
            "purl": self.purl,
            "path": self.path,
            "line": self.line,
            "url": self.url,
        }
        doc.update({k: v for k, v in optional.items() if v is not None})
        return doc


@dataclass(frozen=True)
class TrivyReport:
    """The parts of one trivy JSON report that mltoolkit uses."""

    artifact: str
    trivy_version: str
    findings: tuple[Finding, ...]
    os: str | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _vulnerability(target: str, v: dict[str, Any]) -> Finding:
    identifier = v.get("PkgIdentifier") or {}
    return Finding(
        kind="vulnerability",
        id=_text(v.get("VulnerabilityID")),
        severity=Severity.from_trivy(v.get("Severity")),
        title=_text(v.get("Title")) or _text(v.get("VulnerabilityID")),
        target=target,
        package=_text(v.get("PkgName")) or None,
        installed_version=_text(v.get("InstalledVersion")) or None,
        fixed_version=_text(v.get("FixedVersion")) or None,
        purl=_text(identifier.get("PURL")) or None,
        path=_text(v.get("PkgPath")) or None,
        url=_text(v.get("PrimaryURL")) or None,
        description=_text(v.get("Description")),
    )


def _secret(target: str, s: dict[str, Any]) -> Finding:
    # NOTE: trivy's Match/Code fields hold the (masked) secret line; they are never copied.
    line = s.get("StartLine")
    return Finding(
        kind="secret",
        id=_text(s.get("RuleID")),
        severity=Severity.from_trivy(s.get("Severity")),
        title=_text(s.get("Title")) or _text(s.get("RuleID")),
        target=target,
        path=target,
        line=line if isinstance(line, int) else None,
        description=f"{_text(s.get('Category'))} secret in {target}",
    )


def _misconfiguration(target: str, m: dict[str, Any]) -> Finding:
    cause = m.get("CauseMetadata") or {}
    line = cause.get("StartLine")
    return Finding(
        kind="misconfiguration",
        id=_text(m.get("ID")) or _text(m.get("AVDID")),
        severity=Severity.from_trivy(m.get("Severity")),
        title=_text(m.get("Title")) or _text(m.get("ID")),
        target=target,
        path=target,
        line=line if isinstance(line, int) and line > 0 else None,
        url=_text(m.get("PrimaryURL")) or None,
        description=_text(m.get("Message")) or _text(m.get("Description")),
        fixed_version=None,
    )


def parse_trivy_report(doc: Any) -> TrivyReport:
    """Read trivy's JSON report (SchemaVersion 2); passed misconfiguration checks are dropped."""
    if not isinstance(doc, dict) or doc.get("SchemaVersion") != 2:
        raise ExternalError(
            "trivy wrote a report mltoolkit cannot read (expected SchemaVersion 2)",
            where="trivy",
            fix="use the trivy version scripts/install-trivy pins",
        )
    findings: list[Finding] = []
    for result in doc.get("Results") or []:
        target = _text(result.get("Target"))
        findings.extend(_vulnerability(target, v) for v in result.get("Vulnerabilities") or [])
        findings.extend(_secret(target, s) for s in result.get("Secrets") or [])
        findings.extend(
            _misconfiguration(target, m)
            for m in result.get("Misconfigurations") or []
            if m.get("Status", "FAIL") == "FAIL"
        )
    os_info = (doc.get("Metadata") or {}).get("OS") or {}
    os_name = " ".join(p for p in (_text(os_info.get("Family")), _text(os_info.get("Name"))) if p)
    return TrivyReport(
        artifact=_text(doc.get("ArtifactName")),
        trivy_version=_text((doc.get("Trivy") or {}).get("Version")),
        findings=tuple(findings),
        os=os_name or None,
    )
