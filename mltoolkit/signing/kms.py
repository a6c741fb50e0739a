"""Key references as KMS URIs, in cosign's syntax, signed through securesystemslib's signers.

Supported forms (as cosign documents them)::

    awskms://[ENDPOINT]/KEY-ID | ALIAS | ARN
    gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]
    azurekms://VAULT.vault.azure.net/KEY
    hashivault://KEY

Signing needs the ``[kms]`` extra (securesystemslib) and the cloud provider's SDK.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from mltoolkit.errors import ExternalError, InputError

SCHEMES = ("awskms", "gcpkms", "azurekms", "hashivault")

_GCP = re.compile(
    r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+(?:/cryptoKeyVersions/[^/]+)?"
)
_AZURE_HOST = re.compile(r"[A-Za-z0-9-]+\.vault\.(?:azure\.net|azure\.cn|usgovcloudapi\.net)")
_SDK_MODULE = {
    "awskms": "boto3",
    "gcpkms": "google.cloud.kms",
    "azurekms": "azure.keyvault.keys",
    "hashivault": "hvac",
}
_SDK = {
    "awskms": "boto3 botocore",
    "gcpkms": "google-cloud-kms",
    "azurekms": "azure-identity azure-keyvault-keys",
    "hashivault": "hvac",
}


@dataclass(frozen=True)
class KmsKey:
    """A parsed KMS key reference."""

    scheme: str
    key: str
    endpoint: str | None = None


def is_kms_uri(ref: str) -> bool:
    """Whether ``ref`` looks like a KMS reference rather than a file path."""
    return "://" in ref and ref.split("://", 1)[0] in SCHEMES


def parse_kms_uri(ref: str) -> KmsKey:
    """Parse a KMS URI; InputError naming the expected form when it is malformed."""
    scheme, sep, rest = ref.partition("://")
    if not sep or scheme not in SCHEMES:
        raise InputError(
            f"unknown key reference scheme {scheme!r}",
            where=ref,
            fix=f"use a key file or one of {', '.join(s + '://' for s in SCHEMES)}",
        )
    if scheme == "awskms":
        endpoint, _, key = rest.partition("/")
        if not key or " " in key:
            raise InputError(
                "malformed AWS KMS reference",
                where=ref,
                fix="write awskms:///KEY-ID, awskms:///alias/NAME or awskms:///arn:aws:kms:...",
            )
        if key.startswith("arn:") and not re.fullmatch(
            r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:(key|alias)/.+", key
        ):
            raise InputError(
                "malformed AWS KMS key ARN", where=ref, fix="copy the ARN from the AWS console"
            )
        return KmsKey(scheme, key, endpoint or None)
    if scheme == "gcpkms":
        if not _GCP.fullmatch(rest):
            raise InputError(
                "malformed Google Cloud KMS reference",
                where=ref,
                fix="write gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]",
            )
        return KmsKey(scheme, rest)
    if scheme == "azurekms":
        host, _, key = rest.partition("/")
        if not _AZURE_HOST.fullmatch(host) or not re.fullmatch(r"[A-Za-z0-9-]+", key):
            raise InputError(
                "malformed Azure Key Vault reference",
                where=ref,
                fix="write azurekms://VAULT.vault.azure.net/KEY",
            )
        return KmsKey(scheme, key, host)
    if not re.fullmatch(r"[\w.-]+", rest):
        raise InputError(
            "malformed HashiCorp Vault reference", where=ref, fix="write hashivault://KEY"
        )
    return KmsKey(scheme, rest)


@dataclass(frozen=True)
class KmsSigner:
    """A securesystemslib signer behind one of our KMS URIs."""

    uri: str
    signer: Any
    verification_key: Any

    @property
    def name(self) -> str:
        """The KMS URI as the user wrote it."""
        return self.uri

    def public_key(self) -> Any:
        """The verification key, as a cryptography public key."""
        return self.verification_key

    def sign(self, data: bytes) -> bytes:
        """Sign through the KMS."""
        try:
            return bytes.fromhex(self.signer.sign(data).signature)
        except Exception as exc:  # the providers raise their own exception types
            raise ExternalError(f"KMS signing failed: {exc}", where=self.uri) from None


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def kms_signer(ref: str) -> KmsSigner:
    """Build a signer for a KMS URI through securesystemslib (the ``[kms]`` extra)."""
    parsed = parse_kms_uri(ref)
    try:
        sslib: Any = importlib.import_module("securesystemslib.signer")
    except ImportError:
        raise InputError(
            "KMS keys need the kms extra",
            where=ref,
            fix=f"pip install 'mltoolkit[kms]' {_SDK[parsed.scheme]}",
        ) from None
    if not _importable(_SDK_MODULE[parsed.scheme]):
        raise InputError(
            f"the {parsed.scheme} SDK is not installed",
            where=ref,
            fix=f"pip install {_SDK[parsed.scheme]}",
        )
    try:
        if parsed.scheme == "awskms":
            uri, key = sslib.AWSSigner.import_(parsed.key)
        elif parsed.scheme == "gcpkms":
            uri, key = sslib.GCPSigner.import_(parsed.key)
        elif parsed.scheme == "azurekms":
            vault = (parsed.endpoint or "").split(".", 1)[0]
            uri, key = sslib.AzureSigner.import_(vault, parsed.key)
        else:
            uri, key = sslib.VaultSigner.import_(parsed.key)
        signer = sslib.Signer.from_priv_key_uri(uri, key)
    except ImportError:
        raise InputError(
            f"the {parsed.scheme} SDK is not installed",
            where=ref,
            fix=f"pip install {_SDK[parsed.scheme]}",
        ) from None
    except Exception as exc:  # the providers raise their own exception types
        raise ExternalError(f"cannot reach the KMS key: {exc}", where=ref) from None
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(str(key.keyval["public"]).encode())
    return KmsSigner(ref, signer, public)
