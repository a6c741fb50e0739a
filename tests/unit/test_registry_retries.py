"""Retries, auth challenges and error mapping of the registry client.

The server here is a FAKE registry: a fault-injecting ``http.server`` on 127.0.0.1 that answers
from a script (500s, 429s, 401 challenges...) so that each failure mode happens for real over
HTTP. The real registry is exercised in tests/integration/test_registry.py.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mltoolkit.errors import ExitCode, ExternalError, InputError
from mltoolkit.oci import media_types as mt
from mltoolkit.oci.reference import Digest, ImageRef
from mltoolkit.oci.registry import ManifestNotFound, RegistryClient
from mltoolkit.oci.retry import RetryPolicy, parse_retry_after

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []}).encode()
DIGEST = Digest.of(MANIFEST)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[[Seen], Reply]


class FakeRegistry:
    """Fault-injecting fake registry: per path, a queue of replies (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply] | Handler] = {}
        self.seen: list[Seen] = []
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                fake.seen.append(seen)
                route = fake.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    reply = Reply(404, body=b'{"errors":[{"code":"NOT_FOUND","message":"nope"}]}')
                elif callable(route):
                    reply = route(seen)
                else:
                    reply = route.pop(0) if len(route) > 1 else route[0]
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("?", 1)[0] == path]


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    registry = FakeRegistry()
    registry.thread.start()
    yield registry
    registry.server.shutdown()
    registry.server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float], tmp_path: Path) -> Iterator[RegistryClient]:
    policy = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, max_retry_after=5.0)
    with RegistryClient(docker_config=tmp_path, retry=policy, sleep=sleeps.append) as c:
        yield c


def manifest_ok() -> Reply:
    return Reply(
        200,
        {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": str(DIGEST)},
        MANIFEST,
    )


def test_500_twice_then_success_is_retried(fake: FakeRegistry, client: RegistryClient) -> None:
    path = "/v2/ml/app/manifests/v1"
    fake.routes[path] = [Reply(500), Reply(503), manifest_ok()]
    manifest = client.get_manifest(f"{fake.host}/ml/app:v1")
    assert manifest.digest == DIGEST
    assert manifest.data == MANIFEST
    assert len(fake.requests_to(path)) == 3


def test_5xx_every_time_gives_external_error_after_bounded_attempts(
    fake: FakeRegistry, client: RegistryClient, sleeps: list[float]
) -> None:
    path = "/v2/ml/app/manifests/v1"
    fake.routes[path] = [Reply(502)]
    with pytest.raises(ExternalError, match="after 4 attempts") as info:
        client.resolve(f"{fake.host}/ml/app:v1")
    assert info.value.exit_code == ExitCode.EXTERNAL
    assert len(fake.requests_to(path)) == 4
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps)  # backoff grows


def test_429_honours_retry_after(
    fake: FakeRegistry, client: RegistryClient, sleeps: list[float]
) -> None:
    path = "/v2/ml/app/manifests/v1"
    fake.routes[path] = [
        Reply(429, {"Retry-After": "2"}),
        Reply(429, {"Retry-After": "3600"}),  # capped at max_retry_after
        manifest_ok(),
    ]
    assert client.resolve(f"{fake.host}/ml/app:v1") == DIGEST
    assert sleeps == [2.0, 5.0]
    assert len(fake.requests_to(path)) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405])
def test_other_4xx_are_not_retried(
    fake: FakeRegistry, client: RegistryClient, sleeps: list[float], status: int
) -> None:
    path = "/v2/ml/app/manifests/v1"
    body = json.dumps({"errors": [{"code": "DENIED", "message": "no way"}]}).encode()
    fake.routes[path] = [Reply(status, {"Content-Type": "application/json"}, body)]
    with pytest.raises((ExternalError, InputError)) as info:
        client.get_manifest(f"{fake.host}/ml/app:v1")
    assert len(fake.requests_to(path)) == 1
    assert sleeps == []
    if status == 404:
        assert isinstance(info.value, ManifestNotFound)
        assert info.value.exit_code == ExitCode.USAGE
    else:
        assert info.value.exit_code == ExitCode.EXTERNAL
    if status in (401, 403):
        assert f"docker login {fake.host}" in info.value.diagnostics()
        assert "DENIED: no way" in info.value.diagnostics()


def test_head_404_means_absent(fake: FakeRegistry, client: RegistryClient) -> None:
    assert client.head_manifest(f"{fake.host}/ml/app", "v9") is None
    assert not client.blob_exists(f"{fake.host}/ml/app", DIGEST)
    assert client.list_tags(f"{fake.host}/ml/app") == []
    assert len(fake.seen) == 3


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_gives_external_error_after_bounded_retries(
    client: RegistryClient, sleeps: list[float]
) -> None:
    host = f"127.0.0.1:{closed_port()}"
    with pytest.raises(ExternalError, match="unreachable after 4 attempts") as info:
        client.resolve(f"{host}/ml/app:v1")
    assert info.value.exit_code == ExitCode.EXTERNAL
    assert info.value.where == host
    assert "scripts/services start" in info.value.diagnostics()
    assert len(sleeps) == 3


def test_digest_header_mismatch_is_external_error(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    other = Digest.of(b"something else")
    fake.routes["/v2/ml/app/manifests/v1"] = [
        Reply(200, {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": str(other)}, MANIFEST)
    ]
    with pytest.raises(ExternalError, match="not " + str(other)):
        client.get_manifest(f"{fake.host}/ml/app:v1")


def test_manifest_by_digest_must_hash_to_that_digest(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.routes[f"/v2/ml/app/manifests/{DIGEST}"] = [
        Reply(200, {"Content-Type": mt.OCI_MANIFEST}, MANIFEST + b" ")
    ]
    with pytest.raises(ExternalError, match="the digest asked for"):
        client.get_manifest(ImageRef.parse(f"{fake.host}/ml/app").with_digest(DIGEST))


def test_blob_content_is_checked_against_its_digest(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    good = Digest.of(b"layer")
    fake.routes[f"/v2/ml/app/blobs/{good}"] = [Reply(200, {}, b"tampered")]
    with pytest.raises(ExternalError, match="corrupted or tampered"):
        client.get_blob(f"{fake.host}/ml/app", good)


def write_docker_config(directory: Path, host: str, entry: dict[str, str]) -> None:
    (directory / "config.json").write_text(json.dumps({"auths": {host: entry}}))


def bearer_routes(fake: FakeRegistry, token_requests: list[Seen]) -> None:
    realm = f"http://{fake.host}/token"

    def manifest(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == "Bearer tok-123":
            return manifest_ok()
        challenge = f'Bearer realm="{realm}",service="fake-registry",scope="repository:ml/app:pull"'
        return Reply(401, {"WWW-Authenticate": challenge})

    def token(seen: Seen) -> Reply:
        token_requests.append(seen)
        auth = seen.headers.get("Authorization", "")
        form = seen.body.decode()
        if auth == "Basic " + base64.b64encode(b"alice:s3cret-pw").decode() or (
            "refresh_token=id-tok-9" in form
        ):
            return Reply(200, {}, json.dumps({"token": "tok-123", "expires_in": 300}).encode())
        return Reply(401)

    fake.routes["/v2/ml/app/manifests/v1"] = manifest
    fake.routes["/token"] = token


def test_bearer_challenge_gets_a_token_with_docker_config_credentials(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    token_requests: list[Seen] = []
    bearer_routes(fake, token_requests)
    auth = base64.b64encode(b"alice:s3cret-pw").decode()
    write_docker_config(tmp_path, fake.host, {"auth": auth})
    with RegistryClient(docker_config=tmp_path, retry=RetryPolicy(attempts=1)) as client:
        ref = f"{fake.host}/ml/app:v1"
        assert client.resolve(ref) == DIGEST
        assert client.get_manifest(ref).digest == DIGEST
    assert len(token_requests) == 1  # cached per scope
    assert "service=fake-registry" in token_requests[0].path
    assert "scope=repository%3Aml%2Fapp%3Apull" in token_requests[0].path
    # First request anonymous (401), then one with the token, then the cached token directly.
    manifest_calls = fake.requests_to("/v2/ml/app/manifests/v1")
    assert [c.headers.get("Authorization") for c in manifest_calls] == [
        None,
        "Bearer tok-123",
        "Bearer tok-123",
    ]


def test_identity_token_is_exchanged_with_refresh_grant(fake: FakeRegistry, tmp_path: Path) -> None:
    token_requests: list[Seen] = []
    bearer_routes(fake, token_requests)
    write_docker_config(tmp_path, fake.host, {"identitytoken": "id-tok-9"})
    with RegistryClient(docker_config=tmp_path, retry=RetryPolicy(attempts=1)) as client:
        assert client.resolve(f"{fake.host}/ml/app:v1") == DIGEST
    assert token_requests[0].method == "POST"
    assert "grant_type=refresh_token" in token_requests[0].body.decode()


def test_refused_credentials_say_docker_login_and_hide_the_secret(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    token_requests: list[Seen] = []
    bearer_routes(fake, token_requests)
    write_docker_config(tmp_path, fake.host, {"username": "alice", "password": "wrong-pw"})
    with (
        RegistryClient(docker_config=tmp_path, retry=RetryPolicy(attempts=1)) as client,
        pytest.raises(ExternalError) as info,
    ):
        client.resolve(f"{fake.host}/ml/app:v1")
    text = info.value.diagnostics()
    assert f"docker login {fake.host}" in text
    assert "wrong-pw" not in text
    assert "wrong-pw" not in repr(client.transport.credentials.get(fake.host))
    assert len(token_requests) == 1  # a refused token is not retried


def test_anonymous_bearer_flow_without_credentials(fake: FakeRegistry, tmp_path: Path) -> None:
    realm = f"http://{fake.host}/token"

    def manifest(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == "Bearer anon":
            return manifest_ok()
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="svc"'})

    fake.routes["/v2/library/app/manifests/v1"] = manifest
    fake.routes["/token"] = [Reply(200, {}, b'{"access_token":"anon"}')]
    with RegistryClient(docker_config=tmp_path, retry=RetryPolicy(attempts=1)) as client:
        assert client.resolve(f"{fake.host}/library/app:v1") == DIGEST
    assert "Authorization" not in fake.requests_to("/token")[0].headers


def test_basic_challenge_sends_credentials(fake: FakeRegistry, tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(b"bob:pw").decode()

    def manifest(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == expected:
            return manifest_ok()
        return Reply(401, {"WWW-Authenticate": 'Basic realm="fake"'})

    fake.routes["/v2/ml/app/manifests/v1"] = manifest
    write_docker_config(tmp_path, f"http://{fake.host}/v2/", {"username": "bob", "password": "pw"})
    with RegistryClient(docker_config=tmp_path, retry=RetryPolicy(attempts=1)) as client:
        assert client.resolve(f"{fake.host}/ml/app:v1") == DIGEST


def test_referrers_fall_back_to_the_tag_schema(fake: FakeRegistry, client: RegistryClient) -> None:
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": str(DIGEST), "size": 10, "artifactType": "x/y"}
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]})
    fake.routes[f"/v2/ml/app/manifests/{DIGEST.tag_form}"] = [
        Reply(200, {"Content-Type": mt.OCI_INDEX}, index.encode())
    ]
    repo = f"{fake.host}/ml/app"
    assert client.referrers(repo, DIGEST) == [entry]
    assert client.referrers(repo, DIGEST, artifact_type="other/type") == []
    assert [s.path.split("?")[0] for s in fake.seen][:2] == [
        f"/v2/ml/app/referrers/{DIGEST}",
        f"/v2/ml/app/manifests/{DIGEST.tag_form}",
    ]


def test_referrers_api_is_used_when_present(fake: FakeRegistry, client: RegistryClient) -> None:
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": str(DIGEST), "size": 10}
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]})
    fake.routes[f"/v2/ml/app/referrers/{DIGEST}"] = [
        Reply(200, {"Content-Type": mt.OCI_INDEX}, index.encode())
    ]
    assert client.referrers(f"{fake.host}/ml/app", DIGEST) == [entry]
    assert len(fake.seen) == 1


@pytest.mark.parametrize(
    ("value", "seconds"), [("7", 7.0), ("0", 0.0), (None, None), ("soon", None)]
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:09 GMT", now) == 9.0


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]


def test_monolithic_upload_resends_the_whole_file_on_retry(
    fake: FakeRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    content = b"0123456789" * 1000
    fake.routes["/v2/ml/app/blobs/uploads/"] = [Reply(202, {"Location": "/upload/1"})]
    fake.routes["/upload/1"] = [
        Reply(500),
        Reply(201, {"Docker-Content-Digest": str(Digest.of(content))}),
    ]
    source = tmp_path / "blob"
    source.write_bytes(content)
    with source.open("rb") as fh:
        digest = client.upload_blob(f"{fake.host}/ml/app", fh, monolithic=True)
    assert digest == Digest.of(content)
    puts = fake.requests_to("/upload/1")
    assert [p.body for p in puts] == [content, content]
    assert f"digest={digest}".replace(":", "%3A") in puts[-1].path


def test_failed_chunked_upload_is_cancelled(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.routes["/v2/ml/app/blobs/uploads/"] = [Reply(202, {"Location": "/upload/2"})]

    def session(seen: Seen) -> Reply:
        return Reply(204) if seen.method == "DELETE" else Reply(500)

    fake.routes["/upload/2"] = session
    with pytest.raises(ExternalError, match="after 4 attempts"):
        client.upload_blob(f"{fake.host}/ml/app", iter([b"x" * 10]))
    assert [s.method for s in fake.requests_to("/upload/2")] == ["PATCH"] * 4 + ["DELETE"]


def test_declined_mount_cancels_the_upload_it_opened(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    fake.routes["/v2/ml/prod/blobs/uploads/"] = [Reply(202, {"Location": "/upload/3"})]
    fake.routes["/upload/3"] = [Reply(204)]
    assert not client.mount_blob(f"{fake.host}/ml/app", f"{fake.host}/ml/prod", DIGEST)
    post = fake.requests_to("/v2/ml/prod/blobs/uploads/")[0]
    assert f"mount={DIGEST}".replace(":", "%3A") in post.path
    assert "from=ml%2Fapp" in post.path
    assert [s.method for s in fake.requests_to("/upload/3")] == ["DELETE"]
    # Different registries never mount.
    assert not client.mount_blob(f"{fake.host}/ml/app", "other.example.com/ml/prod", DIGEST)
