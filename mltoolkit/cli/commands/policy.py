"""`mltoolkit policy`: check the policy file and print its JSON Schema.

Each subcommand is a plain function on the `policy` group; add more with ``@policy.command``.
"""

from __future__ import annotations

from datetime import timedelta

import click

from mltoolkit.cli.context import emit, log, settings
from mltoolkit.policy import Environment, Policy, require_policy
from mltoolkit.policy.schema import schema_text


@click.group("policy")
def policy() -> None:
    """Check the policy file (mltoolkit.yaml) and print its JSON Schema."""


@policy.command("validate")
@click.option("--json", "json_output", is_flag=True, help="Print the result as one JSON document.")
def validate(json_output: bool) -> None:
    """Load the policy (--policy, $MLTOOLKIT_POLICY or ./mltoolkit.yaml) and summarize it.

    Exits 2 with the file, line and key of the first problem when the policy is invalid.
    """
    current = settings()
    if json_output:
        current.json_output = True
    loaded = require_policy(current)
    warnings = missing_files(loaded)
    for warning in warnings:
        log(f"warning: {warning}")
    result = {
        "ok": True,
        **loaded.to_dict(),
        # JSON output sorts keys: the document order of environments is kept here.
        "environment_order": list(loaded.environments),
        "warnings": warnings,
    }
    emit(result, summary(loaded))


@policy.command("schema")
def schema() -> None:
    """Print the JSON Schema of the policy file (draft 2020-12), for editors and CI checks."""
    click.echo(schema_text(), nl=False)


def missing_files(loaded: Policy) -> list[str]:
    """Files the policy names that do not exist: valid YAML, but a gate would fail on them."""
    warnings = [
        f"trust.keys.{name}: key file {key.path} does not exist"
        for name, key in loaded.trust.keys.items()
        if key.path is not None and not key.path.is_file()
    ]
    ignore_file = loaded.gates.scan.ignore_file
    if ignore_file is not None and not ignore_file.is_file():
        warnings.append(f"gates.scan.ignore-file: {ignore_file} does not exist")
    return warnings


def summary(loaded: Policy) -> str:
    """A few lines a person reads: signers, gates, environments in promotion order."""
    signers = loaded.trust.signers
    lines = [
        f"policy {loaded.path}: valid (version {loaded.version})",
        "signers: " + (", ".join(f"{name} ({s.kind})" for name, s in signers.items()) or "none"),
        f"gates: {_scan_text(loaded)}; {_data_text(loaded)}",
    ]
    if not loaded.environments:
        lines.append("environments: none")
    else:
        lines.append("environments:")
        lines.extend(f"  {_environment_text(env)}" for env in loaded.environments.values())
    return "\n".join(lines)


def _duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _scan_text(loaded: Policy) -> str:
    scan = loaded.gates.scan
    parts = [
        "scan never fails" if scan.fail_on is None else f"scan fails on {scan.fail_on} and above",
        f"reports {scan.report_severity} and above",
        "scanners " + ", ".join(scan.scanners),
    ]
    if scan.ignore_unfixed:
        parts.append("ignores unfixed")
    if scan.max_db_age is not None:
        parts.append(f"database at most {_duration_text(scan.max_db_age)} old")
    return ", ".join(parts)


def _data_text(loaded: Policy) -> str:
    data = loaded.gates.data
    text = f"data needs {data.min_success_percent:g}% of expectations to pass"
    if data.max_age is not None:
        text += f", results at most {_duration_text(data.max_age)} old"
    return text


def _environment_text(env: Environment) -> str:
    parts = [
        f"{env.name} ({f'from {env.from_env}' if env.from_env else 'first'}): {env.repository}",
        "requires " + (", ".join(env.requires) or "nothing"),
    ]
    if env.metrics:
        parts.append("metrics " + ", ".join(f"{k} {t}" for k, t in env.metrics.items()))
    approvals = env.approvals
    if approvals is not None:
        text = f"{approvals.required} approval{'s' if approvals.required > 1 else ''}"
        if approvals.from_signers:
            text += " from " + ", ".join(approvals.from_signers)
        if approvals.separation_of_duties:
            text += ", not by the builder"
        if approvals.max_age is not None:
            text += f", at most {_duration_text(approvals.max_age)} old"
        parts.append(text)
    return "; ".join(parts)


@policy.command("export")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["containers-policy", "kyverno", "policy-controller"]),
    help="containers/image policy.json, a Kyverno ClusterPolicy or a sigstore ClusterImagePolicy.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file.")
def export(fmt: str, output: str | None) -> None:
    """Turn the policy's trusted keys and identities into an admission enforcer's file."""
    from mltoolkit.files import write_report
    from mltoolkit.signing.export import export_policy

    result = export_policy(require_policy(settings()), fmt)
    for warning in result.warnings:
        log(f"warning: {warning}")
    if output is None:
        click.echo(result.text, nl=False)
    else:
        from pathlib import Path

        write_report(Path(output), result.text)
        log(f"{fmt} written to {output}")
