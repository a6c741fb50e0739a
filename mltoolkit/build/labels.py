"""The standard OCI image labels a build sets by default.

Keys from the OCI image spec (annotations.md, "Pre-Defined Annotation Keys"):
``source``, ``revision``, ``created``, ``version``.

Precedence (decided here, documented in ``mltoolkit build --help``): a ``--label`` given by the
user wins over a default, because an explicit value beats an inferred one; the command says which
defaults were replaced. Labels are descriptive only: the signed provenance is the record a gate
trusts, and it is built from the facts, not from the labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from mltoolkit.build.source import SourceInfo
from mltoolkit.errors import InputError

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
VERSION = "org.opencontainers.image.version"


def rfc3339(moment: datetime) -> str:
    """``2026-01-31T12:00:00Z``: UTC, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_time(source_date_epoch: str | None, now: datetime | None = None) -> datetime:
    """The time to record as the image's creation: ``SOURCE_DATE_EPOCH`` when set, else now.

    ``SOURCE_DATE_EPOCH`` (reproducible-builds.org) is whole seconds since the epoch; honouring
    it keeps the labels, and so the image, identical across rebuilds of the same commit.
    """
    text = (source_date_epoch or "").strip()
    if not text:
        return now or datetime.now(UTC)
    if not text.isdigit():
        raise InputError(
            f"SOURCE_DATE_EPOCH {source_date_epoch!r} is not a whole number of seconds",
            where="SOURCE_DATE_EPOCH",
            fix="set it to e.g. $(git log -1 --format=%ct), or unset it",
        )
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InputError(
            f"SOURCE_DATE_EPOCH {text} is out of range",
            where="SOURCE_DATE_EPOCH",
            fix="set it to e.g. $(git log -1 --format=%ct), or unset it",
        ) from exc


def default_labels(source: SourceInfo, *, created: datetime, version: str | None) -> dict[str, str]:
    """The OCI labels known for this build (unknown facts are left out, never guessed)."""
    labels = {CREATED: rfc3339(created)}
    if source.repository_url:
        labels[SOURCE] = source.repository_url
    if source.commit:
        labels[REVISION] = source.commit
    if version:
        labels[VERSION] = version
    return labels


def version_from_tags(tags: list[str]) -> str | None:
    """The image version: the first tag that is not ``latest`` (None when there is none)."""
    return next((t for t in tags if t != "latest"), None)


def merge_labels(
    defaults: Mapping[str, str], user: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Defaults overlaid by the user's labels, and the default keys the user replaced."""
    merged = {**defaults, **user}
    replaced = sorted(k for k in user if k in defaults and defaults[k] != user[k])
    return merged, replaced
