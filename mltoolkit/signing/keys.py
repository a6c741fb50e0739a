"""Signing and verification keys: generation, loading from files or KMS URIs, raw signatures.

Private keys are read from cosign's encrypted PEM (see ``keyfile``) or unencrypted PKCS#8 PEM;
the password comes from ``MLTOOLKIT_KEY_PASSWORD`` or ``COSIGN_PASSWORD``, never from argv.
Signatures are what cosign writes: ASN.1 DER ECDSA over SHA-256 for P-256 keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from mltoolkit.errors import InputError
from mltoolkit.files import write_atomic
from mltoolkit.signing import keyfile

PASSWORD_ENV = ("MLTOOLKIT_KEY_PASSWORD", "COSIGN_PASSWORD")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class Signer(Protocol):
    """Something that signs bytes the way cosign does and names itself in messages."""

    @property
    def name(self) -> str:
        """How the key is shown to people (a file path or a KMS URI)."""
        ...

    def public_key(self) -> PublicKey:
        """The verification key."""
        ...

    def sign(self, data: bytes) -> bytes:
        """A raw signature over ``data``."""
        ...


def read_password(*, prompt: bool = False) -> bytes | None:
    """The key password from the environment (``None`` when neither variable is set)."""
    for name in PASSWORD_ENV:
        value = os.environ.get(name)
        if value is not None:
            return value.encode()
    if prompt and sys.stdin.isatty():
        import click

        return str(
            click.prompt("Password for the private key", hide_input=True, default="")
        ).encode()
    return None


def public_pem(key: PublicKey) -> bytes:
    """The PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) of ``key``."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKey) -> str:
    """A stable short name for a public key: ``sha256:`` + the first 16 hex of its DER digest."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def key_hint(key: PublicKey) -> str:
    """The bundle ``publicKey.hint``: base64 SHA-256 of the DER public key, as cosign writes."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def generate_key_pair(prefix: Path, password: bytes, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (cosign-encrypted ECDSA P-256, mode 0600) and ``PREFIX.pub``."""
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (key_path, pub_path):
        if path.exists() and not force:
            raise InputError(
                "file exists; refusing to overwrite a key",
                where=str(path),
                fix="choose another --output-prefix or pass --force",
            )
    if not key_path.parent.is_dir():
        raise InputError(
            "directory does not exist", where=str(key_path.parent), fix="create it first"
        )
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(key_path, keyfile.encrypt_pkcs8(der, password), mode=0o600)
    write_atomic(pub_path, public_pem(private.public_key()), mode=0o644)
    return key_path, pub_path


def _as_private(key: object, where: str) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise InputError(
        f"unsupported private key type {type(key).__name__}",
        where=where,
        fix="use an ECDSA P-256 key (mltoolkit keys generate), RSA or Ed25519",
    )


def _as_public(key: object, where: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    raise InputError(f"unsupported public key type {type(key).__name__}", where=where)


def parse_private_key(data: bytes, password: bytes | None, *, where: str) -> PrivateKey:
    """Parse an encrypted cosign/sigstore key or an unencrypted PKCS#8 PEM key."""
    for pem_type, body in keyfile.pem_blocks(data):
        if pem_type in keyfile.ENCRYPTED_PEM_TYPES:
            if password is None:
                raise InputError(
                    "the private key is encrypted and no password is set",
                    where=where,
                    fix="set MLTOOLKIT_KEY_PASSWORD (or COSIGN_PASSWORD) in the environment",
                )
            der = keyfile.decrypt_pkcs8(body, password, where=where)
            return _as_private(_load_der_private(der, where), where)
        if pem_type in ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"):
            try:
                key = serialization.load_pem_private_key(
                    keyfile.to_pem(pem_type, body), password=None
                )
            except (ValueError, TypeError) as exc:
                raise InputError(f"cannot read the private key: {exc}", where=where) from None
            return _as_private(key, where)
    raise InputError(
        "no private key PEM block found",
        where=where,
        fix="pass a key written by `mltoolkit keys generate`, `cosign generate-key-pair` or skopeo",
    )


def _load_der_private(der: bytes, where: str) -> object:
    try:
        return serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"the decrypted key is not PKCS#8: {exc}", where=where) from None


def parse_public_key(data: bytes, *, where: str) -> PublicKey:
    """Parse a PEM ``PUBLIC KEY``."""
    try:
        return _as_public(serialization.load_pem_public_key(data), where)
    except (ValueError, TypeError):
        raise InputError(
            "not a PEM public key",
            where=where,
            fix="pass the .pub file written next to the private key",
        ) from None


def load_public_key(ref: str) -> PublicKey:
    """Load a verification key from a PEM file (a KMS URI is refused with what to do instead)."""
    from mltoolkit.signing import kms

    if kms.is_kms_uri(ref):
        kms.parse_kms_uri(ref)
        raise InputError(
            "verification with a KMS key reference is not supported",
            where=ref,
            fix="export the KMS public key to a PEM file and pass that file",
        )
    path = Path(ref)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the public key: {exc.strerror}", where=ref) from None
    blocks = {pem_type for pem_type, _ in keyfile.pem_blocks(data)}
    if blocks & set(keyfile.ENCRYPTED_PEM_TYPES) or "PRIVATE KEY" in blocks:
        raise InputError(
            "this is a private key; verification takes the public key",
            where=ref,
            fix=f"pass {path.with_suffix('.pub')} (the .pub file next to it)",
        )
    return parse_public_key(data, where=ref)


@dataclass(frozen=True)
class FileSigner:
    """A private key held in memory, read from a key file."""

    path: str
    key: PrivateKey

    @property
    def name(self) -> str:
        """The key file's path."""
        return self.path

    def public_key(self) -> PublicKey:
        """The verification key."""
        return self.key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (ECDSA: DER with the curve's hash; RSA: PKCS#1 v1.5 SHA-256)."""
        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_ec_hash(key.curve)))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(data)


def _ec_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP521R1):
        return hashes.SHA512()
    return hashes.SHA256()


def load_signer(ref: str) -> Signer:
    """A signer for ``--key REF``: a key file, or a KMS URI (needs the ``[kms]`` extra)."""
    from mltoolkit.signing import kms

    if kms.is_kms_uri(ref):
        return kms.kms_signer(ref)
    path = Path(ref)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the private key: {exc.strerror}",
            where=ref,
            fix="pass a key file or a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://)",
        ) from None
    return FileSigner(ref, parse_private_key(data, read_password(), where=ref))


def verify_signature(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``key``."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_ec_hash(key.curve)))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
