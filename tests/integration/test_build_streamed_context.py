"""``mltoolkit build`` streams its context to the real engine: every byte arrives, .dockerignore
holds, a Dockerfile from outside the context is used."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from support.cli import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def env(services: dict[str, str]) -> dict[str, str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_"))
    }
    environ.update(services)
    environ["MLTOOLKIT_PLATFORM"] = "local"
    return environ


def test_a_large_context_arrives_whole_with_dockerignore_and_an_outside_dockerfile(
    env: dict[str, str], tmp_path: Path, busybox_image: str, registry: str
) -> None:
    context = tmp_path / "context"
    (context / "model" / "cache").mkdir(parents=True)
    weights = os.urandom(5 * 1024 * 1024 + 17)  # several pipe buffers and request chunks
    (context / "model" / "weights.bin").write_bytes(weights)
    (context / "model" / "cache" / "tmp").write_text("ignored\n")
    (context / "secret.env").write_text("ignored\n")
    (context / ".dockerignore").write_text("secret.env\nmodel/cache\n")
    digest = hashlib.sha256(weights).hexdigest()
    # The build itself checks what arrived: it fails unless the context is exactly right.
    dockerfile = tmp_path / "outside.Dockerfile"
    dockerfile.write_text(
        f"FROM {busybox_image}\n"
        "COPY . /ctx\n"
        f'RUN [ "$(sha256sum /ctx/model/weights.bin | cut -d" " -f1)" = "{digest}" ]'
        " && test ! -e /ctx/secret.env && test ! -e /ctx/model/cache"
        f" && : {uuid.uuid4().hex}\n"
    )
    image = f"{registry}/build-stream/{uuid.uuid4().hex[:12]}"
    done = run_cli(
        "build", "--context", str(context), "--file", str(dockerfile), "--image", image, env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"built {image}" in done.stdout + done.stderr
