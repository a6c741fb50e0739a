"""The scan's settings: the policy's ``gates.scan`` section, overridden by command-line flags."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mltoolkit.errors import InputError
from mltoolkit.scan.db import DEFAULT_MAX_AGE, parse_max_age
from mltoolkit.scan.options import GateOptions
from mltoolkit.scan.severity import Severity

if TYPE_CHECKING:
    from mltoolkit.policy.model import ScanGate

SCANNERS = ("vuln", "secret", "misconfig")
DEFAULT_SCANNERS = SCANNERS


@dataclass(frozen=True)
class Overrides:
    """What the command line said; None means "not given, use the policy or the default"."""

    fail_on: str | None = None
    report_severity: str | None = None
    ignore_unfixed: bool | None = None
    ignore_file: Path | None = None
    max_db_age: str | None = None
    scanners: str | None = None


@dataclass(frozen=True)
class ResolvedSettings:
    """The gate options, ignore file and DB age limit a scan runs with."""

    gate: GateOptions
    ignore_file: Path | None
    max_db_age: dt.timedelta


def parse_fail_on(text: str, where: str = "--fail-on") -> Severity | None:
    """A severity, or None for ``NONE`` (vulnerabilities never fail; secrets still do)."""
    if text.strip().upper() == "NONE":
        return None
    return Severity.parse(text, where=where)


def parse_scanners(text: str, where: str = "--scanners") -> tuple[str, ...]:
    """``"vuln,secret"`` -> ``("vuln", "secret")``, checked against trivy's scanner names."""
    names = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    unknown = [n for n in names if n not in SCANNERS]
    if unknown or not names:
        raise InputError(
            f"unknown scanner {', '.join(unknown) or '(none)'}",
            where=where,
            fix=f"use a comma-separated list of {', '.join(SCANNERS)}",
        )
    return names


def resolve(policy_gate: ScanGate | None, overrides: Overrides) -> ResolvedSettings:
    """Combine the policy's ``gates.scan`` (if any) with the flags; flags win."""
    fail_on: Severity | None = Severity.HIGH
    report = Severity.UNKNOWN
    ignore_unfixed = False
    ignore_file: Path | None = None
    max_age = DEFAULT_MAX_AGE
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    if policy_gate is not None:
        fail_on = (
            None
            if policy_gate.fail_on is None
            else Severity.parse(str(policy_gate.fail_on), where="policy gates.scan.fail-on")
        )
        report = Severity.parse(
            str(policy_gate.report_severity), where="policy gates.scan.report-severity"
        )
        ignore_unfixed = policy_gate.ignore_unfixed
        ignore_file = policy_gate.ignore_file
        if policy_gate.max_db_age is not None:
            max_age = policy_gate.max_db_age
        scanners = tuple(str(s) for s in policy_gate.scanners) or DEFAULT_SCANNERS
    if overrides.fail_on is not None:
        fail_on = parse_fail_on(overrides.fail_on)
    if overrides.report_severity is not None:
        report = Severity.parse(overrides.report_severity, where="--report-severity")
    if overrides.ignore_unfixed is not None:
        ignore_unfixed = overrides.ignore_unfixed
    if overrides.ignore_file is not None:
        ignore_file = overrides.ignore_file
    if overrides.max_db_age is not None:
        max_age = parse_max_age(overrides.max_db_age, where="--max-db-age")
    if overrides.scanners is not None:
        scanners = parse_scanners(overrides.scanners)
    gate = GateOptions(
        fail_on=fail_on,
        report_severity=report,
        ignore_unfixed=ignore_unfixed,
        scanners=scanners,
    )
    return ResolvedSettings(gate=gate, ignore_file=ignore_file, max_db_age=max_age)
