"""The gate table for people: plain text for the terminal, markdown for CI job summaries."""

from __future__ import annotations

from mltoolkit.promote.gates import Evaluation

COLUMNS = ("gate", "required", "found", "verified by", "result", "why")


def _rows(evaluation: Evaluation) -> list[tuple[str, ...]]:
    return [
        (g.gate, g.required, g.found, g.verified_by or "-", g.result.upper(), g.why or "-")
        for g in evaluation.gates
    ]


def headline(evaluation: Evaluation) -> str:
    """One line: which version, where to, and the verdict."""
    facts = evaluation.facts
    verdict = "all gates pass" if evaluation.passed else f"{len(evaluation.failed)} gate(s) fail"
    return f"{facts.model} version {facts.version} -> {evaluation.environment}: {verdict}"


def text_table(evaluation: Evaluation) -> str:
    """A fixed-width table (``why`` last, unpadded, so long reasons do not widen the rest)."""
    rows = [COLUMNS, *_rows(evaluation)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [headline(evaluation), ""]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown_table(evaluation: Evaluation) -> str:
    """The job-summary form: the verdict first, then the table, then the approvals."""
    icon = ":white_check_mark:" if evaluation.passed else ":x:"
    lines = [
        f"### {icon} {_md(headline(evaluation))}",
        "",
        f"Image: `{evaluation.facts.image}`",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _rows(evaluation)]
    if evaluation.approvals:
        lines += ["", "<details><summary>Approvals</summary>", ""]
        lines += [
            f"- {_md(v.approver)} for {_md(v.environment)} at {v.time}: "
            f"{'counted' if v.counted else _md(v.reason)}"
            + (f" ({_md(v.comment)})" if v.comment else "")
            for v in evaluation.approvals
        ]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
