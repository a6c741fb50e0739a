"""Signing and verification against the real registry: formats, idempotence and tampering."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.images import push_image

from mltoolkit.cli.main import main
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.signing import bundle, dsse, storage
from mltoolkit.signing.keys import generate_key_pair, load_signer
from mltoolkit.signing.payload import build_payload
from mltoolkit.signing.target import Target

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "pw")
    generate_key_pair(tmp_path / "one", b"pw")
    generate_key_pair(tmp_path / "two", b"pw")
    return {
        "one": tmp_path / "one.key",
        "one.pub": tmp_path / "one.pub",
        "two": tmp_path / "two.key",
        "two.pub": tmp_path / "two.pub",
    }


@pytest.fixture
def repo(registry: str) -> str:
    return f"{registry}/signing/{uuid.uuid4().hex[:10]}"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def target_of(client: RegistryClient, image: ImageRef) -> Target:
    manifest = client.get_manifest(image.repo_only(), str(image.digest))
    assert image.digest is not None
    return Target(
        image.repo_only(),
        image.digest,
        bundle.Subject(image.digest, manifest.media_type, len(manifest.data)),
    )


def replace_tag(
    client: RegistryClient, image: ImageRef, suffix: str, layers: list[storage.Layer]
) -> None:
    assert image.digest is not None
    empty = storage.TagManifest(storage.legacy_tag(image.digest, suffix), [], exists=True)
    for layer in layers[:-1]:
        storage.write_tag(client, image.repo_only(), empty, layer)
        empty.layers.append(layer)
    storage.write_tag(client, image.repo_only(), empty, layers[-1])


def test_sign_then_verify(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    code, out, _ = run(["sign", pinned, "--key", str(keys["one"])], capsys)
    assert code == 0, out
    code, out, err = run(["verify", pinned, "--key", str(keys["one.pub"])], capsys)
    assert code == 0, err
    assert out.count("ok: ") == 2  # the .sig layer and the bundle referrer
    assert str(keys["one.pub"]) in out
    # by tag too: resolved to the digest first
    code, out, err = run(["verify", f"{image.name}:latest", "--key", str(keys["one.pub"])], capsys)
    assert code == 0
    assert str(image.digest) in err


def test_verify_with_another_key_exits_1_naming_it(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    assert run(["sign", pinned, "--key", str(keys["one"])], capsys)[0] == 0
    code, _, err = run(["verify", pinned, "--key", str(keys["two.pub"])], capsys)
    assert code == 1
    assert str(keys["two.pub"]) in err
    assert ".sig layer 0" in err and "bundle referrer" in err
    assert err.count("\n") == 1


def test_unsigned_image_says_where_it_looked(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    code, _, err = run(
        ["verify", f"{image.name}@{image.digest}", "--key", str(keys["one.pub"])], capsys
    )
    assert code == 1
    assert "no signature found" in err and ".sig tag" in err


def test_signing_a_tag_is_refused_with_the_digest(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    code, _, err = run(["sign", f"{image.name}:latest", "--key", str(keys["one"])], capsys)
    assert code == 2
    assert f"{image.name}@{image.digest}" in err
    assert client.head_manifest(image.repo_only(), f"{image.digest.tag_form}.sig") is None


def test_resigning_is_idempotent(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    for _ in range(2):
        assert run(["sign", pinned, "--key", str(keys["one"]), "-a", "run=1"], capsys)[0] == 0
    sig = storage.read_tag(client, image.repo_only(), image.digest, "sig")
    assert len(sig.layers) == 1
    assert len(client.referrers(image.repo_only(), image.digest)) == 1


def test_two_keys_two_signatures(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    assert run(["sign", pinned, "--key", str(keys["one"])], capsys)[0] == 0
    assert run(["sign", pinned, "--key", str(keys["two"])], capsys)[0] == 0
    sig = storage.read_tag(client, image.repo_only(), image.digest, "sig")
    assert len(sig.layers) == 2
    for pub in ("one.pub", "two.pub"):
        code, out, _ = run(["verify", pinned, "--key", str(keys[pub])], capsys)
        assert code == 0
        assert out.count("ok: ") == 2
    code, out, _ = run(
        ["verify", pinned, "--key", str(keys["one.pub"]), "--key", str(keys["two.pub"])], capsys
    )
    assert out.count("ok: ") == 4


def test_tampered_payload_blob_is_rejected(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    assert run(["sign", pinned, "--key", str(keys["one"]), "--format", "legacy"], capsys)[0] == 0
    layer = storage.read_tag(client, image.repo_only(), image.digest, "sig").layers[0]
    forged = layer.blob.replace(b'"optional":null', b'"optional":{"approved":"yes"}')
    assert forged != layer.blob
    replace_tag(
        client, image, "sig", [storage.new_layer(layer.media_type, forged, layer.annotations)]
    )
    code, _, err = run(["verify", pinned, "--key", str(keys["one.pub"])], capsys)
    assert code == 1
    assert "the signature does not verify" in err


def test_payload_naming_another_image_is_rejected(client, keys, repo, capsys) -> None:
    image, other = push_image(client, repo), push_image(client, repo, "other")
    signer = load_signer(str(keys["one"]))
    payload = build_payload(image.name, str(other.digest), {})
    signature = base64.b64encode(signer.sign(payload)).decode()
    layer = storage.new_layer(
        storage.SIMPLE_SIGNING_MEDIA_TYPE, payload, {storage.SIGNATURE_ANNOTATION: signature}
    )
    replace_tag(client, image, "sig", [layer])
    code, _, err = run(
        ["verify", f"{image.name}@{image.digest}", "--key", str(keys["one.pub"])], capsys
    )
    assert code == 1
    assert f"payload names {other.digest}" in err


def test_signature_copied_from_another_image_is_rejected(client, keys, repo, capsys) -> None:
    image, other = push_image(client, repo), push_image(client, repo, "other")
    assert (
        run(
            [
                "sign",
                f"{other.name}@{other.digest}",
                "--key",
                str(keys["one"]),
                "--format",
                "legacy",
            ],
            capsys,
        )[0]
        == 0
    )
    copied = client.get_manifest(other.repo_only(), f"{other.digest.tag_form}.sig")
    client.put_manifest(
        image.repo_only(), f"{image.digest.tag_form}.sig", copied.data, copied.media_type
    )
    code, _, err = run(
        ["verify", f"{image.name}@{image.digest}", "--key", str(keys["one.pub"])], capsys
    )
    assert code == 1
    assert f"payload names {other.digest}, not {image.digest}" in err


def test_signature_for_another_repository_needs_signed_identity(
    client, keys, registry, repo, capsys
) -> None:
    image = push_image(client, repo)
    signer = load_signer(str(keys["one"]))
    payload = build_payload(f"{registry}/elsewhere/app", str(image.digest), {})
    signature = base64.b64encode(signer.sign(payload)).decode()
    replace_tag(
        client,
        image,
        "sig",
        [
            storage.new_layer(
                storage.SIMPLE_SIGNING_MEDIA_TYPE,
                payload,
                {storage.SIGNATURE_ANNOTATION: signature},
            )
        ],
    )
    pinned = f"{image.name}@{image.digest}"
    code, _, err = run(["verify", pinned, "--key", str(keys["one.pub"])], capsys)
    assert code == 1 and "--signed-identity" in err
    code, _, _ = run(
        [
            "verify",
            pinned,
            "--key",
            str(keys["one.pub"]),
            "--signed-identity",
            f"{registry}/elsewhere/app",
        ],
        capsys,
    )
    assert code == 0


def test_image_pushed_again_under_the_same_tag(client, keys, repo, capsys) -> None:
    old = push_image(client, repo, "v1")
    assert run(["sign", f"{old.name}@{old.digest}", "--key", str(keys["one"])], capsys)[0] == 0
    new = push_image(client, repo, "v1")
    assert new.digest != old.digest
    code, _, err = run(["verify", f"{old.name}:v1", "--key", str(keys["one.pub"])], capsys)
    assert code == 1
    assert str(new.digest) in err
    assert (
        run(["verify", f"{old.name}@{old.digest}", "--key", str(keys["one.pub"])], capsys)[0] == 0
    )


def _predicate(tmp_path: Path) -> Path:
    path = tmp_path / "predicate.json"
    path.write_text(json.dumps({"scanner": "trivy", "critical": 0}))
    return path


def test_attest_then_verify_attestation(client, keys, repo, tmp_path, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    code, _, err = run(
        [
            "attest",
            pinned,
            "--type",
            "vuln",
            "--predicate",
            str(_predicate(tmp_path)),
            "--key",
            str(keys["one"]),
        ],
        capsys,
    )
    assert code == 0, err
    # idempotent
    assert (
        run(
            [
                "attest",
                pinned,
                "--type",
                "vuln",
                "--predicate",
                str(_predicate(tmp_path)),
                "--key",
                str(keys["one"]),
            ],
            capsys,
        )[0]
        == 0
    )
    att = storage.read_tag(client, image.repo_only(), image.digest, "att")
    assert len(att.layers) == 1
    assert (
        att.layers[0].annotations[storage.PREDICATE_TYPE_ANNOTATION]
        == "https://cosign.sigstore.dev/attestation/vuln/v1"
    )
    code, out, err = run(
        ["verify-attestation", pinned, "--type", "vuln", "--key", str(keys["one.pub"])], capsys
    )
    assert code == 0, err
    statements = json.loads(out)
    assert len(statements) == 2  # .att layer and bundle referrer
    for stmt in statements:
        assert stmt["_type"] == "https://in-toto.io/Statement/v1"
        assert stmt["subject"] == [{"name": image.name, "digest": {"sha256": image.digest.hex}}]
        assert stmt["predicate"] == {"scanner": "trivy", "critical": 0}
    # another type: none
    code, _, err = run(
        ["verify-attestation", pinned, "--type", "cyclonedx", "--key", str(keys["one.pub"])], capsys
    )
    assert code == 1
    # the signature check does not take attestations for signatures
    assert run(["verify", pinned, "--key", str(keys["one.pub"])], capsys)[0] == 1


def test_attestation_about_another_digest_is_rejected(client, keys, repo, capsys) -> None:
    image, other = push_image(client, repo), push_image(client, repo, "other")
    signer = load_signer(str(keys["one"]))
    stmt = dsse.statement(
        image.name, other.digest.hex, "https://cosign.sigstore.dev/attestation/vuln/v1", {}
    )
    envelope = json.dumps(dsse.sign_envelope(signer, stmt)).encode()
    replace_tag(client, image, "att", [storage.new_layer(storage.DSSE_MEDIA_TYPE, envelope, {})])
    code, _, err = run(
        ["verify-attestation", f"{image.name}@{image.digest}", "--key", str(keys["one.pub"])],
        capsys,
    )
    assert code == 1
    assert f"its subject is {other.digest}" in err


def test_dsse_payload_type_changed_is_rejected(client, keys, repo, tmp_path, capsys) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    args = [
        "attest",
        pinned,
        "--type",
        "custom",
        "--predicate",
        str(_predicate(tmp_path)),
        "--key",
        str(keys["one"]),
    ]
    assert run([*args, "--format", "legacy"], capsys)[0] == 0
    layer = storage.read_tag(client, image.repo_only(), image.digest, "att").layers[0]
    envelope = json.loads(layer.blob)
    envelope["payloadType"] = "text/plain"
    replace_tag(
        client,
        image,
        "att",
        [storage.new_layer(layer.media_type, json.dumps(envelope).encode(), layer.annotations)],
    )
    code, _, err = run(["verify-attestation", pinned, "--key", str(keys["one.pub"])], capsys)
    assert code == 1
    assert "DSSE signature does not verify" in err


def test_dsse_payload_type_changed_in_a_bundle_is_rejected(
    client, keys, repo, tmp_path, capsys
) -> None:
    image = push_image(client, repo)
    target = target_of(client, image)
    signer = load_signer(str(keys["one"]))
    stmt = dsse.statement(image.name, image.digest.hex, bundle.SIGN_PREDICATE_TYPE, {})
    envelope = dsse.sign_envelope(signer, stmt)
    envelope["payloadType"] = "application/json"
    bundle.push_bundle(
        client,
        target.repo,
        target.subject,
        bundle.make_bundle(envelope, signer.public_key()),
        bundle.SIGN_PREDICATE_TYPE,
    )
    code, _, err = run(
        ["verify", f"{image.name}@{image.digest}", "--key", str(keys["one.pub"])], capsys
    )
    assert code == 1
    assert "bundle referrer" in err and "DSSE signature does not verify" in err


def test_bundle_is_an_oci_referrer_with_the_tag_fallback(client, keys, repo, capsys) -> None:
    image = push_image(client, repo)
    assert (
        run(
            [
                "sign",
                f"{image.name}@{image.digest}",
                "--key",
                str(keys["one"]),
                "--format",
                "bundle",
            ],
            capsys,
        )[0]
        == 0
    )
    index = json.loads(client.get_manifest(image.repo_only(), image.digest.tag_form).data)
    [entry] = index["manifests"]
    assert entry["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert (
        entry["annotations"]["dev.sigstore.bundle.predicateType"]
        == "https://sigstore.dev/cosign/sign/v1"
    )
    manifest = json.loads(client.get_manifest(image.repo_only(), entry["digest"]).data)
    assert manifest["subject"]["digest"] == str(image.digest)
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    doc = json.loads(
        client.get_blob(image.repo_only(), Digest.parse(manifest["layers"][0]["digest"]))
    )
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert doc["verificationMaterial"]["publicKey"]["hint"]
    assert doc["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    assert client.head_manifest(image.repo_only(), f"{image.digest.tag_form}.sig") is None


def test_keyless_bundle_from_an_untrusted_ca_is_rejected(client, keys, repo, capsys) -> None:
    # A fake Fulcio: a self-made certificate with Fulcio's extensions. Real Fulcio/Rekor cannot
    # be reached here; this checks the keyless path reports the item and why it was rejected.
    from cryptography.hazmat.primitives.serialization import Encoding
    from test_verify_keyless_support import GITHUB, WORKFLOW, fake_fulcio_cert_and_key

    image = push_image(client, repo)
    target = target_of(client, image)
    cert, key = fake_fulcio_cert_and_key(WORKFLOW, GITHUB)
    stmt = dsse.statement(image.name, image.digest.hex, bundle.SIGN_PREDICATE_TYPE, {})
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = key.sign(dsse.pae(dsse.IN_TOTO_PAYLOAD_TYPE, stmt), ec.ECDSA(hashes.SHA256()))
    doc = {
        "mediaType": bundle.BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": base64.b64encode(cert.public_bytes(Encoding.DER)).decode()},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(stmt).decode(),
            "payloadType": dsse.IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode()}],
        },
    }
    bundle.push_bundle(
        client, target.repo, target.subject, json.dumps(doc).encode(), bundle.SIGN_PREDICATE_TYPE
    )
    pinned = f"{image.name}@{image.digest}"
    code, _, err = run(["verify", pinned, "--key", str(keys["one.pub"])], capsys)
    assert code == 1 and "signed keylessly" in err
    pytest.importorskip("sigstore")
    code, _, err = run(
        ["verify", pinned, "--certificate-identity", WORKFLOW, "--certificate-oidc-issuer", GITHUB],
        capsys,
    )
    assert code == 1
    # sigstore-python's own reason (here: no transparency log entry) follows the item's name
    assert f"from {GITHUB}: bundle referrer sha256:" in err


def _github_outputs(path: Path) -> dict[str, str]:
    blocks = re.findall(r"^([\w-]+)<<(\S+)\n(.*?)\n\2$", path.read_text(), re.MULTILINE | re.DOTALL)
    return {name: value for name, _, value in blocks}


def test_ci_outputs_and_job_summaries(client, keys, repo, tmp_path, capsys, monkeypatch) -> None:
    image = push_image(client, repo)
    pinned = f"{image.name}@{image.digest}"
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"
    monkeypatch.setenv("MLTOOLKIT_PLATFORM", "github")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    def step(args: list[str]) -> tuple[int, dict[str, str], str]:
        outputs.write_text("")
        summary.write_text("")
        code, _, _ = run(args, capsys)
        return code, _github_outputs(outputs), summary.read_text()

    code, out, text = step(["sign", pinned, "--key", str(keys["one"])])
    assert code == 0
    assert out["digest"] == str(image.digest)
    assert out["ref"] == pinned
    assert out["signatures"].startswith("legacy: added to sha256-")
    assert "; bundle: added referrer sha256:" in out["signatures"]
    assert text.startswith(f"### Signed `{pinned}`")
    assert "<details>" in text

    code, out, text = step(["verify", pinned, "--key", str(keys["one.pub"])])
    assert code == 0
    assert out["verified"] == "true" and out["digest"] == str(image.digest)
    assert str(keys["one.pub"]) in out["signers"]
    assert text.startswith(f"### Signatures verified: `{pinned}`")

    code, out, text = step(["verify", pinned, "--key", str(keys["two.pub"])])
    assert code == 1
    assert out["verified"] == "false" and out["signers"] == ""
    assert text.startswith(f"### Signatures NOT verified: `{pinned}`")
    assert "does not verify" in text

    predicate = _predicate(tmp_path)
    code, out, text = step(
        [
            "attest",
            pinned,
            "--type",
            "vuln",
            "--predicate",
            str(predicate),
            "--key",
            str(keys["one"]),
        ]
    )
    assert code == 0
    assert out["predicate-type"] == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert out["digest"] == str(image.digest)
    assert "legacy: added to sha256-" in out["attestation"]
    assert text.startswith(f"### Attested `{pinned}`")

    code, out, text = step(["verify-attestation", pinned, "--key", str(keys["one.pub"])])
    assert code == 0
    assert out["verified"] == "true"
    assert out["predicate-types"] == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert text.startswith(f"### Attestations verified: `{pinned}`")


class _CountingClient:
    """The registry client, counting the blobs read and the blobs checked."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client
        self.read: list[str] = []
        self.checked: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def get_blob(self, repo: ImageRef, digest: Digest) -> bytes:
        self.read.append(str(digest))
        return self._client.get_blob(repo, digest)

    def blob_exists(self, repo: ImageRef, digest: Digest) -> bool:
        self.checked.append(str(digest))
        return self._client.blob_exists(repo, digest)


def test_attesting_reads_only_the_layers_of_its_own_predicate_type(client, keys, repo) -> None:
    from mltoolkit.signing.attest import attest_image
    from mltoolkit.signing.verify import Trust, TrustedKey, verify_attestations

    image = push_image(client, repo)
    target = target_of(client, image)
    signer = load_signer(str(keys["one"]))
    vuln = "https://cosign.sigstore.dev/attestation/vuln/v1"
    sbom = "https://cyclonedx.org/bom"
    for n in range(3):
        attest_image(client, target, signer, vuln, {"run": n}, "legacy")
    before = client.get_manifest(image.repo_only(), storage.legacy_tag(image.digest, "att"))
    kept = json.loads(before.data)["layers"]

    counting = _CountingClient(client)
    first = attest_image(counting, target, signer, sbom, {"components": []}, "legacy")
    assert first.written["legacy"] == f"added to {storage.legacy_tag(image.digest, 'att')}"
    # none of the three vuln layers was read or checked again: only the new layer's blob
    assert not set(counting.read) & {d["digest"] for d in kept}
    assert not set(counting.checked) & {d["digest"] for d in kept}
    after = client.get_manifest(image.repo_only(), storage.legacy_tag(image.digest, "att"))
    layers = json.loads(after.data)["layers"]
    assert layers[:3] == kept  # kept as stored, in order
    assert layers[3]["annotations"][storage.PREDICATE_TYPE_ANNOTATION] == sbom

    # the same Statement again: found among the layers of its type, nothing written
    again = attest_image(
        _CountingClient(client), target, signer, sbom, {"components": []}, "legacy"
    )
    assert again.written["legacy"].startswith("unchanged")
    trust = Trust([TrustedKey("one", load_signer(str(keys["one"])).public_key())])
    report = verify_attestations(client, target, trust)
    found = sorted(str(v.predicate_type) for v in report.verified)
    assert found == sorted([sbom, vuln, vuln, vuln])
    assert report.rejected == []
