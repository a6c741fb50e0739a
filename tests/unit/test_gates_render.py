"""The gate table as text and markdown, and the release page: self-contained and escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mltoolkit.evidence.collect import Evidence, EvidenceReport
from mltoolkit.oci.reference import ImageRef
from mltoolkit.promote.facts import VersionState
from mltoolkit.promote.gates import ApprovalVerdict, Evaluation, GateResult, VersionFacts
from mltoolkit.promote.release_page import render_page
from mltoolkit.promote.render import markdown_table, text_table
from mltoolkit.promote.run import Assessment

DIGEST = "sha256:" + "c" * 64
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _evaluation() -> Evaluation:
    facts = VersionFacts("fraud", 4, f"reg.example/build@{DIGEST}", DIGEST, {"auc": 0.93})
    gates = (
        GateResult("sbom", "sbom signed by ci", "1 verified", "ci", True, ""),
        GateResult(
            "approvals", "2 distinct of alice, bob", "1 counted", "alice", False,
            "1 approval short; not counted: bob | <b>x</b>: an approval for staging",
        ),
    )  # fmt: skip
    verdicts = (
        ApprovalVerdict("alice", "production", "2026-11-27T10:00:00Z", "ok", True, "counted", "s"),
        ApprovalVerdict("bob", "staging", "2026-11-27T10:00:00Z", "<script>", False, "no", "s"),
    )
    return Evaluation("production", facts, gates, verdicts)


def test_text_table_has_every_column_and_the_verdict() -> None:
    text = text_table(_evaluation())
    lines = text.splitlines()
    assert lines[0] == "fraud version 4 -> production: 1 gate(s) fail"
    assert lines[2].split() == ["gate", "required", "found", "verified", "by", "result", "why"]
    assert "FAIL" in lines[4] and lines[4].endswith("an approval for staging")


def test_markdown_escapes_pipes_and_lists_approvals() -> None:
    md = markdown_table(_evaluation())
    assert md.startswith("### :x: fraud version 4 -> production")
    assert "bob \\| <b>x</b>" in md
    assert "- alice for production at 2026-11-27T10:00:00Z: counted (ok)" in md


def test_release_page_is_self_contained_and_escaped() -> None:
    evaluation = _evaluation()
    facts = evaluation.facts
    report = EvidenceReport(
        DIGEST,
        [Evidence("sbom", "https://cyclonedx.org/bom", {}, "ci", None, DIGEST, "att layer 0")],
        [("att layer 1", "signed by mallory, who is not trusted")],
    )
    state = VersionState(facts, ImageRef.parse(facts.image), {"staging": 4, "production": 2})
    assessment = Assessment(
        "fraud", 4, "production", state, report, evaluation,
        ImageRef.parse(f"reg.example/prod@{DIGEST}"), Path("/x/audit.jsonl"),
    )  # fmt: skip
    page = render_page(
        assessment,
        environments=["staging", "production"],
        images={"production": "reg.example/prod@sha256:old"},
        generated=NOW,
    )
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page.replace("https://cyclonedx.org/bom", "")
    assert "1 gate(s) for production fail: approvals" in page
    assert "signed by mallory, who is not trusted" in page
    assert "this candidate" in page  # staging runs version 4
