"""What ``mltoolkit status`` shows: a model's versions, aliases and lineage (table or JSON)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import InputError
from mltoolkit.models.store import ModelStore, VersionInfo
from mltoolkit.models.tags import lineage_of

if TYPE_CHECKING:
    from mltoolkit.evidence import EvidenceReport
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.policy.model import Policy


def version_entry(version: VersionInfo) -> dict[str, Any]:
    """One version as a JSON object: registry facts plus the lineage its tags record."""
    created = None
    if version.created_ms is not None:
        moment = datetime.fromtimestamp(version.created_ms / 1000, UTC)
        created = moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": version.version,
        "aliases": list(version.aliases),
        "status": version.status,
        "source": version.source,
        "run_id": version.run_id,
        "created": created,
        "description": version.description,
        **lineage_of(version.tags).as_dict(),
    }


def model_status(store: ModelStore, name: str, version: int | None = None) -> dict[str, Any]:
    """The status document of ``name`` (only ``version`` when given)."""
    model = store.get_model(name)
    if version is None:
        versions = store.versions(name, model)
    else:
        aliases = tuple(sorted(a for a, v in model["aliases"].items() if v == version))
        found = store.get_version(name, version)
        versions = [replace(found, aliases=aliases or found.aliases)]
    return {
        "ok": True,
        "name": name,
        "tracking_uri": store.location.describe(),
        "aliases": model["aliases"],
        "versions": [version_entry(v) for v in versions],
    }


def recheck_evidence(
    doc: dict[str, Any],
    client: RegistryClient,
    evidence_keys: Sequence[str],
    policy: Policy | None,
) -> dict[str, EvidenceReport]:
    """Add ``evidence_now`` to each version: the evidence that verifies on its image today.

    Returns the reports by image, for ``add_approvals`` to reuse when the trust is the policy's.
    """
    from mltoolkit.models.evidence import verified_evidence
    from mltoolkit.models.register import evidence_items
    from mltoolkit.oci.reference import ImageRef

    reports: dict[str, EvidenceReport] = {}
    for entry in doc["versions"]:
        if not entry["image"]:
            entry["evidence_now"] = []
            continue
        report = verified_evidence(client, ImageRef.parse(entry["image"]), evidence_keys, policy)
        if report is None:
            raise InputError(
                "nothing to verify evidence against",
                where="--verify",
                fix="pass --evidence-key PUB or a policy with a trust section (--policy)",
            )
        reports[entry["image"]] = report
        entry["evidence_now"] = evidence_items(report)
    return reports


def add_approvals(
    doc: dict[str, Any],
    client: RegistryClient,
    policy: Policy,
    now: datetime,
    reports: Mapping[str, EvidenceReport] | None = None,
) -> None:
    """Add ``approvals`` to each version: those on its image digest, verified against the
    policy's trust, counted or not as ``promote`` would and why (``reports``: already
    collected with the policy's trust, by image)."""
    from mltoolkit.evidence import collect_evidence
    from mltoolkit.models.status_approvals import approvals_of

    doc["approvals_checked"] = "verified against the policy's trust"
    for entry in doc["versions"]:
        image, digest = entry["image"], entry["image_digest"]
        if not image or not digest:
            entry["approvals"] = []
            continue
        report = (reports or {}).get(image) or collect_evidence(client, image, policy.trust)
        entry["approvals"] = approvals_of(
            policy, doc["name"], entry["version"], digest, report, now
        )


def skip_approvals(doc: dict[str, Any], why: str) -> None:
    """Mark approvals as not looked up (``approvals`` None on each version) and say why."""
    doc["approvals_checked"] = f"not checked: {why}"
    for entry in doc["versions"]:
        entry["approvals"] = None


def _short(digest: str | None) -> str:
    if not digest:
        return "-"
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:12]}" if hex_part else digest


def render_table(doc: dict[str, Any]) -> str:
    """The status document as a table for people."""
    verified = any("evidence_now" in e for e in doc["versions"])
    header = (
        "VERSION",
        "ALIASES",
        "IMAGE",
        "IMAGE DIGEST",
        "MODEL DIGEST",
        "SIGNED",
        "EVIDENCE",
        "COMMIT",
        "APPROVALS",
    ) + (("VERIFIED NOW",) if verified else ())
    rows: list[tuple[str, ...]] = [header]
    for entry in doc["versions"]:
        image = entry["image"] or "-"
        repo = image.split("@", 1)[0]
        evidence = sorted({str(e.get("type")) for e in entry["evidence"]})
        now: tuple[str, ...] = ()
        if verified:
            types = sorted({str(e.get("type")) for e in entry.get("evidence_now", [])})
            now = (",".join(types) or "none",)
        rows.append(
            (
                str(entry["version"]),
                ",".join(entry["aliases"]) or "-",
                repo,
                _short(entry["image_digest"]),
                _short(entry["model_digest"]),
                "yes" if entry["signed"] else "no",
                ",".join(evidence) or "-",
                (entry["git_commit"] or "-")[:12],
                _approval_cell(entry.get("approvals")),
                *now,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"Model {doc['name']} ({doc['tracking_uri']})"]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if len(doc["versions"]) == 1:
        entry = doc["versions"][0]
        lines.append("")
        lines.append(f"image:  {entry['image'] or '-'}")
        lines.append(f"source: {entry['source']}")
        if entry["ci_run_url"]:
            lines.append(f"run:    {entry['ci_run_url']}")
        for item in entry["evidence"]:
            lines.append(
                f"evidence: {item.get('type')} signed by {item.get('signer')}"
                f" ({item.get('source')})"
            )
        for key, value in sorted(entry["metrics"].items()):
            lines.append(f"metric: {key} = {value:g}")
    lines += _approval_section(doc)
    return "\n".join(lines)


def _approval_cell(approvals: list[dict[str, Any]] | None) -> str:
    if approvals is None:
        return "?"
    counted = sum(1 for a in approvals if a["counted"])
    return f"{counted}/{len(approvals)} counted" if approvals else "-"


def _approval_section(doc: dict[str, Any]) -> list[str]:
    """Each version's approvals, one line each, or why they were not looked up."""
    from mltoolkit.models.status_approvals import approval_lines

    checked = str(doc.get("approvals_checked", ""))
    if checked.startswith("not checked"):
        return ["", f"approvals: {checked}"]
    lines: list[str] = []
    for entry in doc["versions"]:
        if entry.get("approvals"):
            lines += ["", f"approvals of version {entry['version']}:"]
            lines += approval_lines(entry["approvals"])
    return lines
