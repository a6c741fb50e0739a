"""What MLflow says about a version: its image, metrics and environments (``VersionFacts``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mltoolkit.errors import InputError
from mltoolkit.models import tags as T
from mltoolkit.models.store import ModelStore
from mltoolkit.oci.reference import ImageRef
from mltoolkit.promote.gates import VersionFacts


@dataclass(frozen=True)
class VersionState:
    """A version's facts, its pinned image, and where every environment alias points now."""

    facts: VersionFacts
    image: ImageRef
    aliases: dict[str, int]


def read_version(
    store: ModelStore, model: str, version: int, previously_in: Sequence[str] = ()
) -> VersionState:
    """Read ``model`` version ``version`` and the model's aliases from MLflow."""
    info = store.get_version(model, version)
    aliases = dict(store.get_model(model)["aliases"])
    text = info.tags.get(T.IMAGE)
    where = f"{model} version {version}"
    if not text:
        raise InputError(
            f"the version has no {T.IMAGE} tag: no image is bound to it",
            where=where,
            fix="register it with `mltoolkit register --image IMAGE@DIGEST`",
        )
    image = ImageRef.parse(text)
    digest = str(image.require_digest())
    tagged = info.tags.get(T.IMAGE_DIGEST)
    if tagged and tagged != digest:
        raise InputError(
            f"its tags disagree: {T.IMAGE} names {digest}, {T.IMAGE_DIGEST} {tagged}",
            where=where,
            fix="re-register the version",
        )
    metrics = T.lineage_of(info.tags).metrics
    if info.run_id:
        metrics.update(store.run_metrics(info.run_id))
    facts = VersionFacts(
        model=model,
        version=version,
        image=str(image),
        digest=digest,
        metrics=metrics,
        aliases=tuple(sorted(a for a, v in aliases.items() if v == version)),
        previously_in=tuple(previously_in),
        tags=dict(info.tags),
        run_id=info.run_id,
    )
    return VersionState(facts, image, aliases)
