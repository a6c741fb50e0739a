"""Register a model version bound to the image that serves it.

``register_version`` checks that the image's declared model digest is the digest of the artifacts
being registered (so the image serves exactly that model), signs the artifacts when a key is
given, records the verified evidence on the image digest, and creates the version with its
lineage tags in one call. The same model source and image digest give back the existing version.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import DeniedError, InputError
from mltoolkit.models import tags as T
from mltoolkit.models.image import MODEL_DIGEST_LABEL, image_model_digest
from mltoolkit.models.signature import model_digest, sign_model, sign_model_keyless
from mltoolkit.models.store import ModelStore, VersionInfo
from mltoolkit.models.tags import compact_json

if TYPE_CHECKING:
    from mltoolkit.build.source import SourceInfo
    from mltoolkit.ci.base import RunInfo
    from mltoolkit.evidence import EvidenceReport
    from mltoolkit.oci.reference import ImageRef
    from mltoolkit.oci.registry import RegistryClient

# MLflow's limit for a model-version tag value (MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH).
MAX_SIGNATURE_TAG = 100_000
_RUNS_URI = re.compile(r"runs:/([0-9A-Za-z_-]+)(?:/(.*))?")
# MLflow tag keys: alphanumerics, underscores, dashes, periods, spaces and slashes.
_METRIC_NAME = re.compile(r"[A-Za-z0-9_\-. /]+")


@dataclass(frozen=True)
class RegisterRequest:
    """What to register: the model source, the serving image (pinned) and extra metrics."""

    name: str
    source: str
    image: ImageRef
    run_id: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class RegisterResult:
    """The version registered (or found again) and what was recorded on it."""

    version: VersionInfo
    created: bool
    model_digest: str
    evidence: list[dict[str, Any]]
    signed: bool

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``register --json``)."""
        return {
            "ok": True,
            "name": self.version.name,
            "version": self.version.version,
            "created": self.created,
            "source": self.version.source,
            "image": self.version.tags.get(T.IMAGE),
            "image_digest": self.version.tags.get(T.IMAGE_DIGEST),
            "model_digest": self.model_digest,
            "signed": self.signed,
            "evidence": self.evidence,
            "tags": self.version.tags,
        }


def source_of(
    model_uri: str | None, run_id: str | None, artifact_path: str
) -> tuple[str, str | None]:
    """``(model URI, run id)`` from ``--model-uri`` or ``--run-id`` (exactly one)."""
    if bool(model_uri) == bool(run_id):
        raise InputError("pass exactly one of --model-uri and --run-id", where="mltoolkit register")
    if run_id:
        if not re.fullmatch(r"[0-9A-Za-z_-]+", run_id):
            raise InputError(f"run id {run_id!r} is not an MLflow run id", where="--run-id")
        return f"runs:/{run_id}/{artifact_path.strip('/')}", run_id
    uri = str(model_uri)
    match = _RUNS_URI.fullmatch(uri)
    return uri, match.group(1) if match else None


def parse_metrics(pairs: Sequence[str]) -> dict[str, float]:
    """``NAME=NUMBER`` pairs; InputError on anything else."""
    metrics: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not _METRIC_NAME.fullmatch(key):
            raise InputError(f"metric {pair!r} is not NAME=NUMBER", where="--metric")
        try:
            metrics[key] = float(value)
        except ValueError:
            raise InputError(
                f"metric {key} value {value!r} is not a number", where="--metric"
            ) from None
    return metrics


def evidence_items(report: EvidenceReport) -> list[dict[str, Any]]:
    """The verified evidence as tag entries: type, predicate type, signer, where, content digest.

    ``predicate_digest`` is SHA-256 of the predicate as canonical JSON: it names the claim's
    content, so two registrations can be compared without the registry.
    """
    items = []
    for item in report.verified:
        canonical = compact_json(item.predicate).encode()
        items.append(
            {
                "type": item.type,
                "predicate_type": item.predicate_type,
                "signer": item.signer,
                "source": item.source,
                "predicate_digest": "sha256:" + hashlib.sha256(canonical).hexdigest(),
            }
        )
    return sorted(items, key=lambda e: (e["type"], e["source"]))


def lineage_tags(
    request: RegisterRequest,
    *,
    source_info: SourceInfo | None,
    run_info: RunInfo | None,
    digest: str,
    evidence: list[dict[str, Any]] | None,
    metrics: Mapping[str, float],
    signature: bytes | None,
    signer_id: str | None,
) -> dict[str, str]:
    """The tags a new version gets (see ``mltoolkit.models.tags``)."""
    from mltoolkit import __version__

    image = request.image
    values: dict[str, str | None] = {
        T.IMAGE: f"{image.name}@{image.require_digest()}",
        T.IMAGE_REPOSITORY: image.name,
        T.IMAGE_DIGEST: str(image.require_digest()),
        T.SOURCE: request.source,
        T.MODEL_DIGEST: digest,
        T.GIT_COMMIT: source_info.commit if source_info else None,
        T.GIT_REPOSITORY: source_info.repository_url if source_info else None,
        T.GIT_REF: source_info.ref if source_info else None,
        T.CI_PLATFORM: run_info.platform if run_info else None,
        T.CI_RUN_URL: run_info.run_url if run_info else None,
        T.TOOL_VERSION: __version__,
    }
    if evidence is not None:
        values[T.EVIDENCE] = compact_json(evidence)
        values[T.EVIDENCE_TYPES] = ",".join(sorted({e["type"] for e in evidence}))
    if signature is not None:
        values[T.MODEL_SIGNATURE] = signature.decode()
        values[T.MODEL_SIGNER] = signer_id
    for key, value in sorted(metrics.items()):
        values[T.METRIC_PREFIX + key] = repr(float(value))
    return {k: v for k, v in values.items() if v is not None}


def check_image_model(declared: str | None, actual: str, image: ImageRef) -> None:
    """DeniedError unless the image declares exactly the model digest ``actual``."""
    if declared is None:
        raise DeniedError(
            f"the image declares no model (no {MODEL_DIGEST_LABEL} label)",
            where=str(image),
            fix=f"build it with --label {MODEL_DIGEST_LABEL}=$(mltoolkit model-digest MODEL_DIR)",
        )
    if declared != actual:
        raise DeniedError(
            f"the image carries model {declared}, but the artifacts registered are {actual}",
            where=str(image),
            fix="rebuild the image with the model being registered, or register the model it has",
        )


def register_version(
    store: ModelStore,
    client: RegistryClient,
    request: RegisterRequest,
    *,
    signing_key: Any | None = None,
    keyless_token: str | None = None,
    evidence_report: EvidenceReport | None = None,
    source_info: SourceInfo | None = None,
    run_info: RunInfo | None = None,
) -> RegisterResult:
    """Register ``request`` (or return the version a previous identical run registered)."""
    declared = image_model_digest(client, request.image)
    if declared is None:
        check_image_model(None, "", request.image)  # refuses before any download
    key = {T.SOURCE: request.source, T.IMAGE_DIGEST: str(request.image.require_digest())}
    existing = store.find_versions(request.name, key)
    if existing:
        version = existing[0]
        recorded = version.tags.get(T.MODEL_DIGEST, "")
        check_image_model(declared, recorded, request.image)
        return RegisterResult(
            version,
            created=False,
            model_digest=recorded,
            evidence=T.lineage_of(version.tags).evidence,
            signed=T.MODEL_SIGNATURE in version.tags,
        )
    with tempfile.TemporaryDirectory(prefix="mltoolkit-model-") as tmp:
        local = store.download(request.source, Path(tmp) / "model")
        digest = model_digest(local)
        check_image_model(declared, digest, request.image)
        signature = None
        if signing_key is not None:
            signature = sign_model(local, signing_key)
        elif keyless_token is not None:
            signature = sign_model_keyless(local, keyless_token)
    if signature is not None and len(signature) > MAX_SIGNATURE_TAG:
        raise InputError(
            f"the model signature is {len(signature)} bytes, more than an MLflow tag holds",
            where=request.source,
            fix="package the model in fewer files (e.g. one archive of many small files)",
        )
    signer_id = "keyless" if keyless_token is not None else None
    if signing_key is not None:
        from mltoolkit.signing.keys import key_id

        signer_id = key_id(signing_key.public_key())
    metrics = dict(store.run_metrics(request.run_id)) if request.run_id else {}
    metrics.update(request.metrics)
    evidence = evidence_items(evidence_report) if evidence_report is not None else None
    tags = lineage_tags(
        request,
        source_info=source_info,
        run_info=run_info,
        digest=digest,
        evidence=evidence,
        metrics=metrics,
        signature=signature,
        signer_id=signer_id,
    )
    version = store.create_version(
        request.name, request.source, tags=tags, description=request.description
    )
    # NOTE: MLflow has no create-if-absent. Two identical runs at once both create a version;
    # the later one sees the earlier and removes its own, so one version remains.
    first = store.find_versions(request.name, key)
    if first and first[0].version < version.version:
        store.delete_version(request.name, version.version)
        return RegisterResult(
            first[0],
            created=False,
            model_digest=first[0].tags.get(T.MODEL_DIGEST, digest),
            evidence=T.lineage_of(first[0].tags).evidence,
            signed=T.MODEL_SIGNATURE in first[0].tags,
        )
    return RegisterResult(
        version,
        created=True,
        model_digest=digest,
        evidence=evidence or [],
        signed=signature is not None,
    )
