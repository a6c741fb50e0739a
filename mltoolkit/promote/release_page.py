"""The release manager's page: one self-contained HTML file (no scripts, fonts or images from
elsewhere) about a candidate version: lineage, each gate with its evidence, accepted findings,
approvals so far and what runs in each environment now."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from mltoolkit.approvals.record import format_time
from mltoolkit.models.tags import lineage_of
from mltoolkit.policy.model import Policy
from mltoolkit.promote.gates import GateResult
from mltoolkit.promote.run import Assessment

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;
color:#1d232a;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;
border-bottom:1px solid #d5dae0;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:left;vertical-align:top;padding:.35em .6em;border-bottom:1px solid #e4e8ec}
th{background:#f3f5f7;font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.pass{color:#0a6b2f;font-weight:600}.fail{color:#b3261e;font-weight:600}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0;font-weight:600}
.banner.pass{background:#e6f4ea}.banner.fail{background:#fce8e6}
.muted{color:#5f6b76}ul{margin:.2em 0;padding-left:1.2em}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table whose cells are already-escaped HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _result(passed: bool) -> str:
    return f'<span class="{"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</span>'


def _evidence_of(a: Assessment, gate: GateResult) -> str:
    items = [e for e in a.evidence.verified if e.type == gate.gate]
    if not items:
        return ""
    rows = [
        f"<li>{_e(e.signer)}: <code>{_e(e.predicate_type)}</code> "
        f'<span class="muted">{_e(e.source)}</span></li>'
        for e in items
    ]
    return "<ul>" + "".join(rows) + "</ul>"


def _gates(a: Assessment) -> str:
    rows = [
        [
            _e(g.gate),
            _e(g.required),
            _e(g.found) + _evidence_of(a, g),
            _e(g.verified_by or "-"),
            _result(g.passed),
            _e(g.why or ""),
        ]
        for g in a.evaluation.gates
    ]
    return _table(("Gate", "Required", "Found", "Verified by", "Result", "Why"), rows)


def _ignored(a: Assessment) -> str:
    rows = []
    for item in a.evidence.of_type("vulnerability-scan"):
        predicate = item.predicate if isinstance(item.predicate, dict) else {}
        scanner = predicate.get("scanner")
        result = scanner.get("result") if isinstance(scanner, dict) else None
        if not isinstance(result, dict):
            continue
        for entry in result.get("ignored") or []:
            if not isinstance(entry, dict):
                continue
            rule = entry.get("ignored_by")
            rule = rule if isinstance(rule, dict) else {}
            rows.append(
                [
                    f"<code>{_e(entry.get('id'))}</code>",
                    _e(" ".join(str(entry.get(k) or "") for k in ("package", "installed_version"))),
                    _e(entry.get("severity")),
                    _e(rule.get("reason")),
                    _e(rule.get("expires")),
                    _e(item.signer),
                ]
            )
        skipped = result.get("unfixed_skipped")
        if skipped:
            rows.append(
                [_e("(unfixed)"), "", "", _e(f"{skipped} finding(s) without a fix"), "", ""]
            )
    if not rows:
        return '<p class="muted">No finding was set aside by the signed scan results.</p>'
    headers = ("Finding", "Package", "Severity", "Reason", "Expires", "Attested by")
    return _table(headers, rows)


def _approvals(a: Assessment) -> str:
    if not a.evaluation.approvals:
        rules = a.evaluation
        needed = any(g.gate == "approvals" for g in rules.gates)
        text = "No approval found yet." if needed else f"{a.environment} needs no approval."
        return f'<p class="muted">{_e(text)}</p>'
    rows = [
        [
            _e(v.approver),
            _e(v.environment),
            _e(v.time),
            _e(v.comment),
            _result(v.counted),
            _e(v.reason),
        ]
        for v in a.evaluation.approvals
    ]
    return _table(("Approver", "For", "Given", "Comment", "Counted", "Why"), rows)


def _running(a: Assessment, environments: Sequence[str], images: dict[str, str]) -> str:
    rows = []
    for env in environments:
        version = a.state.aliases.get(env)
        rows.append(
            [
                _e(env),
                _e(version if version is not None else "nothing"),
                f"<code>{_e(images.get(env, ''))}</code>",
                _e("this candidate" if version == a.version else ""),
            ]
        )
    return _table(("Environment", "Version now", "Image", ""), rows)


def _lineage(a: Assessment) -> str:
    facts = a.state.facts
    lineage = lineage_of(dict(facts.tags))
    pairs = [
        ("Image", f"<code>{_e(facts.image)}</code>"),
        ("Model source", _e(lineage.source)),
        ("Model digest", f"<code>{_e(lineage.model_digest)}</code>"),
        ("Model signed by", _e(lineage.signed_by or "not signed")),
        ("Git", _e(" ".join(x for x in (lineage.repository, lineage.commit) if x))),
        ("CI run", _e(lineage.run_url)),
        ("MLflow run", _e(facts.run_id)),
        ("Metrics", _e(", ".join(f"{k} = {v:g}" for k, v in sorted(facts.metrics.items())))),
        ("In environments", _e(", ".join(facts.aliases) or "none")),
    ]
    return _table(("", ""), [[f"<b>{k}</b>", v] for k, v in pairs])


def _rejected(a: Assessment) -> str:
    if not a.evidence.rejected:
        return ""
    items = "".join(f"<li><code>{_e(s)}</code>: {_e(r)}</li>" for s, r in a.evidence.rejected)
    return f"<h2>Evidence that did not verify</h2><ul>{items}</ul>"


def environment_order(policy: Policy) -> list[str]:
    """The environments in promotion order (the longest path first, then any others)."""
    longest: list[str] = []
    for name in policy.environments:
        path = list(policy.promotion_path(name))
        if len(path) > len(longest):
            longest = path
    return longest + [name for name in policy.environments if name not in longest]


def render_page(
    a: Assessment,
    *,
    environments: Sequence[str],
    images: dict[str, str],
    generated: datetime,
) -> str:
    """The whole page for ``a`` (the candidate assessed for ``a.environment``)."""
    facts = a.state.facts
    passed = a.passed
    verdict = (
        f"All gates for {a.environment} pass"
        if passed
        else f"{len(a.evaluation.failed)} gate(s) for {a.environment} fail: "
        + ", ".join(g.gate for g in a.evaluation.failed)
    )
    title = f"{facts.model} version {facts.version} for {a.environment}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="muted">Release report generated {_e(format_time(generated))} by mltoolkit. '
        "Gates count only signed evidence on the image digest.</p>"
        f'<div class="banner {"pass" if passed else "fail"}">{_e(verdict)}</div>'
        f"<h2>Candidate</h2>{_lineage(a)}"
        f"<h2>Gates</h2>{_gates(a)}"
        f"<h2>Findings set aside</h2>{_ignored(a)}"
        f"<h2>Approvals for {_e(a.environment)}</h2>{_approvals(a)}"
        f"<h2>What runs now</h2>{_running(a, environments, images)}"
        f"{_rejected(a)}"
        "</body></html>\n"
    )
