"""The gate: which findings fail the scan, which are shown, which are ignored and why.

The verdict depends only on ``fail_on``, ``ignore_unfixed``, secrets and the ignore list;
``report_severity`` changes what reports show, never the verdict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mltoolkit.scan.findings import Finding
from mltoolkit.scan.ignore import IgnoreEntry
from mltoolkit.scan.options import GateOptions
from mltoolkit.scan.severity import Severity

__all__ = ["GateOptions", "GateResult", "Ignored", "evaluate"]


@dataclass(frozen=True)
class Ignored:
    """A finding suppressed by an unexpired ignore entry."""

    finding: Finding
    entry: IgnoreEntry

    def to_dict(self) -> dict[str, Any]:
        """The finding with the entry's reason, expiry and location."""
        doc = self.finding.to_dict()
        doc["ignored_by"] = self.entry.to_dict()
        return doc


@dataclass(frozen=True)
class GateResult:
    """The verdict, and the findings sorted into failing, shown and set aside."""

    passed: bool
    options: GateOptions
    failing: tuple[Finding, ...]
    reported: tuple[Finding, ...]
    below_report_severity: int
    unfixed_skipped: tuple[Finding, ...]
    ignored: tuple[Ignored, ...]
    expired_entries: tuple[IgnoreEntry, ...]
    expired_matches: tuple[Ignored, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``"pass"`` or ``"fail"``."""
        return "pass" if self.passed else "fail"


def _fails(finding: Finding, options: GateOptions) -> bool:
    if finding.kind == "secret":
        return True
    return options.fail_on is not None and finding.severity >= options.fail_on


def evaluate(
    findings: tuple[Finding, ...] | list[Finding],
    options: GateOptions,
    ignores: tuple[IgnoreEntry, ...] = (),
    *,
    today: dt.date | None = None,
) -> GateResult:
    """Sort ``findings`` by the gate's rules and decide the verdict."""
    today = today or dt.datetime.now(dt.UTC).date()
    active_entries = [e for e in ignores if not e.expired(today)]
    expired_entries = tuple(e for e in ignores if e.expired(today))
    failing: list[Finding] = []
    reported: list[Finding] = []
    unfixed: list[Finding] = []
    ignored: list[Ignored] = []
    expired_matches: list[Ignored] = []
    below = 0
    counts = {s.name: 0 for s in sorted(Severity, reverse=True)}
    for finding in findings:
        entry = next((e for e in active_entries if e.matches(finding)), None)
        if entry is not None:
            ignored.append(Ignored(finding, entry))
            continue
        stale = next((e for e in expired_entries if e.matches(finding)), None)
        if stale is not None:
            expired_matches.append(Ignored(finding, stale))
        if options.ignore_unfixed and not finding.fixable:
            unfixed.append(finding)
            continue
        counts[finding.severity.name] += 1
        if _fails(finding, options):
            failing.append(finding)
        elif finding.severity >= options.report_severity:
            reported.append(finding)
        else:
            below += 1
    order = lambda f: (-f.severity, f.kind, f.id, f.package or "", f.target)  # noqa: E731
    return GateResult(
        passed=not failing,
        options=options,
        failing=tuple(sorted(failing, key=order)),
        reported=tuple(sorted(reported, key=order)),
        below_report_severity=below,
        unfixed_skipped=tuple(unfixed),
        ignored=tuple(ignored),
        expired_entries=expired_entries,
        expired_matches=tuple(expired_matches),
        counts=counts,
    )
