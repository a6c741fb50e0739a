"""collect_evidence against the real registry, with the policy's trust section."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.images import push_image

from mltoolkit.errors import InputError
from mltoolkit.evidence import collect_evidence
from mltoolkit.evidence.types import APPROVAL, SCAN_RESULT, SIGNATURE
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.policy.model import EvidenceType, KeySigner, Trust
from mltoolkit.signing import dsse, storage
from mltoolkit.signing.attest import attest_image
from mltoolkit.signing.keys import generate_key_pair, load_signer
from mltoolkit.signing.sign import sign_image
from mltoolkit.signing.target import pinned_target

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


@pytest.fixture
def signers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "pw")
    for name in ("ci", "scanner"):
        generate_key_pair(tmp_path / name, b"pw")
    return {"ci": tmp_path / "ci", "scanner": tmp_path / "scanner"}


def test_collects_verified_evidence_and_reasons(client, registry, signers) -> None:
    image = push_image(client, f"{registry}/evidence/{uuid.uuid4().hex[:8]}")
    target = pinned_target(client, image, action="sign")
    ci = load_signer(f"{signers['ci']}.key")
    scanner = load_signer(f"{signers['scanner']}.key")
    sign_image(client, target, ci, {"git": "abc"}, "both")
    attest_image(client, target, scanner, SCAN_RESULT, {"critical": 0}, "legacy")
    attest_image(client, target, ci, SCAN_RESULT, {"critical": 0, "by": "ci"}, "bundle")
    # an attestation about another digest, signed by a trusted key, stored with this image
    other = push_image(client, image.name, "other")
    stmt = dsse.statement(image.name, other.digest.hex, SCAN_RESULT, {"critical": 0})
    current = storage.read_tag(client, image.repo_only(), image.digest, "att")
    blob = json.dumps(dsse.sign_envelope(scanner, stmt)).encode()
    storage.write_tag(
        client, image.repo_only(), current, storage.new_layer(storage.DSSE_MEDIA_TYPE, blob, {})
    )

    trust = Trust(
        keys={
            "ci": KeySigner("ci", path=Path(f"{signers['ci']}.pub")),
            "scanner": KeySigner("scanner", path=Path(f"{signers['scanner']}.pub")),
        },
        evidence={EvidenceType.SIGNATURE: ("ci",), EvidenceType.VULNERABILITY_SCAN: ("scanner",)},
    )
    report = collect_evidence(client, f"{image.name}@{image.digest}", trust)
    kinds = sorted((e.type, e.signer) for e in report.verified)
    assert kinds == [("signature", "ci"), ("signature", "ci"), ("vulnerability-scan", "scanner")]
    scan = report.of_type("vulnerability-scan")[0]
    assert scan.predicate == {"critical": 0}
    assert scan.digest == str(image.digest)
    assert {e.predicate_type for e in report.of_type("signature")} == {SIGNATURE}
    reasons = " | ".join(reason for _, reason in report.rejected)
    assert "signed by ci, who is not trusted for vulnerability-scan evidence" in reasons
    assert f"its subject is {other.digest}" in reasons


def test_requires_a_digest(client, registry, signers) -> None:
    with pytest.raises(InputError, match="not pinned to a digest"):
        collect_evidence(client, f"{registry}/evidence/x:latest", Trust())


def test_lists_referrers_once_names_stored_items_and_tags_rejections(
    client, registry, signers, tmp_path, monkeypatch
) -> None:
    image = push_image(client, f"{registry}/evidence/{uuid.uuid4().hex[:8]}")
    target = pinned_target(client, image, action="sign")
    ci = load_signer(f"{signers['ci']}.key")
    sign_image(client, target, ci, {}, "both")
    # An approval signed by a key the policy does not know, in both formats.
    generate_key_pair(tmp_path / "stranger", b"pw")
    stranger = load_signer(str(tmp_path / "stranger.key"))
    attest_image(client, target, stranger, APPROVAL, {"approver": "mallory"}, "both")
    trust = Trust(keys={"ci": KeySigner("ci", path=Path(f"{signers['ci']}.pub"))})
    listed: list[str] = []
    real_referrers = RegistryClient.referrers

    def counting(self, repo, digest, artifact_type=None):  # type: ignore[no-untyped-def]
        listed.append(str(digest))
        return real_referrers(self, repo, digest, artifact_type)

    monkeypatch.setattr(RegistryClient, "referrers", counting)
    report = collect_evidence(client, f"{image.name}@{image.digest}", trust)

    assert listed == [str(image.digest)]
    # Each evidence names the stored item it came from: the .sig layer, the bundle manifest.
    sig = storage.read_tag(client, image.repo_only(), image.digest, "sig")
    bundles = {str(d["digest"]) for d in client.referrers(image.repo_only(), image.digest)}
    items = {e.source: e.item_digest for e in report.verified}
    assert len(items) == 2
    for source, item_digest in items.items():
        if source.startswith("bundle referrer "):
            assert item_digest == source.removeprefix("bundle referrer ")
            assert item_digest in bundles
        else:
            assert item_digest == sig.layers[0].digest
    # The stranger's approvals are rejected, tagged with the type they claim, and their reason
    # names the approval kind, which is how the approvals gate finds them.
    approvals = [r for r in report.rejected if getattr(r, "predicate_type", None) == APPROVAL]
    assert len(approvals) == 2
    for source, reason in approvals:
        assert "does not verify" in reason
        assert reason.endswith(f"(claims to be approval evidence, {APPROVAL})")
        assert source.startswith(("bundle referrer ", f"{image.name}:"))


def test_evidence_is_read_in_parallel_once_and_verified_as_before(
    client, registry, signers, monkeypatch
) -> None:
    import threading
    import time

    image = push_image(client, f"{registry}/evidence/{uuid.uuid4().hex[:8]}")
    target = pinned_target(client, image, action="sign")
    ci = load_signer(f"{signers['ci']}.key")
    sign_image(client, target, ci, {}, "both")
    for n in range(4):
        attest_image(client, target, ci, SCAN_RESULT, {"critical": n}, "both")
    # one referrer whose bundle blob is gone: the prefetch fails on it and the pass reports it
    referrer = client.referrers(image.repo_only(), image.digest)[0]
    broken = json.loads(client.get_manifest(image.repo_only(), referrer["digest"]).data)
    missing = broken["layers"][0]["digest"]

    reads: list[str] = []
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()
    real_get_blob = RegistryClient.get_blob

    def get_blob(self, repo, digest):  # type: ignore[no-untyped-def]
        with lock:
            reads.append(str(digest))
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            time.sleep(0.05)  # a registry some distance away
            if str(digest) == missing:
                from mltoolkit.errors import ExternalError

                raise ExternalError("blob unknown", where=str(digest))
            return real_get_blob(self, repo, digest)
        finally:
            with lock:
                in_flight["now"] -= 1

    monkeypatch.setattr(RegistryClient, "get_blob", get_blob)
    trust = Trust(
        keys={"ci": KeySigner("ci", path=Path(f"{signers['ci']}.pub"))},
        evidence={EvidenceType.SIGNATURE: ("ci",), EvidenceType.VULNERABILITY_SCAN: ("ci",)},
    )
    from mltoolkit.errors import ExternalError

    with pytest.raises(ExternalError, match="blob unknown"):
        # the failed read is met again by the verification pass, which raises it as before
        collect_evidence(client, f"{image.name}@{image.digest}", trust)
    assert in_flight["most"] > 1

    reads.clear()
    in_flight["most"] = 0
    missing = "none"
    report = collect_evidence(client, f"{image.name}@{image.digest}", trust)
    assert in_flight["most"] > 1
    assert len(reads) == len(set(reads))  # every blob read once
    assert sorted(e.type for e in report.verified) == ["signature"] * 2 + ["vulnerability-scan"] * 8
    assert report.rejected == []
