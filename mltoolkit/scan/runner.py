"""One scan: run trivy on one image digest, check the DB, apply the ignore list and the gate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mltoolkit.scan.db import DbOptions, DbStatus, read_db_status, require_fresh, trivy_db_args
from mltoolkit.scan.options import GateOptions
from mltoolkit.scan.trivy import DEFAULT_TIMEOUT, Trivy, TrivyRun, find_trivy, start_trivy

if TYPE_CHECKING:
    from mltoolkit.scan.findings import TrivyReport
    from mltoolkit.scan.gate import GateResult
    from mltoolkit.scan.ignore import IgnoreEntry

RESULT_SCHEMA = "https://mltoolkit.dev/schemas/scan-result/v1"


@dataclass(frozen=True)
class ScanRequest:
    """Everything one scan needs; ``image`` is a canonical reference that carries its digest."""

    image: str
    digest: str
    gate: GateOptions
    db: DbOptions
    ignores: tuple[IgnoreEntry, ...] = ()
    ignore_file: str | None = None
    insecure: bool = False
    image_src: str = "remote"
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class ScanOutcome:
    """The scan's result: trivy's findings, the gate's verdict and the DB that was used."""

    request: ScanRequest
    trivy_version: str
    report: TrivyReport
    gate: GateResult
    db: DbStatus | None
    started_at: dt.datetime
    finished_at: dt.datetime
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """The gate's verdict."""
        return self.gate.passed

    def to_dict(self) -> dict[str, Any]:
        """mltoolkit's own JSON result (``--json F``)."""
        gate = self.gate
        expired = []
        for entry in gate.expired_entries:
            matched = sorted({m.finding.id for m in gate.expired_matches if m.entry == entry})
            expired.append({**entry.to_dict(), "matched": matched})
        return {
            "schema": RESULT_SCHEMA,
            "image": self.request.image,
            "digest": self.request.digest,
            "verdict": gate.verdict,
            "passed": gate.passed,
            "options": {
                "fail_on": gate.options.fail_on.name if gate.options.fail_on else "NONE",
                "report_severity": gate.options.report_severity.name,
                "ignore_unfixed": gate.options.ignore_unfixed,
                "scanners": list(gate.options.scanners),
                "ignore_file": self.request.ignore_file,
                "allow_stale_db": self.request.db.allow_stale,
            },
            "counts": dict(gate.counts),
            "failing": [f.to_dict() for f in gate.failing],
            "reported": [f.to_dict() for f in gate.reported],
            "below_report_severity": gate.below_report_severity,
            "unfixed_skipped": len(gate.unfixed_skipped),
            "ignored": [i.to_dict() for i in gate.ignored],
            "expired_ignores": expired,
            "db": self.db.to_dict() if self.db else None,
            "trivy": {"version": self.trivy_version},
            "warnings": list(self.warnings),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
        }


def trivy_image_args(request: ScanRequest) -> list[str]:
    """The trivy command line (after the binary) for ``request``."""
    args = [
        "image",
        "--format",
        "json",
        "--quiet",
        "--scanners",
        ",".join(request.gate.scanners),
        "--image-src",
        request.image_src,
        "--timeout",
        f"{max(1, int(request.timeout))}s",
        *trivy_db_args(request.db, insecure=request.insecure),
    ]
    if request.insecure and "--insecure" not in args:
        args.append("--insecure")
    # NOTE: no --severity / --ignore-unfixed here: the gate needs every finding to count them.
    return [*args, request.image]


class RunningScan:
    """A scan whose trivy process runs in the background; ``finish`` gates its result.

    Starting trivy first and doing the rest (ignore file, imports of the gate and the report
    writers) while it runs keeps mltoolkit's own time off the scan's wall time.
    """

    def __init__(
        self, request: ScanRequest, trivy: Trivy, run: TrivyRun, status: DbStatus | None
    ) -> None:
        self.request = request
        self._trivy = trivy
        self._run = run
        self._status = status
        self._started = dt.datetime.now(dt.UTC)

    def cancel(self) -> None:
        """Stop trivy: the caller failed before it needed the result."""
        self._run.cancel()

    def finish(self, ignores: tuple[IgnoreEntry, ...] | None = None) -> ScanOutcome:
        """Wait for trivy, check the DB's age, apply ``ignores`` and the gate."""
        from mltoolkit.scan.findings import parse_trivy_report
        from mltoolkit.scan.gate import evaluate

        request = self.request
        doc = self._run.result()
        status = self._status
        if "vuln" in request.gate.scanners and not request.db.offline:
            status = read_db_status(request.db)
            require_fresh(status, request.db)
        report = parse_trivy_report(doc)
        chosen = request.ignores if ignores is None else ignores
        gate = evaluate(report.findings, request.gate, chosen)
        warnings: list[str] = []
        if status is not None and status.stale:
            db = status.to_dict()
            warnings.append(
                f"vulnerability DB is stale: {db['age']} old, over the "
                f"{db['max_age_hours']:g}h maximum; accepted by --allow-stale-db"
            )
        warnings.extend(
            f"ignore entry {e.id} ({e.source}) expired on {e.expires.isoformat()} and no longer "
            "suppresses anything"
            for e in gate.expired_entries
        )
        return ScanOutcome(
            request=request,
            trivy_version=report.trivy_version or self._trivy.version,
            report=report,
            gate=gate,
            db=status,
            started_at=self._started,
            finished_at=dt.datetime.now(dt.UTC),
            warnings=tuple(warnings),
        )


def start_scan(request: ScanRequest) -> RunningScan:
    """Check trivy and (offline) the cached DB, then start trivy on ``request.image``."""
    trivy = find_trivy(request.db.cache_dir)
    args = trivy_image_args(request)
    status: DbStatus | None = None
    if "vuln" in request.gate.scanners and request.db.offline:
        status = read_db_status(request.db)
        require_fresh(status, request.db)
    run = start_trivy(trivy, args, timeout=request.timeout + 30)
    return RunningScan(request, trivy, run, status)


def run_scan(request: ScanRequest) -> ScanOutcome:
    """Scan ``request.image`` and evaluate the gate; a stale DB raises unless allowed."""
    return start_scan(request).finish()
