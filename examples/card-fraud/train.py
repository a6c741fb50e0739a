"""Train the card-fraud model and log it to MLflow: parameters, metrics and the model.

    python train.py --data data/transactions.csv --model-out build/model

MLflow comes from MLFLOW_TRACKING_URI; without it, the same embedded store mltoolkit uses
(``.mltoolkit/mlflow.db`` in the working directory, artifacts in ``.mltoolkit/artifacts``).
The model is saved in the skops format (loading checks every type against an allow-list, unlike
pickle) with explicit pip requirements, so MLflow starts no subprocess to infer them.
``--model-out`` receives a copy of the logged artifacts exactly as MLflow stores them: the
directory the serving image copies in and whose digest its label declares.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

# The serving app (serve/app.py) reads requests in this order.
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
LABEL = "is_fraud"
MODEL_NAME_IN_RUN = "model"
# skops refuses types it cannot check by itself. The tree predictor of HistGradientBoosting is one
# (its node indices are not bounds-checked): trusted here because the artifacts are ours, their
# digest is signed at registration and pinned by the serving image's label.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def tracking_setup() -> tuple[str, str | None]:
    """The tracking URI and, for file-backed stores, where the experiment keeps artifacts."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        root = Path.cwd().resolve() / ".mltoolkit"
        root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts")
    if uri.startswith("sqlite:///"):
        return uri, str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
    return uri, None


def load(path: Path) -> tuple[Any, Any]:
    """Features and labels of the CSV at ``path``."""
    import pandas as pd

    frame = pd.read_csv(path)
    missing = [c for c in (*FEATURES, LABEL) if c not in frame.columns]
    if missing:
        raise SystemExit(f"error: {path} has no column(s) {', '.join(missing)}")
    return frame.loc[:, list(FEATURES)].to_numpy(dtype="float64"), frame[LABEL].to_numpy()


def evaluate(model: Any, x: Any, y: Any, threshold: float) -> dict[str, float]:
    """AUC, average precision and the confusion-matrix rates at ``threshold``."""
    from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

    scores = model.predict_proba(x)[:, 1]
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "precision": float(tp / (tp + fp)) if tp + fp else 0.0,
        "recall": float(tp / (tp + fn)) if tp + fn else 0.0,
        "false_positive_rate": float(fp / (fp + tn)) if fp + tn else 0.0,
    }


def copy_logged_model(model_id: str, destination: Path) -> None:
    """Replace ``destination`` with the logged model's artifacts (atomically, by a rename).

    From the logged model's own artifact location: downloading ``runs:/RUN/model`` would add a
    ``registered_model_meta`` file that is not part of the model (and changes its digest).
    """
    import mlflow

    location = mlflow.get_logged_model(model_id).artifact_location
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".model-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp))
        staged = Path(tmp) / "staged"
        local.rename(staged)
        if destination.exists():
            shutil.rmtree(destination)
        staged.rename(destination)


def main() -> None:
    """Train, evaluate, log to MLflow and write the run's summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/transactions.csv"))
    parser.add_argument("--experiment", default="card-fraud")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--threshold", type=float, default=0.5, help="decision threshold")
    parser.add_argument("--model-out", type=Path, help="copy the logged model here")
    parser.add_argument("--summary", type=Path, help="write run id, model URI and metrics (JSON)")
    args = parser.parse_args()

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    x, y = load(args.data)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    params = {
        "max_iter": args.max_iter,
        "learning_rate": args.learning_rate,
        "max_leaf_nodes": 31,
        "l2_regularization": 1.0,
        "random_state": args.seed,
    }
    model = HistGradientBoostingClassifier(**params).fit(x_train, y_train)
    metrics = evaluate(model, x_test, y_test, args.threshold)

    tracking_uri, artifact_location = tracking_setup()
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.get_experiment_by_name(args.experiment)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else mlflow.create_experiment(args.experiment, artifact_location=artifact_location)
    )
    requirements = [
        f"scikit-learn=={version('scikit-learn')}",
        f"skops=={version('skops')}",
        f"numpy=={version('numpy')}",
        f"scipy=={version('scipy')}",
    ]
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(
            params | {"threshold": args.threshold, "rows": len(y), "features": ",".join(FEATURES)}
        )
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_NAME_IN_RUN,
            serialization_format="skops",
            skops_trusted_types=TRUSTED_TYPES,
            pip_requirements=requirements,
            signature=infer_signature(x_test[:5], model.predict_proba(x_test[:5])[:, 1]),
        )
    model_uri = f"runs:/{run.info.run_id}/{MODEL_NAME_IN_RUN}"
    if args.model_out is not None:
        copy_logged_model(info.model_id, args.model_out)
    summary = {"run_id": run.info.run_id, "model_uri": model_uri, "metrics": metrics}
    if args.summary is not None:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.summary.with_name(f".{args.summary.name}.tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.summary)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
    print(f"run {run.info.run_id}: {shown}")


if __name__ == "__main__":
    main()
