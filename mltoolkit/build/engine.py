"""The connection to the Docker engine that builds and pushes images.

The engine is found the way the docker CLI finds it: ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY``
and ``DOCKER_CERT_PATH``), else the default socket. Connecting pings the engine with a short
timeout so that "no engine" is reported in seconds, not after the SDK's 60 s default.
"""

from __future__ import annotations

import os

import docker
import docker.errors
import requests

from mltoolkit.errors import ExternalError

PING_TIMEOUT_S = 5
# Reads of a build or push stream: a RUN step can be silent for long (compiling, downloading).
STREAM_TIMEOUT_S = 3600

_FIX = (
    'start one with `scripts/services start` and `eval "$(scripts/services env)"`, '
    "or set DOCKER_HOST to a running engine"
)


def connect(*, ping_timeout: float = PING_TIMEOUT_S) -> docker.DockerClient:
    """A client for the engine, known to answer; ExternalError (exit 3) when none does."""
    where = os.environ.get("DOCKER_HOST") or "the default Docker socket"
    try:
        client = docker.DockerClient.from_env(timeout=ping_timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ExternalError(
            f"no reachable Docker engine ({_first_line(exc)})", where=where, fix=_FIX
        ) from exc
    client.api.timeout = STREAM_TIMEOUT_S
    return client


def engine_version(client: docker.DockerClient) -> str | None:
    """The engine's version string (for provenance), None when it does not say."""
    try:
        version = client.version().get("Version")
    except (docker.errors.DockerException, requests.RequestException):
        return None
    return version if isinstance(version, str) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
