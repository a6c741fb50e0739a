"""Keyless: identity matching on Fulcio-style certificates, and signing without a token.

Fulcio and Rekor cannot be reached here, so the certificates are self-made with Fulcio's
extensions (a fake CA), and signing is tested only up to the missing-token error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mltoolkit.cli.main import main
from mltoolkit.errors import InputError
from mltoolkit.signing.keyless import Identity, certificate_identity

WORKFLOW = "https://github.com/acme/model/.github/workflows/release.yml@refs/heads/main"
GITHUB = "https://token.actions.githubusercontent.com"


def fake_fulcio_cert(
    san: str, issuer: str, extensions: Mapping[str, bytes] | None = None
) -> x509.Certificate:
    """A FAKE Fulcio certificate (self-signed: Fulcio cannot be reached here) with the SAN, the
    v2 issuer and ``extensions`` (OID -> the extension's raw value bytes)."""
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
    return builder.sign(key, hashes.SHA256())


def test_certificate_identity_reads_san_and_v2_issuer() -> None:
    sans, issuer = certificate_identity(fake_fulcio_cert(WORKFLOW, GITHUB))
    assert sans == {WORKFLOW}
    assert issuer == GITHUB


def test_identity_exact_and_regexp() -> None:
    sans, issuer = certificate_identity(fake_fulcio_cert(WORKFLOW, GITHUB))
    assert Identity(identity=WORKFLOW, issuer=GITHUB).mismatch(sans, issuer) is None
    assert (
        Identity(identity_regexp=r"https://github\.com/acme/.*", issuer=GITHUB).mismatch(
            sans, issuer
        )
        is None
    )
    assert "is not https://gitlab.com" in str(
        Identity(identity=WORKFLOW, issuer="https://gitlab.com").mismatch(sans, issuer)
    )
    # the whole value must match: a prefix pattern does not accept a longer identity
    assert "does not match" in str(
        Identity(identity_regexp=r"https://github\.com/acme", issuer=GITHUB).mismatch(sans, issuer)
    )
    assert "does not match" in str(
        Identity(identity_regexp=r"https://github\.com/evil/.*", issuer=GITHUB).mismatch(
            sans, issuer
        )
    )


def test_identity_needs_both_halves() -> None:
    with pytest.raises(InputError, match="oidc-issuer"):
        Identity(identity=WORKFLOW)
    with pytest.raises(InputError, match="invalid regular expression"):
        Identity(identity_regexp="(", issuer=GITHUB)


@pytest.mark.parametrize(
    ("env", "remedy"),
    [
        ({"GITHUB_ACTIONS": "true"}, "id-token: write"),
        ({"GITLAB_CI": "true"}, "id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore"),
        ({}, "export SIGSTORE_ID_TOKEN"),
    ],
)
def test_keyless_without_token_is_exit_2_with_the_platform_remedy(
    env: dict[str, str],
    remedy: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in (
        "SIGSTORE_ID_TOKEN",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "MLTOOLKIT_PLATFORM",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["sign", "127.0.0.1:1/none/app@sha256:" + "0" * 64, "--keyless"])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert remedy in err
    assert err.count("\n") == 1
