"""The local services that every integration test stands on: engine, registry, base image."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    import docker

pytestmark = pytest.mark.integration

SERVICES_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services"


def test_engine_answers_ping(docker_client: docker.DockerClient) -> None:
    assert docker_client.ping() is True
    assert docker_client.version()["ApiVersion"]


def test_busybox_image_has_a_shell(docker_client: docker.DockerClient, busybox_image: str) -> None:
    output = docker_client.containers.run(
        busybox_image,
        ["sh", "-c", "echo hello from $(busybox | head -n 1 | cut -d' ' -f1)"],
        network_mode="none",
        remove=True,
    )
    assert output.decode().strip() == "hello from BusyBox"


def test_build_from_busybox_with_run_step(
    docker_client: docker.DockerClient, busybox_image: str
) -> None:
    marker = uuid.uuid4().hex
    dockerfile = f"FROM {busybox_image}\nRUN echo {marker} > /marker && mkdir -p /app\n"
    tag = f"mltoolkit-test/services-build:{marker[:12]}"
    image, _logs = docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True
    )
    try:
        assert tag in image.tags
        output = docker_client.containers.run(
            tag, ["cat", "/marker"], network_mode="none", remove=True
        )
        assert output.decode().strip() == marker
    finally:
        docker_client.images.remove(image.id, force=True)


def test_registry_answers_v2(registry: str) -> None:
    response = requests.get(f"http://{registry}/v2/", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


def test_push_to_registry_and_delete(
    docker_client: docker.DockerClient, registry: str, busybox_image: str
) -> None:
    repository = f"{registry}/mltoolkit-test/services"
    tag = uuid.uuid4().hex[:12]
    image = docker_client.images.get(busybox_image)
    image.tag(repository, tag)
    try:
        for line in docker_client.images.push(repository, tag, stream=True, decode=True):
            assert "error" not in line, line
    finally:
        docker_client.images.remove(f"{repository}:{tag}")
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    head = requests.head(
        f"http://{registry}/v2/mltoolkit-test/services/manifests/{tag}",
        headers={"Accept": accept},
        timeout=10,
    )
    assert head.status_code == 200
    digest = head.headers["Docker-Content-Digest"]
    deleted = requests.delete(
        f"http://{registry}/v2/mltoolkit-test/services/manifests/{digest}", timeout=10
    )
    assert deleted.status_code == 202


def test_start_is_idempotent_and_fast(services: dict[str, str]) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [str(SERVICES_SCRIPT), "start"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 20, f"second start took {elapsed:.1f}s"
    printed = subprocess.run(
        [str(SERVICES_SCRIPT), "env"], capture_output=True, text=True, timeout=60, check=True
    )
    assert f"export MLTOOLKIT_REGISTRY={services['MLTOOLKIT_REGISTRY']}" in printed.stdout
    assert "export DOCKER_HOST=" in printed.stdout


def test_status_reports_running(services: dict[str, str]) -> None:
    result = subprocess.run(
        [str(SERVICES_SCRIPT), "status"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "engine:   running" in result.stdout
    assert "registry: running" in result.stdout


def test_postgres_answers(postgres_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        row = conn.execute("select current_setting('listen_addresses'), version()").fetchone()
    assert row is not None
    assert row[0] == "127.0.0.1"
    assert row[1].startswith("PostgreSQL ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_stop_stops_only_what_start_started(
    services: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    # A second state dir with the session's engine in DOCKER_HOST: start reuses that engine and
    # starts only a registry of its own; stop must end that registry and leave the engine alone.
    port = _free_port()
    env = {
        **os.environ,
        "MLTOOLKIT_STATE_DIR": str(tmp_path / "state"),
        "MLTOOLKIT_REGISTRY_PORT": str(port),
        "DOCKER_HOST": services["DOCKER_HOST"],
    }
    env.pop("MLTOOLKIT_REGISTRY", None)

    def services_cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SERVICES_SCRIPT), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    started = services_cmd("start")
    try:
        assert started.returncode == 0, started.stderr
        assert f"using DOCKER_HOST={services['DOCKER_HOST']}" in started.stderr
        printed = services_cmd("env")
        assert f"export MLTOOLKIT_REGISTRY=127.0.0.1:{port}" in printed.stdout
        assert f"export DOCKER_HOST={services['DOCKER_HOST']}" in printed.stdout
        assert requests.get(f"http://127.0.0.1:{port}/v2/", timeout=10).status_code == 200
    finally:
        stopped = services_cmd("stop")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
    assert docker_client.ping() is True
    assert services_cmd("env").returncode != 0
