"""Key files: cosign's encrypted format, written and read; KMS references (parsing only)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.secret import SecretBox

from mltoolkit.cli.main import main
from mltoolkit.errors import InputError
from mltoolkit.signing import keyfile, kms
from mltoolkit.signing.keys import (
    generate_key_pair,
    load_public_key,
    load_signer,
    parse_private_key,
    verify_signature,
)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _cosign_style_key(der: bytes, password: bytes, n: int, pem_type: str) -> bytes:
    # Written independently of keyfile.encrypt_pkcs8, from go-securesystemslib's format.
    salt, nonce = os.urandom(32), os.urandom(24)
    key = hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, maxmem=2**28, dklen=32)
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(SecretBox(key).encrypt(der, nonce).ciphertext).decode(),
    }
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    return f"-----BEGIN {pem_type}-----\n{body}\n-----END {pem_type}-----\n".encode()


def _pkcs8() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key, der


def test_generate_writes_cosign_format(tmp_path: Path) -> None:
    key_path, pub_path = generate_key_pair(tmp_path / "cosign", b"s3cret")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    blocks = keyfile.pem_blocks(key_path.read_bytes())
    assert [b[0] for b in blocks] == ["ENCRYPTED COSIGN PRIVATE KEY"]
    doc = json.loads(blocks[0][1])
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert doc["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    # decrypt independently: scrypt + secretbox gives PKCS#8 DER
    derived = hashlib.scrypt(
        b"s3cret",
        salt=base64.b64decode(doc["kdf"]["salt"]),
        n=32768,
        r=8,
        p=1,
        maxmem=2**28,
        dklen=32,
    )
    der = SecretBox(derived).decrypt(
        base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"])
    )
    private = serialization.load_der_private_key(der, None)
    public = load_public_key(str(pub_path))
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "k", b"")
    with pytest.raises(InputError, match="refusing to overwrite"):
        generate_key_pair(tmp_path / "k", b"")


@pytest.mark.parametrize("n", [32768, 65536, 131072])
@pytest.mark.parametrize(
    "pem_type", ["ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY"]
)
def test_reads_all_cosign_parameter_sets(n: int, pem_type: str) -> None:
    key, der = _pkcs8()
    parsed = parse_private_key(_cosign_style_key(der, b"pw", n, pem_type), b"pw", where="k")
    assert parsed.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


def test_rejects_unknown_scrypt_parameters() -> None:
    _, der = _pkcs8()
    with pytest.raises(InputError, match="N=16384"):
        parse_private_key(
            _cosign_style_key(der, b"pw", 16384, keyfile.COSIGN_PEM_TYPE), b"pw", where="k"
        )


def test_reads_unencrypted_pkcs8() -> None:
    key, _ = _pkcs8()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    parsed = parse_private_key(pem, None, where="k")
    assert parsed.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


def test_wrong_password_is_input_error(tmp_path: Path) -> None:
    key_path, _ = generate_key_pair(tmp_path / "k", b"right")
    with pytest.raises(InputError, match="wrong password"):
        parse_private_key(key_path.read_bytes(), b"wrong", where=str(key_path))


def test_signer_signs_what_the_public_key_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_path, pub_path = generate_key_pair(tmp_path / "k", b"pw")
    monkeypatch.delenv("MLTOOLKIT_KEY_PASSWORD", raising=False)
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    signer = load_signer(str(key_path))
    signature = signer.sign(b"payload")
    public = load_public_key(str(pub_path))
    assert verify_signature(public, signature, b"payload")
    assert not verify_signature(public, signature, b"payload!")


def test_public_key_refuses_private_key_file(tmp_path: Path) -> None:
    key_path, _ = generate_key_pair(tmp_path / "k", b"pw")
    with pytest.raises(InputError, match="this is a private key"):
        load_public_key(str(key_path))


def test_cli_generate_and_wrong_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "pw")
    code, out, _ = run_cli(["keys", "generate", "--output-prefix", str(tmp_path / "c")], capsys)
    assert code == 0
    assert "c.pub" in out
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "nope")
    with pytest.raises(InputError, match="wrong password"):
        load_signer(str(tmp_path / "c.key"))


def test_cli_generate_without_password_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLTOOLKIT_KEY_PASSWORD", raising=False)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    code, _, err = run_cli(["keys", "generate", "--output-prefix", str(tmp_path / "c")], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "MLTOOLKIT_KEY_PASSWORD" in err


# KMS: no cloud here, so only parsing and the errors before any network call are tested.
@pytest.mark.parametrize(
    ("uri", "scheme", "key"),
    [
        (
            "awskms:///1234abcd-12ab-34cd-56ef-1234567890ab",
            "awskms",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("awskms:///alias/release", "awskms", "alias/release"),
        ("awskms://localhost:4566/alias/x", "awskms", "alias/x"),
        (
            "awskms:///arn:aws:kms:us-east-1:123456789012:key/abc",
            "awskms",
            "arn:aws:kms:us-east-1:123456789012:key/abc",
        ),
        (
            "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            "gcpkms",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        ),
        ("azurekms://myvault.vault.azure.net/signing-key", "azurekms", "signing-key"),
        ("hashivault://release", "hashivault", "release"),
    ],
)
def test_kms_uris_parse(uri: str, scheme: str, key: str) -> None:
    parsed = kms.parse_kms_uri(uri)
    assert (parsed.scheme, parsed.key) == (scheme, key)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("awskms://", "malformed AWS KMS"),
        ("awskms:///arn:aws:kms:nowhere", "malformed AWS KMS key ARN"),
        ("gcpkms://projects/p/keyRings/r", "malformed Google Cloud KMS"),
        ("azurekms://example.com/key", "malformed Azure Key Vault"),
        ("hashivault://", "malformed HashiCorp Vault"),
    ],
)
def test_kms_uris_malformed(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        kms.parse_kms_uri(uri)


def test_kms_signer_without_sdk_says_what_to_install() -> None:
    # boto3 is not installed here: the error must name it (no AWS call is made).
    with pytest.raises(InputError, match="boto3"):
        load_signer("awskms:///alias/release")


def test_kms_key_for_verification_says_export_the_public_key() -> None:
    with pytest.raises(InputError, match="export the KMS public key"):
        load_public_key("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k")
