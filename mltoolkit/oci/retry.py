"""When and how long to wait before retrying a registry request."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 501 (not implemented) and 505 (HTTP version) will not change on a retry.
_NOT_RETRIED_5XX = frozenset({501, 505})


def is_retryable_status(status: int) -> bool:
    """5xx (except 501/505) and 429 are worth retrying; other 4xx never are."""
    return status == 429 or (500 <= status < 600 and status not in _NOT_RETRIED_5XX)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``attempts`` tries in all, delays capped.

    Defaults total about 7 s of waiting at most (0.5 + 1 + 2 + 4 with jitter) before giving up.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: bool = True

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); honours ``Retry-After``."""
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return min(asked, self.max_retry_after)
        delay = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        if self.jitter:
            # Jitter spreads clients that failed together; never below half the nominal delay.
            delay *= 0.5 + random.random() / 2  # noqa: S311
        return delay
