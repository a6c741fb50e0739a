"""The CI platform's own approval of the job that runs: who let it into a protected environment.

GitHub: a job that ran in a protected ``environment:`` with required reviewers was let through
by the reviews that ``GET /repos/{repo}/actions/runs/{run_id}/approvals`` ("review history for a
workflow run") lists. It needs ``GITHUB_TOKEN`` in the step's environment (``env: GITHUB_TOKEN:
${{ github.token }}``) with ``actions: read``; the runner already masks that token.

GitLab: a job with ``environment:`` creates a deployment; its ``approvals`` (Premium) say who
approved it. The job finds its deployment among ``GET /projects/:id/deployments?environment=``
by ``deployable.id == CI_JOB_ID`` (GitLab has no predefined deployment id variable), then reads
``GET /projects/:id/deployments/:deployment_id``. Since GitLab 16.x the job token may read the
deployments API of its own project (with the access of the user who started the pipeline), so
``CI_JOB_TOKEN`` is enough; ``MLTOOLKIT_GITLAB_TOKEN`` (a project or personal access token with
``read_api``) is used instead when set, for older instances.

Failures are ``PlatformApprovalError``: the caller records them and goes on, because an
unreachable API must never stop a release manager's approval.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mltoolkit.ci import masking
from mltoolkit.ci.base import env_value
from mltoolkit.oci.retry import RetryPolicy, is_retryable_status

if TYPE_CHECKING:
    import requests

# Short: an approval waits for a person, not for an API; three tries within a few seconds.
TIMEOUT = (3.0, 10.0)
RETRY = RetryPolicy(attempts=3, base_delay=0.5, max_delay=2.0, max_retry_after=5.0)
_PAGE = 100


class PlatformApprovalError(Exception):
    """The platform's approvals could not be read (message safe to print and record)."""


@dataclass(frozen=True)
class PlatformApproval:
    """One reviewer's approval, as the platform reports it (None when it does not say)."""

    platform: str
    environment: str
    reviewer: str
    reviewer_id: int | None = None
    comment: str = ""
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON view, as the approval predicate carries it."""
        return {
            "environment": self.environment,
            "reviewer": self.reviewer,
            "reviewer_id": self.reviewer_id,
            "comment": self.comment,
            "time": self.time,
        }


def _get(url: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> Any:
    """GET ``url`` as JSON, retrying connection errors, 5xx and 429 a bounded number of times."""
    import requests

    last = ""
    for attempt in range(1, RETRY.attempts + 1):
        retry_after = None
        try:
            response: requests.Response = requests.get(
                url, headers=dict(headers), params=params, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            last = f"cannot reach {url}: {type(exc).__name__}"
        else:
            if response.ok:
                try:
                    return response.json()
                except ValueError:
                    raise PlatformApprovalError(f"{url} did not answer JSON") from None
            last = f"{url} answered HTTP {response.status_code}"
            if not is_retryable_status(response.status_code):
                raise PlatformApprovalError(masking.redact(last + _hint(response.status_code)))
            retry_after = response.headers.get("Retry-After")
        if attempt < RETRY.attempts:
            time.sleep(RETRY.delay(attempt, retry_after))
    raise PlatformApprovalError(masking.redact(f"{last} (tried {RETRY.attempts} times)"))


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (the token may not read it: check its scope or permissions)"
    if status == 404:
        return " (not found, or not visible to the token)"
    return ""


def _token(environ: Mapping[str, str], key: str) -> str | None:
    token = env_value(environ, key)
    if token:
        # Registered, not announced: `::add-mask::` would print it, and the runners mask
        # their own job tokens already.
        masking.register(token)
    return token


def github_approvals(environ: Mapping[str, str], environment: str) -> list[PlatformApproval]:
    """Approved reviews of this workflow run for ``environment`` (GitHub names ignore case)."""
    api = (env_value(environ, "GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    repo, run_id = env_value(environ, "GITHUB_REPOSITORY"), env_value(environ, "GITHUB_RUN_ID")
    if not repo or not run_id:
        raise PlatformApprovalError("GITHUB_REPOSITORY or GITHUB_RUN_ID is not set")
    token = _token(environ, "GITHUB_TOKEN")
    if token is None:
        raise PlatformApprovalError(
            "GITHUB_TOKEN is not set: pass `env: GITHUB_TOKEN: ${{ github.token }}` to the step "
            "(the job needs `permissions: actions: read`)"
        )
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    reviews = _get(f"{api}/repos/{repo}/actions/runs/{quote(run_id, safe='')}/approvals", headers)
    if not isinstance(reviews, list):
        raise PlatformApprovalError("the review history of the run is not a list")
    found = []
    for review in reviews:
        if not isinstance(review, dict) or review.get("state") != "approved":
            continue
        names = [e.get("name") for e in review.get("environments") or [] if isinstance(e, dict)]
        if not any(isinstance(n, str) and n.lower() == environment.lower() for n in names):
            continue
        found.append(_approval("github", environment, review.get("user"), "login", review))
    return found


def gitlab_approvals(environ: Mapping[str, str], environment: str) -> list[PlatformApproval]:
    """Approvals of this job's deployment to ``environment``; empty if it deployed elsewhere."""
    api = env_value(environ, "CI_API_V4_URL")
    project, job = env_value(environ, "CI_PROJECT_ID"), env_value(environ, "CI_JOB_ID")
    if not api or not project or not job:
        raise PlatformApprovalError("CI_API_V4_URL, CI_PROJECT_ID or CI_JOB_ID is not set")
    own = _token(environ, "MLTOOLKIT_GITLAB_TOKEN")
    headers = {"PRIVATE-TOKEN": own} if own else {}
    if not own:
        job_token = _token(environ, "CI_JOB_TOKEN")
        if job_token is None:
            raise PlatformApprovalError("neither MLTOOLKIT_GITLAB_TOKEN nor CI_JOB_TOKEN is set")
        headers = {"JOB-TOKEN": job_token}
    base = f"{api.rstrip('/')}/projects/{quote(project, safe='')}/deployments"
    listed = _get(
        base,
        headers,
        {"environment": environment, "order_by": "id", "sort": "desc", "per_page": str(_PAGE)},
    )
    if not isinstance(listed, list):
        raise PlatformApprovalError("the deployments list is not a list")
    mine = [
        d
        for d in listed
        if isinstance(d, dict)
        and isinstance(d.get("deployable"), dict)
        and str(d["deployable"].get("id")) == job
    ]
    if not mine:
        return []
    deployment = _get(f"{base}/{quote(str(mine[0].get('id')), safe='')}", headers)
    if not isinstance(deployment, dict):
        raise PlatformApprovalError("the deployment is not an object")
    return [
        _approval("gitlab", environment, a.get("user"), "username", a)
        for a in deployment.get("approvals") or []
        if isinstance(a, dict) and a.get("status") == "approved"
    ]


def _approval(
    platform: str, environment: str, user: Any, login_key: str, entry: dict[str, Any]
) -> PlatformApproval:
    user = user if isinstance(user, dict) else {}
    user_id = user.get("id")
    when = entry.get("created_at")
    return PlatformApproval(
        platform=platform,
        environment=environment,
        reviewer=str(user.get(login_key) or "unknown"),
        reviewer_id=user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
        comment=str(entry.get("comment") or ""),
        time=when if isinstance(when, str) else None,
    )
