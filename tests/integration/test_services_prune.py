"""`scripts/services prune`: what tests leave in the engine and the registry goes, base images stay.

It runs against a registry of its own (a private state directory and port) on the shared engine,
so the services other test sessions use are never stopped or emptied: prune only touches images
named for the registry of its state directory.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from support.images import push_image

from mltoolkit.oci.registry import RegistryClient

if TYPE_CHECKING:
    import docker

pytestmark = pytest.mark.integration

SERVICES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SERVICES_SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def own_services(services: dict[str, str], tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """`scripts/services` on a private state directory: the shared engine, a registry of its own."""
    env = {k: v for k, v in os.environ.items() if k != "MLTOOLKIT_REGISTRY"}
    env |= {
        "DOCKER_HOST": services["DOCKER_HOST"],
        "MLTOOLKIT_STATE_DIR": str(tmp_path / "state"),
        "MLTOOLKIT_REGISTRY_PORT": str(_free_port()),
    }
    started = _run(env, "start")
    assert started.returncode == 0, started.stderr
    registry = f"127.0.0.1:{env['MLTOOLKIT_REGISTRY_PORT']}"
    try:
        yield env, registry
    finally:
        _run(env, "stop")


def _manifest_status(registry: str, repo: str, tag: str) -> int:
    accept = "application/vnd.oci.image.manifest.v1+json"
    url = f"http://{registry}/v2/{repo}/manifests/{tag}"
    return requests.head(url, headers={"Accept": accept}, timeout=10).status_code


def _blob_files(state: Path) -> set[str]:
    blobs = state / "registry/data/docker/registry/v2/blobs/sha256"
    return {p.name for p in blobs.glob("*/*")}


def test_prune_removes_test_images_and_repositories_and_keeps_base_images(
    own_services: tuple[dict[str, str], str],
    docker_client: docker.DockerClient,
    busybox_image: str,
    request: pytest.FixtureRequest,
) -> None:
    import docker

    env, registry = own_services
    state = Path(env["MLTOOLKIT_STATE_DIR"])
    name = uuid.uuid4().hex[:12]
    # An image a test built and named for the registry, and a base image tagged there too.
    built_tag = f"{registry}/prune-test/built:{name}"
    dockerfile = f"FROM {busybox_image}\nRUN echo {name} > /marker\n"
    built, _ = docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=built_tag, rm=True, forcerm=True
    )
    base = docker_client.images.get(busybox_image)
    base.tag(f"{registry}/prune-test/base", name)
    # A name for another registry on this shared engine: another session's, never pruned here.
    elsewhere = f"127.0.0.1:{_free_port()}/prune-test/elsewhere:{name}"
    base.tag(elsewhere)
    request.addfinalizer(lambda: docker_client.images.remove(elsewhere))
    with RegistryClient() as client:
        push_image(client, f"{registry}/prune-test/{name}")
        test_blobs = _blob_files(state)
        push_image(client, f"{registry}/mltoolkit-demo/trivy-db", tag="2")
    kept_blobs = _blob_files(state) - test_blobs
    assert test_blobs and kept_blobs
    assert _manifest_status(registry, f"prune-test/{name}", "latest") == 200

    refused = _run(env, "prune")
    assert refused.returncode == 2
    assert "--stop-registry" in refused.stderr
    assert _manifest_status(registry, f"prune-test/{name}", "latest") == 200
    assert docker_client.images.get(built_tag).id == built.id

    pruned = _run(env, "prune", "--stop-registry")
    assert pruned.returncode == 0, pruned.stderr

    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(built.id)
    assert docker_client.images.get(busybox_image).id == base.id
    assert busybox_image in docker_client.images.get(base.id).tags
    assert not [t for t in docker_client.images.get(base.id).tags if t.startswith(registry)]
    assert docker_client.images.get(elsewhere).id == base.id
    # The registry runs again, without the test repository, with the kept one.
    assert _manifest_status(registry, f"prune-test/{name}", "latest") == 404
    assert _manifest_status(registry, "mltoolkit-demo/trivy-db", "2") == 200
    catalog = requests.get(f"http://{registry}/v2/_catalog", timeout=10).json()
    assert catalog["repositories"] == ["mltoolkit-demo/trivy-db"]
    # Garbage collection deleted the blobs only the test repository held.
    left = _blob_files(state)
    assert not test_blobs & left
    assert kept_blobs <= left


def test_prune_on_a_registry_nothing_was_pushed_to(
    own_services: tuple[dict[str, str], str],
) -> None:
    # The first CI run on a machine: garbage-collect fails on a storage without blobs/ unless
    # prune creates it.
    env, registry = own_services
    pruned = _run(env, "prune", "--stop-registry")
    assert pruned.returncode == 0, pruned.stderr
    catalog = requests.get(f"http://{registry}/v2/_catalog", timeout=10).json()
    assert catalog["repositories"] == []
