"""Failure injection for the integration tests: never set in production.

``MLTOOLKIT_TEST_FAULT`` holds comma-separated ``POINT`` (fail there, as the outside failing
would: exit 3), ``POINT=sleep:SECONDS`` (pause there) or ``POINT=barrier:DIR:N`` (wait there
until N processes have reached it, each leaving a file in DIR: two promotions then overlap
however the machine schedules them). Points: ``before-lock`` (gates evaluated, alias read),
``after-copy``, ``after-alias``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from mltoolkit.errors import ExternalError

FAULT_ENV = "MLTOOLKIT_TEST_FAULT"
BARRIER_TIMEOUT_S = 120.0


def checkpoint(point: str) -> None:
    """Fail or pause at ``point`` when the test hook asks for it; otherwise nothing."""
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.strip().partition("=")
        if name != point:
            continue
        if action.startswith("sleep:"):
            time.sleep(float(action.removeprefix("sleep:")))
        elif action.startswith("barrier:"):
            directory, _, count = action.removeprefix("barrier:").rpartition(":")
            _barrier(Path(directory), int(count), point)
        else:
            raise ExternalError(
                f"injected failure at {point}", where=FAULT_ENV, fix=f"unset {FAULT_ENV}"
            )


def _barrier(directory: Path, count: int, point: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{os.getpid()}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(directory.iterdir())) < count:
        if time.monotonic() > deadline:
            raise ExternalError(f"barrier at {point} timed out", where=FAULT_ENV)
        time.sleep(0.1)
