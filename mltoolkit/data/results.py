"""Validation results in suite order: per-expectation verdicts, statistics and the gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mltoolkit.data.suite import Expectation, Suite
from mltoolkit.evidence.types import DATA_VALIDATION

EXAMPLES = 5  # unexpected values shown in summaries; JSON keeps what GX returned (up to 20)
# The one URI the evidence layer and the gates know this kind of evidence by.
PREDICATE_TYPE = DATA_VALIDATION


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation's outcome: ``passed``, ``failed`` or ``error`` (GX raised)."""

    expectation: Expectation
    status: str
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_examples: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the expectation held."""
        return self.status == "passed"

    @property
    def gating(self) -> bool:
        """True when this result fails the gate (a critical expectation that did not pass)."""
        return not self.passed and self.expectation.severity == "critical"

    def observed_text(self) -> str:
        """The observed value for people: the value, or 'N unexpected of M (P%)'."""
        if self.error:
            return f"error: {self.error}"
        if self.unexpected_count is not None:
            total = f" of {self.element_count}" if self.element_count is not None else ""
            pct = (
                f" ({self.unexpected_percent:.4g}%)" if self.unexpected_percent is not None else ""
            )
            return f"{self.unexpected_count} unexpected{total}{pct}"
        return "n/a" if self.observed is None else _short(self.observed)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        exp = self.expectation
        return {
            "index": exp.index,
            "type": exp.type,
            "kwargs": exp.kwargs,
            "severity": exp.severity,
            "meta": exp.meta,
            "line": exp.line,
            "status": self.status,
            "observed_value": self.observed,
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "unexpected_examples": self.unexpected_examples,
            "error": self.error,
        }


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Outcome:
    """The whole run: results in suite order, the data fingerprint and the gate's verdict."""

    suite: Suite
    source_label: str
    engine: str
    results: list[ExpectationResult]
    fingerprint: dict[str, Any]
    seconds: float
    gx_version: str
    raw: Any = None  # GX's ExpectationSuiteValidationResult, for Data Docs
    spark: dict[str, str] | None = None  # where Spark ran: {"master"|"remote": URL, "from": ...}

    @property
    def passed(self) -> bool:
        """True when no critical expectation failed."""
        return not any(r.gating for r in self.results)

    @property
    def verdict(self) -> str:
        """``pass`` or ``fail``."""
        return "pass" if self.passed else "fail"

    def statistics(self) -> dict[str, Any]:
        """Counts of evaluated, passed, failed (critical and warning) and errored expectations."""
        total = len(self.results)
        passed = sum(r.passed for r in self.results)
        return {
            "evaluated": total,
            "passed": passed,
            "failed": sum(r.status == "failed" for r in self.results),
            "errors": sum(r.status == "error" for r in self.results),
            "failed_critical": sum(r.gating for r in self.results),
            "failed_warning": sum(
                not r.passed and r.expectation.severity == "warning" for r in self.results
            ),
            "success_percent": round(100.0 * passed / total, 2) if total else 100.0,
            "seconds": round(self.seconds, 3),
        }

    def failing_first(self) -> list[ExpectationResult]:
        """Gating failures, then warnings, then passes (suite order within each)."""
        return sorted(self.results, key=lambda r: (not r.gating, r.passed))

    def to_dict(self) -> dict[str, Any]:
        """The JSON result (``--json F`` and the ``--json`` flag)."""
        return {
            "verdict": self.verdict,
            "suite": {
                "name": self.suite.name,
                "path": str(self.suite.path),
                "sha256": self.suite.sha256,
            },
            "data": {"source": self.source_label, "engine": self.engine}
            | ({"spark": self.spark} if self.spark else {}),
            "fingerprint": self.fingerprint,
            "statistics": self.statistics(),
            "results": [r.to_dict() for r in self.results],
            "great_expectations": self.gx_version,
        }

    def predicate(self) -> dict[str, Any]:
        """The data-validation attestation predicate (docs/predicates/data-validation.md)."""
        return {
            "verdict": self.verdict,
            "suite": {
                "name": self.suite.name,
                "sha256": self.suite.sha256,
                "expectations": len(self.suite.expectations),
            },
            "data": {"source": self.source_label, "engine": self.engine},
            "fingerprint": self.fingerprint,
            "statistics": self.statistics(),
            "failed": [
                {
                    "index": r.expectation.index,
                    "type": r.expectation.type,
                    "kwargs": r.expectation.kwargs,
                    "severity": r.expectation.severity,
                    "observed": r.observed_text(),
                }
                for r in self.results
                if not r.passed
            ],
            "validator": {"name": "great_expectations", "version": self.gx_version},
        }
