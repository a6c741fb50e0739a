"""A fake Fulcio certificate for the keyless tests (Fulcio itself cannot be reached here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WORKFLOW = "https://github.com/acme/model/.github/workflows/release.yml@refs/heads/main"
GITHUB = "https://token.actions.githubusercontent.com"


def fake_fulcio_cert_and_key(
    san: str, issuer: str, extensions: Mapping[str, bytes] | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed certificate with the SAN and the v2 issuer extension Fulcio writes, plus
    ``extensions`` (OID -> raw value bytes, e.g. a DER UTF8String for 1.3.6.1.4.1.57264.1.12)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake fulcio")])
    issuer_der = b"\x0c" + bytes([len(issuer)]) + issuer.encode()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(minutes=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=True
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer_der),
            critical=False,
        )
    )
    for oid, raw in (extensions or {}).items():
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), raw), critical=False
        )
    return builder.sign(key, hashes.SHA256()), key
