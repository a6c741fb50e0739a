"""The encrypted private key file of cosign (and of containers/image's ``generate-sigstore-key``).

PEM type ``ENCRYPTED COSIGN PRIVATE KEY`` (cosign v2+ also writes ``ENCRYPTED SIGSTORE PRIVATE
KEY``); the body is the JSON of go-securesystemslib's ``encrypted`` package::

    {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": b64},
     "cipher": {"name": "nacl/secretbox", "nonce": b64}, "ciphertext": b64}

with a PKCS#8 DER private key as plaintext. Go encodes ``[]byte`` as padded standard base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from mltoolkit.errors import InputError

COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
ENCRYPTED_PEM_TYPES = (COSIGN_PEM_TYPE, SIGSTORE_PEM_TYPE)

# NOTE: older containers/image accepts only N=32768 (go-securesystemslib's "legacy" parameters),
# so that is what we write; the newer "standard" and "OWASP" parameter sets are read too.
WRITE_SCRYPT_N = 32768
ALLOWED_SCRYPT = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
_SALT_BYTES = 32
_KEY_BYTES = 32
_NONCE_BYTES = 24


def pem_blocks(text: bytes) -> list[tuple[str, bytes]]:
    """The ``(type, DER body)`` of every PEM block in ``text``."""
    blocks: list[tuple[str, bytes]] = []
    current: str | None = None
    body: list[str] = []
    for raw in text.decode("ascii", errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            current, body = line[len("-----BEGIN ") : -5], []
        elif line.startswith("-----END ") and current is not None:
            try:
                blocks.append((current, base64.b64decode("".join(body), validate=True)))
            except binascii.Error:
                blocks.append((current, b""))
            current = None
        elif current is not None and ":" not in line:
            body.append(line)
    return blocks


def to_pem(pem_type: str, der: bytes) -> bytes:
    """Encode ``der`` as one PEM block with 64-character lines."""
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        "\n".join([f"-----BEGIN {pem_type}-----", *lines, f"-----END {pem_type}-----"]) + "\n"
    ).encode()


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # 128 * r * N bytes are needed: 128 MiB for N=131072; hashlib's default cap is 32 MiB.
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_KEY_BYTES
    )


def encrypt_pkcs8(der: bytes, password: bytes) -> bytes:
    """Encrypt PKCS#8 DER into the PEM cosign reads (``ENCRYPTED COSIGN PRIVATE KEY``)."""
    from nacl.secret import SecretBox

    salt = os.urandom(_SALT_BYTES)
    nonce = os.urandom(_NONCE_BYTES)
    key = _derive(password, salt, WRITE_SCRYPT_N, 8, 1)
    sealed = SecretBox(key).encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": WRITE_SCRYPT_N, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return to_pem(COSIGN_PEM_TYPE, json.dumps(doc, separators=(",", ":")).encode())


def _field(doc: Any, *path: str) -> Any:
    value = doc
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"missing {'.'.join(path)}")
        value = value[key]
    return value


def decrypt_pkcs8(body: bytes, password: bytes, *, where: str) -> bytes:
    """Decrypt the JSON body of an encrypted cosign key; InputError on a wrong password."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        doc = json.loads(body)
        if _field(doc, "kdf", "name") != "scrypt":
            raise ValueError(f"unsupported KDF {_field(doc, 'kdf', 'name')!r}")
        if _field(doc, "cipher", "name") != "nacl/secretbox":
            raise ValueError(f"unsupported cipher {_field(doc, 'cipher', 'name')!r}")
        params = (
            int(_field(doc, "kdf", "params", "N")),
            int(_field(doc, "kdf", "params", "r")),
            int(_field(doc, "kdf", "params", "p")),
        )
        if params not in ALLOWED_SCRYPT:
            raise ValueError(
                f"scrypt parameters N={params[0]} r={params[1]} p={params[2]} not allowed"
            )
        salt = base64.b64decode(_field(doc, "kdf", "salt"), validate=True)
        nonce = base64.b64decode(_field(doc, "cipher", "nonce"), validate=True)
        sealed = base64.b64decode(_field(doc, "ciphertext"), validate=True)
        if len(nonce) != _NONCE_BYTES:
            raise ValueError("nonce is not 24 bytes")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InputError(
            f"not a valid encrypted cosign key: {exc}",
            where=where,
            fix="pass a key written by `mltoolkit keys generate`, cosign or skopeo",
        ) from None
    key = _derive(password, salt, *params)
    try:
        return bytes(SecretBox(key).decrypt(sealed, nonce))
    except CryptoError:
        raise InputError(
            "wrong password for the private key",
            where=where,
            fix="set MLTOOLKIT_KEY_PASSWORD (or COSIGN_PASSWORD) to the key's password",
        ) from None
