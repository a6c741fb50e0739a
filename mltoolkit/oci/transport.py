"""HTTP to registries: one session, auth challenges (basic and bearer), retries, error mapping.

The API operations live in ``registry``; this module knows only how to get a request answered.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests

from mltoolkit.errors import ExternalError
from mltoolkit.oci.auth import Challenge, Credentials, DockerCredentialStore
from mltoolkit.oci.reference import DOCKER_HUB, DOCKER_HUB_API, ImageRef, is_insecure
from mltoolkit.oci.retry import RetryPolicy, is_retryable_status

log = logging.getLogger(__name__)

USER_AGENT = "mltoolkit-registry-client"
Body = bytes | IO[bytes] | None
_TOKEN_MARGIN = 10.0  # seconds: renew a token this long before it expires
_ERROR_TEXT_MAX = 200


@dataclass
class _Token:
    value: str
    expires_at: float


def pull_scope(repo: ImageRef) -> str:
    """The token scope to read ``repo``."""
    return f"repository:{repo.repository}:pull"


def push_scope(repo: ImageRef) -> str:
    """The token scope to read and write ``repo``."""
    return f"repository:{repo.repository}:pull,push"


def login_hint(registry: str) -> str:
    """The ``docker login`` command for ``registry``."""
    return (
        "docker login" if registry in (DOCKER_HUB, DOCKER_HUB_API) else f"docker login {registry}"
    )


def error_summary(response: requests.Response) -> str:
    """The registry's own error codes and messages (OCI error JSON), else the HTTP reason."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        parts = [
            f"{e.get('code', '?')}: {e.get('message', '')}".strip()
            for e in errors
            if isinstance(e, dict)
        ]
        text = "; ".join(parts)
    else:
        text = response.reason or ""
    return f"HTTP {response.status_code} {text}".strip()[:_ERROR_TEXT_MAX]


class RegistryTransport:
    """Sends requests to any number of registries over one ``requests.Session``."""

    def __init__(
        self,
        *,
        insecure: Iterable[str] = (),
        credentials: DockerCredentialStore,
        retry: RetryPolicy,
        timeout: float | tuple[float, float],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.insecure = tuple(insecure)
        self.credentials = credentials
        self.retry = retry
        self.timeout = timeout
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, tuple[str, ...]], _Token] = {}

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def base_url(self, host: str) -> str:
        """``http://host`` for loopback and named-insecure registries, else ``https://host``."""
        scheme = "http" if is_insecure(host, self.insecure) else "https"
        return f"{scheme}://{host}"

    def request(
        self,
        method: str,
        host: str,
        path_or_url: str,
        *,
        scopes: Sequence[str],
        what: str,
        where: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        allow: Collection[int] = (),
    ) -> requests.Response:
        """Send one request, authenticating and retrying as needed.

        Returns the response when it is a success (< 400) or its status is in ``allow``; otherwise
        raises ExternalError (auth failures with a ``docker login`` fix).
        """
        url = urljoin(self.base_url(host) + "/", path_or_url)
        scope_key = tuple(scopes)

        def send() -> requests.Response:
            return self._send_authorized(
                method,
                url,
                host,
                scope_key,
                where=where,
                params=params,
                headers=headers,
                body=body,
                stream=stream,
            )

        response = send()
        if response.status_code in (401, 403) and self._learn_challenge(host, response):
            self._tokens.pop((host, scope_key), None)
            response.close()
            response = send()
        status = response.status_code
        if status < 400 or status in allow:
            return response
        summary = error_summary(response)
        response.close()
        if status in (401, 403):
            raise ExternalError(
                f"registry {host} refused {what} ({summary})",
                where=where,
                fix=f"run `{login_hint(host)}` with an account that may access it "
                f"(credentials are read from {self.credentials.path})",
            )
        attempts = f" after {self.retry.attempts} attempts" if is_retryable_status(status) else ""
        raise ExternalError(
            f"registry {host} failed {what}{attempts} ({summary})",
            where=where,
            fix="retry later or check the registry's logs"
            if status >= 500 or status == 429
            else "check the reference and the registry's logs",
        )

    def _send_authorized(
        self,
        method: str,
        url: str,
        host: str,
        scopes: tuple[str, ...],
        *,
        where: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: Body,
        stream: bool,
    ) -> requests.Response:
        send_headers = dict(headers or {})
        authorization = self._authorization(host, scopes, where=where)
        if authorization:
            send_headers["Authorization"] = authorization
        return self._send_with_retries(
            method, url, host, params=params, headers=send_headers, body=body, stream=stream
        )

    def _learn_challenge(self, host: str, response: requests.Response) -> bool:
        """Remember the auth challenge of a 401/403; whether a retry with auth can help."""
        challenge = Challenge.parse(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("bearer", "basic"):
            return False
        if challenge.scheme == "basic":
            creds = self._credentials(host)
            if creds is None or not creds.has_basic:
                return False
        self._challenges[host] = challenge
        return True

    def _send_with_retries(
        self,
        method: str,
        url: str,
        host: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: Body,
        stream: bool,
    ) -> requests.Response:
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        for attempt in range(1, self.retry.attempts + 1):
            if body is not None and not isinstance(body, bytes):
                body.seek(start)
            try:
                log.debug("%s %s (attempt %d)", method, urlsplit(url).path, attempt)
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    data=body,
                    stream=stream,
                    timeout=self.timeout,
                )
            except requests.exceptions.SSLError as exc:
                raise ExternalError(
                    f"TLS with registry {host} failed: {_short(exc)}",
                    where=host,
                    fix=f"if {host} serves plain HTTP, pass --insecure-registry {host}; "
                    "else trust its CA (REQUESTS_CA_BUNDLE)",
                ) from exc
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if attempt == self.retry.attempts:
                    raise ExternalError(
                        f"registry {host} is unreachable after {attempt} attempts "
                        f"({type(exc).__name__})",
                        where=host,
                        fix="check that the registry is running and reachable "
                        "(a local one: scripts/services start), and the host and port",
                    ) from exc
                self.sleep(self.retry.delay(attempt))
                continue
            if is_retryable_status(response.status_code) and attempt < self.retry.attempts:
                retry_after = response.headers.get("Retry-After")
                response.close()
                self.sleep(self.retry.delay(attempt, retry_after))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _credentials(self, host: str) -> Credentials | None:
        return self.credentials.get(host)

    def _authorization(self, host: str, scopes: tuple[str, ...], *, where: str) -> str | None:
        challenge = self._challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self._credentials(host)
            if creds is None or not creds.has_basic:
                return None
            pair = f"{creds.username}:{creds.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        token = self._tokens.get((host, scopes))
        if token is None or token.expires_at <= time.monotonic():
            token = self._fetch_token(host, challenge, scopes, where=where)
            self._tokens[(host, scopes)] = token
        return f"Bearer {token.value}"

    def _fetch_token(
        self, host: str, challenge: Challenge, scopes: tuple[str, ...], *, where: str
    ) -> _Token:
        realm = challenge.realm
        if not realm:
            raise ExternalError(
                f"registry {host} asked for a bearer token without naming a realm",
                where=where,
                fix="check the registry's auth configuration",
            )
        wanted = list(scopes)
        for scope in challenge.params.get("scope", "").split():
            if scope not in wanted:
                wanted.append(scope)
        creds = self._credentials(host)
        realm_host = urlsplit(realm).netloc
        if (
            creds is not None
            and realm.startswith("http://")
            and not is_insecure(host, self.insecure)
        ):
            raise ExternalError(
                f"registry {host} asks for credentials over plain HTTP ({realm_host})",
                where=where,
                fix="fix the registry's token realm to use https",
            )
        service = challenge.params.get("service")
        if creds is not None and creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "mltoolkit",
                "scope": " ".join(wanted),
            }
            if service:
                form["service"] = service
            response = self._token_request("POST", realm, realm_host, data=form)
        else:
            query: list[tuple[str, str]] = [("service", service)] if service else []
            query += [("scope", s) for s in wanted]
            auth = (
                (creds.username or "", creds.password or "") if creds and creds.has_basic else None
            )
            response = self._token_request("GET", realm, realm_host, params=query, auth=auth)
        if response.status_code in (401, 403):
            response.close()
            raise ExternalError(
                f"the token service of registry {host} refused the credentials "
                f"(HTTP {response.status_code})",
                where=where,
                fix=f"run `{login_hint(host)}` again (credentials are read from "
                f"{self.credentials.path})",
            )
        if response.status_code >= 400:
            summary = error_summary(response)
            response.close()
            raise ExternalError(
                f"the token service of registry {host} failed ({summary})",
                where=where,
                fix="retry later or check the registry's token service",
            )
        try:
            answer: Any = response.json()
            value = answer.get("token") or answer.get("access_token")
            expires_in = float(answer.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError) as exc:
            raise ExternalError(
                f"the token service of registry {host} answered something that is not a token",
                where=where,
                fix="check the registry's token service",
            ) from exc
        if not isinstance(value, str) or not value:
            raise ExternalError(
                f"the token service of registry {host} answered without a token",
                where=where,
                fix="check the registry's token service",
            )
        return _Token(value, time.monotonic() + max(0.0, expires_in - _TOKEN_MARGIN))

    def _token_request(
        self,
        method: str,
        url: str,
        host: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = self.session.request(
                    method, url, params=params, data=data, auth=auth, timeout=self.timeout
                )
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if attempt == self.retry.attempts or isinstance(exc, requests.exceptions.SSLError):
                    raise ExternalError(
                        f"the token service {host} is unreachable ({type(exc).__name__})",
                        where=host,
                        fix="check that the registry's token service is running and reachable",
                    ) from exc
                self.sleep(self.retry.delay(attempt))
                continue
            if is_retryable_status(response.status_code) and attempt < self.retry.attempts:
                retry_after = response.headers.get("Retry-After")
                response.close()
                self.sleep(self.retry.delay(attempt, retry_after))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:_ERROR_TEXT_MAX]
