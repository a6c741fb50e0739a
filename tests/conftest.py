"""Session fixtures for the real local services (Docker engine, OCI registry, base images).

Integration tests ask for `services`, `registry`, `docker_client` or `busybox_image`. When
DOCKER_HOST and MLTOOLKIT_REGISTRY already point at services that answer, those are used;
otherwise `scripts/services start` starts them (idempotent, shared between test sessions).
Under CI=true a service that cannot be started fails the tests that need it; on a laptop
without Docker they are skipped with the reason.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import docker
import pytest
import requests

# Fixtures shared by several folders (the test vulnerability DB) are plugins of the root
# conftest: pytest allows `pytest_plugins` only here, and loads them before any test module.
pytest_plugins = ["support.trivydb.fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES_SCRIPT = REPO_ROOT / "scripts" / "services"
BUSYBOX_IMAGE = "mltoolkit/busybox:1"
START_TIMEOUT_S = 900

_TEST_KINDS = {"integration": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder, so `-m "not integration"` works even where a marker was forgotten."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in _TEST_KINDS:
            item.add_marker(getattr(pytest.mark, _TEST_KINDS[parts[1]]))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI (a missing service there is a broken pipeline); skip elsewhere."""
    if _in_ci():
        pytest.fail(f"services unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"services unavailable: {reason} (run scripts/services start)")


def _engine_answers(docker_host: str) -> bool:
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=10)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _registry_answers(registry: str) -> bool:
    try:
        response = requests.get(f"http://{registry}/v2/", timeout=5)
    except requests.RequestException:
        return False
    return response.status_code in {200, 401}


def _parse_exports(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def _start_services(*options: str) -> dict[str, str]:
    try:
        started = subprocess.run(
            [str(SERVICES_SCRIPT), "start", *options],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{SERVICES_SCRIPT} start: {exc}")
    if started.returncode != 0:
        tail = "\n".join(started.stderr.strip().splitlines()[-15:])
        _unavailable(f"{SERVICES_SCRIPT} start exited {started.returncode}:\n{tail}")
    printed = subprocess.run(
        [str(SERVICES_SCRIPT), "env"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if printed.returncode != 0:
        _unavailable(f"{SERVICES_SCRIPT} env exited {printed.returncode}: {printed.stderr.strip()}")
    return _parse_exports(printed.stdout)


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """Env of the running services: DOCKER_HOST and MLTOOLKIT_REGISTRY (host:port).

    Also exported into os.environ for the session, so code under test that reads the
    environment (docker.from_env(), subprocesses) reaches the same services.
    """
    env = {
        key: os.environ[key] for key in ("DOCKER_HOST", "MLTOOLKIT_REGISTRY") if os.environ.get(key)
    }
    running = (
        len(env) == 2
        and _engine_answers(env["DOCKER_HOST"])
        and _registry_answers(env["MLTOOLKIT_REGISTRY"])
    )
    if not running:
        env = _start_services()
        missing = {"DOCKER_HOST", "MLTOOLKIT_REGISTRY"} - env.keys()
        if missing:
            _unavailable(f"{SERVICES_SCRIPT} env did not print {sorted(missing)}")
        if not _engine_answers(env["DOCKER_HOST"]):
            _unavailable(f"the engine at {env['DOCKER_HOST']} does not answer /_ping")
        if not _registry_answers(env["MLTOOLKIT_REGISTRY"]):
            _unavailable(f"the registry at {env['MLTOOLKIT_REGISTRY']} does not answer /v2/")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield env


@pytest.fixture(scope="session")
def registry(services: dict[str, str]) -> str:
    """The local OCI registry as "127.0.0.1:PORT" (plain HTTP, deletes enabled)."""
    return services["MLTOOLKIT_REGISTRY"]


@pytest.fixture(scope="session")
def docker_client(services: dict[str, str]) -> Iterator[docker.DockerClient]:
    """A Docker SDK client on the services' engine, closed at the end of the session."""
    client = docker.DockerClient(base_url=services["DOCKER_HOST"], timeout=300)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client: docker.DockerClient) -> str:
    """A local base image with a busybox shell, usable in `FROM` (nothing is ever pulled)."""
    try:
        docker_client.images.get(BUSYBOX_IMAGE)
    except docker.errors.ImageNotFound:
        # Someone removed it since start: start re-creates what is missing.
        _start_services()
        try:
            docker_client.images.get(BUSYBOX_IMAGE)
        except docker.errors.ImageNotFound:
            _unavailable(f"{BUSYBOX_IMAGE} is missing after {SERVICES_SCRIPT} start")
    return BUSYBOX_IMAGE


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server on 127.0.0.1 (`scripts/services start --with-postgres`), as a URL.

    Superuser `postgres`, trust auth on loopback; tests create their own databases in it.
    """
    url = os.environ.get("MLTOOLKIT_POSTGRES_URL")
    if url:
        return url
    env = _start_services("--with-postgres")
    if "MLTOOLKIT_POSTGRES_URL" not in env:
        _unavailable(f"{SERVICES_SCRIPT} env did not print MLTOOLKIT_POSTGRES_URL")
    return env["MLTOOLKIT_POSTGRES_URL"]


@pytest.fixture(autouse=True)
def _mlflow_uris_do_not_leak() -> Iterator[None]:
    """MLflow's fluent API exports MLFLOW_TRACKING_URI to the environment; a test that uses it
    must not send the next test's subprocesses to its store."""
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
