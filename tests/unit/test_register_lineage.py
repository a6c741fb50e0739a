"""register's pure parts: sources, metrics, lineage tags, the image/model check, status table."""

from __future__ import annotations

import json

import pytest

from mltoolkit.ci.base import RunInfo
from mltoolkit.errors import DeniedError, InputError
from mltoolkit.models import tags as T
from mltoolkit.models.register import (
    RegisterRequest,
    check_image_model,
    lineage_tags,
    parse_metrics,
    source_of,
)
from mltoolkit.models.status import render_table, version_entry
from mltoolkit.models.store import VersionInfo
from mltoolkit.oci.reference import ImageRef

DIGEST = "sha256:" + "ab" * 32
IMAGE = ImageRef.parse(f"127.0.0.1:5555/fraud/serve@{DIGEST}")


def test_source_from_run_id_or_model_uri() -> None:
    assert source_of(None, "abc123", "model") == ("runs:/abc123/model", "abc123")
    assert source_of("runs:/abc123/clf", None, "model") == ("runs:/abc123/clf", "abc123")
    assert source_of("models:/m-0a1b", None, "model") == ("models:/m-0a1b", None)
    with pytest.raises(InputError, match="exactly one"):
        source_of("runs:/a/b", "a", "model")
    with pytest.raises(InputError, match="exactly one"):
        source_of(None, None, "model")
    with pytest.raises(InputError, match="run id"):
        source_of(None, "../etc", "model")


def test_metrics_parse_numbers_only() -> None:
    assert parse_metrics(["auc=0.91", "f1 = 0.8"]) == {"auc": 0.91, "f1": 0.8}
    for bad in ("auc", "=1", "auc=high", "a'b=1"):
        with pytest.raises(InputError):
            parse_metrics([bad])


def test_lineage_tags_round_trip() -> None:
    request = RegisterRequest("fraud", "runs:/r1/model", IMAGE, run_id="r1")
    run = RunInfo(
        platform="github", run_url="https://github.com/o/r/actions/runs/7", commit="c0ffee"
    )
    evidence = [{"type": "signature", "signer": "ci", "source": "x", "predicate_type": "p"}]
    values = lineage_tags(
        request,
        source_info=None,
        run_info=run,
        digest="sha256:" + "cd" * 32,
        evidence=evidence,
        metrics={"auc": 0.9},
        signature=b'{"bundle": 1}',
        signer_id="sha256:0123456789abcdef",
    )
    assert values[T.IMAGE] == f"127.0.0.1:5555/fraud/serve@{DIGEST}"
    assert values[T.IMAGE_DIGEST] == DIGEST
    assert values[T.IMAGE_REPOSITORY] == "127.0.0.1:5555/fraud/serve"
    assert values[T.CI_RUN_URL] == run.run_url
    assert values[T.EVIDENCE_TYPES] == "signature"
    assert json.loads(values[T.EVIDENCE]) == evidence
    assert T.GIT_COMMIT not in values  # unknown facts are left out, never guessed
    lineage = T.lineage_of(values)
    assert lineage.metrics == {"auc": 0.9}
    assert lineage.signed_by == "sha256:0123456789abcdef"
    assert lineage.evidence == evidence


def test_no_trust_means_no_evidence_tag() -> None:
    request = RegisterRequest("fraud", "runs:/r1/model", IMAGE)
    values = lineage_tags(
        request,
        source_info=None,
        run_info=None,
        digest="sha256:00",
        evidence=None,
        metrics={},
        signature=None,
        signer_id=None,
    )
    assert T.EVIDENCE not in values
    assert T.MODEL_SIGNATURE not in values


def test_image_must_declare_the_registered_model() -> None:
    check_image_model("sha256:aa", "sha256:aa", IMAGE)
    with pytest.raises(DeniedError, match="carries model sha256:bb"):
        check_image_model("sha256:bb", "sha256:aa", IMAGE)
    with pytest.raises(DeniedError, match=r"no dev\.mltoolkit\.model\.digest label"):
        check_image_model(None, "sha256:aa", IMAGE)


def test_status_table_shows_versions_aliases_and_digests() -> None:
    version = VersionInfo(
        name="fraud",
        version=2,
        source="runs:/r/model",
        run_id="r",
        status="READY",
        description="",
        created_ms=1_700_000_000_000,
        tags={
            T.IMAGE: f"{IMAGE.name}@{DIGEST}",
            T.IMAGE_DIGEST: DIGEST,
            T.MODEL_DIGEST: "sha256:" + "cd" * 32,
        },
        aliases=("staging",),
    )
    entry = version_entry(version)
    assert entry["version"] == 2
    assert entry["created"] == "2023-11-14T22:13:20Z"
    doc = {"name": "fraud", "tracking_uri": "sqlite:///x", "versions": [entry]}
    table = render_table(doc)
    assert "staging" in table
    assert "sha256:abababababab" in table
    assert "sha256:cdcdcdcdcdcd" in table
