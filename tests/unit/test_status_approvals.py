"""Approvals in `mltoolkit status`: each one counted or not for its own environment, and why."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from test_gates import DIGEST, NOW, _approval, _ev, _policy, _report

from mltoolkit.evidence.collect import Rejected
from mltoolkit.evidence.types import APPROVAL
from mltoolkit.models.status import render_table, skip_approvals
from mltoolkit.models.status_approvals import approvals_of


def _rows(*items: Any, rejected: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    report = _report(_ev("signature", "ci"), *items, rejected=rejected)
    return approvals_of(_policy(), "fraud", 3, DIGEST, report, NOW)


def _by(rows: list[dict[str, Any]], approver: str, environment: str) -> dict[str, Any]:
    return next(r for r in rows if r["approver"] == approver and r["environment"] == environment)


def test_each_approval_is_judged_for_its_own_environment() -> None:
    rows = _rows(
        _approval("alice", age=timedelta(hours=3)),
        _approval("bob", age=timedelta(hours=2)),
        _approval("ci", age=timedelta(hours=1)),
        _approval("alice", env="staging", age=timedelta(hours=4)),
        _approval("bob", env="qa", age=timedelta(hours=5)),
    )
    assert [r["approver"] for r in rows] == ["bob", "alice", "alice", "bob", "ci"]
    alice = _by(rows, "alice", "production")
    assert alice["counted"] is True and alice["reason"] == "counted"
    assert alice["comment"] == "ok from alice" and alice["time"] == "2026-11-27T09:00:00Z"
    assert _by(rows, "bob", "production")["counted"] is True
    ci = _by(rows, "ci", "production")
    assert ci["counted"] is False and ci["reason"].startswith("self-approval: ci")
    staging = _by(rows, "alice", "staging")
    assert staging["counted"] is False and staging["reason"] == "staging needs no approval"
    qa = _by(rows, "bob", "qa")
    assert qa["counted"] is False and qa["reason"] == "the policy has no environment 'qa'"
    assert all(r["verified"] for r in rows)


def test_expired_duplicate_and_wrong_version_are_not_counted() -> None:
    rows = _rows(
        _approval("alice", age=timedelta(days=8)),
        _approval("bob", age=timedelta(hours=2)),
        _approval("bob", age=timedelta(hours=1)),
        _approval("alice", version=2, age=timedelta(minutes=5)),
    )
    reasons = [(r["approver"], r["counted"], r["reason"].split(":")[0]) for r in rows]
    assert reasons == [
        ("alice", False, "expired"),
        ("bob", True, "counted"),
        ("bob", False, "a duplicate"),
        ("alice", False, "for fraud version 2, not fraud version 3"),
    ]


def test_rejected_approvals_are_listed_unverified_and_other_rejections_are_not() -> None:
    bad = Rejected("img.att#2", "signature does not verify (claims to be approval ...)", APPROVAL)
    other = Rejected("img.att#3", "signed by mallory (claims to be sbom ...)", "https://x/sbom")
    rows = _rows(_approval("alice"), rejected=[bad, other])
    assert len(rows) == 2
    assert rows[-1] == {
        "approver": "?",
        "environment": "?",
        "time": "?",
        "comment": "",
        "counted": False,
        "reason": bad.reason,
        "source": "img.att#2",
        "sources": ["img.att#2"],
        "verified": False,
    }


def test_malformed_approval_is_listed_once() -> None:
    rows = _rows(_ev("approval", "bob", {"schema": "mltoolkit.approval/v1"}))
    assert len(rows) == 1
    assert rows[0]["counted"] is False and "lacks" in rows[0]["reason"]


def _doc(approvals: list[dict[str, Any]] | None) -> dict[str, Any]:
    entry = {
        "version": 3,
        "aliases": ["staging"],
        "image": f"r/build@{DIGEST}",
        "image_digest": DIGEST,
        "model_digest": None,
        "signed": True,
        "evidence": [],
        "git_commit": None,
        "source": "runs:/x/model",
        "ci_run_url": None,
        "metrics": {},
        "approvals": approvals,
    }
    return {"name": "fraud", "tracking_uri": "sqlite", "versions": [entry, dict(entry, version=4)]}


def test_table_shows_each_approval_and_the_count() -> None:
    rows = _rows(_approval("alice"), _approval("ci", age=timedelta(minutes=30)))
    text = render_table(_doc(rows))
    header = text.splitlines()[1]
    assert "APPROVALS" in header
    assert "1/2 counted" in text.splitlines()[2]
    assert "approvals of version 3:" in text
    assert (
        '  approval: production by alice at 2026-11-27T11:00:00Z "ok from alice" -> counted' in text
    )
    assert "production by ci at 2026-11-27T11:30:00Z" in text
    assert "-> not counted: self-approval: ci" in text


def test_table_says_why_approvals_were_not_checked() -> None:
    doc = _doc(None)
    skip_approvals(doc, "no policy")
    assert all(e["approvals"] is None for e in doc["versions"])
    assert doc["approvals_checked"] == "not checked: no policy"
    text = render_table(doc)
    assert text.endswith("approvals: not checked: no policy")
    assert text.splitlines()[2].split()[-1] == "?"


def test_copies_of_one_approval_are_one_row() -> None:
    alice = _approval("alice")
    rows = _rows(alice, replace(alice, source="bundle"), _approval("bob"))
    assert [(r["approver"], r["counted"]) for r in rows] == [("alice", True), ("bob", True)]
    assert rows[0]["sources"] == ["src-approval", "bundle"]


def test_rejections_reach_the_approvals_by_claimed_type_not_by_their_words() -> None:
    wordless = Rejected("img.att#2", "signed by mallory", APPROVAL)
    misleading = Rejected("img.att#3", "approval-looking words, but an sbom", "https://x/sbom")
    unread = Rejected("img.att#4", "not a DSSE envelope", None)
    rows = _rows(rejected=[wordless, misleading, unread])
    listed = {r["source"]: r["reason"] for r in rows if not r["verified"]}
    assert listed == {
        "img.att#2": "signed by mallory",
        "img.att#4": "not a DSSE envelope (its type could not be read)",
    }
