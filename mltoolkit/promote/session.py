"""What the promote, approve, audit and report commands open: the policy, MLflow, the registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mltoolkit.cli.context import Settings
    from mltoolkit.models.store import ModelStore
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.policy.model import Policy


@dataclass
class Session:
    """The services one command run talks to."""

    policy: Policy
    store: ModelStore
    client: RegistryClient
    audit_path: Path


@contextmanager
def open_session(
    opts: Settings, audit_log: Path | None = None, *, policy: Policy | None = None
) -> Iterator[Session]:
    """Load the policy (required; unless ``policy`` is the one the command already loaded),
    open MLflow and a registry client; close them after."""
    from mltoolkit.audit.log import log_path
    from mltoolkit.models.location import resolve_location
    from mltoolkit.models.store import open_store
    from mltoolkit.oci.registry import RegistryClient
    from mltoolkit.policy.loader import require_policy

    if policy is None:
        policy = require_policy(opts)
    location = resolve_location()
    path = audit_log or log_path(location)
    store = open_store(location, verbose=opts.verbose)
    insecure = tuple(opts.insecure_registries) + tuple(policy.registries.insecure)
    with RegistryClient(insecure=insecure) as client:
        yield Session(policy, store, client, path)


def parse_version(value: str) -> int:
    """``--version N`` as an int (InputError otherwise)."""
    from mltoolkit.models.location import normalise_version

    return normalise_version(value)
