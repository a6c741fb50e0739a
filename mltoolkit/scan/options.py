"""The gate's options: a leaf module, so that building a scan's trivy command imports no gate."""

from __future__ import annotations

from dataclasses import dataclass

from mltoolkit.scan.severity import Severity


@dataclass(frozen=True)
class GateOptions:
    """What fails the gate (``fail_on`` None: only secrets) and what is shown."""

    fail_on: Severity | None = Severity.HIGH
    report_severity: Severity = Severity.LOW
    ignore_unfixed: bool = False
    scanners: tuple[str, ...] = ("vuln", "secret", "misconfig")
