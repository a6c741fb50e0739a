"""The store points MLflow's process-wide fluent API at its location for one call only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mltoolkit.models.location import Location


def test_fluent_uris_put_back_the_process_state(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("mlflow")
    import mlflow

    from mltoolkit.models.store import fluent_uris

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///elsewhere.db")
    before = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    location = Location(tracking_uri=uri, registry_uri=uri, embedded=False)
    with fluent_uris(location):
        assert mlflow.get_tracking_uri() == uri
        assert os.environ["MLFLOW_TRACKING_URI"] == uri
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert os.environ["MLFLOW_REGISTRY_URI"] == "sqlite:///elsewhere.db"
    assert mlflow.get_tracking_uri() == before
