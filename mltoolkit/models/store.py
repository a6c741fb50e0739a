"""The model registry behind ``register``, ``status`` and ``verify-model``: MLflow, wrapped.

``open_store()`` finds MLflow (see ``location``), makes a dead server fail fast and returns a
``ModelStore`` whose methods speak in plain dataclasses with int versions and raise only
mltoolkit errors. MLflow is imported here, inside ``open_store``, never at start-up.

A server that is down costs one ``/health`` probe (a few seconds), not MLflow's own retry loop
(about 4 minutes): the probe runs first, and MLflow's HTTP retries are bounded through the
environment variables it reads (values the user already set are kept).
Only aliases and tags are used; the deprecated stages never are.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mltoolkit.errors import Error, ExternalError, InputError
from mltoolkit.heap import bulk_import
from mltoolkit.models.location import Location, normalise_version, resolve_location

T = TypeVar("T")

# Read by MLflow when it makes a request; set before the first one. A server that dies after the
# probe still ends a call within 2 attempts x 6 s (a timeout per socket read, not per transfer)
# plus about 1 s of backoff: well under 30 s.
MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "6",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
SEARCH_PAGE_SIZE = 1000
HEALTH_ATTEMPTS = 2
HEALTH_TIMEOUT_S = (3.05, 5.0)

_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
_BAD_INPUT = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}
_AUTH = {"PERMISSION_DENIED", "UNAUTHENTICATED", "UNAUTHORIZED"}


@dataclass(frozen=True)
class VersionInfo:
    """One model version, as mltoolkit sees it (``version`` is always an int)."""

    name: str
    version: int
    source: str
    run_id: str | None
    status: str
    description: str
    created_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def apply_mlflow_env(environ: dict[str, str] | None = None) -> None:
    """Bound MLflow's HTTP retries and turn telemetry and progress bars off (user values win)."""
    env = os.environ if environ is None else environ
    for key, value in MLFLOW_ENV_DEFAULTS.items():
        env.setdefault(key, value)


def probe_server(location: Location) -> None:
    """ExternalError unless the tracking server answers HTTP (any status) within seconds."""
    import requests

    url = location.tracking_uri.rstrip("/") + "/health"
    reason = ""
    for attempt in range(HEALTH_ATTEMPTS):
        if attempt:
            time.sleep(1.0)
        try:
            response = requests.get(url, timeout=HEALTH_TIMEOUT_S)
        except requests.RequestException as exc:
            reason = type(exc).__name__
            continue
        if response.status_code < 500:
            return
        reason = f"HTTP {response.status_code}"
    raise ExternalError(
        f"the MLflow server does not answer ({reason})",
        where=location.describe(),
        fix="start the server or check MLFLOW_TRACKING_URI (unset it for the embedded store)",
    )


def _quiet_mlflow(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)


def _create_embedded(location: Location) -> None:
    """Create the SQLite store once, with its default artifact root under ``.mltoolkit``."""
    if location.artifact_root is None:  # pragma: no cover - embedded locations have one
        return
    root = location.artifact_root.parent
    db = root / "mlflow.db"
    try:
        location.artifact_root.mkdir(parents=True, exist_ok=True)
        with (root / ".lock").open("a") as lock:
            # NOTE: two first runs at once would both migrate the same new database.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if db.exists() and db.stat().st_size > 0:
                return
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(location.tracking_uri, str(location.artifact_root))  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise ExternalError(
            f"cannot create the embedded MLflow store: {exc.strerror or exc}",
            where=str(root),
            fix="run from a writable directory or set MLFLOW_TRACKING_URI",
        ) from None


def open_store(location: Location | None = None, *, verbose: bool = False) -> ModelStore:
    """A ``ModelStore`` on ``location`` (default: from the environment), checked reachable."""
    loc = location or resolve_location()
    apply_mlflow_env()
    if loc.is_http:
        probe_server(loc)
    # The client builds its SQL store (SQLAlchemy's models) on creation: part of the import.
    with bulk_import():
        with mlflow_errors(loc, "import MLflow"):
            _quiet_mlflow(verbose)
            from mlflow import MlflowClient
        _quiet_mlflow(verbose)
        if loc.embedded:
            with mlflow_errors(loc, "create the embedded store"):
                _create_embedded(loc)
        with mlflow_errors(loc, "connect"):
            client = MlflowClient(tracking_uri=loc.tracking_uri, registry_uri=loc.registry_uri)
    return ModelStore(loc, client)


@contextmanager
def mlflow_errors(location: Location, what: str, *, where: str | None = None) -> Iterator[None]:
    """Turn whatever MLflow (or below it) raises into an mltoolkit error.

    MLflow's dependencies warn about their own deprecations (SQLAlchemy 2.1): not the user's
    business, so those warnings are silenced for the duration of the call.
    """
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)
            yield
    except Error:
        raise
    except ImportError as exc:
        raise ExternalError(
            f"MLflow is not installed ({exc.name})",
            fix="pip install 'mltoolkit[mlflow]'",
        ) from None
    except Exception as exc:
        raise _translate(exc, location, what, where) from exc


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def fluent_uris(location: Location) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.register_model``, ``mlflow.artifacts``) at ``location``
    for one call, then put back what was there.

    The fluent API reads process-wide URIs, and ``mlflow.set_tracking_uri`` also exports
    ``MLFLOW_TRACKING_URI`` to the environment. Left in place, that would send a later store
    in the same process, and every subprocess it starts, to this location.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {name: os.environ.get(name) for name in _URI_VARIABLES}
    saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
    saved_registry = getattr(registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(location.tracking_uri)
    mlflow.set_registry_uri(location.registry_uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri = saved_tracking
        registry_utils._registry_uri = saved_registry
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _translate(exc: Exception, location: Location, what: str, where: str | None) -> Error:
    code = str(getattr(exc, "error_code", "") or "")
    message = " ".join(str(getattr(exc, "message", None) or exc).split())
    if len(message) > 300:
        message = message[:300] + "..."
    place = where or location.describe()
    if code in _NOT_FOUND:
        return InputError(f"cannot {what}: {message}", where=place)
    if code in _BAD_INPUT:
        return InputError(f"cannot {what}: {message}", where=place)
    if code in _AUTH:
        return ExternalError(
            f"cannot {what}: access denied ({message})",
            where=place,
            fix="check MLFLOW_TRACKING_TOKEN / MLFLOW_TRACKING_USERNAME and PASSWORD",
        )
    return ExternalError(
        f"cannot {what}: {type(exc).__name__}: {message}",
        where=place,
        fix="check that MLflow is reachable (MLFLOW_TRACKING_URI) and rerun",
    )


def _version_info(mv: Any, aliases: tuple[str, ...] | None = None) -> VersionInfo:
    tags = mv.tags if isinstance(mv.tags, dict) else {}
    return VersionInfo(
        name=str(mv.name),
        version=normalise_version(mv.version),
        source=str(mv.source or ""),
        run_id=str(mv.run_id) if mv.run_id else None,
        status=str(mv.status or ""),
        description=str(mv.description or ""),
        created_ms=int(mv.creation_timestamp) if mv.creation_timestamp else None,
        tags={str(k): str(v) for k, v in tags.items()},
        aliases=tuple(aliases if aliases is not None else getattr(mv, "aliases", None) or ()),
    )


def filter_string(name: str, tags: dict[str, str]) -> str:
    """A ``search_model_versions`` filter: the model name and exact tag values."""
    for value in (name, *tags.keys(), *tags.values()):
        if "'" in value or "`" in value:
            raise InputError(
                f"{value!r} contains a quote, which MLflow search filters cannot carry",
                fix="use a model name and URI without quotes",
            )
    clauses = [f"name = '{name}'"]
    clauses += [f"tags.`{key}` = '{value}'" for key, value in sorted(tags.items())]
    return " and ".join(clauses)


class ModelStore:
    """Registered models and their versions in one MLflow registry."""

    def __init__(self, location: Location, client: Any) -> None:
        self.location = location
        self._client = client

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with mlflow_errors(self.location, what):
            return fn(*args, **kwargs)

    def _search(self, query: str, what: str) -> list[Any]:
        """Every model version matching ``query``, page after page."""
        found: list[Any] = []
        token = None
        while True:
            page = self._call(
                what,
                self._client.search_model_versions,
                query,
                max_results=SEARCH_PAGE_SIZE,
                page_token=token,
            )
            found.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return found

    def find_versions(self, name: str, tags: dict[str, str]) -> list[VersionInfo]:
        """Versions of ``name`` that carry all of ``tags`` (lowest version first)."""
        # NOTE: Unity Catalog searches by name or run id only; tags are then matched below.
        query = filter_string(name, {} if self.location.unity_catalog else tags)
        versions = [_version_info(mv) for mv in self._search(query, f"search versions of {name!r}")]
        # NOTE: some backends ignore tag clauses they cannot push down: check them here too.
        versions = [v for v in versions if all(v.tags.get(k) == x for k, x in tags.items())]
        return sorted(versions, key=lambda v: v.version)

    def get_model(self, name: str) -> dict[str, Any]:
        """The registered model: description, tags and aliases (alias -> int version)."""
        model = self._call(f"read model {name!r}", self._client.get_registered_model, name)
        aliases = getattr(model, "aliases", None) or {}
        return {
            "name": str(model.name),
            "description": str(model.description or ""),
            "tags": {str(k): str(v) for k, v in (model.tags or {}).items()},
            "aliases": {str(a): normalise_version(v) for a, v in aliases.items()},
        }

    def create_version(
        self,
        name: str,
        source: str,
        *,
        tags: dict[str, str],
        description: str | None,
    ) -> VersionInfo:
        """A new version of ``name`` from ``source`` (a ``runs:/`` or ``models:/`` URI or path).

        ``runs:/RUN/PATH`` sources resolve the way ``mlflow.register_model`` does (run artifacts,
        or the run's logged model of that name in MLflow 3).
        """
        import mlflow

        with (
            mlflow_errors(self.location, f"register a version of {name!r}"),
            fluent_uris(self.location),
        ):
            mv = mlflow.register_model(source, name, tags=tags)
        version = normalise_version(mv.version)
        if description:
            self._call(
                "set the description",
                self._client.update_model_version,
                name,
                str(version),
                description=description,
            )
        return self.get_version(name, version)

    def get_version(self, name: str, version: int) -> VersionInfo:
        """One version; InputError when it does not exist."""
        mv = self._call(
            f"read version {version} of model {name!r}",
            self._client.get_model_version,
            name,
            str(version),
        )
        return _version_info(mv)

    def versions(self, name: str, model: dict[str, Any] | None = None) -> list[VersionInfo]:
        """Every version of ``name``, lowest first (InputError when the model does not exist).

        ``model`` is ``get_model(name)`` when the caller has just read it.
        """
        if model is None:
            model = self.get_model(name)
        by_version: dict[int, list[str]] = {}
        for alias, number in model["aliases"].items():
            by_version.setdefault(number, []).append(alias)
        found = self._search(filter_string(name, {}), f"list versions of {name!r}")
        return sorted(
            (
                _version_info(mv, tuple(sorted(by_version.get(normalise_version(mv.version), []))))
                for mv in found
            ),
            key=lambda v: v.version,
        )

    def delete_version(self, name: str, version: int) -> None:
        """Delete one version (used only to undo a duplicate this process just created)."""
        self._call(
            f"delete version {version} of {name!r}",
            self._client.delete_model_version,
            name,
            str(version),
        )

    def set_tags(self, name: str, version: int, tags: dict[str, str]) -> None:
        """Set tags on a version."""
        for key, value in tags.items():
            self._call(
                f"tag version {version} of {name!r}",
                self._client.set_model_version_tag,
                name,
                str(version),
                key,
                value,
            )

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version``."""
        self._call(
            f"set alias {alias!r} of {name!r}",
            self._client.set_registered_model_alias,
            name,
            alias,
            str(version),
        )

    def version_by_alias(self, name: str, alias: str) -> VersionInfo:
        """The version ``alias`` points at."""
        mv = self._call(
            f"read alias {alias!r} of {name!r}",
            self._client.get_model_version_by_alias,
            name,
            alias,
        )
        return _version_info(mv)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric of a run."""
        run = self._call(f"read run {run_id}", self._client.get_run, run_id)
        return {str(k): float(v) for k, v in (run.data.metrics or {}).items()}

    def artifact_location(self, source: str, *, _depth: int = 0) -> str:
        """Where the files of a model source live, as an artifact URI that downloads exactly them.

        ``models:/`` URIs are resolved first: downloading one adds a ``registered_model_meta``
        file that is not part of the model. ``runs:/RUN/PATH`` resolves the way
        ``mlflow.register_model`` does: the run's artifacts at PATH, else the run's logged
        model named PATH (MLflow 3).
        """
        import mlflow
        from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

        with (
            mlflow_errors(self.location, f"resolve the model source {source}"),
            fluent_uris(self.location),
        ):
            if source.startswith("models:/"):
                rest = source.removeprefix("models:/")
                if "/" not in rest and "@" not in rest:
                    return str(self._client.get_logged_model(rest).artifact_location)
                if _depth:
                    return source
                name, _, version = rest.rpartition("/")
                if "@" in rest and not version.isdigit():
                    name, _, alias = rest.partition("@")
                    info = self.version_by_alias(name, alias)
                else:
                    info = self.get_version(name, normalise_version(version))
                return self.artifact_location(info.source, _depth=1)
            if RunsArtifactRepository.is_runs_uri(source):  # type: ignore[no-untyped-call]
                run_id, path = RunsArtifactRepository.parse_runs_uri(source)  # type: ignore[no-untyped-call]
                underlying = str(RunsArtifactRepository.get_underlying_uri(source))
                if mlflow.artifacts.list_artifacts(artifact_uri=underlying):
                    return underlying
                run = self._client.get_run(run_id)
                logged = self._client.search_logged_models(
                    experiment_ids=[run.info.experiment_id],
                    filter_string=f"source_run_id = '{run_id}' and name = '{path}'",
                )
                if logged:
                    return str(logged[-1].artifact_location)
                raise InputError(f"run {run_id} has no model at {path!r}", where=source)
        return source

    def download(self, source: str, destination: Path) -> Path:
        """Download the model at ``source`` (any model URI) into ``destination``; its path."""
        import mlflow

        location = self.artifact_location(source)
        with (
            mlflow_errors(self.location, f"download the model artifacts {source}"),
            fluent_uris(self.location),
        ):
            destination.mkdir(parents=True, exist_ok=True)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=str(destination)
            )
        path = Path(local)
        if not path.is_dir() or not any(path.iterdir()):
            raise InputError("the model has no files", where=source)
        return path
