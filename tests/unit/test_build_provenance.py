"""The SLSA v1 provenance predicate of a build (fields per https://slsa.dev/spec/v1.0/provenance)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from mltoolkit import __version__
from mltoolkit.build.builder import BaseImage
from mltoolkit.build.provenance import (
    BUILD_TYPE,
    LOCAL_BUILDER_ID,
    BuildFacts,
    base_image_descriptor,
    docker_purl,
    predicate,
    write_json,
)
from mltoolkit.build.source import SourceInfo
from mltoolkit.ci import RunInfo
from mltoolkit.errors import InputError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCAL_ID = "sha256:" + "1" * 64
MANIFEST = "sha256:" + "2" * 64
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _facts(**overrides):
    values = {
        "source": SourceInfo("https://github.com/o/r", "refs/heads/main", COMMIT, False, "app"),
        "dockerfile": "app/Dockerfile",
        "build_args": {"PY": "3.11"},
        "user_labels": {"team": "ml"},
        "image": "127.0.0.1:5000/team/model",
        "tags": ("1.0", "latest"),
        "base_images": [
            BaseImage("busybox:local", LOCAL_ID),
            BaseImage(
                "127.0.0.1:5000/base/py:3.11", LOCAL_ID, (f"127.0.0.1:5000/base/py@{MANIFEST}",)
            ),
        ],
        "started": datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC),
        "finished": datetime(2026, 1, 1, 12, 0, 42, tzinfo=UTC),
        "engine_version": "20.10.24",
    }
    values.update(overrides)
    return BuildFacts(**values)


def test_predicate_has_the_slsa_v1_structure_and_our_build_type():
    doc = predicate(_facts(), None, invocation_id="inv-1")
    definition = doc["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"] == {
        "repository": "https://github.com/o/r",
        "ref": "refs/heads/main",
        "commit": COMMIT,
        "context": "app",
        "dockerfile": "app/Dockerfile",
        "buildArgs": {"PY": "3.11"},
        "labels": {"team": "ml"},
        "image": "127.0.0.1:5000/team/model",
        "tags": ["1.0", "latest"],
    }
    assert definition["internalParameters"] == {
        "builder": "docker-classic",
        "pull": False,
        "sourceDirty": False,
    }
    run = doc["runDetails"]
    assert run["builder"] == {
        "id": LOCAL_BUILDER_ID,
        "version": {"mltoolkit": __version__, "docker-engine": "20.10.24"},
    }
    assert run["metadata"] == {
        "invocationId": "inv-1",
        "startedOn": "2026-01-01T12:00:00Z",
        "finishedOn": "2026-01-01T12:00:42Z",
    }
    json.dumps(doc)  # plain JSON all the way down


def test_resolved_dependencies_pin_source_and_base_images():
    deps = predicate(_facts(), None)["buildDefinition"]["resolvedDependencies"]
    assert deps[0] == {
        "uri": "git+https://github.com/o/r@refs/heads/main",
        "digest": {"gitCommit": COMMIT},
    }
    local, pushed = deps[1], deps[2]
    assert local["name"] == "busybox:local"
    assert local["digest"] == {"sha256": "1" * 64}
    assert local["annotations"] == {"digestKind": "imageConfig", "imageId": LOCAL_ID}
    assert pushed["digest"] == {"sha256": "2" * 64}
    assert pushed["annotations"]["digestKind"] == "manifest"
    assert pushed["uri"] == "pkg:docker/base/py@3.11?repository_url=127.0.0.1%3A5000"


def test_ci_builder_id_and_run_url_come_from_the_run_info():
    run = RunInfo(
        platform="github",
        run_url="https://github.com/o/r/actions/runs/7/attempts/1",
        builder_id="https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main",
    )
    details = predicate(_facts(), run)["runDetails"]
    assert details["builder"]["id"] == run.builder_id
    assert details["metadata"]["invocationId"] == run.run_url


def test_local_invocation_ids_are_unique_and_times_are_rfc3339():
    first = predicate(_facts(), RunInfo(platform="local"))["runDetails"]["metadata"]
    second = predicate(_facts(), RunInfo(platform="local"))["runDetails"]["metadata"]
    assert first["invocationId"].startswith("urn:uuid:")
    assert first["invocationId"] != second["invocationId"]
    assert RFC3339.fullmatch(first["startedOn"])


def test_unknown_facts_are_left_out_not_null():
    facts = _facts(
        source=SourceInfo(None, None, None, None, "/tmp/ctx"),
        build_args={},
        user_labels={},
        engine_version=None,
    )
    doc = predicate(facts, None)
    params = doc["buildDefinition"]["externalParameters"]
    assert "repository" not in params and "buildArgs" not in params and "labels" not in params
    assert None not in params.values()
    assert "sourceDirty" not in doc["buildDefinition"]["internalParameters"]
    assert doc["runDetails"]["builder"]["version"] == {"mltoolkit": __version__}
    # no commit: no source dependency, only the base images
    assert all(
        "gitCommit" not in d["digest"] for d in doc["buildDefinition"]["resolvedDependencies"]
    )


@pytest.mark.parametrize(
    ("name", "purl"),
    [
        ("busybox", "pkg:docker/busybox@latest"),
        ("docker.io/library/python:3.11-slim", "pkg:docker/python@3.11-slim"),
        ("ghcr.io/o/img:1", "pkg:docker/o/img@1?repository_url=ghcr.io"),
        ("$UNSET_BASE", "pkg:docker/%24UNSET_BASE"),
    ],
)
def test_docker_purls(name, purl):
    assert docker_purl(name) == purl


def test_the_manifest_digest_of_the_named_repository_is_preferred():
    base = BaseImage(
        "127.0.0.1:5000/b:1",
        LOCAL_ID,
        (f"other/x@sha256:{'3' * 64}", f"127.0.0.1:5000/b@{MANIFEST}"),
    )
    assert base_image_descriptor(base)["digest"] == {"sha256": "2" * 64}


def test_write_json_is_atomic_and_readable(tmp_path):
    target = tmp_path / "out" / "provenance.json"
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["provenance.json"]
    (tmp_path / "blocker").write_text("")
    with pytest.raises(InputError, match="cannot write"):
        write_json(tmp_path / "blocker" / "p.json", {})
