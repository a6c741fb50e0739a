"""register / status / verify-model against real MLflow: the embedded SQLite store AND an
``mlflow server`` on a real PostgreSQL, with real images built by the engine and pushed to the
local registry. The same tests run on both backends.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from mltoolkit.cli.main import main
from mltoolkit.models import tags as T
from mltoolkit.models.location import resolve_location
from mltoolkit.models.signature import model_digest
from mltoolkit.models.store import open_store
from mltoolkit.oci.reference import ImageRef
from mltoolkit.oci.registry import RegistryClient
from mltoolkit.signing.keys import generate_key_pair

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = REPO_ROOT / "scripts" / "services"
MLFLOW_BIN = Path(sys.executable).with_name("mlflow")
SERVER_START_TIMEOUT_S = 120
LABEL = "dev.mltoolkit.model.digest"


@dataclass
class Backend:
    """One MLflow backend: how the CLI reaches it and where its artifacts are on disk."""

    kind: str
    cwd: Path
    tracking_uri: str | None  # None: the embedded default in cwd
    artifacts: Path

    def client_uri(self) -> str:
        return self.tracking_uri or resolve_location({}, self.cwd).tracking_uri

    def artifact_dir(self, source: str) -> Path:
        """Where a version's source lives on this machine (to tamper with it)."""
        if source.startswith("mlflow-artifacts:/"):
            return self.artifacts / source.removeprefix("mlflow-artifacts:/")
        path = Path(source.removeprefix("file://"))
        assert path.is_absolute(), source
        return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A running PostgreSQL from scripts/services (started with --with-postgres if needed)."""
    started = subprocess.run(
        [str(SERVICES), "start", "--with-postgres"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    env = subprocess.run(
        [str(SERVICES), "env"], capture_output=True, text=True, timeout=60, check=False
    )
    for line in env.stdout.splitlines():
        if line.startswith("export MLTOOLKIT_POSTGRES_URL="):
            return line.split("=", 1)[1].strip("'\"")
    tail = "\n".join(started.stderr.splitlines()[-10:])
    pytest.fail(f"PostgreSQL did not start (scripts/services start --with-postgres):\n{tail}")


@pytest.fixture(scope="session")
def mlflow_server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """``mlflow server`` on a fresh PostgreSQL database, proxying artifacts to a temp dir."""
    import psycopg

    database = f"mltk_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    root = tmp_path_factory.mktemp("mlflow-server")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    port = _free_port()
    backend_uri = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    backend_uri = backend_uri.rsplit("/", 1)[0] + f"/{database}"
    log = (root / "server.log").open("wb")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [
            str(MLFLOW_BIN),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            str(artifacts),
            "--workers",
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"mlflow server did not start:\n{tail}")
            time.sleep(0.5)
        cwd = root / "work"
        cwd.mkdir()
        yield Backend("postgres", cwd, url, artifacts)
    finally:
        # The server and its workers are our own process group.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    """The embedded default in a session directory, created once (migrations take seconds)."""
    cwd = tmp_path_factory.mktemp("mlflow-embedded")
    location = resolve_location({}, cwd)
    open_store(location)
    assert location.artifact_root is not None
    return Backend("sqlite", cwd, None, location.artifact_root)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_store(request: pytest.FixtureRequest) -> Backend:
    name = "sqlite_store" if request.param == "sqlite" else "mlflow_server"
    backend: Backend = request.getfixturevalue(name)
    return backend


@pytest.fixture
def backend(
    backend_store: Backend, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Backend:
    """The CLI pointed at one backend: the working directory and MLFLOW_TRACKING_URI."""
    monkeypatch.chdir(backend_store.cwd)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLTOOLKIT_POLICY", raising=False)
    for key in [k for k in os.environ if k.startswith(("GITHUB_", "GITLAB_", "CI_"))]:
        monkeypatch.delenv(key)
    if backend_store.tracking_uri:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", backend_store.tracking_uri)
    else:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return backend_store


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what test set-up printed (MLflow prints run links to stdout)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    import json

    code, out, err = run(["--json", *args], capsys)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def make_model(root: Path) -> Path:
    """A small model directory with random weights (each call a different model)."""
    model = root / f"model-{uuid.uuid4().hex[:8]}"
    (model / "data").mkdir(parents=True)
    (model / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    (model / "data" / "weights.bin").write_bytes(os.urandom(2048))
    return model


def log_model(backend: Backend, model: Path, metrics: dict[str, float]) -> str:
    """Log ``model`` as the artifacts of a new run (experiment 0); the run id."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=backend.client_uri())
    run_id: str = client.create_run("0").info.run_id
    client.log_artifacts(run_id, str(model), "model")
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.set_terminated(run_id)
    return run_id


def build_image(
    docker_client: docker.DockerClient,
    base: str,
    registry: str,
    model: Path,
    label: str | None,
) -> str:
    """Build FROM base with the model copied in and the label set; push; IMAGE@DIGEST."""
    # A nonce label: the engine's cache would otherwise give identical builds the same digest.
    dockerfile = f"FROM {base}\nCOPY model /opt/model\nLABEL test.nonce={uuid.uuid4().hex}\n"
    if label is not None:
        dockerfile += f'LABEL {LABEL}="{label}"\n'
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(str(model), arcname="model")
    context.seek(0)
    repo = f"{registry}/mltk-models/serve"
    tag = uuid.uuid4().hex[:10]
    docker_client.images.build(
        fileobj=context, custom_context=True, tag=f"{repo}:{tag}", rm=True, forcerm=True
    )
    for line in docker_client.images.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in line, line
    with RegistryClient() as client:
        digest = client.resolve(ImageRef.parse(f"{repo}:{tag}"))
    LOCAL_TAGS[f"{repo}@{digest}"] = f"{repo}:{tag}"
    return f"{repo}@{digest}"


LOCAL_TAGS: dict[str, str] = {}


def model_in_image(docker_client: docker.DockerClient, image: str, into: Path) -> Path:
    """Copy /opt/model out of the image (a created, never started, container)."""
    container = docker_client.containers.create(LOCAL_TAGS[image], command=["true"])
    try:
        bits, _ = container.get_archive("/opt/model")
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
            tar.extractall(into, filter="data")
    finally:
        container.remove(force=True)
    return into / "model"


@pytest.fixture(scope="session")
def served(
    docker_client: docker.DockerClient,
    busybox_image: str,
    registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """One model and the images made from it, shared by the tests (builds cost seconds)."""
    root = tmp_path_factory.mktemp("served")
    model = make_model(root)
    other = make_model(root)
    digest = model_digest(model)
    return {
        "model": model,
        "digest": digest,
        "image": build_image(docker_client, busybox_image, registry, model, digest),
        "image2": build_image(docker_client, busybox_image, registry, model, digest),
        "other_image": build_image(
            docker_client, busybox_image, registry, other, model_digest(other)
        ),
        "unlabelled": build_image(docker_client, busybox_image, registry, model, None),
        "docker": docker_client,
    }


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("MLTOOLKIT_KEY_PASSWORD", "pw")
    return generate_key_pair(tmp_path / "signer", b"pw")


def model_name(backend: Backend) -> str:
    return f"fraud-{backend.kind}-{uuid.uuid4().hex[:6]}"


def test_register_tags_lineage_and_rerun_is_idempotent(
    backend: Backend,
    served: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CI facts come from the platform adapter; here GitHub's default variables.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/fraud")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_SHA", "c0ffee" * 6 + "abcd")
    outputs = backend.cwd / f"github-output-{uuid.uuid4().hex[:6]}"
    summary = backend.cwd / f"github-summary-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {"auc": 0.93})
    args = [
        "register",
        "--name",
        name,
        "--run-id",
        run_id,
        "--image",
        served["image"],
        "--metric",
        "latency_ms=12.5",
        "--description",
        "first",
    ]
    first = run_json(args, capsys)
    assert first["created"] is True
    assert first["version"] == 1
    tags = first["tags"]
    image = ImageRef.parse(served["image"])
    assert tags[T.IMAGE] == served["image"]
    assert tags[T.IMAGE_DIGEST] == str(image.digest)
    assert tags[T.SOURCE] == f"runs:/{run_id}/model"
    assert tags[T.MODEL_DIGEST] == served["digest"]
    assert tags[T.GIT_COMMIT] == "c0ffee" * 6 + "abcd"
    assert tags[T.CI_RUN_URL] == "https://github.com/acme/fraud/actions/runs/4242"
    assert tags[T.CI_PLATFORM] == "github"
    assert float(tags[T.METRIC_PREFIX + "auc"]) == 0.93
    assert float(tags[T.METRIC_PREFIX + "latency_ms"]) == 12.5
    assert T.EVIDENCE not in tags  # no policy, no --evidence-key: nothing claimed

    written = outputs.read_text()
    assert "version" in written
    assert served["digest"] in written
    assert f"### Model {name} version 1 registered" in summary.read_text()

    again = run_json(args, capsys)
    assert again["created"] is False
    assert again["version"] == 1

    # Same model, another image digest: a new version.
    other = run_json(
        ["register", "--name", name, "--run-id", run_id, "--image", served["image2"]], capsys
    )
    assert other["created"] is True
    assert other["version"] == 2

    # One version per page: the listing follows MLflow's page tokens.
    import mltoolkit.models.store as store_module

    monkeypatch.setattr(store_module, "SEARCH_PAGE_SIZE", 1)
    versions = open_store(resolve_location()).versions(name)
    assert [v.version for v in versions] == [1, 2]
    assert all(isinstance(v.version, int) for v in versions)
    assert versions[0].description == "first"


def test_status_shows_versions_aliases_digests_and_evidence(
    backend: Backend,
    served: dict[str, Any],
    keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {"auc": 0.9})
    # Real evidence on the digest: a cosign-compatible signature made by our own sign command.
    code, _, err = run(["sign", served["image"], "--key", str(keys[0])], capsys)
    assert code == 0, err
    registered = run_json(
        [
            "register",
            "--name",
            name,
            "--run-id",
            run_id,
            "--image",
            served["image"],
            "--evidence-key",
            str(keys[1]),
        ],
        capsys,
    )
    evidence = registered["evidence"]
    # `sign` writes a cosign 2.x signature and a cosign 3.x bundle: two verified items.
    assert {e["type"] for e in evidence} == {"signature"}
    assert all(e["predicate_digest"].startswith("sha256:") for e in evidence)
    assert registered["tags"][T.EVIDENCE_TYPES] == "signature"
    open_store(resolve_location()).set_alias(name, "staging", 1)

    doc = run_json(["status", name], capsys)
    assert doc["aliases"] == {"staging": 1}
    (entry,) = doc["versions"]
    assert entry["version"] == 1
    assert entry["aliases"] == ["staging"]
    assert entry["image_digest"] == str(ImageRef.parse(served["image"]).digest)
    assert entry["model_digest"] == served["digest"]
    assert entry["evidence"] == evidence
    assert entry["metrics"] == {"auc": 0.9}

    code, table, _ = run(["status", name, "--version", "1"], capsys)
    assert code == 0
    digest = ImageRef.parse(served["image"]).digest
    assert digest is not None
    assert f"sha256:{digest.hex[:12]}" in table
    assert "staging" in table
    assert "signature" in table

    # --verify checks the image's signatures again now, with the key given.
    now = run_json(["status", name, "--verify", "--evidence-key", str(keys[1])], capsys)
    assert [e["type"] for e in now["versions"][0]["evidence_now"]] == ["signature"] * len(evidence)
    code, table, _ = run(["status", name, "--verify", "--evidence-key", str(keys[1])], capsys)
    assert "VERIFIED NOW" in table
    code, _, err = run(["status", name, "--verify"], capsys)
    assert code == 2, err  # no policy, no key: nothing to verify against

    code, _, err = run(["status", name, "--version", "9"], capsys)
    assert code == 2, err
    code, _, err = run(["status", f"missing-{name}"], capsys)
    assert code == 2, err


def test_signed_model_verifies_and_tampering_fails(
    backend: Backend,
    served: dict[str, Any],
    keys: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {})
    registered = run_json(
        [
            "register",
            "--name",
            name,
            "--run-id",
            run_id,
            "--image",
            served["image"],
            "--key",
            str(keys[0]),
        ],
        capsys,
    )
    assert registered["signed"] is True
    version = open_store(resolve_location()).get_version(name, 1)
    assert T.MODEL_SIGNATURE in version.tags
    verify = ["verify-model", name, "--version", "1", "--key", str(keys[1])]
    ok = run_json(verify, capsys)
    assert ok["model_digest"] == served["digest"]

    stored = backend.artifact_dir(version.source)
    weights = stored / "data" / "weights.bin"
    original = weights.read_bytes()
    changed = bytearray(original)
    changed[7] ^= 0x01
    weights.write_bytes(bytes(changed))
    code, _, err = run(verify, capsys)
    assert code == 1, err
    assert "'data/weights.bin' changed" in err

    weights.write_bytes(original)
    (stored / "extra.py").write_text("print('hi')\n")
    code, _, err = run(verify, capsys)
    assert code == 1, err
    assert "extra files: extra.py" in err
    (stored / "extra.py").unlink()
    assert run_json(verify, capsys)["ok"] is True

    # The model the serving image carries is exactly the signed one; another image's is not.
    docker_client = served["docker"]
    carried = model_in_image(docker_client, served["image"], tmp_path / "carried")
    assert run_json([*verify, "--path", str(carried)], capsys)["ok"] is True
    foreign = model_in_image(docker_client, served["other_image"], tmp_path / "foreign")
    code, _, err = run([*verify, "--path", str(foreign)], capsys)
    assert code == 1, err

    # Another key is not the signer's.
    _, other_pub = generate_key_pair(keys[0].parent / "other", b"pw")
    code, _, err = run(["verify-model", name, "--version", "1", "--key", str(other_pub)], capsys)
    assert code == 1, err


def test_unsigned_version_fails_verify_model(
    backend: Backend,
    served: dict[str, Any],
    keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {})
    run_json(["register", "--name", name, "--run-id", run_id, "--image", served["image"]], capsys)
    code, _, err = run(["verify-model", name, "--version", "1", "--key", str(keys[1])], capsys)
    assert code == 1
    assert "no model signature" in err


@pytest.mark.parametrize("image_key", ["other_image", "unlabelled"])
def test_image_with_another_model_is_refused(
    backend: Backend, served: dict[str, Any], image_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {})
    code, _, err = run(
        ["register", "--name", name, "--run-id", run_id, "--image", served[image_key]], capsys
    )
    assert code == 1, err
    assert "Traceback" not in err
    # Nothing was registered.
    code, _, _ = run(["status", name], capsys)
    assert code == 2


def test_a_tag_is_refused(
    backend: Backend, served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = served["image"].split("@", 1)[0]
    code, _, err = run(
        ["register", "--name", "x", "--run-id", "abc", "--image", f"{repo}:latest"], capsys
    )
    assert code == 2
    assert "refusing a tag" in err


def test_logged_model_of_mlflow_3_registers_by_run(
    backend: Backend,
    docker_client: docker.DockerClient,
    busybox_image: str,
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A model logged with mlflow.pyfunc.log_model (a LoggedModel, not run artifacts)."""
    # Setting up the model is not under test: MLflow's own advice warnings are not failures here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.pyfunc

        mlflow.set_tracking_uri(backend.client_uri())

        class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context: Any, model_input: list[str]) -> list[str]:
                return model_input

        with mlflow.start_run() as active:
            mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=["mlflow"])
    run_id = active.info.run_id
    store = open_store(resolve_location())
    with tempfile_dir() as tmp:
        logged = store.download(f"runs:/{run_id}/model", tmp)
        digest = model_digest(logged)
        image = build_image(docker_client, busybox_image, registry, logged, digest)
    doc = run_json(
        ["register", "--name", model_name(backend), "--run-id", run_id, "--image", image], capsys
    )
    assert doc["model_digest"] == digest
    assert doc["source"].startswith("models:/m-")


def tempfile_dir() -> Any:
    import tempfile
    from contextlib import contextmanager

    @contextmanager
    def scratch() -> Iterator[Path]:
        with tempfile.TemporaryDirectory() as tmp:
            yield Path(tmp)

    return scratch()


def test_server_down_is_exit_3_within_30_seconds(tmp_path: Path) -> None:
    """The whole process, MLflow's import included, against a port nobody listens on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{_free_port()}"
    exe = Path(sys.executable).with_name("mltoolkit")
    pub = tmp_path / "k.pub"
    pub.write_text("not read: the server is down first\n")
    for args in (
        ["status", "fraud"],
        ["verify-model", "fraud", "--version", "1", "--key", str(pub)],
    ):
        start = time.monotonic()
        done = subprocess.run(
            [str(exe), *args],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert time.monotonic() - start < 30
        assert done.returncode == 3, done.stderr
        assert "does not answer" in done.stderr
        assert "Traceback" not in done.stderr


def test_two_identical_runs_at_once_leave_one_version(
    backend: Backend, served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The race: a second run decided "not registered yet" just before the first created it."""
    from mltoolkit.models.register import RegisterRequest, register_version
    from mltoolkit.models.store import ModelStore

    name = model_name(backend)
    run_id = log_model(backend, served["model"], {})
    first = run_json(
        ["register", "--name", name, "--run-id", run_id, "--image", served["image"]], capsys
    )
    store = open_store(resolve_location())

    class LateStore(ModelStore):
        """The real store, whose first search happens before the other run's version exists."""

        searched = False

        def find_versions(self, name: str, tags: dict[str, str]) -> list[Any]:
            if not self.searched:
                self.searched = True
                return []
            return super().find_versions(name, tags)

    late = LateStore(store.location, store._client)
    request = RegisterRequest(
        name, f"runs:/{run_id}/model", ImageRef.parse(served["image"]), run_id=run_id
    )
    with RegistryClient() as client:
        result = register_version(late, client, request)
    assert result.created is False
    assert result.version.version == first["version"]
    assert [v.version for v in store.versions(name)] == [first["version"]]


def test_evidence_trusted_by_the_policy_is_recorded(
    backend: Backend,
    served: dict[str, Any],
    keys: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["sign", served["image"], "--key", str(keys[0])], capsys)
    assert code == 0, err
    policy = tmp_path / "mltoolkit.yaml"
    policy.write_text(
        f"version: 1\ntrust:\n  keys:\n    ci:\n      path: {keys[1]}\n"
        "  evidence:\n    signature: [ci]\n"
    )
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {})
    doc = run_json(
        [
            "--policy",
            str(policy),
            "register",
            "--name",
            name,
            "--run-id",
            run_id,
            "--image",
            served["image"],
        ],
        capsys,
    )
    assert doc["evidence"]
    assert {e["signer"] for e in doc["evidence"]} == {"ci"}

    # A key the policy does not trust: the image's signatures are not recorded as evidence.
    _, stranger = generate_key_pair(tmp_path / "stranger", b"pw")
    policy.write_text(f"version: 1\ntrust:\n  keys:\n    other:\n      path: {stranger}\n")
    doc = run_json(
        [
            "--policy",
            str(policy),
            "register",
            "--name",
            model_name(backend),
            "--run-id",
            run_id,
            "--image",
            served["image"],
        ],
        capsys,
    )
    assert doc["evidence"] == []
    assert doc["tags"][T.EVIDENCE] == "[]"


def test_keyless_model_signing_without_sigstore_is_one_clear_exit_3(
    backend: Backend,
    served: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NOTE: a real keyless signature needs Fulcio, Rekor and Sigstore's TUF repository, none of
    which is reachable here: only the failure path can run, and nothing may be registered."""
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "not-a-real-token")
    name = model_name(backend)
    run_id = log_model(backend, served["model"], {})
    code, _, err = run(
        ["register", "--name", name, "--run-id", run_id, "--image", served["image"], "--keyless"],
        capsys,
    )
    assert code in (2, 3), err
    assert "Traceback" not in err
    code, _, _ = run(["status", name], capsys)
    assert code == 2  # nothing registered


def test_server_that_hangs_after_the_probe_is_exit_3_within_30_seconds(tmp_path: Path) -> None:
    """/health answers, every API call hangs: MLflow's bounded retries end it, not the user."""
    import http.server
    import threading

    release = threading.Event()

    class Hanging(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/health"):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
                return
            release.wait(60)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{server.server_address[1]}"
        exe = Path(sys.executable).with_name("mltoolkit")
        start = time.monotonic()
        done = subprocess.run(
            [str(exe), "status", "fraud"],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - start
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert done.returncode == 3, done.stderr
    assert elapsed < 30, elapsed
    assert "Traceback" not in done.stderr
