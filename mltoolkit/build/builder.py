"""Run a build on the engine's classic builder and follow its progress stream.

The low-level ``api.build(decode=True)`` yields JSON messages: ``stream`` (the step log),
``status`` (base image pulls), ``aux`` (the image ID) and ``error``/``errorDetail``. Containers of
every step are removed, also when a step fails (``rm`` + ``forcerm``): a build leaves no
containers behind.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from mltoolkit.errors import DeniedError, Error, ExternalError, InputError

TAIL_LINES = 20
_STEP = re.compile(r"^Step (?P<n>\d+)/(?P<total>\d+) : (?P<instruction>.*)$")
_FROM = re.compile(
    r"^FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<alias>\S+))?\s*$", re.IGNORECASE
)
_GLOBAL_ARG = re.compile(r"^ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S*)\s*$", re.I)
_CHATTER = re.compile(r"^(?: ---> .*|Removing intermediate container [0-9a-f]+)$")
_PARSE_LINE = re.compile(r"\bline (\d+)\b")
_EXIT_CODE = re.compile(r"returned a non-zero code: (\d+)")
_WHERE_MAX = 100
_LAYER = re.compile(r"^ ---> (?P<id>[0-9a-f]{12,64})$")
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class BuildFailedError(DeniedError):
    """A step of the Dockerfile failed: the source does not build (exit 1).

    Not an outside failure (the engine worked) and not bad usage (the flags were right): like a
    gate, the build said no to this source. ``step`` and ``tail`` say where and why.
    """

    def __init__(self, what: str, *, step: str | None, tail: list[str], where: str) -> None:
        super().__init__(what, where=where, fix="fix the failing step and rebuild")
        self.step = step
        self.tail = tail


@dataclass(frozen=True)
class BaseImage:
    """An image a ``FROM`` resolved to on the engine."""

    name: str
    image_id: str
    repo_digests: tuple[str, ...] = ()


@dataclass
class BuildResult:
    """What the engine built."""

    image_id: str
    steps: int = 0
    cached_steps: int = 0
    base_images: list[BaseImage] = field(default_factory=list)


class StreamError(Exception):
    """The build stream reported an error (a failed step, a missing base image...)."""


@dataclass
class BuildStream:
    """Follows the engine's build messages: steps, cache hits, base images, the image ID."""

    build_args: Mapping[str, str] = field(default_factory=dict)
    step: str | None = None
    """The current (on failure: the failing) step, e.g. ``Step 2/3 : RUN make``."""
    step_lines: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    """The last lines the current step printed."""
    steps: int = 0
    cached: int = 0
    image_id: str | None = None
    bases: list[tuple[str, str]] = field(default_factory=list)
    """``(name as in FROM, short image ID)`` of every base image."""
    _pending_from: str | None = None
    _stage_aliases: set[str] = field(default_factory=set)
    _global_args: dict[str, str] = field(default_factory=dict)
    _seen_from: bool = False

    def follow(self, chunks: Iterable[dict[str, Any]], on_line: Callable[[str], None]) -> None:
        """Consume the messages, passing each log line on; StreamError on an error message."""
        pending = ""
        for chunk in chunks:
            if "stream" in chunk:
                pending += str(chunk["stream"])
                *complete, pending = pending.split("\n")
                for raw in complete:
                    self._line(raw.rstrip("\r"), on_line)
            elif "status" in chunk:
                on_line(
                    " ".join(str(chunk[k]) for k in ("id", "status", "progress") if chunk.get(k))
                )
            elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                self.image_id = str(chunk["aux"]["ID"])
            if "error" in chunk or "errorDetail" in chunk:
                if pending:
                    self._line(pending, on_line)
                    pending = ""
                detail = chunk.get("errorDetail") or {}
                message = str(detail.get("message") or chunk.get("error") or "unknown build error")
                raise StreamError(message.strip())
        if pending:
            self._line(pending, on_line)

    def _line(self, text: str, on_line: Callable[[str], None]) -> None:
        on_line(text)
        step = _STEP.match(text)
        if step:
            self.step = text
            self.steps = int(step["n"])
            self.step_lines.clear()
            self._pending_from = None
            instruction = step["instruction"]
            global_arg = _GLOBAL_ARG.match(instruction) if not self._seen_from else None
            if global_arg:  # an ARG before the first FROM may give FROM its default image
                self._global_args.setdefault(global_arg["name"], global_arg["value"].strip("\"'"))
            from_ = _FROM.match(instruction)
            if from_:
                self._seen_from = True
                image = expand(from_["image"], {**self._global_args, **self.build_args})
                if image.lower() not in self._stage_aliases and image != "scratch":
                    self._pending_from = image
                if from_["alias"]:
                    self._stage_aliases.add(from_["alias"].lower())
            return
        if not _CHATTER.match(text):  # the tail shows what the step printed, not the builder
            self.step_lines.append(text)
        if text == " ---> Using cache":
            self.cached += 1
        layer = _LAYER.match(text)
        if layer and self._pending_from is not None:
            self.bases.append((self._pending_from, layer["id"]))
            self._pending_from = None


def expand(text: str, variables: Mapping[str, str]) -> str:
    """``$VAR``/``${VAR}`` replaced from ``variables`` (unknown names are left as written)."""

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["plain"]
        return variables.get(name, match[0])

    return _VAR.sub(value, text)


def build_image(
    client: docker.DockerClient,
    *,
    context: Path,
    dockerfile: str,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    on_line: Callable[[str], None],
    shown_as: str | None = None,
) -> BuildResult:
    """Build ``context`` with ``dockerfile`` (relative to the context, or absolute) as ``tag``.

    ``shown_as`` is the Dockerfile's name in error messages (the path the user gave).

    Every log line goes to ``on_line``. Raises BuildFailedError (exit 1) when a step fails,
    InputError (exit 2) when the engine rejects the Dockerfile itself, ExternalError (exit 3)
    when the engine fails or goes away.
    """

    from mltoolkit.build.context_stream import ContextStream

    state = BuildStream(build_args=dict(build_args))
    try:
        with ContextStream(context, dockerfile) as body:
            try:
                chunks = client.api.build(
                    fileobj=body.chunks(),
                    custom_context=True,
                    dockerfile=body.dockerfile,
                    tag=tag,
                    buildargs=dict(build_args),
                    labels=dict(labels),
                    rm=True,
                    forcerm=True,
                    pull=False,
                    decode=True,
                )
            except Exception:
                body.check()  # an unreadable context is the cause, not the engine
                raise
            body.check()
        state.follow(chunks, on_line)
    except StreamError as exc:
        raise _step_failure(state, str(exc), shown_as or dockerfile) from exc
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc).strip()
        if exc.status_code is not None and 400 <= exc.status_code < 500:
            line = _PARSE_LINE.search(explanation)
            where = shown_as or dockerfile
            raise InputError(
                f"the engine rejected the build: {explanation}",
                where=f"{where}:{line[1]}" if line else where,
                fix="fix the Dockerfile or the build arguments",
            ) from exc
        raise ExternalError(
            f"the Docker engine failed the build: {explanation}", where="Docker engine"
        ) from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ExternalError(
            f"lost the Docker engine during the build: {exc}",
            where="Docker engine",
            fix="check that the engine is still running and rebuild",
        ) from exc
    if state.image_id is None:
        raise ExternalError(
            "the build finished without reporting an image ID",
            where="Docker engine",
            fix="rerun with --verbose and check the engine's log",
        )
    return BuildResult(
        image_id=state.image_id,
        steps=state.steps,
        cached_steps=state.cached,
        base_images=_resolve_bases(client, state.bases),
    )


def _step_failure(state: BuildStream, message: str, dockerfile: str) -> Error:
    """The error for a failed step: a FROM the engine could not get, or a step that failed."""
    step = state.step or ""
    where = step if len(step) <= _WHERE_MAX else step[: _WHERE_MAX - 3] + "..."
    instruction = _STEP.match(step)
    from_ = _FROM.match(instruction["instruction"]) if instruction else None
    if from_:
        return ExternalError(
            f"base image {from_['image']} is not on the engine and could not be pulled: {message}",
            where=where,
            fix="load or build the base image on the engine first, or correct the FROM line",
        )
    code = _EXIT_CODE.search(message)
    what = f"the step exited with code {code[1]}" if code else message
    return BuildFailedError(
        f"build failed: {what}",
        step=state.step,
        tail=list(state.step_lines),
        where=where or dockerfile,
    )


def _resolve_bases(client: docker.DockerClient, bases: list[tuple[str, str]]) -> list[BaseImage]:
    """Full IDs and registry digests of the images the FROM steps used."""
    resolved: list[BaseImage] = []
    for name, short_id in bases:
        try:
            info = client.api.inspect_image(short_id)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ExternalError(
                f"cannot inspect base image {name} ({short_id}): {exc}", where="Docker engine"
            ) from exc
        resolved.append(
            BaseImage(
                name=name,
                image_id=str(info.get("Id", "")),
                repo_digests=tuple(str(d) for d in info.get("RepoDigests") or ()),
            )
        )
    return resolved


def tag_image(
    client: docker.DockerClient, image_id: str, repository: str, tags: Iterable[str]
) -> None:
    """Point ``repository:tag`` at ``image_id`` for every tag."""
    for tag in tags:
        try:
            client.api.tag(image_id, repository, tag, force=True)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ExternalError(
                f"cannot tag {image_id} as {repository}:{tag}: {exc}", where="Docker engine"
            ) from exc
