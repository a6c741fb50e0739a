"""The byte formats other tools read: simple-signing payload, DSSE PAE, Statement, bundle."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mltoolkit.errors import InputError
from mltoolkit.signing import bundle, dsse
from mltoolkit.signing.attest import predicate_type_uri, read_predicate
from mltoolkit.signing.keys import FileSigner, key_hint
from mltoolkit.signing.payload import build_payload, parse_payload

DIGEST = "sha256:" + "ab" * 32


def _signer() -> FileSigner:
    from cryptography.hazmat.primitives.asymmetric import ec

    return FileSigner("test.key", ec.generate_private_key(ec.SECP256R1()))


def test_payload_is_what_containers_image_parses() -> None:
    payload = build_payload("registry.example/team/app", DIGEST, {})
    doc = json.loads(payload)
    assert doc == {
        "critical": {
            "identity": {"docker-reference": "registry.example/team/app"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    claims = parse_payload(payload)
    assert (claims.docker_reference, claims.manifest_digest, claims.optional) == (
        "registry.example/team/app",
        DIGEST,
        {},
    )


def test_payload_is_deterministic_with_sorted_annotations() -> None:
    one = build_payload("r/a", DIGEST, {"b": "2", "a": "1"})
    two = build_payload("r/a", DIGEST, {"a": "1", "b": "2"})
    assert one == two
    assert parse_payload(one).optional == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"critical": {"type": "x"}}', "payload type is 'x'"),
        (
            b'{"critical": {"type": "cosign container image signature", "identity": {}}}',
            "docker-manifest-digest",
        ),
    ],
)
def test_malformed_payloads_say_why(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_payload(data)


def test_pae_matches_the_dsse_spec_vector() -> None:
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_round_trip_and_payload_type_binding() -> None:
    signer = _signer()
    stmt = dsse.statement("r/a", "ab" * 32, "https://example.com/p", {"k": 1})
    doc = dsse.sign_envelope(signer, stmt)
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    assert doc["signatures"][0]["keyid"] == ""
    envelope = dsse.parse_envelope(doc)
    assert dsse.envelope_verifies(envelope, signer.public_key())
    statement = dsse.parse_statement(envelope)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert dsse.subject_digests(statement) == {DIGEST}
    changed = dsse.parse_envelope(doc | {"payloadType": "text/plain"})
    assert not dsse.envelope_verifies(changed, signer.public_key())
    with pytest.raises(ValueError, match="payload type is 'text/plain'"):
        dsse.parse_statement(changed)


def test_envelope_without_signatures_is_malformed() -> None:
    with pytest.raises(ValueError, match="no signatures"):
        dsse.parse_envelope({"payloadType": "x", "payload": "", "signatures": []})


def test_bundle_document_shape() -> None:
    signer = _signer()
    envelope = dsse.sign_envelope(signer, b"{}")
    doc = json.loads(bundle.make_bundle(envelope, signer.public_key()))
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert doc["verificationMaterial"]["publicKey"]["hint"] == key_hint(signer.public_key())
    assert len(base64.b64decode(key_hint(signer.public_key()))) == 32
    assert doc["dsseEnvelope"] == envelope


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("cyclonedx", "https://cyclonedx.org/bom"),
        ("spdxjson", "https://spdx.dev/Document"),
        ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
        ("openvex", "https://openvex.dev/ns"),
        ("custom", "https://cosign.sigstore.dev/attestation/v1"),
        ("https://example.com/mine/v1", "https://example.com/mine/v1"),
    ],
)
def test_predicate_type_names(name: str, uri: str) -> None:
    assert predicate_type_uri(name) == uri


def test_unknown_predicate_type_is_input_error() -> None:
    with pytest.raises(InputError, match="unknown predicate type"):
        predicate_type_uri("sbom")


def test_predicate_must_be_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{nope")
    with pytest.raises(InputError, match="not JSON"):
        read_predicate(path)
