"""`mltoolkit register`: an MLflow model version bound to the image digest that serves it."""

from __future__ import annotations

from typing import Any

import click

from mltoolkit.cli.context import emit, log, settings


@click.command("register")
@click.option("--name", required=True, metavar="MODEL", help="Registered model name.")
@click.option("--model-uri", metavar="URI", help="Model to register: runs:/RUN/PATH, models:/...")
@click.option("--run-id", metavar="ID", help="Register the model logged in this MLflow run.")
@click.option(
    "--artifact-path",
    default="model",
    show_default=True,
    metavar="PATH",
    help="With --run-id: the model's path in the run.",
)
@click.option(
    "--image", required=True, metavar="IMAGE@DIGEST", help="The serving image (a digest)."
)
@click.option(
    "--metric", "metrics", multiple=True, metavar="K=V", help="Extra metric (repeatable)."
)
@click.option("--description", metavar="TEXT", help="Version description.")
@click.option(
    "--key",
    "key_ref",
    metavar="FILE",
    help="Sign the model artifacts with this EC private key (model-signing).",
)
@click.option(
    "--keyless",
    is_flag=True,
    help="Sign the model artifacts with the CI's OIDC identity (Sigstore).",
)
@click.option(
    "--evidence-key",
    "evidence_keys",
    multiple=True,
    metavar="PUB",
    help="Trust this key for the evidence recorded (default: the policy's trust section).",
)
def register(
    *,
    name: str,
    model_uri: str | None,
    run_id: str | None,
    artifact_path: str,
    image: str,
    metrics: tuple[str, ...],
    description: str | None,
    key_ref: str | None,
    keyless: bool,
    evidence_keys: tuple[str, ...],
) -> None:
    """Register a model version tagged with its image digest, evidence, git and CI lineage.

    The image must carry the label dev.mltoolkit.model.digest with the model-signing digest of
    exactly the artifacts registered (see `mltoolkit model-digest`), else exit 1. A rerun with the
    same model source and image digest returns the existing version. MLflow comes from
    MLFLOW_TRACKING_URI (default: the embedded store in .mltoolkit/). The key password comes from
    MLTOOLKIT_KEY_PASSWORD.
    """
    from mltoolkit.models.location import check_model_name, resolve_location
    from mltoolkit.models.register import RegisterRequest, parse_metrics, source_of
    from mltoolkit.oci.reference import ImageRef

    location = resolve_location()
    check_model_name(name, location)
    source, source_run = source_of(model_uri, run_id, artifact_path)
    ref = ImageRef.parse(image)
    if ref.digest is None:
        from mltoolkit.errors import InputError

        raise InputError(
            "refusing a tag: a tag can move, the version must name the digest it was built as",
            where=str(ref),
            fix="pass IMAGE@sha256:... (the digest printed by mltoolkit build --push)",
        )
    request = RegisterRequest(
        name=name,
        source=source,
        image=ref,
        run_id=source_run,
        metrics=parse_metrics(metrics),
        description=description,
    )
    if key_ref and keyless:
        from mltoolkit.errors import InputError

        raise InputError("pass at most one of --key and --keyless", where="mltoolkit register")
    signing_key = _signing_key(key_ref) if key_ref else None
    token = None
    if keyless:
        from mltoolkit.signing import cli_support
        from mltoolkit.signing import keyless as sigstore_keyless

        token = sigstore_keyless.id_token(cli_support.platform_name())

    from pathlib import Path

    from mltoolkit.build.source import read_source
    from mltoolkit.ci import detect
    from mltoolkit.models.evidence import verified_evidence
    from mltoolkit.models.register import register_version
    from mltoolkit.models.store import open_store
    from mltoolkit.policy.loader import find_policy
    from mltoolkit.signing.cli_support import open_client

    platform = detect()
    run_info = platform.run_info()
    source_info = read_source(Path.cwd(), run_info)
    with open_client(settings().insecure_registries) as client:
        evidence = verified_evidence(client, ref, evidence_keys, find_policy(settings()))
        if evidence is None:
            log("no policy and no --evidence-key: no evidence recorded")
        log(f"registering {source} as {name} (MLflow: {location.describe()})")
        store = open_store(location, verbose=settings().verbose)
        result = register_version(
            store,
            client,
            request,
            signing_key=signing_key,
            keyless_token=token,
            evidence_report=evidence,
            source_info=source_info,
            run_info=run_info,
        )
    platform.set_outputs(
        {
            "name": name,
            "version": str(result.version.version),
            "created": "true" if result.created else "false",
            "model-digest": result.model_digest,
            "image": str(result.version.tags.get("mltoolkit.image", "")),
        }
    )
    platform.summary(_summary(result.as_dict()))
    verb = "Registered" if result.created else "Already registered"
    lines = [
        f"{verb} {name} version {result.version.version}",
        f"  image:  {result.version.tags.get('mltoolkit.image')}",
        f"  model:  {result.model_digest}" + (" (signed)" if result.signed else ""),
        f"  evidence: {', '.join(sorted({e['type'] for e in result.evidence})) or 'none'}",
    ]
    emit(result.as_dict(), "\n".join(lines))


def _signing_key(key_ref: str) -> object:
    from mltoolkit.errors import InputError
    from mltoolkit.signing import kms
    from mltoolkit.signing.keys import FileSigner, load_signer

    if kms.is_kms_uri(key_ref):
        raise InputError(
            "model-signing signs with a key file, not a KMS key",
            where="--key",
            fix="pass an EC private key file (mltoolkit keys generate)",
        )
    signer = load_signer(key_ref)
    if not isinstance(signer, FileSigner):  # pragma: no cover - load_signer returns files here
        raise InputError("not a key file", where="--key")
    return signer.key


def _summary(doc: dict[str, Any]) -> str:
    """The job summary: the result first, the evidence recorded below."""
    verb = "registered" if doc["created"] else "already registered (same source and digest)"
    lines = [
        f"### Model {doc['name']} version {doc['version']} {verb}",
        "",
        "| | |",
        "| --- | --- |",
        f"| image | `{doc['image']}` |",
        f"| model digest | `{doc['model_digest']}`{' (signed)' if doc['signed'] else ''} |",
        f"| source | `{doc['source']}` |",
    ]
    if doc["evidence"]:
        lines += ["", "Evidence verified on the digest:", ""]
        lines += [
            f"- {e['type']}: signed by {e['signer']} ({e['source']})" for e in doc["evidence"]
        ]
    return "\n".join(lines)
