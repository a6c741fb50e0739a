"""Image references and content digests, parsed the way Docker/distribution parses them.

Grammar (github.com/distribution/reference)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex

A first component is a registry host when it contains ``.`` or ``:``, is ``localhost``, or has
an uppercase letter; otherwise the registry is Docker Hub (``docker.io``) and one-component names
get ``library/``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mltoolkit.errors import InputError

if TYPE_CHECKING:
    import hashlib

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# Known digest algorithms and the length of their hex encoding (OCI image-spec descriptor.md).
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_ALGORITHM = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")
_HEX = re.compile(r"[0-9a-f]+")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
)
_IMAGE_ID = re.compile(r"[0-9a-f]{64}")
_NAME_MAX = 255


@dataclass(frozen=True)
class Digest:
    """A content digest such as ``sha256:<64 hex>``."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str, *, where: str | None = None) -> Digest:
        """Parse ``algorithm:hex``; InputError naming the text and what is wrong."""
        where = where or text
        algorithm, sep, hex_part = text.partition(":")
        if not sep:
            raise InputError(
                f"digest {text!r} has no ':' between algorithm and hex",
                where=where,
                fix="write a digest as sha256:<64 lowercase hex digits>",
            )
        if not algorithm or not _ALGORITHM.fullmatch(algorithm):
            raise InputError(
                f"digest {text!r} has a malformed algorithm {algorithm!r}",
                where=where,
                fix="write a digest as sha256:<64 lowercase hex digits>",
            )
        if algorithm not in DIGEST_HEX_LENGTHS:
            raise InputError(
                f"digest {text!r} uses unknown algorithm {algorithm!r}",
                where=where,
                fix=f"use one of {', '.join(sorted(DIGEST_HEX_LENGTHS))}",
            )
        if not hex_part:
            raise InputError(
                f"digest {text!r} has no hex after '{algorithm}:'",
                where=where,
                fix="write a digest as sha256:<64 lowercase hex digits>",
            )
        if not _HEX.fullmatch(hex_part):
            problem = (
                "uppercase hex"
                if re.fullmatch(r"[0-9a-fA-F]+", hex_part)
                else "characters that are not hex digits"
            )
            raise InputError(
                f"digest {text!r} has {problem}",
                where=where,
                fix="digests are lowercase hex (0-9, a-f)",
            )
        expected = DIGEST_HEX_LENGTHS[algorithm]
        if len(hex_part) != expected:
            raise InputError(
                f"digest {text!r} has {len(hex_part)} hex digits, {algorithm} needs {expected}",
                where=where,
                fix="copy the whole digest (e.g. from `docker inspect` or the push output)",
            )
        return cls(algorithm, hex_part)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        if algorithm not in DIGEST_HEX_LENGTHS:
            raise InputError(f"unknown digest algorithm {algorithm!r}", where="digest")
        import hashlib  # loads OpenSSL: only when something is hashed (not for `scan`'s start)

        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm (to verify streamed content)."""
        import hashlib

        return hashlib.new(self.algorithm)

    @property
    def tag_form(self) -> str:
        """``sha256-<hex>``: the tag-schema form (cosign ``.sig``/``.att``, referrers fallback)."""
        return f"{self.algorithm}-{self.hex}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _is_domain(component: str) -> bool:
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component.lower() != component
    )


def _host_only(registry: str) -> str:
    """The host of ``host[:port]`` (IPv6 brackets removed)."""
    if registry.startswith("["):
        return registry[1 : registry.index("]")]
    return registry.rsplit(":", 1)[0] if ":" in registry else registry


def is_loopback(registry: str) -> bool:
    """Whether ``registry`` (``host[:port]``) is on this machine: localhost, 127.0.0.0/8, ::1."""
    host = _host_only(registry).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_insecure(registry: str, insecure: Iterable[str] = ()) -> bool:
    """Whether to talk plain HTTP to ``registry``: loopback always; others only when named.

    An entry in ``insecure`` matches ``host:port`` exactly; an entry without a port matches
    any port of that host.
    """
    if is_loopback(registry):
        return True
    normalized = registry.lower()
    for raw in insecure:
        entry = raw.strip().lower().removeprefix("http://").removeprefix("https://").rstrip("/")
        if entry and (entry == normalized or entry == _host_only(normalized)):
            return True
    return False


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference: registry, repository, optional tag and digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse and normalise ``[registry/]repo[:tag][@digest]``; InputError when malformed."""
        original = text
        text = text.strip()
        if not text:
            raise InputError("empty image reference", where="image reference", fix=_FIX)
        if "://" in text:
            raise InputError(
                f"image reference {original!r} must not have a URL scheme",
                where=original,
                fix="drop the http(s):// prefix",
            )
        digest: Digest | None = None
        if "@" in text:
            text, _, digest_text = text.partition("@")
            digest = Digest.parse(digest_text, where=original)
        tag: str | None = None
        last_slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > last_slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise InputError(
                    f"image reference {original!r} has an invalid tag {tag!r}",
                    where=original,
                    fix="a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                )
        if not text:
            raise InputError(f"image reference {original!r} has no name", where=original, fix=_FIX)
        if len(text) > _NAME_MAX:
            raise InputError(
                f"image reference {original!r}: name is longer than {_NAME_MAX} characters",
                where=original,
            )
        first, slash, rest = text.partition("/")
        if slash and _is_domain(first):
            registry, path = first, rest
            if not _HOST.fullmatch(registry):
                raise InputError(
                    f"image reference {original!r} has an invalid registry {registry!r}",
                    where=original,
                    fix="write the registry as host[:port]",
                )
        else:
            registry, path = DOCKER_HUB, text
        if registry.lower() in _HUB_ALIASES:
            registry = DOCKER_HUB
            if "/" not in path:
                path = f"library/{path}"
        for component in path.split("/"):
            if _PATH_COMPONENT.fullmatch(component):
                continue
            if _PATH_COMPONENT.fullmatch(component.lower()):
                raise InputError(
                    f"image reference {original!r}: repository name must be lowercase",
                    where=original,
                    fix=f"use {path.lower()!r}",
                )
            raise InputError(
                f"image reference {original!r} has an invalid repository component {component!r}",
                where=original,
                fix="repository components are lowercase letters and digits joined by . _ __ or -",
            )
        if registry == DOCKER_HUB and _IMAGE_ID.fullmatch(path.removeprefix("library/")):
            raise InputError(
                f"image reference {original!r} looks like an image ID, not a repository",
                where=original,
                fix="name the image by repository (and tag or digest)",
            )
        return cls(registry, path, tag, digest)

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host[:port] to send HTTP requests to (Docker Hub's API lives elsewhere)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/`` in the API: the digest if known, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    def with_digest(self, digest: Digest) -> ImageRef:
        """The same image pinned to ``digest`` (the tag is kept)."""
        return ImageRef(self.registry, self.repository, self.tag, digest)

    def with_tag(self, tag: str | None) -> ImageRef:
        """The same repository with ``tag`` and no digest."""
        if tag is not None and not _TAG.fullmatch(tag):
            raise InputError(f"invalid tag {tag!r}", where=self.name, fix=_FIX)
        return ImageRef(self.registry, self.repository, tag, None)

    def with_repository(self, repository: str) -> ImageRef:
        """Another repository on the same registry, without tag or digest."""
        return ImageRef.parse(f"{self.registry}/{repository}").with_tag(None)

    def repo_only(self) -> ImageRef:
        """This repository without tag or digest."""
        return ImageRef(self.registry, self.repository)

    def require_digest(self) -> Digest:
        """The digest, or InputError when the reference is not pinned to one."""
        if self.digest is None:
            raise InputError(
                f"image reference {self} is not pinned to a digest",
                where=str(self),
                fix="pass IMAGE@sha256:<digest> (the digest printed by `mltoolkit build --push`)",
            )
        return self.digest

    def is_insecure(self, insecure: Iterable[str] = ()) -> bool:
        """Whether to use plain HTTP for this registry (see ``is_insecure``)."""
        return is_insecure(self.registry, insecure)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


_FIX = "write an image reference as [registry/]repository[:tag][@sha256:<digest>]"
