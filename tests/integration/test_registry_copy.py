"""Copying images and what is attached to them, by digest, with the real registry."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mltoolkit.oci import media_types as mt
from mltoolkit.oci.copy import copy_attached, copy_image
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import RegistryClient

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RegistryClient]:
    with RegistryClient(docker_config=tmp_path, chunk_size=1024) as c:
        yield c


def new_repo(registry: str, suffix: str = "") -> ImageRef:
    return ImageRef.parse(f"{registry}/mltoolkit-test/copy-{uuid.uuid4().hex[:10]}{suffix}")


@pytest.fixture(scope="module")
def second_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second, real distribution registry (for copies between registries)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (scripts/services start installs it)")
    root = tmp_path_factory.mktemp("second-registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def push_image(client: RegistryClient, repo: ImageRef, salt: str) -> tuple[Digest, bytes]:
    config = json.dumps({"os": "linux", "architecture": "amd64", "salt": salt}).encode()
    layer = salt.encode() * 3000
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(client.put_blob(repo, config)),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": str(client.upload_blob(repo, iter([layer]))),
                "size": len(layer),
            }
        ],
    }
    data = json.dumps(manifest, indent=2).encode()
    return client.put_manifest(repo, None, data, mt.OCI_MANIFEST), data


def push_index(client: RegistryClient, repo: ImageRef) -> Digest:
    children = [push_image(client, repo, salt) for salt in ("amd64", "arm64")]
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": str(d), "size": len(data)}
            for d, data in children
        ],
    }
    return client.put_manifest(repo, "v1", json.dumps(index).encode(), mt.OCI_INDEX)


def attach(client: RegistryClient, repo: ImageRef, subject: Digest) -> tuple[Digest, Digest]:
    """A cosign-style .sig tag and an OCI referrer (tag-schema fallback) on ``subject``."""
    payload = b'{"critical":{"type":"cosign container image signature"}}'
    empty = client.put_blob(repo, b"{}")
    sig = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_EMPTY_JSON, "digest": str(empty), "size": 2},
        "layers": [
            {
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": str(client.put_blob(repo, payload)),
                "size": len(payload),
                "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="},
            }
        ],
    }
    sig_digest = client.put_manifest(
        repo, subject.tag_form + ".sig", json.dumps(sig).encode(), mt.OCI_MANIFEST
    )
    subject_manifest = client.get_manifest(repo, subject)
    referrer = dict(sig, artifactType="application/vnd.example.scan+json")
    referrer["subject"] = subject_manifest.descriptor()
    referrer_digest = client.put_referrer(repo, json.dumps(referrer).encode(), mt.OCI_MANIFEST)
    return sig_digest, referrer_digest


def test_copy_index_and_attachments_within_a_registry_by_mount(
    client: RegistryClient, registry: str
) -> None:
    src, dst = new_repo(registry), new_repo(registry, "-prod")
    digest = push_index(client, src)
    sig, referrer = attach(client, src, digest)

    report = copy_image(client, src.with_tag("v1"), dst, tag="staging")
    assert report.digest == digest
    assert report.manifests == 3
    assert report.blobs["mounted"] == 4
    assert report.blobs["copied"] == 0
    assert client.resolve(dst.with_tag("staging")) == digest
    assert client.get_manifest(dst, digest).data == client.get_manifest(src, digest).data

    attached = copy_attached(client, src, dst, digest)
    assert attached.attached == [digest.tag_form + ".sig", str(referrer)]
    assert client.resolve(dst.with_tag(digest.tag_form + ".sig")) == sig
    assert [r["digest"] for r in client.referrers(dst, digest)] == [str(referrer)]
    # Copying again finds everything in place.
    assert copy_image(client, src.with_digest(digest), dst).manifests == 0


def test_copy_between_registries_streams_blobs(
    client: RegistryClient, registry: str, second_registry: str
) -> None:
    src = new_repo(registry)
    dst = new_repo(second_registry)
    digest, data = push_image(client, src, "cross-registry")
    report = copy_image(client, src.with_digest(digest), dst, tag="v1")
    assert report.blobs["copied"] == 2
    assert report.blobs["mounted"] == 0
    copied = client.get_manifest(dst.with_tag("v1"))
    assert (copied.digest, copied.data) == (digest, data)
