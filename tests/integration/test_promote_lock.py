"""The promotion lock in a real MLflow store: exclusive, a bounded wait, stale locks broken."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mltoolkit.errors import ExternalError
from mltoolkit.models.location import Location
from mltoolkit.promote.lock import EXPIRES_TAG, lock_name, promotion_lock

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


@pytest.fixture(scope="module")
def location(tmp_path_factory: pytest.TempPathFactory) -> Location:
    uri = f"sqlite:///{tmp_path_factory.mktemp('lock') / 'mlflow.db'}"
    return Location(uri, uri)


def _client(location: Location):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=location.tracking_uri, registry_uri=location.registry_uri)


def test_second_holder_waits_then_gives_up(location: Location) -> None:
    with promotion_lock(location, "fraud", "production") as owner:
        assert _client(location).get_registered_model(lock_name("fraud", "production"))
        start = time.monotonic()
        held = pytest.raises(ExternalError, match=f"another promotion \\({owner}\\) has held")
        with held, promotion_lock(location, "fraud", "production", wait_s=1):
            pass  # pragma: no cover - never entered
        assert time.monotonic() - start < 10
        with promotion_lock(location, "fraud", "staging", wait_s=1):
            pass  # another environment is another lock
    # released: the model that held it is gone, and the lock can be taken again at once
    assert not _client(location).search_registered_models(
        f"name = '{lock_name('fraud', 'production')}'"
    )
    with promotion_lock(location, "fraud", "production", wait_s=1):
        pass


def test_a_lock_whose_owner_died_expires(location: Location, tmp_path: Path) -> None:
    name = lock_name("churn", "production")
    _client(location).create_registered_model(
        name, tags={"mltoolkit.lock.owner": "dead:1:x", EXPIRES_TAG: f"{time.time() - 1:.0f}"}
    )
    with promotion_lock(location, "churn", "production", wait_s=1) as owner:
        holder = _client(location).get_registered_model(name)
        assert holder.tags["mltoolkit.lock.owner"] == owner
