"""Reports of a validation run: JUnit XML (one test case per expectation) and markdown."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mltoolkit.data.results import EXAMPLES, ExpectationResult, Outcome


def examples(result: ExpectationResult, limit: int = EXAMPLES) -> str:
    """A few unexpected values, for people."""
    shown = ", ".join(repr(v) for v in result.unexpected_examples[:limit])
    return shown


def junit_xml(outcome: Outcome) -> bytes:
    """JUnit XML: a testsuite named after the suite, one testcase per expectation in suite order.

    A failed critical expectation is a ``failure``, a GX error an ``error``; a failed warning
    passes with its observation in ``system-out`` (so it shows without failing the report).
    """
    stats = outcome.statistics()
    suite = ET.Element(
        "testsuite",
        name=outcome.suite.name,
        tests=str(stats["evaluated"]),
        failures=str(sum(r.status == "failed" and r.gating for r in outcome.results)),
        errors=str(sum(r.status == "error" and r.gating for r in outcome.results)),
        skipped="0",
        time=f"{outcome.seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("data", outcome.source_label),
        ("engine", outcome.engine),
        ("suite.sha256", outcome.suite.sha256),
        ("verdict", outcome.verdict),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for result in outcome.results:
        exp = result.expectation
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{outcome.suite.name}.{exp.type}",
            name=f"[{exp.index}] {exp.describe()}",
            file=str(outcome.suite.path),
            line=str(exp.line),
            time="0",
        )
        detail = _detail(result)
        if result.gating:
            tag = "error" if result.status == "error" else "failure"
            node = ET.SubElement(case, tag, message=result.observed_text(), type=exp.type)
            node.text = detail
        elif not result.passed:
            ET.SubElement(case, "system-out").text = f"warning (not gating): {detail}"
    root = ET.Element("testsuites", name="mltoolkit validate-data")
    root.append(suite)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _detail(result: ExpectationResult) -> str:
    exp = result.expectation
    lines = [
        f"{exp.type} {json.dumps(exp.kwargs, sort_keys=True, default=str)}",
        f"severity: {exp.severity}",
        f"observed: {result.observed_text()}",
    ]
    if result.unexpected_examples:
        lines.append(f"unexpected examples: {examples(result, 20)}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(outcome: Outcome) -> str:
    """The job summary: the verdict first, failing expectations first with observed values."""
    stats = outcome.statistics()
    icon = "✅" if outcome.passed else "❌"
    lines = [
        f"### {icon} Data validation {outcome.verdict.upper()}: `{outcome.suite.name}`",
        "",
        f"Data `{outcome.source_label}` ({outcome.engine}): {stats['passed']} of "
        f"{stats['evaluated']} expectations passed, {stats['failed_critical']} critical "
        f"failure(s), {stats['failed_warning']} warning(s).",
        "",
        "| | Expectation | Severity | Observed | Unexpected examples |",
        "|---|---|---|---|---|",
    ]
    for result in outcome.failing_first():
        mark = "✅" if result.passed else ("❌" if result.gating else "⚠️")
        lines.append(
            f"| {mark} | `{_cell(result.expectation.describe())}` "
            f"(line {result.expectation.line}) | {result.expectation.severity} | "
            f"{_cell(result.observed_text())} | {_cell(examples(result))} |"
        )
    fingerprint = outcome.fingerprint
    digest = fingerprint.get("sha256") or (fingerprint.get("checksum") or {}).get("sha256")
    lines += [
        "",
        "<details><summary>Fingerprint and suite</summary>",
        "",
        f"- suite `{outcome.suite.path}` sha256 `{outcome.suite.sha256}`",
        f"- data {fingerprint.get('kind')} sha256 `{digest}`, rows {fingerprint.get('row_count')}",
        f"- Great Expectations {outcome.gx_version}, {stats['seconds']} s",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def human(outcome: Outcome) -> str:
    """The text result on stdout."""
    stats = outcome.statistics()
    lines = [
        f"validate-data {outcome.verdict.upper()}: suite {outcome.suite.name!r} on "
        f"{outcome.source_label} ({outcome.engine})",
        f"  {stats['passed']} of {stats['evaluated']} passed, {stats['failed_critical']} critical "
        f"failure(s), {stats['failed_warning']} warning(s), {stats['seconds']} s",
    ]
    for result in outcome.results:
        exp = result.expectation
        word = "ok  " if result.passed else ("FAIL" if result.gating else "warn")
        text = f"  {word} {exp.describe()} (line {exp.line})"
        if not result.passed:
            text += f": {result.observed_text()}"
            if result.unexpected_examples:
                text += f", e.g. {examples(result)}"
        lines.append(text)
    return "\n".join(lines)
