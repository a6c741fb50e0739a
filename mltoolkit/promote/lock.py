"""A mutual-exclusion lock per (model, environment), held in MLflow itself.

MLflow has no compare-and-set for aliases: ``set_registered_model_alias`` overwrites. What it
does have, on every backend (SQL unique key, REST ``RESOURCE_ALREADY_EXISTS``), is an atomic
"create a registered model unless one of that name exists". The lock is such a model,
``<MODEL>.mltoolkit-lock.<ENV>``, tagged with its owner and expiry and deleted on release.
Under the lock, a promotion re-reads the alias and moves it only if it still points where it
did when the gates were evaluated: two promotions racing for one environment cannot both win.
A lock left by a killed process expires after ``ttl`` seconds.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mltoolkit.errors import ExternalError
from mltoolkit.models.store import mlflow_errors

if TYPE_CHECKING:
    from mltoolkit.models.location import Location

OWNER_TAG = "mltoolkit.lock.owner"
EXPIRES_TAG = "mltoolkit.lock.expires"
DEFAULT_WAIT_S = 120.0
DEFAULT_TTL_S = 900.0


def lock_name(model: str, environment: str) -> str:
    """The registered-model name that holds the lock."""
    return f"{model}.mltoolkit-lock.{environment}"


def _client(location: Location) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=location.tracking_uri, registry_uri=location.registry_uri)


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "error_code", "") or "")


def _busy(exc: Exception) -> bool:
    # Two processes writing one SQLite file: the loser gets "database is locked"; try again.
    return "database is locked" in str(exc)


@contextmanager
def promotion_lock(
    location: Location,
    model: str,
    environment: str,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    ttl_s: float = DEFAULT_TTL_S,
) -> Iterator[str]:
    """Hold the lock of ``model`` in ``environment``; ExternalError after ``wait_s`` seconds."""
    name = lock_name(model, environment)
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    with mlflow_errors(location, "take the promotion lock", where=name):
        client = _client(location)
        _acquire(client, name, owner, wait_s, ttl_s)
    try:
        yield owner
    finally:
        with mlflow_errors(location, "release the promotion lock", where=name):
            _release(client, name, owner)


def _acquire(client: Any, name: str, owner: str, wait_s: float, ttl_s: float) -> None:
    from mlflow.exceptions import MlflowException

    deadline = time.monotonic() + wait_s
    while True:
        tags = {OWNER_TAG: owner, EXPIRES_TAG: f"{time.time() + ttl_s:.0f}"}
        try:
            client.create_registered_model(
                name, tags=tags, description="mltoolkit promotion lock: deleted when it ends"
            )
            return
        except MlflowException as exc:
            if _error_code(exc) != "RESOURCE_ALREADY_EXISTS" and not _busy(exc):
                raise
        holder = _holder(client, name)
        if holder is not None and holder[1] < time.time():
            _delete(client, name)  # expired: its owner died
            continue
        if time.monotonic() > deadline:
            who = holder[0] if holder else "another process"
            raise ExternalError(
                f"another promotion ({who}) has held the lock for more than {wait_s:.0f} s",
                where=name,
                fix="wait for it to finish; if no promotion runs, delete that registered model",
            )
        time.sleep(0.2 + random.random() * 0.3)  # noqa: S311 - jitter, not a secret


def _holder(client: Any, name: str) -> tuple[str, float] | None:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    tags = model.tags or {}
    try:
        expires = float(tags.get(EXPIRES_TAG, "0"))
    except ValueError:
        expires = 0.0
    return str(tags.get(OWNER_TAG, "?")), expires


def _delete(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model(name)
    except MlflowException as exc:
        if _error_code(exc) not in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise


def _release(client: Any, name: str, owner: str) -> None:
    holder = _holder(client, name)
    if holder is not None and holder[0] == owner:
        _delete(client, name)
