"""Push the built tags through the engine and confirm the digest with the registry itself.

The engine's push stream reports progress, errors and the pushed manifest digest (``aux``).
Transient registry failures (5xx, 429, refused or reset connections, timeouts) are retried with a
bounded exponential backoff; authentication and other 4xx answers are not, since retrying cannot
change them. After the push, the digest is read back from the registry (``Docker-Content-Digest``)
through ``RegistryClient``: the digest this command reports is the one the registry serves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import docker
import docker.errors
import requests

from mltoolkit.errors import ExternalError
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import RegistryClient

ATTEMPTS = 4
BACKOFF_S = 1.0
BACKOFF_MAX_S = 8.0

# Answers a retry cannot change: checked before the transient markers, since a message such as
# "unauthorized: ... 401" may also hold words like "timeout" in its detail.
_PERMANENT = re.compile(
    r"unauthori[sz]ed|denied|forbidden|authentication required|\b40[0-9]\b|\b41[0-9]\b|"
    r"name unknown|name invalid|manifest invalid|tag invalid|unsupported|does not exist locally",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|timeout|timed out|\bEOF\b|"
    r"no route to host|network is unreachable|too many requests|\b429\b|\b5\d\d\b|"
    r"internal server error|bad gateway|service unavailable|gateway time-?out",
    re.IGNORECASE,
)


def is_transient(message: str) -> bool:
    """Whether a push error may pass on retry (5xx, 429, network); never for auth or other 4xx."""
    if _PERMANENT.search(message):
        return False
    return bool(_TRANSIENT.search(message))


class PushError(Exception):
    """The engine's push stream reported an error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _push_once(
    client: docker.DockerClient, repository: str, tag: str, on_line: Callable[[str], None]
) -> Digest:
    """One push of ``repository:tag``; the digest the engine reports, or PushError."""
    digest: str | None = None
    try:
        chunks: Iterable[dict[str, Any]] = client.api.push(
            repository, tag=tag, stream=True, decode=True
        )
        for chunk in chunks:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                raise PushError(str(detail.get("message") or chunk.get("error")).strip())
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
            status = chunk.get("status")
            # Per-layer progress bars would flood a CI log: report only the state changes.
            if status and not chunk.get("progressDetail"):
                on_line(" ".join(str(p) for p in (chunk.get("id"), status) if p))
    except docker.errors.APIError as exc:
        raise PushError(str(exc.explanation or exc).strip()) from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ExternalError(
            f"lost the Docker engine during the push: {exc}",
            where="Docker engine",
            fix="check that the engine is still running and push again",
        ) from exc
    if digest is None:
        raise PushError("the engine finished the push without reporting a digest")
    return Digest.parse(digest, where=f"{repository}:{tag}")


def push_tags(
    client: docker.DockerClient,
    image: ImageRef,
    tags: Sequence[str],
    *,
    on_line: Callable[[str], None],
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Digest:
    """Push every tag of ``image`` (retrying transient failures); the one manifest digest."""
    repository = image.name
    digests: dict[str, Digest] = {}
    for tag in tags:
        for attempt in range(1, attempts + 1):
            try:
                digests[tag] = _push_once(client, repository, tag, on_line)
                break
            except PushError as exc:
                if not is_transient(exc.message):
                    raise ExternalError(
                        f"the registry refused the push of {repository}:{tag}: {exc.message}",
                        where=image.registry,
                        fix=_refusal_fix(exc.message, image.registry),
                    ) from exc
                if attempt == attempts:
                    raise ExternalError(
                        f"push of {repository}:{tag} failed after {attempts} attempts: "
                        f"{exc.message}",
                        where=image.registry,
                        fix="check that the registry is up and reachable from the Docker engine",
                    ) from exc
                delay = min(backoff * 2 ** (attempt - 1), BACKOFF_MAX_S)
                on_line(
                    f"push failed ({exc.message}); retry {attempt}/{attempts - 1} in {delay:g}s"
                )
                sleep(delay)
    distinct = set(digests.values())
    if len(distinct) != 1:
        shown = ", ".join(f"{t}={d}" for t, d in digests.items())
        raise ExternalError(
            f"the tags of one image were pushed with different digests: {shown}",
            where=repository,
            fix="another push to these tags raced this one; push again",
        )
    return distinct.pop()


def _refusal_fix(message: str, registry: str) -> str:
    if re.search(r"unauthori[sz]ed|denied|authentication required|\b401\b|\b403\b", message, re.I):
        return f"log in to {registry} (docker login; credentials come from the Docker config)"
    if "does not exist locally" in message:
        return "the built image was removed before the push; build again"
    if "HTTP response to HTTPS client" in message:
        return f"{registry} speaks plain HTTP: list it in the engine's insecure-registries"
    if "x509" in message or "certificate" in message:
        return f"make the engine trust {registry}'s TLS certificate (certs.d or the system CAs)"
    return "check the repository name and the registry's permissions"


def confirm_digest(
    image: ImageRef,
    tags: Sequence[str],
    pushed: Digest,
    *,
    insecure: Iterable[str] = (),
) -> Digest:
    """Read each tag back from the registry; the registry's digest, which must equal ``pushed``."""
    with RegistryClient(insecure=tuple(insecure)) as registry:
        for tag in tags:
            served = registry.resolve(image.with_tag(tag))
            if served != pushed:
                raise ExternalError(
                    f"the registry serves {served} for {image.name}:{tag}, "
                    f"but the push reported {pushed}",
                    where=image.registry,
                    fix="another push to this tag raced this one; push again",
                )
    return pushed
