"""In-toto predicates for scan evidence: cosign's ``vuln`` predicate around mltoolkit's result."""

from __future__ import annotations

from typing import Any

from mltoolkit.scan.runner import ScanOutcome

VULN_PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/vuln/v1"
CYCLONEDX_PREDICATE_TYPE = "https://cyclonedx.org/bom"


def vuln_predicate(outcome: ScanOutcome) -> dict[str, Any]:
    """cosign's vuln predicate (invocation, scanner with DB and result, metadata).

    ``scanner.result`` is mltoolkit's own result document, so a gate reading the attestation sees
    the verdict, the options it was reached with, the ignored findings and the DB's age.
    """
    db = outcome.db
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": f"pkg:github/aquasecurity/trivy@v{outcome.trivy_version}",
            "version": outcome.trivy_version,
            "db": {
                "uri": db.source if db else "",
                "version": db.updated_at.isoformat() if db else "",
            },
            "result": outcome.to_dict(),
        },
        "metadata": {
            "scanStartedOn": outcome.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scanFinishedOn": outcome.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
