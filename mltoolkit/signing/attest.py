"""Attestations: in-toto Statements v1 about an image digest, in DSSE envelopes, stored as cosign
stores them (``.att`` tag and/or a bundle referrer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mltoolkit.errors import InputError
from mltoolkit.signing import dsse
from mltoolkit.signing.keys import Signer
from mltoolkit.signing.sign import SignResult, attach_bundle, attach_legacy_attestation, wants
from mltoolkit.signing.target import Target

# cosign's --type short names (cmd/cosign/cli/options/predicate.go).
PREDICATE_TYPES = {
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "link": "https://in-toto.io/Link/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}


def predicate_type_uri(name: str) -> str:
    """The predicate type URI for a cosign short name or a full URI."""
    if name in PREDICATE_TYPES:
        return PREDICATE_TYPES[name]
    if "://" in name and " " not in name:
        return name
    raise InputError(
        f"unknown predicate type {name!r}",
        where="--type",
        fix=f"use a URI or one of {', '.join(sorted(PREDICATE_TYPES))}",
    )


def read_predicate(path: Path) -> Any:
    """The predicate document (JSON) from ``path``."""
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read the predicate: {exc.strerror}", where=str(path)) from None
    except ValueError as exc:
        raise InputError(f"the predicate is not JSON: {exc}", where=str(path)) from None


def attest_image(
    client: Any,
    target: Target,
    signer: Signer,
    predicate_type: str,
    predicate: Any,
    fmt: str = "both",
) -> SignResult:
    """Sign a Statement about ``target`` and store it; an identical one by the same key is kept."""
    stmt = dsse.statement(target.name, target.digest.hex, predicate_type, predicate)
    result = SignResult(str(target), signer.name)
    if wants(fmt, "legacy"):
        result.written["legacy"] = attach_legacy_attestation(
            client, target, signer, stmt, predicate_type
        )
    if wants(fmt, "bundle"):
        result.written["bundle"] = attach_bundle(client, target, signer, stmt, predicate_type)
    return result
