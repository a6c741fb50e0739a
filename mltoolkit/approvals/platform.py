"""The platform's own approval of the approving job, as the approval predicate records it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mltoolkit.ci.base import CIPlatform


def platform_approval(
    platform: CIPlatform, environment: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``platform_approval`` field and a warning, if any.

    None outside CI. An API that cannot be read gives ``{"platform", "environment", "error"}``
    and a warning: the approval is still given, and the record says why the platform's part is
    missing. No approved review for ``environment`` gives an empty ``reviewers`` list.
    """
    from mltoolkit.ci import redact
    from mltoolkit.ci.platform_approvals import PlatformApprovalError

    try:
        found = platform.platform_approvals(environment)
    except PlatformApprovalError as exc:
        error = redact(str(exc))
        warning = f"the {platform.name} approvals of this job could not be read: {error}"
        return {"platform": platform.name, "environment": environment, "error": error}, warning
    if found is None:
        return None, None
    record = {
        "platform": platform.name,
        "environment": environment,
        "reviewers": [a.to_dict() for a in found],
    }
    if not found:
        return record, f"no {platform.name} reviewer approved this job for {environment}"
    return record, None
