"""Model artifacts signed with OpenSSF model-signing, and the model digest an image carries.

The *model digest* is model-signing's own name for a model: the subject digest of its in-toto
statement, SHA-256 over the SHA-256 of every file in name order. ``model_digest`` computes it
without signing; ``sign_model`` returns the Sigstore bundle (v0.3, DSSE) whose subject is it.
Every file counts, git files included (model-signing skips ``.git*`` by default): a serving
image must not carry a ``.gitattributes`` nobody signed.

model-signing's key signer reads a PEM file: the key is written to a 0600 temporary file in a
private temporary directory and removed at once, never left on disk or shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mltoolkit.errors import DeniedError, ExternalError, InputError

MODEL_SIGNATURE_PREDICATE = "https://model_signing/signature/v1.0"
HASH_WORKERS_DEFAULT: int | None = None  # the thread pool default: min(32, cores + 4)
# model-signing names files in its mismatch message, then prints digests as byte reprs.
_CHANGED = re.compile(r"Hash mismatch for \\?'([^'\\]+)\\?'")
_EXTRA = re.compile(r"Extra files found in model \\?'[^'\\]*\\?': ([^\"'\]\\]*)")
_MISSING = re.compile(r"Missing files in model \\?'[^'\\]*\\?': ([^\"'\]\\]*)")


def _hashing_config(workers: int | None = HASH_WORKERS_DEFAULT) -> Any:
    from model_signing import hashing

    return (
        hashing.Config()  # type: ignore[no-untyped-call]
        .use_file_serialization(hashing_algorithm="sha256", max_workers=workers)
        .set_ignored_paths(paths=[], ignore_git_paths=False)
    )


@contextmanager
def _model_signing() -> Iterator[None]:
    """Import model-signing quietly; ImportError becomes a one-line install hint."""
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)
            yield
    except ImportError as exc:
        raise ExternalError(
            f"model signing needs {exc.name}, which is not installed",
            fix="pip install 'mltoolkit[mlflow]' (model-signing and pyopenssl)",
        ) from None


def _check_dir(path: Path) -> None:
    if not path.is_dir():
        raise InputError("the model is not a directory", where=str(path))


def model_digest(path: Path, *, workers: int | None = HASH_WORKERS_DEFAULT) -> str:
    """``sha256:<hex>``: the model-signing subject digest of the model directory ``path``."""
    _check_dir(path)
    with _model_signing():
        try:
            manifest = _hashing_config(workers).hash(Path(path))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot hash the model: {exc}", where=str(path)) from None
        hasher = hashlib.sha256()
        for descriptor in manifest.resource_descriptors():
            hasher.update(descriptor.digest.digest_value)
    return f"sha256:{hasher.hexdigest()}"


@contextmanager
def _private_pem(key: Any) -> Iterator[Path]:
    """The private key as an unencrypted PKCS#8 PEM in a 0600 file that is removed on exit."""
    from cryptography.hazmat.primitives import serialization

    with tempfile.TemporaryDirectory(prefix="mltoolkit-key-") as tmp:
        os.chmod(tmp, 0o700)
        path = Path(tmp) / "key.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            yield path
        finally:
            path.unlink(missing_ok=True)


def sign_model(path: Path, key: Any, *, workers: int | None = HASH_WORKERS_DEFAULT) -> bytes:
    """Sign the model directory ``path`` with an EC private key; the bundle's JSON bytes."""
    from cryptography.hazmat.primitives.asymmetric import ec

    _check_dir(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(
            f"model-signing signs with elliptic-curve keys, not {type(key).__name__}",
            where="--key",
            fix="use an ECDSA key (mltoolkit keys generate)",
        )
    with _model_signing(), _private_pem(key) as pem, tempfile.TemporaryDirectory() as out:
        from model_signing import signing

        bundle_path = Path(out) / "model.sig"
        config = signing.Config()  # type: ignore[no-untyped-call]
        config.set_hashing_config(_hashing_config(workers))
        try:
            config.use_elliptic_key_signer(private_key=pem).sign(Path(path), bundle_path)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot sign the model: {exc}", where=str(path)) from None
        return bundle_path.read_bytes()


def sign_model_keyless(
    path: Path, token: str, *, workers: int | None = HASH_WORKERS_DEFAULT
) -> bytes:
    """Sign the model directory with a Fulcio certificate for the OIDC ``token`` (Sigstore)."""
    _check_dir(path)
    with _model_signing(), tempfile.TemporaryDirectory() as out:
        from model_signing import signing

        bundle_path = Path(out) / "model.sig"
        config = signing.Config()  # type: ignore[no-untyped-call]
        config.set_hashing_config(_hashing_config(workers))
        try:
            # NOTE: the signer fetches Sigstore's trust root (TUF) as it is configured.
            config.use_sigstore_signer(identity_token=token, use_ambient_credentials=False)
            config.sign(Path(path), bundle_path)
        except OSError as exc:
            raise InputError(f"cannot read the model: {exc}", where=str(path)) from None
        except Exception as exc:  # sigstore raises network and protocol errors of many types
            raise ExternalError(
                f"keyless signing failed: {type(exc).__name__}: {exc}",
                where="Sigstore (Fulcio, Rekor)",
                fix="check that Fulcio and Rekor are reachable, or sign with --key",
            ) from None
        return bundle_path.read_bytes()


def bundle_statement(bundle: bytes) -> dict[str, Any]:
    """The (unverified) in-toto statement inside a model-signing bundle."""
    try:
        doc = json.loads(bundle)
        payload = base64.b64decode(doc["dsseEnvelope"]["payload"])
        statement = json.loads(payload)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a model-signing bundle: {exc}", where="signature") from None
    if not isinstance(statement, dict):
        raise InputError("not a model-signing bundle: statement is not an object")
    return statement


def bundle_digest(bundle: bytes) -> str:
    """The model digest a bundle claims (``sha256:<hex>``), without verifying it."""
    statement = bundle_statement(bundle)
    try:
        subject = statement["subject"][0]
        return f"sha256:{subject['digest']['sha256']}"
    except (KeyError, IndexError, TypeError):
        raise InputError("the model signature has no sha256 subject", where="signature") from None


def _mismatch_reason(text: str) -> str:
    """model-signing's verification error, with digests left out and files named."""
    parts = [f"extra files: {m.strip()}" for m in _EXTRA.findall(text)]
    parts += [f"missing files: {m.strip()}" for m in _MISSING.findall(text)]
    parts += [f"'{name}' changed" for name in _CHANGED.findall(text)]
    return "; ".join(parts) if parts else text


def verify_model(
    path: Path,
    bundle: bytes,
    public_key: Path | None = None,
    *,
    identity: tuple[str, str] | None = None,
) -> str:
    """Check the model directory ``path`` against ``bundle``.

    The signer is ``public_key`` (PEM) or, for keyless bundles, ``identity`` = (certificate
    identity, OIDC issuer), checked against Sigstore's public-good trust root. Returns the
    verified model digest; DeniedError when the signature or any file does not match (changed
    bytes, missing or extra files).
    """
    _check_dir(path)
    if (public_key is None) == (identity is None):
        raise InputError("verify with exactly one of a public key and a keyless identity")
    with _model_signing(), tempfile.TemporaryDirectory() as out:
        from model_signing import verifying

        bundle_path = Path(out) / "model.sig"
        bundle_path.write_bytes(bundle)
        config = verifying.Config()  # type: ignore[no-untyped-call]
        if identity is not None:
            try:
                config.use_sigstore_verifier(identity=identity[0], oidc_issuer=identity[1])
            except Exception as exc:  # the trust root update (TUF) fails in many ways
                raise ExternalError(
                    f"cannot load Sigstore's trust root: {type(exc).__name__}: {exc}",
                    where="Sigstore TUF repository",
                    fix="check network access to the Sigstore TUF repository",
                ) from None
        else:
            try:
                config.use_elliptic_key_verifier(public_key=Path(str(public_key)))
            except (OSError, ValueError) as exc:
                raise InputError(
                    f"cannot use the public key: {exc}", where=str(public_key)
                ) from None
        config.set_hashing_config(_hashing_config())
        try:
            config.verify(Path(path), bundle_path)
        except Exception as exc:  # model-signing raises ValueError and library errors alike
            reason = _mismatch_reason(" ".join(str(exc).split()))
            if len(reason) > 400:
                reason = reason[:400] + "..."
            raise DeniedError(
                f"the model does not match its signature: {reason}",
                where=str(path),
                fix="the artifacts changed after signing, or the key is not the signer's",
            ) from None
    return bundle_digest(bundle)
