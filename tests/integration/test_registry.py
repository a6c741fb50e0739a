"""The registry client against the real registry (CNCF distribution) from the services."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mltoolkit.oci import media_types as mt
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import BlobNotFound, ManifestNotFound, RegistryClient

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RegistryClient]:
    with RegistryClient(docker_config=tmp_path, chunk_size=4096) as c:
        yield c


@pytest.fixture
def repo(registry: str) -> ImageRef:
    return ImageRef.parse(f"{registry}/mltoolkit-test/{uuid.uuid4().hex[:12]}")


def push_image(client: RegistryClient, repo: ImageRef, tag: str | None, salt: str = "") -> Digest:
    """A small OCI image: config + one layer, manifest with deliberately non-canonical JSON."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "salt": salt}).encode()
    layer = (b"layer-bytes " + salt.encode()) * 1000
    config_digest = client.put_blob(repo, config)
    layer_digest = client.upload_blob(repo, io.BytesIO(layer))
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(config_digest),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": str(layer_digest),
                "size": len(layer),
            }
        ],
    }
    data = json.dumps(manifest, indent=3).encode() + b"\n"
    return client.put_manifest(repo, tag, data, mt.OCI_MANIFEST)


def test_blobs_round_trip_monolithic_and_chunked(
    client: RegistryClient, repo: ImageRef, tmp_path: Path
) -> None:
    small = b"small blob"
    digest = client.put_blob(repo, small)
    assert digest == Digest.of(small)
    assert client.blob_exists(repo, digest)
    assert client.get_blob(repo, digest) == small

    big = bytes(range(256)) * 100  # 25600 bytes: 7 chunks of 4096
    chunked = client.upload_blob(repo, iter([big[:1000], big[1000:20000], big[20000:]]))
    assert chunked == Digest.of(big)
    assert client.get_blob(repo, chunked) == big

    file_data = big + b"tail"
    source = tmp_path / "blob.bin"
    source.write_bytes(file_data)
    with source.open("rb") as fh:
        mono = client.upload_blob(repo, fh, monolithic=True)
    assert mono == Digest.of(file_data)
    target = tmp_path / "out" / "blob.bin"
    assert client.download_blob(repo, mono, target) == len(file_data)
    assert target.read_bytes() == file_data

    missing = Digest.of(b"never pushed")
    assert not client.blob_exists(repo, missing)
    with pytest.raises(BlobNotFound):
        client.get_blob(repo, missing)


def test_manifest_round_trip_is_byte_exact_and_digest_matches_registry(
    client: RegistryClient, repo: ImageRef, registry: str
) -> None:
    digest = push_image(client, repo, "v1")
    assert client.resolve(repo.with_tag("v1")) == digest
    head = requests.head(
        f"http://{registry}/v2/{repo.repository}/manifests/v1",
        headers={"Accept": mt.MANIFEST_ACCEPT},
        timeout=10,
    )
    assert head.headers["Docker-Content-Digest"] == str(digest)

    by_tag = client.get_manifest(repo, "v1")
    by_digest = client.get_manifest(repo.with_digest(digest))
    assert by_tag == by_digest
    assert by_tag.media_type == mt.OCI_MANIFEST
    assert by_tag.digest == Digest.of(by_tag.data) == digest
    assert by_tag.data.startswith(b'{\n   "schemaVersion"')  # not re-serialised
    assert client.head_manifest(repo, "nope") is None
    with pytest.raises(ManifestNotFound):
        client.resolve(repo.with_tag("nope"))


def test_index_and_docker_media_types_round_trip(client: RegistryClient, repo: ImageRef) -> None:
    child = push_image(client, repo, None, salt="child")
    child_size = len(client.get_manifest(repo, child).data)
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(child),
                "size": child_size,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    data = json.dumps(index).encode()
    digest = client.put_manifest(repo, "multi", data, mt.OCI_INDEX)
    got = client.get_manifest(repo, "multi")
    assert (got.data, got.media_type, got.digest, got.is_index) == (
        data,
        mt.OCI_INDEX,
        digest,
        True,
    )

    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_digest = client.put_blob(repo, config)
    docker = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": str(config_digest),
            "size": len(config),
        },
        "layers": [],
    }
    docker_data = json.dumps(docker).encode()
    client.put_manifest(repo, "docker", docker_data, mt.DOCKER_MANIFEST)
    got = client.get_manifest(repo, "docker")
    assert (got.data, got.media_type) == (docker_data, mt.DOCKER_MANIFEST)


def test_cross_repository_mount_and_copy(client: RegistryClient, repo: ImageRef) -> None:
    data = b"a layer to share" * 100
    digest = client.put_blob(repo, data)
    other = repo.with_repository(repo.repository + "-prod")
    assert not client.blob_exists(other, digest)
    assert client.mount_blob(repo, other, digest) is True
    assert client.blob_exists(other, digest)
    assert client.get_blob(other, digest) == data
    assert client.copy_blob(repo, other, digest) == "exists"
    # A blob the source does not have cannot be mounted; the upload session is cancelled.
    assert client.mount_blob(repo, other, Digest.of(b"unknown")) is False
    third = repo.with_repository(repo.repository + "-third")
    assert client.copy_blob(repo, third, digest) == "mounted"


def test_list_tags_follows_pagination(client: RegistryClient, repo: ImageRef) -> None:
    digest = push_image(client, repo, "a")
    for tag in ("b", "c", "d", "e"):
        data = client.get_manifest(repo, digest).data
        client.put_manifest(repo, tag, data, mt.OCI_MANIFEST)
    assert sorted(client.list_tags(repo, page_size=2)) == ["a", "b", "c", "d", "e"]
    assert client.list_tags(repo.with_repository("mltoolkit-test/does-not-exist")) == []


def artifact(client: RegistryClient, repo: ImageRef, subject: Digest, kind: str) -> bytes:
    empty = client.put_blob(repo, b"{}")
    payload = f"payload of {kind}".encode()
    layer = client.put_blob(repo, payload)
    subject_size = len(client.get_manifest(repo, subject).data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": kind,
        "config": {"mediaType": mt.OCI_EMPTY_JSON, "digest": str(empty), "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": str(layer), "size": len(payload)}],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": str(subject), "size": subject_size},
        "annotations": {"org.example.kind": kind},
    }
    return json.dumps(manifest).encode()


def test_referrers_fallback_index_round_trip(client: RegistryClient, repo: ImageRef) -> None:
    subject = push_image(client, repo, "v1")
    assert client.referrers(repo, subject) == []

    sbom = client.put_referrer(
        repo, artifact(client, repo, subject, "application/x-sbom"), mt.OCI_MANIFEST
    )
    scan = client.put_referrer(
        repo, artifact(client, repo, subject, "application/x-scan"), mt.OCI_MANIFEST
    )
    found = client.referrers(repo, subject)
    assert [r["digest"] for r in found] == [str(sbom), str(scan)]
    assert found[0]["artifactType"] == "application/x-sbom"
    assert found[0]["annotations"] == {"org.example.kind": "application/x-sbom"}
    assert [r["digest"] for r in client.referrers(repo, subject, "application/x-scan")] == [
        str(scan)
    ]
    # The registry (distribution 2.8) has no Referrers API: the tag schema index holds them.
    assert subject.tag_form in client.list_tags(repo)
    index = client.get_manifest(repo, subject.tag_form)
    assert index.media_type == mt.OCI_INDEX

    # Adding the same descriptor again changes nothing.
    before = client.resolve(repo.with_tag(subject.tag_form))
    again = client.add_referrer_fallback(repo, subject, found[0])
    assert again == before
    assert len(client.referrers(repo, subject)) == 2


def test_delete_manifest(client: RegistryClient, repo: ImageRef) -> None:
    digest = push_image(client, repo, "gone")
    assert client.delete_manifest(repo, digest) is True
    assert client.head_manifest(repo, digest) is None
    assert client.delete_manifest(repo, digest) is False
