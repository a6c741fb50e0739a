"""A tiny HTTP server for the card-fraud model (standard library + the model's own packages).

    GET  /health   -> {"status": "ok", "model_digest": ...}
    POST /predict  {"instances": [{"amount": 912.4, "merchant_category": 5944, ...}, ...]}
                   -> {"scores": [0.93, ...], "fraud": [true, ...], "threshold": 0.5}

``python3 app.py --check`` loads the model, scores one transaction and exits 0: the image's
health check and a smoke test that needs no network.
"""

from __future__ import annotations

import json
import os
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Must match train.py's FEATURES (the model takes them in this order).
FEATURES = (
    "amount",
    "merchant_category",
    "hour",
    "distance_from_home_km",
    "is_foreign",
    "card_present",
    "transactions_last_24h",
    "customer_age",
)
# The one type skops does not trust by itself; see train.py for why it is trusted here.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
MAX_BODY = 1 << 20
MAX_INSTANCES = 1000
EXAMPLE = {
    "amount": 912.4,
    "merchant_category": 5944,
    "hour": 3,
    "distance_from_home_km": 310.0,
    "is_foreign": 1,
    "card_present": 0,
    "transactions_last_24h": 7,
    "customer_age": 37,
}


class BadRequest(ValueError):
    """A request the server answers with 400 and this message."""


def load_model(model_dir: Path) -> Any:
    """The classifier in ``model_dir`` (an MLflow sklearn model saved with skops)."""
    import skops.io

    return skops.io.load(model_dir / "model.skops", trusted=TRUSTED_TYPES)


def rows_of(body: Any) -> list[list[float]]:
    """The feature rows of a /predict body, in FEATURES order."""
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise BadRequest('expected {"instances": [{feature: value, ...}, ...]}')
    instances = body["instances"]
    if not 1 <= len(instances) <= MAX_INSTANCES:
        raise BadRequest(f"send between 1 and {MAX_INSTANCES} instances")
    rows = []
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(f"instance {index} is not an object")
        missing = [name for name in FEATURES if name not in instance]
        if missing:
            raise BadRequest(f"instance {index} misses {', '.join(missing)}")
        try:
            rows.append([float(instance[name]) for name in FEATURES])
        except (TypeError, ValueError):
            raise BadRequest(f"instance {index} has a value that is not a number") from None
    return rows


class Scorer:
    """The loaded model and its decision threshold."""

    def __init__(self, model: Any, threshold: float, digest: str) -> None:
        self.model = model
        self.threshold = threshold
        self.digest = digest

    def score(self, rows: list[list[float]]) -> dict[str, Any]:
        """Fraud scores and decisions for ``rows``."""
        import numpy as np

        scores = self.model.predict_proba(np.asarray(rows, dtype="float64"))[:, 1]
        return {
            "scores": [round(float(s), 6) for s in scores],
            "fraud": [bool(s >= self.threshold) for s in scores],
            "threshold": self.threshold,
        }


def handler_for(scorer: Scorer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``scorer``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "card-fraud/1"

        def _send(self, status: HTTPStatus, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(HTTPStatus.OK, {"status": "ok", "model_digest": scorer.digest})
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": "GET /health or POST /predict"})

        def do_POST(self) -> None:
            if self.path != "/predict":
                self._send(HTTPStatus.NOT_FOUND, {"error": "POST /predict"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._send(
                    HTTPStatus.BAD_REQUEST, {"error": f"send a JSON body of 1..{MAX_BODY} bytes"}
                )
                return
            try:
                rows = rows_of(json.loads(self.rfile.read(length)))
            except json.JSONDecodeError:
                self._send(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
                return
            except BadRequest as exc:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._send(HTTPStatus.OK, scorer.score(rows))

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def main() -> None:
    """Serve (or, with --check, score one example and exit)."""
    model_dir = Path(os.environ.get("MODEL_DIR", "/opt/app/model"))
    scorer = Scorer(
        load_model(model_dir),
        float(os.environ.get("FRAUD_THRESHOLD", "0.5")),
        os.environ.get("MODEL_DIGEST", "unknown"),
    )
    if "--check" in sys.argv[1:]:
        print(json.dumps(scorer.score(rows_of({"instances": [EXAMPLE]}))))
        return
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), handler_for(scorer))  # noqa: S104 - in a container
    print(f"card-fraud model {scorer.digest} listening on :{port}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
