"""The MLflow model-version tags mltoolkit writes: the lineage people read.

Tags are descriptive: a gate trusts only signed evidence about the image digest (see
``mltoolkit.evidence``), never these tags, since anyone with write access to MLflow can set them.

=================================  ================================================================
tag                                value
=================================  ================================================================
``mltoolkit.image``                the image reference with digest: ``REGISTRY/REPO@sha256:...``
``mltoolkit.image.repository``     ``REGISTRY/REPO``
``mltoolkit.image.digest``         ``sha256:...`` of the image manifest (part of the rerun key)
``mltoolkit.source``               the model URI registered (``runs:/RUN/PATH``, ``models:/...``);
                                   with the image digest, the key that makes reruns idempotent
``mltoolkit.model.digest``         model-signing digest of the version's artifacts (``sha256:...``)
``mltoolkit.model.signature``      the model-signing Sigstore bundle (JSON), when signed
``mltoolkit.model.signer``         key id of the signing key (``sha256:<16 hex>``), when signed
``mltoolkit.git.commit``           the commit built (git, else the CI platform)
``mltoolkit.git.repository``       the repository URL (no credentials)
``mltoolkit.git.ref``              the git ref (``refs/heads/main``)
``mltoolkit.ci.platform``          ``github``, ``gitlab`` or ``local``
``mltoolkit.ci.run_url``           the CI run that registered the version
``mltoolkit.evidence``             JSON list of the evidence verified on the digest at registration:
                                   ``{"type", "predicate_type", "signer", "source",
                                   "predicate_digest"}`` per item
``mltoolkit.evidence.types``       the evidence types, comma-separated (for search and people)
``mltoolkit.metric.<NAME>``        each metric (from the run and ``--metric``)
``mltoolkit.version``              the mltoolkit version that registered it
=================================  ================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PREFIX = "mltoolkit."
IMAGE = "mltoolkit.image"
IMAGE_REPOSITORY = "mltoolkit.image.repository"
IMAGE_DIGEST = "mltoolkit.image.digest"
SOURCE = "mltoolkit.source"
MODEL_DIGEST = "mltoolkit.model.digest"
MODEL_SIGNATURE = "mltoolkit.model.signature"
MODEL_SIGNER = "mltoolkit.model.signer"
GIT_COMMIT = "mltoolkit.git.commit"
GIT_REPOSITORY = "mltoolkit.git.repository"
GIT_REF = "mltoolkit.git.ref"
CI_PLATFORM = "mltoolkit.ci.platform"
CI_RUN_URL = "mltoolkit.ci.run_url"
EVIDENCE = "mltoolkit.evidence"
EVIDENCE_TYPES = "mltoolkit.evidence.types"
METRIC_PREFIX = "mltoolkit.metric."
TOOL_VERSION = "mltoolkit.version"


@dataclass(frozen=True)
class Lineage:
    """What a version's tags say, parsed back (missing tags are None or empty)."""

    image: str | None
    image_digest: str | None
    source: str | None
    model_digest: str | None
    signed_by: str | None
    commit: str | None
    repository: str | None
    run_url: str | None
    platform: str | None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``status --json``)."""
        return {
            "image": self.image,
            "image_digest": self.image_digest,
            "source": self.source,
            "model_digest": self.model_digest,
            "signed": self.signed_by is not None,
            "signed_by": self.signed_by,
            "git_commit": self.commit,
            "git_repository": self.repository,
            "ci_run_url": self.run_url,
            "ci_platform": self.platform,
            "evidence": self.evidence,
            "metrics": self.metrics,
        }


def lineage_of(tags: dict[str, str]) -> Lineage:
    """Parse a version's tags (tolerant: a hand-edited tag is shown as absent, not fatal)."""
    evidence: list[dict[str, Any]] = []
    try:
        parsed = json.loads(tags.get(EVIDENCE, "[]"))
        if isinstance(parsed, list):
            evidence = [e for e in parsed if isinstance(e, dict)]
    except ValueError:
        pass
    metrics: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_PREFIX):
            try:
                metrics[key.removeprefix(METRIC_PREFIX)] = float(value)
            except ValueError:
                continue
    return Lineage(
        image=tags.get(IMAGE),
        image_digest=tags.get(IMAGE_DIGEST),
        source=tags.get(SOURCE),
        model_digest=tags.get(MODEL_DIGEST),
        signed_by=tags.get(MODEL_SIGNER) if tags.get(MODEL_SIGNATURE) else None,
        commit=tags.get(GIT_COMMIT),
        repository=tags.get(GIT_REPOSITORY),
        run_url=tags.get(CI_RUN_URL),
        platform=tags.get(CI_PLATFORM),
        evidence=evidence,
        metrics=metrics,
    )


def compact_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: stable tag values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
