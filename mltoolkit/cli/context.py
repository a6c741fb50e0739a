"""What every command shares: the global options and how a result is rendered.

Results go to stdout (one JSON document with ``--json``, readable text otherwise); logs and
progress go to stderr so that ``--json`` output can be piped into other tools.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click


@dataclass
class Settings:
    """The global options, parsed once by the group."""

    policy_path: Path = Path("mltoolkit.yaml")
    policy_explicit: bool = False
    json_output: bool = False
    verbose: bool = False
    insecure_registries: tuple[str, ...] = field(default_factory=tuple)


def settings() -> Settings:
    """The settings of the running command (defaults when called outside a click context)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, Settings):
            return ctx.obj
        ctx = ctx.parent
    return Settings()


def log(message: str) -> None:
    """A progress line for people, on stderr."""
    click.echo(message, err=True)


def debug(message: str) -> None:
    """A line shown only with ``--verbose``."""
    if settings().verbose:
        click.echo(message, err=True)


def emit(result: dict[str, Any], human: str | None = None) -> None:
    """Print a command's result: the JSON document with ``--json``, else ``human`` (if any)."""
    if settings().json_output:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()
    elif human is not None:
        click.echo(human)
