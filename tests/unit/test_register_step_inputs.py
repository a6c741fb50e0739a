"""The register action/template inputs become one argv (actions/lib/invoke.py), no shell."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "actions" / "lib"))
import invoke

IMAGE = "ghcr.io/acme/serve@sha256:" + "a" * 64


def env(**values: str) -> dict[str, str]:
    return {"MLTOOLKIT_INPUT_" + k.upper(): v for k, v in values.items()}


def test_run_id_inputs() -> None:
    argv = invoke.register_argv(
        env(
            name="card-fraud",
            image=IMAGE,
            run_id="abc123",
            metrics="auc=0.91\n\nlatency_ms=12\n",
            description="first: auc 0.91 --maybe",
            evidence_keys="ci.pub 'team keys/sec.pub'",
        )
    )
    assert argv == [
        "register",
        "--name",
        "card-fraud",
        "--image",
        IMAGE,
        "--run-id",
        "abc123",
        "--artifact-path",
        "model",
        "--metric",
        "auc=0.91",
        "--metric",
        "latency_ms=12",
        "--description=first: auc 0.91 --maybe",
        "--evidence-key",
        "ci.pub",
        "--evidence-key",
        "team keys/sec.pub",
    ]


def test_model_uri_and_key() -> None:
    argv = invoke.register_argv(env(name="m", image=IMAGE, model_uri="runs:/r/clf", key="k.key"))
    assert argv == [
        "register",
        "--name",
        "m",
        "--image",
        IMAGE,
        "--model-uri",
        "runs:/r/clf",
        "--key=k.key",
    ]


@pytest.mark.parametrize(
    "values",
    [
        {"name": "m", "image": IMAGE},
        {"name": "m", "image": IMAGE, "run_id": "r", "model_uri": "runs:/r/m"},
        {"name": "m", "image": "--insecure", "run_id": "r"},
        {"name": "m", "image": IMAGE, "run_id": "r", "evidence_keys": "--help"},
        {"name": "m", "image": IMAGE, "run_id": "r", "metrics": "not a pair"},
        {"image": IMAGE, "run_id": "r"},
    ],
)
def test_bad_inputs_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(invoke.InputProblem):
        invoke.register_argv(env(**values))
