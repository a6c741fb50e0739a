"""`mltoolkit status MODEL`: versions, aliases, image digests and recorded evidence."""

from __future__ import annotations

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
    the signatures stored next to each image again now (as promotion gates do).
    """
    from mltoolkit.models.location import check_model_name, normalise_version, resolve_location
    from mltoolkit.models.status import model_status, render_table
    from mltoolkit.models.store import open_store

    location = resolve_location()
    check_model_name(model, location, where="MODEL")
    version = normalise_version(version_text) if version_text is not None else None
    store = open_store(location, verbose=settings().verbose)
    doc = model_status(store, model, version)
    if verify:
        from mltoolkit.models.status import recheck_evidence
        from mltoolkit.policy.loader import find_policy
        from mltoolkit.signing.cli_support import open_client

        policy = None if evidence_keys else find_policy(settings())
        with open_client(settings().insecure_registries) as client:
            recheck_evidence(doc, client, evidence_keys, policy)
    emit(doc, render_table(doc))
