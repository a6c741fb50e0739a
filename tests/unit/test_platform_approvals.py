"""The platform's own approvals, read by the GitHub and GitLab adapters from FAKE APIs.

The real GitHub and GitLab APIs cannot run here: each test starts a fake of the one endpoint it
needs on 127.0.0.1 (a real HTTP server answering canned JSON) and records what it was asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from mltoolkit.approvals.platform import platform_approval
from mltoolkit.approvals.record import approval_predicate, parse_approval
from mltoolkit.ci import detect, masking
from mltoolkit.ci import platform_approvals as pa
from mltoolkit.ci.platform_approvals import PlatformApprovalError
from mltoolkit.oci.retry import RetryPolicy

TOKEN = "ghs_fake0token0never0printed"


@dataclass
class FakeAPI:
    """A fake platform API: path -> list of (status, body) answered in turn (last one repeats)."""

    routes: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    api = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.seen.append((self.path, dict(self.headers)))
            answers = api.routes.get(urlsplit(self.path).path, [(404, {"message": "Not Found"})])
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(pa, "RETRY", RetryPolicy(attempts=3, base_delay=0.01, jitter=False))
    yield
    masking.forget_all()


def github_env(api: FakeAPI, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api.url,
        "GITHUB_REPOSITORY": "acme/fraud",
        "GITHUB_RUN_ID": "42",
        "GITHUB_TOKEN": TOKEN,
    } | extra


def gitlab_env(api: FakeAPI, **extra: str) -> dict[str, str]:
    return {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": f"{api.url}/api/v4",
        "CI_PROJECT_ID": "7",
        "CI_JOB_ID": "1001",
        "CI_JOB_TOKEN": TOKEN,
    } | extra


GITHUB_REVIEWS = [
    {
        "state": "approved",
        "comment": "model card read",
        "environments": [{"id": 1, "name": "Production"}],
        "user": {"login": "alice", "id": 11},
    },
    {
        "state": "rejected",
        "comment": "no",
        "environments": [{"id": 1, "name": "production"}],
        "user": {"login": "mallory", "id": 66},
    },
    {
        "state": "approved",
        "comment": "",
        "environments": [{"id": 2, "name": "staging"}],
        "user": {"login": "bob", "id": 12},
    },
]
RUN_APPROVALS = "/repos/acme/fraud/actions/runs/42/approvals"


def test_github_keeps_approved_reviews_of_the_environment(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(200, GITHUB_REVIEWS)]
    found = detect(github_env(fake_api)).platform_approvals("production")
    assert found is not None
    assert [(a.reviewer, a.reviewer_id, a.comment) for a in found] == [
        ("alice", 11, "model card read")
    ]
    (_, headers), *_ = fake_api.seen
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/vnd.github+json"


def test_github_without_token_says_how_to_pass_it(fake_api: FakeAPI) -> None:
    env = github_env(fake_api)
    del env["GITHUB_TOKEN"]
    with pytest.raises(PlatformApprovalError, match=r"github\.token"):
        detect(env).platform_approvals("production")
    assert fake_api.seen == []


def test_retries_server_errors_then_reads(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(503, {}), (502, {}), (200, GITHUB_REVIEWS)]
    found = detect(github_env(fake_api)).platform_approvals("production")
    assert found is not None and [a.reviewer for a in found] == ["alice"]
    assert len(fake_api.seen) == 3


def test_gives_up_after_bounded_retries(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(503, {})]
    with pytest.raises(PlatformApprovalError, match="HTTP 503 \\(tried 3 times\\)"):
        detect(github_env(fake_api)).platform_approvals("production")
    assert len(fake_api.seen) == 3


def test_forbidden_is_not_retried(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(403, {"message": "Resource not accessible"})]
    with pytest.raises(PlatformApprovalError, match=r"403.*permissions"):
        detect(github_env(fake_api)).platform_approvals("production")
    assert len(fake_api.seen) == 1


def test_unreachable_api_is_an_error_without_the_token() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    env = github_env(FakeAPI(url=f"http://127.0.0.1:{port}"))
    with pytest.raises(PlatformApprovalError, match="cannot reach") as raised:
        detect(env).platform_approvals("production")
    assert TOKEN not in str(raised.value)


def deployment(job_id: int, deployment_id: int) -> dict[str, Any]:
    return {"id": deployment_id, "status": "running", "deployable": {"id": job_id}}


def test_gitlab_reads_the_approvals_of_this_jobs_deployment(fake_api: FakeAPI) -> None:
    base = "/api/v4/projects/7/deployments"
    fake_api.routes[base] = [(200, [deployment(1002, 9), deployment(1001, 8)])]
    fake_api.routes[f"{base}/8"] = [
        (
            200,
            deployment(1001, 8)
            | {
                "approvals": [
                    {
                        "user": {"username": "carol", "id": 21},
                        "status": "approved",
                        "comment": "ok to ship",
                        "created_at": "2026-11-27T01:00:00.000Z",
                    },
                    {"user": {"username": "dave", "id": 22}, "status": "rejected"},
                ]
            },
        )
    ]
    found = detect(gitlab_env(fake_api)).platform_approvals("production")
    assert found is not None
    assert [(a.reviewer, a.reviewer_id, a.comment, a.time) for a in found] == [
        ("carol", 21, "ok to ship", "2026-11-27T01:00:00.000Z")
    ]
    listed, _ = fake_api.seen[0]
    assert "environment=production" in listed
    assert all(headers["JOB-TOKEN"] == TOKEN for _, headers in fake_api.seen)


def test_gitlab_prefers_its_own_token(fake_api: FakeAPI) -> None:
    fake_api.routes["/api/v4/projects/7/deployments"] = [(200, [])]
    env = gitlab_env(fake_api, MLTOOLKIT_GITLAB_TOKEN="glpat-fake0token")
    assert detect(env).platform_approvals("production") == []
    (_, headers), *_ = fake_api.seen
    assert headers["PRIVATE-TOKEN"] == "glpat-fake0token"
    assert "JOB-TOKEN" not in headers


def test_local_has_no_platform_approvals() -> None:
    assert detect({}).platform_approvals("production") is None


def test_record_in_ci_lists_reviewers_and_survives_the_predicate(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(200, GITHUB_REVIEWS)]
    record, warning = platform_approval(detect(github_env(fake_api)), "production")
    assert warning is None
    assert record is not None and record["platform"] == "github"
    assert [r["reviewer"] for r in record["reviewers"]] == ["alice"]
    predicate = approval_predicate(
        model="m",
        version=1,
        digest="sha256:" + "0" * 64,
        environment="production",
        approver="k",
        time=datetime(2026, 11, 27, tzinfo=UTC),
        platform_approval=record,
    )
    assert parse_approval(json.loads(json.dumps(predicate))).platform_approval == record


def test_record_of_a_failure_is_an_error_and_a_warning(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(500, {})]
    record, warning = platform_approval(detect(github_env(fake_api)), "production")
    assert record is not None and "error" in record and "reviewers" not in record
    assert warning is not None and "could not be read" in warning
    assert TOKEN not in json.dumps(record) + warning


def test_record_without_any_review_warns(fake_api: FakeAPI) -> None:
    fake_api.routes[RUN_APPROVALS] = [(200, [])]
    record, warning = platform_approval(detect(github_env(fake_api)), "production")
    assert record == {"platform": "github", "environment": "production", "reviewers": []}
    assert warning is not None and "no github reviewer" in warning


def test_local_records_nothing() -> None:
    assert platform_approval(detect({}), "production") == (None, None)
    predicate = approval_predicate(
        model="m",
        version=1,
        digest="sha256:" + "0" * 64,
        environment="production",
        approver="k",
        time=datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert "platform_approval" not in predicate
