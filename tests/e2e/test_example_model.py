"""The card-fraud example's own pieces: the data generator, the model's quality on it (the policy
asks auc >= 0.90) and the serving app's request handling, run for real over HTTP."""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from e2e_harness import ROOT

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "card-fraud"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    pytest.importorskip("pandas")
    return _load("card_fraud_generate", EXAMPLE / "generate_data.py")


@pytest.fixture(scope="module")
def app() -> ModuleType:
    return _load("card_fraud_app", EXAMPLE / "serve" / "app.py")


@pytest.fixture(scope="module")
def model(generator: ModuleType) -> Any:
    pytest.importorskip("sklearn")
    train = _load("card_fraud_train", EXAMPLE / "train.py")
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = generator.generate(8000, seed=3)
    x = frame.loc[:, list(train.FEATURES)].to_numpy(dtype="float64")
    return HistGradientBoostingClassifier(random_state=3).fit(x, frame["is_fraud"].to_numpy())


def test_the_same_seed_gives_the_same_file(generator: ModuleType, tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        generator.write_atomically(generator.generate(2000, seed=11), tmp_path / name)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    other = generator.generate(2000, seed=12)
    assert not other.equals(generator.generate(2000, seed=11))


def test_the_model_clears_the_policy_threshold_on_fresh_data(
    generator: ModuleType, model: Any
) -> None:
    from sklearn.metrics import roc_auc_score

    train = _load("card_fraud_train", EXAMPLE / "train.py")
    holdout = generator.generate(6000, seed=99)
    x = holdout.loc[:, list(train.FEATURES)].to_numpy(dtype="float64")
    auc = roc_auc_score(holdout["is_fraud"], model.predict_proba(x)[:, 1])
    assert auc >= 0.90, f"auc {auc:.3f} is below the policy's 0.90"


def test_the_app_features_match_training(app: ModuleType) -> None:
    train = _load("card_fraud_train", EXAMPLE / "train.py")
    assert tuple(app.FEATURES) == tuple(train.FEATURES)
    assert app.TRUSTED_TYPES == train.TRUSTED_TYPES


@pytest.fixture
def server(app: ModuleType, model: Any) -> Iterator[str]:
    from http.server import ThreadingHTTPServer

    scorer = app.Scorer(model, 0.5, "sha256:test")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), app.handler_for(scorer))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_app_answers_health_and_predict(app: ModuleType, server: str) -> None:
    with urllib.request.urlopen(f"{server}/health", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok", "model_digest": "sha256:test"}
    safe = dict(app.EXAMPLE, amount=12.0, hour=13, distance_from_home_km=2.0, is_foreign=0)
    safe |= {"card_present": 1, "transactions_last_24h": 1, "merchant_category": 5411}
    status, doc = _post(
        f"{server}/predict", json.dumps({"instances": [app.EXAMPLE, safe]}).encode()
    )
    assert status == 200
    assert doc["fraud"] == [True, False]
    assert doc["scores"][0] > doc["scores"][1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not JSON"),
        (b'{"rows": []}', "expected"),
        (b'{"instances": [{"amount": 1}]}', "instance 0 misses"),
        (b'{"instances": []}', "send between 1 and"),
    ],
)
def test_the_app_refuses_bad_requests(server: str, body: bytes, message: str) -> None:
    status, doc = _post(f"{server}/predict", body)
    assert status == 400
    assert message in doc["error"]
