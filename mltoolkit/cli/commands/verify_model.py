"""`mltoolkit verify-model` and `mltoolkit model-digest`: signed model artifacts."""

from __future__ import annotations

from pathlib import Path

import click

from mltoolkit.cli.context import emit, log, settings


@click.command("verify-model")
@click.argument("model")
@click.option("--version", "version_text", required=True, metavar="N", help="Model version.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The signer's public key (PEM).",
)
@click.option("--certificate-identity", metavar="ID", help="Keyless: the signer's identity.")
@click.option("--certificate-oidc-issuer", metavar="URL", help="Keyless: the identity's issuer.")
@click.option(
    "--path",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Verify this local copy (e.g. taken from the image) instead of the MLflow artifacts.",
)
def verify_model(
    model: str,
    version_text: str,
    key_path: Path | None,
    certificate_identity: str | None,
    certificate_oidc_issuer: str | None,
    model_dir: Path | None,
) -> None:
    """Check MODEL version N's artifacts against the model-signing signature kept with it.

    Exit 1 when the version is not signed, a file changed, a file was added or removed, or the
    key is not the signer's.
    """
    import tempfile

    from mltoolkit.errors import DeniedError, InputError
    from mltoolkit.models import tags
    from mltoolkit.models.location import check_model_name, normalise_version, resolve_location
    from mltoolkit.models.signature import verify_model as verify_dir
    from mltoolkit.models.store import open_store

    location = resolve_location()
    check_model_name(model, location, where="MODEL")
    version = normalise_version(version_text)
    identity = None
    if certificate_identity or certificate_oidc_issuer:
        if not (certificate_identity and certificate_oidc_issuer) or key_path is not None:
            raise InputError(
                "keyless verification takes both --certificate-identity and "
                "--certificate-oidc-issuer, and no --key",
                where="mltoolkit verify-model",
            )
        identity = (certificate_identity, certificate_oidc_issuer)
    elif key_path is None:
        raise InputError(
            "nothing to verify against",
            where="mltoolkit verify-model",
            fix="pass --key PUBLIC.pub, or --certificate-identity and --certificate-oidc-issuer",
        )
    elif not key_path.is_file():
        raise InputError("public key file not found", where=str(key_path))
    store = open_store(location, verbose=settings().verbose)
    info = store.get_version(model, version)
    bundle = info.tags.get(tags.MODEL_SIGNATURE)
    if not bundle:
        raise DeniedError(
            f"version {version} of {model} has no model signature",
            where=f"{model}/{version}",
            fix="register it with --key to sign the artifacts",
        )
    with tempfile.TemporaryDirectory(prefix="mltoolkit-verify-") as tmp:
        if model_dir is None:
            log(f"downloading {info.source}")
            model_dir = store.download(info.source, Path(tmp) / "model")
        digest = verify_dir(model_dir, bundle.encode(), key_path, identity=identity)
    recorded = info.tags.get(tags.MODEL_DIGEST)
    if recorded and recorded != digest:
        raise DeniedError(
            f"the signature is for model {digest}, but the version records {recorded}",
            where=f"{model}/{version}",
        )
    result = {
        "ok": True,
        "name": model,
        "version": version,
        "model_digest": digest,
        "image": info.tags.get(tags.IMAGE),
    }
    emit(result, f"Verified {model} version {version}: model {digest}")


@click.command("model-digest")
@click.argument("model_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def model_digest(model_dir: Path) -> None:
    """Print the model-signing digest of MODEL_DIR (the value of the image label
    dev.mltoolkit.model.digest)."""
    from mltoolkit.models.image import MODEL_DIGEST_LABEL
    from mltoolkit.models.signature import model_digest as digest_of

    digest = digest_of(model_dir)
    emit({"ok": True, "model_digest": digest, "label": MODEL_DIGEST_LABEL}, digest)
