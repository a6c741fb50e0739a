"""`mltoolkit status MODEL`: versions, aliases, image digests, evidence and approvals."""

from __future__ import annotations

from typing import Any

import click

from mltoolkit.cli.context import emit, settings


@click.command("status")
@click.argument("model")
@click.option("--version", "version_text", metavar="N", help="Show only this version.")
@click.option(
    "--verify",
    is_flag=True,
    help="Also verify the evidence on each version's image now (policy trust or --evidence-key).",
)
@click.option(
    "--evidence-key",
    "evidence_keys",
    multiple=True,
    metavar="PUB",
    help="With --verify: trust this key (default: the policy's trust section).",
)
def status(
    model: str, version_text: str | None, verify: bool, evidence_keys: tuple[str, ...]
) -> None:
    """Show MODEL's versions: aliases, image and model digests, signature and evidence recorded.

    The evidence shown is what register verified and recorded in MLflow tags; --verify checks
    the signatures stored next to each image again now (as promotion gates do). With a policy,
    the approvals on each image are listed, verified against its trust, each counted or not
    for its environment as `promote` would count it, and why.
    """
    from mltoolkit.models.location import check_model_name, normalise_version, resolve_location
    from mltoolkit.models.status import model_status, render_table
    from mltoolkit.models.store import open_store

    location = resolve_location()
    check_model_name(model, location, where="MODEL")
    version = normalise_version(version_text) if version_text is not None else None
    store = open_store(location, verbose=settings().verbose)
    doc = model_status(store, model, version)
    _check_registry(doc, verify, evidence_keys)
    emit(doc, render_table(doc))


def _check_registry(doc: dict[str, Any], verify: bool, evidence_keys: tuple[str, ...]) -> None:
    """With --verify: evidence verified now; with a policy: the approvals on each image."""
    from datetime import UTC, datetime

    from mltoolkit.models.status import add_approvals, recheck_evidence, skip_approvals
    from mltoolkit.policy.loader import find_policy
    from mltoolkit.signing.cli_support import open_client

    policy = find_policy(settings())
    if policy is None:
        skip_approvals(doc, "no policy to verify them against (pass --policy FILE)")
    if not verify and policy is None:
        return
    insecure = tuple(settings().insecure_registries)
    if policy is not None:
        insecure += tuple(policy.registries.insecure)
    with open_client(insecure) as client:
        reports = {}
        if verify:
            reports = recheck_evidence(
                doc, client, evidence_keys, None if evidence_keys else policy
            )
        if policy is not None:
            add_approvals(doc, client, policy, datetime.now(UTC), {} if evidence_keys else reports)
