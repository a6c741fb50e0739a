"""The markdown summary for a CI job page: the verdict first, then counts, then what failed."""

from __future__ import annotations

from mltoolkit.scan.findings import Finding
from mltoolkit.scan.runner import ScanOutcome


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _table(findings: tuple[Finding, ...] | list[Finding]) -> list[str]:
    lines = [
        "| Severity | ID | Package / file | Installed | Fixed in | Title |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings:
        where = f.package or (f"{f.target}:{f.line}" if f.line else f.target)
        fixed = f.fixed_version or ("no fix yet" if f.kind == "vulnerability" else "")
        lines.append(
            f"| {f.severity.name} | {_cell(f.id)} | {_cell(where)} | "
            f"{_cell(f.installed_version)} | {_cell(fixed)} | {_cell(f.title)} |"
        )
    return lines


def to_markdown(outcome: ScanOutcome) -> str:
    """The job summary: verdict, counts by severity, failing findings, the rest folded."""
    gate = outcome.gate
    icon = "✅" if gate.passed else "❌"
    options = gate.options
    threshold = (
        f"**{options.fail_on.name}** and above, and on any secret"
        if options.fail_on is not None
        else "secrets only"
    )
    lines = [
        f"## {icon} Scan {gate.verdict.upper()}: `{outcome.request.image}`",
        "",
        f"Gate: fails on {threshold}"
        f"{'; unfixed vulnerabilities ignored' if options.ignore_unfixed else ''}. "
        f"Shown from {options.report_severity.name}.",
        "",
    ]
    if outcome.db is not None:
        db = outcome.db.to_dict()
        stale = " **(STALE: accepted by --allow-stale-db)**" if outcome.db.stale else ""
        lines += [f"Vulnerability DB: built {db['updated_at']}, {db['age']} old{stale}.", ""]
    lines += [
        "| " + " | ".join(gate.counts) + " |",
        "|" + "---|" * len(gate.counts),
        "| " + " | ".join(str(n) for n in gate.counts.values()) + " |",
        "",
    ]
    if gate.failing:
        lines += ["### Findings that failed the gate", "", *_table(gate.failing), ""]
    if gate.expired_entries:
        lines += ["### Expired ignore entries (no longer suppress anything)", ""]
        lines += [
            f"- `{e.id}` ({e.source}) expired {e.expires.isoformat()}: {e.reason}"
            for e in gate.expired_entries
        ]
        lines.append("")
    if gate.reported:
        lines += [
            f"<details><summary>{len(gate.reported)} other findings at or above "
            f"{options.report_severity.name}</summary>",
            "",
            *_table(gate.reported),
            "",
            "</details>",
            "",
        ]
    if gate.ignored:
        lines += [f"<details><summary>{len(gate.ignored)} ignored findings</summary>", ""]
        lines += [
            f"- `{i.finding.id}` {_cell(i.finding.package or i.finding.target)}: {i.entry.reason} "
            f"(until {i.entry.expires.isoformat()}, {i.entry.source})"
            for i in gate.ignored
        ]
        lines += ["", "</details>", ""]
    lines.append(f"<sub>trivy {outcome.trivy_version}, digest `{outcome.request.digest}`</sub>")
    return "\n".join(lines) + "\n"
