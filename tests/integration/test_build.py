"""``mltoolkit build`` against the real Docker engine and the real local registry.

The CLI runs as a subprocess, with the services' environment, exactly as a pipeline runs it.
Digests are checked independently of mltoolkit: with ``requests`` against the registry API.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from support.cli import run_cli

pytestmark = pytest.mark.integration

EPOCH = "1700000000"
EPOCH_RFC3339 = "2023-11-14T22:13:20Z"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@pytest.fixture
def env(services):
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_"))
    }
    environ.update(services)
    environ["MLTOOLKIT_PLATFORM"] = "local"
    environ.pop("SOURCE_DATE_EPOCH", None)
    return environ


@pytest.fixture
def repository(registry):
    return f"{registry}/build-test/{uuid.uuid4().hex[:12]}"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path, busybox_image):
    """A git work tree whose context builds FROM the busybox base image with RUN steps."""
    root = tmp_path / "project"
    context = root / "app"
    context.mkdir(parents=True)
    # A unique marker per test run: the first build of a test is never a cache hit, and the
    # containers of its RUN steps can be told from those of other tests sharing the engine.
    marker = f"mltoolkit-test-{uuid.uuid4().hex}"
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\n"
        "ARG GREETING=hello\n"
        f'RUN echo "$GREETING {marker}" > /greeting && echo wrote-greeting\n'
        "COPY payload.txt /payload.txt\n"
        f"RUN wc -c /payload.txt > /size && : {marker}\n"
    )
    (context / "marker").write_text(marker)
    (context / "payload.txt").write_text("model weights would go here\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "ci@example.com")
    _git(root, "config", "user.name", "ci")
    _git(root, "remote", "add", "origin", "https://ci-token:SECRET@git.example.com/team/model.git")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "model")
    return context


def registry_digest(registry: str, repository: str, tag: str) -> str:
    """The registry's own Docker-Content-Digest for a tag, asked without mltoolkit."""
    path = repository.removeprefix(f"{registry}/")
    response = requests.head(
        f"http://{registry}/v2/{path}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def registry_config(registry: str, repository: str, digest: str) -> dict:
    path = repository.removeprefix(f"{registry}/")
    base = f"http://{registry}/v2/{path}"
    manifest = requests.get(
        f"{base}/manifests/{digest}", headers={"Accept": MANIFEST_TYPES}, timeout=10
    ).json()
    return requests.get(f"{base}/blobs/{manifest['config']['digest']}", timeout=10).json()


def containers_of(docker_client, marker: str) -> list[str]:
    """IDs of all containers (running or not) whose command holds ``marker``.

    The engine is shared with other tests running at the same time: only the containers of this
    test's own steps say anything about this test. One list call (``api.containers``), because
    ``containers.list`` inspects each container and races with others removing theirs.
    """
    return [
        c["Id"]
        for c in docker_client.api.containers(all=True)
        if marker in (c.get("Command") or "")
    ]


def test_build_push_labels_provenance_and_cache(
    env, project, repository, registry, docker_client, busybox_image, tmp_path
):
    marker = (project / "marker").read_text()
    assert containers_of(docker_client, marker) == []
    env["SOURCE_DATE_EPOCH"] = EPOCH
    provenance = tmp_path / "out" / "provenance.json"
    args = [
        "--json",
        "build",
        "--context",
        str(project),
        "--image",
        repository,
        "--tag",
        "1.0",
        "--tag",
        "latest",
        "--build-arg",
        "GREETING=hi",
        "--label",
        "org.example.team=ml",
        "--push",
        "--provenance",
        str(provenance),
    ]
    first = run_cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    digest = result["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert result["ref"] == f"{repository}@{digest}"
    assert result["tags"] == ["1.0", "latest"]
    assert result["pushed"] is True

    # The digest reported is the registry's, for every tag.
    assert registry_digest(registry, repository, "1.0") == digest
    assert registry_digest(registry, repository, "latest") == digest

    # OCI labels, on the pushed image itself; SOURCE_DATE_EPOCH honoured; no token in the URL.
    commit = _git(project, "rev-parse", "HEAD")
    labels = registry_config(registry, repository, digest)["config"]["Labels"]
    assert labels["org.opencontainers.image.created"] == EPOCH_RFC3339
    assert labels["org.opencontainers.image.revision"] == commit
    assert labels["org.opencontainers.image.source"] == "https://git.example.com/team/model"
    assert labels["org.opencontainers.image.version"] == "1.0"
    assert labels["org.example.team"] == "ml"
    assert "SECRET" not in first.stdout + first.stderr + provenance.read_text()

    # Provenance: our build type, the parameters, and the base image the engine really used.
    doc = json.loads(provenance.read_text())
    definition = doc["buildDefinition"]
    assert definition["buildType"] == "https://mltoolkit.dev/buildtypes/docker-build/v1"
    params = definition["externalParameters"]
    assert params["commit"] == commit
    assert params["repository"] == "https://git.example.com/team/model"
    assert params["ref"] == "refs/heads/main"
    assert params["context"] == "app"
    assert params["dockerfile"] == "app/Dockerfile"
    assert params["buildArgs"] == {"GREETING": "hi"}
    deps = definition["resolvedDependencies"]
    assert deps[0]["digest"] == {"gitCommit": commit}
    base_id = docker_client.images.get(busybox_image).id
    bases = [d for d in deps if d.get("name") == busybox_image]
    assert len(bases) == 1
    assert bases[0]["annotations"]["imageId"] == base_id
    assert doc["runDetails"]["builder"]["id"] == "https://mltoolkit.dev/builders/local/v1"
    meta = doc["runDetails"]["metadata"]
    assert meta["startedOn"] <= meta["finishedOn"]

    # A second identical build comes from the cache and, with SOURCE_DATE_EPOCH, is the same image.
    second = run_cli(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert "Using cache" in second.stderr
    again = json.loads(second.stdout)
    assert again["cached_steps"] >= 3
    assert again["digest"] == digest

    assert containers_of(docker_client, marker) == []


def test_without_push_digest_is_the_local_image_id(env, project, repository, docker_client):
    done = run_cli("--json", "build", "--context", str(project), "--image", repository, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    image = docker_client.images.get(f"{repository}:latest")
    assert result["digest"] == image.id
    assert result["ref"] == f"{repository}:latest"
    assert result["pushed"] is False
    assert image.labels["org.opencontainers.image.created"] != EPOCH_RFC3339

    human = run_cli("build", "--context", str(project), "--image", repository, env=env)
    assert human.returncode == 0, human.stderr
    assert "known after --push" in human.stdout


def test_outputs_and_summary_reach_github_actions(env, project, repository, registry, tmp_path):
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env.update(
        {
            "MLTOOLKIT_PLATFORM": "github",
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
    )
    done = run_cli("build", "--context", str(project), "--image", repository, "--push", env=env)
    assert done.returncode == 0, done.stderr
    digest = registry_digest(registry, repository, "latest")
    blocks = {
        name: value
        for name, _, value in re.findall(
            r"^(\w+)<<(\S+)\n(.*?)\n\2$", outputs.read_text(), re.MULTILINE | re.DOTALL
        )
    }
    assert blocks["digest"] == digest
    assert blocks["ref"] == f"{repository}@{digest}"
    assert blocks["image"] == repository
    assert blocks["tags"] == "latest"
    assert f"{repository}@{digest}" in summary.read_text()


def test_failing_run_step_exits_1_with_the_step_and_its_log_tail(
    env, tmp_path, busybox_image, repository, docker_client
):
    marker = f"mltoolkit-test-{uuid.uuid4().hex}"
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\n"
        f"RUN echo {marker}\n"
        f"RUN for i in $(seq 1 40); do echo output-line-$i; done; : {marker}; exit 7\n"
    )
    done = run_cli("build", "--context", str(context), "--image", repository, env=env)
    assert done.returncode == 1, done.stderr
    err = done.stderr.rstrip("\n").splitlines()
    assert err[-1].startswith("error: ")
    assert "the step exited with code 7" in err[-1]
    # the labels add LABEL steps after the Dockerfile's own, so the total is not 3
    assert re.search(r"Step 3/\d+ : RUN for i in", err[-1])
    at = next(i for i, line in enumerate(err) if line.startswith("build failed at: Step 3/"))
    assert err[at].endswith(
        f": RUN for i in $(seq 1 40); do echo output-line-$i; done; : {marker}; exit 7"
    )
    assert err[at + 1] == "last 20 lines of its output:"
    tail = err[at + 2 : -1]
    assert len(tail) == 20
    assert tail[-1] == "  | output-line-40"
    assert "Traceback" not in done.stderr
    assert containers_of(docker_client, marker) == []  # forcerm: not even the failed step's


def test_missing_context_or_dockerfile_exits_2(env, tmp_path, repository):
    missing = run_cli("build", "--context", str(tmp_path / "nope"), "--image", repository, env=env)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    no_file = run_cli("build", "--context", str(empty), "--image", repository, env=env)
    assert no_file.returncode == 2
    assert "Dockerfile" in no_file.stderr
    bad_arg = run_cli(
        "build", "--context", str(empty), "--image", repository, "--build-arg", "NO_EQUALS", env=env
    )
    assert bad_arg.returncode == 2
    assert "--build-arg" in bad_arg.stderr


def test_dockerfile_the_engine_cannot_parse_exits_2(env, tmp_path, repository, busybox_image):
    context = tmp_path / "bad"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nFLY me to the moon\n")
    done = run_cli("build", "--context", str(context), "--image", repository, env=env)
    assert done.returncode == 2, done.stderr
    assert f"error: {context / 'Dockerfile'}:2: " in done.stderr
    assert "unknown instruction" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_base_image_the_engine_cannot_get_exits_3(env, tmp_path, repository):
    context = tmp_path / "nobase"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM 127.0.0.1:1/no/such-base:1\nRUN true\n")
    done = run_cli("build", "--context", str(context), "--image", repository, env=env, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "base image 127.0.0.1:1/no/such-base:1 is not on the engine" in done.stderr


def test_no_engine_exits_3_quickly(env, project, repository, tmp_path):
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    started = time.monotonic()
    done = run_cli("build", "--context", str(project), "--image", repository, env=env, timeout=30)
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started < 10
    assert "scripts/services start" in done.stderr
    assert "DOCKER_HOST" in done.stderr


def test_an_engine_that_never_answers_exits_3_within_10_seconds(env, project, repository, tmp_path):
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accept connections and never answer, like a hung daemon
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        env["DOCKER_HOST"] = f"unix://{path}"
        started = time.monotonic()
        done = run_cli(
            "build", "--context", str(project), "--image", repository, env=env, timeout=30
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    assert done.returncode == 3, done.stderr
    assert elapsed < 10
    assert "no reachable Docker engine" in done.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_registry_that_stays_down_exits_3_after_bounded_retries(env, project):
    repository = f"127.0.0.1:{_closed_port()}/down/model"
    started = time.monotonic()
    done = run_cli("build", "--context", str(project), "--image", repository, "--push", env=env)
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert "failed after 4 attempts" in done.stderr
    assert done.stderr.count("retry ") == 3
    assert elapsed < 120
    assert done.stderr.rstrip("\n").splitlines()[-1].startswith("error: ")


class FaultyRegistryProxy:
    """A TCP proxy in front of the real registry that answers the first ``failures`` manifest
    PUTs itself with ``reply`` (a fault injector: everything else reaches the real registry).

    The engine opens a connection per request here, so the first request on a connection is
    the one to look at.
    """

    def __init__(self, upstream: str, failures: int, reply: bytes) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.failures = failures
        self.reply = reply
        self.manifest_puts = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultyRegistryProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                head = conn.recv(65536, socket.MSG_PEEK)
            except OSError:
                return
            if re.match(rb"PUT /v2/\S+/manifests/", head):
                self.manifest_puts += 1
                if self.manifest_puts <= self.failures:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                    return
            with socket.create_connection(self.upstream) as upstream:
                other = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
                other.start()
                _pipe(conn, upstream)
                other.join(timeout=30)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _reply(status: str, body: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    ).encode()


def test_registry_5xx_is_retried_and_the_push_then_succeeds(env, project, registry):
    with FaultyRegistryProxy(registry, 2, _reply("503 Service Unavailable")) as proxy:
        repository = f"{proxy.address}/flaky/{uuid.uuid4().hex[:12]}"
        done = run_cli(
            "--json", "build", "--context", str(project), "--image", repository, "--push", env=env
        )
        assert done.returncode == 0, done.stderr
        assert proxy.manifest_puts == 3
    assert done.stderr.count("503 Service Unavailable); retry ") == 2
    digest = json.loads(done.stdout)["digest"]
    # asked of the registry itself, behind the proxy
    path = repository.removeprefix(f"{proxy.address}/")
    assert registry_digest(registry, f"{registry}/{path}", "latest") == digest


def test_registry_auth_refusal_is_not_retried(env, project, registry):
    denied = json.dumps(
        {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}
    )
    with FaultyRegistryProxy(registry, 10, _reply("403 Forbidden", denied)) as proxy:
        repository = f"{proxy.address}/denied/{uuid.uuid4().hex[:12]}"
        done = run_cli("build", "--context", str(project), "--image", repository, "--push", env=env)
        assert proxy.manifest_puts == 1
    assert done.returncode == 3, done.stderr
    assert "retry" not in done.stderr
    last = done.stderr.rstrip("\n").splitlines()[-1]
    assert "refused the push" in last
    assert "denied" in last
    assert "docker login" in last


def test_the_provenance_file_attests_the_pushed_digest(env, project, repository, tmp_path):
    """The hand-off the pipeline makes: build --provenance, then attest REF --predicate FILE."""
    provenance = tmp_path / "provenance.json"
    built = run_cli(
        "--json",
        "build",
        "--context",
        str(project),
        "--image",
        repository,
        "--push",
        "--provenance",
        str(provenance),
        env=env,
    )
    assert built.returncode == 0, built.stderr
    ref = json.loads(built.stdout)["ref"]
    env["MLTOOLKIT_KEY_PASSWORD"] = "test-password"
    prefix = tmp_path / "signer"
    keys = run_cli("keys", "generate", "--output-prefix", str(prefix), env=env)
    assert keys.returncode == 0, keys.stderr
    attested = run_cli(
        "attest",
        ref,
        "--type",
        "slsaprovenance1",
        "--predicate",
        str(provenance),
        "--key",
        f"{prefix}.key",
        env=env,
    )
    assert attested.returncode == 0, attested.stderr
    verified = run_cli(
        "verify-attestation", ref, "--type", "slsaprovenance1", "--key", f"{prefix}.pub", env=env
    )
    assert verified.returncode == 0, verified.stderr
    statements = json.loads(verified.stdout)
    digest = ref.split("@", 1)[1]
    assert statements
    for statement in statements:
        assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
        assert statement["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
        assert statement["predicate"] == json.loads(provenance.read_text())
