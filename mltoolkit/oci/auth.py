"""Registry credentials from the Docker config, and the parsing of auth challenges.

Credentials come from ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): the
``auths`` entries (``auth`` = base64 ``user:password``, or ``username``/``password``, or
``identitytoken``), and the credential helpers ``credHelpers`` (per host) and ``credsStore``
(default), run as ``docker-credential-<name> get`` with the server on stdin. Secrets are kept out
of ``repr`` and never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.oci.reference import DOCKER_HUB

# How Docker names Docker Hub in the config file and to credential helpers.
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HELPER_TIMEOUT = 30.0
_CHALLENGE_PARAM = re.compile(r'([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    """A user name and secret, or an identity (refresh) token, for one registry."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    @property
    def has_basic(self) -> bool:
        """Whether a user name and password are available for basic auth."""
        return bool(self.username) and self.password is not None


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme and its parameters."""

    scheme: str
    params: Mapping[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge | None:
        """Parse ``Bearer realm="...",service="...",scope="..."`` (or ``Basic realm=...``)."""
        header = header.strip()
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        params = {
            m.group(1).lower(): m.group(2) or m.group(3) or ""
            for m in _CHALLENGE_PARAM.finditer(rest)
        }
        return cls(scheme.lower(), params)

    @property
    def realm(self) -> str | None:
        """The token endpoint of a bearer challenge."""
        return self.params.get("realm")


def docker_config_path(
    docker_config: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The Docker config file: the argument (dir or file), ``$DOCKER_CONFIG`` or ``~/.docker``."""
    env = os.environ if environ is None else environ
    base = docker_config or (Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else None)
    if base is None:
        base = Path(env.get("HOME") or Path.home()) / ".docker"
    return base if base.suffix == ".json" else base / "config.json"


def server_key(registry: str) -> str:
    """How Docker names ``registry`` in config.json and to credential helpers."""
    return DOCKER_HUB_CONFIG_KEY if registry.lower() in _HUB_NAMES else registry


def _normalize_key(key: str) -> str:
    """``https://host:port/v1/`` -> ``host:port`` (the forms docker login has written)."""
    key = key.strip().lower()
    for prefix in ("https://", "http://"):
        key = key.removeprefix(prefix)
    key = key.split("/", 1)[0]
    return DOCKER_HUB if key in _HUB_NAMES else key


class DockerCredentialStore:
    """Looks up credentials per registry host in one Docker config file (read once)."""

    def __init__(
        self, docker_config: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.path = docker_config_path(docker_config, environ)
        self._config: dict[str, Any] | None = None
        self._cache: dict[str, Credentials | None] = {}

    def _load(self) -> dict[str, Any]:
        if self._config is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = "{}"
            except OSError as exc:
                raise InputError(
                    f"cannot read the Docker config: {exc.strerror}",
                    where=str(self.path),
                    fix="fix its permissions or set DOCKER_CONFIG to another directory",
                ) from exc
            try:
                loaded = json.loads(text or "{}")
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"the Docker config is not valid JSON (line {exc.lineno}: {exc.msg})",
                    where=str(self.path),
                    fix="repair the file or run `docker login` again",
                ) from exc
            self._config = loaded if isinstance(loaded, dict) else {}
        return self._config

    def get(self, registry: str) -> Credentials | None:
        """Credentials for ``registry`` (``host[:port]``), or None for anonymous access."""
        host = _normalize_key(registry)
        if host not in self._cache:
            self._cache[host] = self._lookup(host)
        return self._cache[host]

    def _lookup(self, host: str) -> Credentials | None:
        config = self._load()
        helpers = config.get("credHelpers")
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if _normalize_key(str(key)) == host and isinstance(helper, str) and helper:
                    return run_credential_helper(helper, server_key(host), self.path)
        auths = config.get("auths")
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if _normalize_key(str(key)) == host and isinstance(entry, dict):
                    creds = _from_auth_entry(entry, str(key), self.path)
                    if creds is not None:
                        return creds
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            return run_credential_helper(store, server_key(host), self.path)
        return None


def _from_auth_entry(entry: Mapping[str, Any], key: str, path: Path) -> Credentials | None:
    identity = entry.get("identitytoken") or None
    username = entry.get("username") or None
    password = entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InputError(
                f"the 'auth' entry for {key} is not base64 of user:password",
                where=str(path),
                fix=f"run `docker login {_normalize_key(key)}` again",
            ) from exc
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise InputError(
                f"the 'auth' entry for {key} has no ':' between user and password",
                where=str(path),
                fix=f"run `docker login {_normalize_key(key)}` again",
            )
        username, password = user, secret
    if username is None and identity is None:
        return None
    return Credentials(
        username=str(username) if username else None,
        password=str(password) if password is not None else None,
        identity_token=str(identity) if identity else None,
    )


def run_credential_helper(helper: str, server: str, config_path: Path) -> Credentials | None:
    """Run ``docker-credential-<helper> get`` for ``server``; None when it has no credentials."""
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ExternalError(
            f"the credential helper {program} named in the Docker config is not installed",
            where=str(config_path),
            fix=f"install {program} or remove it from credsStore/credHelpers",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ExternalError(
            f"the credential helper {program} did not answer within {_HELPER_TIMEOUT:.0f} s",
            where=server,
            fix=f"check {program} (it may be waiting for a keychain prompt)",
        ) from exc
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        message = (out + proc.stderr.decode("utf-8", "replace")).strip()
        if "credentials not found" in message.lower():
            return None
        # The helper's own message, not its output, which could echo a secret.
        raise ExternalError(
            f"the credential helper {program} failed (exit {proc.returncode})",
            where=server,
            fix=f"run `echo {server} | {program} get` to see why, or `docker login` again",
        )
    try:
        answer = json.loads(out)
    except json.JSONDecodeError as exc:
        raise ExternalError(
            f"the credential helper {program} answered something that is not JSON",
            where=server,
            fix=f"check {program}",
        ) from exc
    username = answer.get("Username") if isinstance(answer, dict) else None
    secret = answer.get("Secret") if isinstance(answer, dict) else None
    if not secret:
        return None
    if username == "<token>":
        return Credentials(identity_token=str(secret))
    return Credentials(username=str(username) if username else None, password=str(secret))
