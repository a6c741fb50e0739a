"""Where MLflow lives: the embedded default, any tracking server, or Databricks Unity Catalog.

With no ``MLFLOW_TRACKING_URI`` the store is embedded in the working directory: a SQLite file at
``.mltoolkit/mlflow.db`` and artifacts under ``.mltoolkit/artifacts``. Otherwise the tracking URI
names the server (``http(s)://``, ``postgresql://``, ``databricks``...) and ``MLFLOW_REGISTRY_URI``
(default: the tracking URI) the model registry. This module imports nothing from MLflow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mltoolkit.errors import InputError

EMBEDDED_DIR = ".mltoolkit"
UNITY_CATALOG = "databricks-uc"

# Unity Catalog: catalog.schema.model, each an identifier (letters, digits, underscores, hyphens).
_UC_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# Characters that would break a models:/NAME/VERSION URI or a search filter string.
_FORBIDDEN_IN_NAME = re.compile(r"[/'\"`\\\x00-\x1f]")


@dataclass(frozen=True)
class Location:
    """The tracking and registry URIs in use, and whether they are the embedded default."""

    tracking_uri: str
    registry_uri: str
    embedded: bool = False
    artifact_root: Path | None = None

    @property
    def is_http(self) -> bool:
        """Whether the tracking store is an MLflow server reached over HTTP(S)."""
        return urlsplit(self.tracking_uri).scheme in {"http", "https"}

    @property
    def unity_catalog(self) -> bool:
        """Whether models are registered in Databricks Unity Catalog."""
        return self.registry_uri.split(":", 1)[0] == UNITY_CATALOG

    def describe(self) -> str:
        """The tracking URI fit for messages (no credentials)."""
        return public_uri(self.tracking_uri)


def public_uri(uri: str) -> str:
    """``uri`` without user name and password."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def resolve_location(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Location:
    """The MLflow location from the environment (``os.environ`` and the working directory)."""
    env = os.environ if environ is None else environ
    tracking = env.get("MLFLOW_TRACKING_URI", "").strip()
    registry = env.get("MLFLOW_REGISTRY_URI", "").strip()
    if not tracking:
        root = (cwd or Path.cwd()).resolve() / EMBEDDED_DIR
        uri = f"sqlite:///{root / 'mlflow.db'}"
        return Location(uri, registry or uri, embedded=True, artifact_root=root / "artifacts")
    return Location(tracking, registry or tracking)


def check_model_name(name: str, location: Location, *, where: str = "--name") -> str:
    """``name`` when it is a valid registered-model name for ``location``, else InputError.

    Unity Catalog names are three-level (``catalog.schema.model``); elsewhere any name works
    that fits in a ``models:/NAME/VERSION`` URI and a search filter.
    """
    if not name or name != name.strip():
        raise InputError(f"model name {name!r} is empty or has surrounding spaces", where=where)
    if _FORBIDDEN_IN_NAME.search(name):
        raise InputError(
            f"model name {name!r} contains a slash, a quote or a control character",
            where=where,
            fix="use letters, digits, '.', '-', '_' and spaces",
        )
    if location.unity_catalog:
        parts = name.split(".")
        if len(parts) != 3 or not all(_UC_PART.fullmatch(p) for p in parts):
            raise InputError(
                f"model name {name!r} is not a Unity Catalog name",
                where=where,
                fix="name the model catalog.schema.model (the registry URI is databricks-uc)",
            )
    return name


def normalise_version(value: int | str) -> int:
    """A model version as an int (MLflow returns int from SQLite and str over REST)."""
    if isinstance(value, bool):
        raise InputError(f"model version {value!r} is not a whole number", where="--version")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if not text.isdigit():
            raise InputError(f"model version {value!r} is not a whole number", where="--version")
        number = int(text)
    if number < 1:
        raise InputError(f"model version {value!r} must be 1 or more", where="--version")
    return number
