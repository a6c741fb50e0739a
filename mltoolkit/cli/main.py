"""Entry point: the click group, lazy command loading and the one place errors are caught."""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from mltoolkit import __version__, heap
from mltoolkit.cli.context import Settings
from mltoolkit.errors import Error, ExitCode

# name -> (module:attribute, one-line help). The help lives here so that `mltoolkit --help`
# imports no command module at all; each module imports its heavy libraries inside the command.
# Only commands that work are listed.
COMMANDS: dict[str, tuple[str, str]] = {
    "register": ("mltoolkit.cli.commands.register:register", "Register a model for an image."),
    "status": ("mltoolkit.cli.commands.status:status", "Show a model's versions and lineage."),
    "promote": ("mltoolkit.cli.commands.promote:promote", "Promote a version through its gates."),
    "approve": ("mltoolkit.cli.commands.approve:approve", "Sign an approval of a version."),
    "audit": ("mltoolkit.cli.commands.audit:audit", "Verify and tell a model's promotions."),
    "report": ("mltoolkit.cli.commands.report:report", "Write a release page for a version."),
    "verify-model": ("mltoolkit.cli.commands.verify_model:verify_model", "Verify a signed model."),
    "model-digest": ("mltoolkit.cli.commands.verify_model:model_digest", "Print a model digest."),
    "build": ("mltoolkit.cli.commands.build:build", "Build an image with Docker and push it."),
    "policy": ("mltoolkit.cli.commands.policy:policy", "Check the policy file and export it."),
    "keys": ("mltoolkit.cli.commands.keys:keys", "Generate cosign-compatible signing keys."),
    "sign": ("mltoolkit.cli.commands.sign:sign", "Sign an image digest (cosign-compatible)."),
    "verify": ("mltoolkit.cli.commands.verify:verify", "Verify an image's signatures."),
    "attest": ("mltoolkit.cli.commands.attest:attest", "Attach a signed in-toto attestation."),
    "verify-attestation": (
        "mltoolkit.cli.commands.attest:verify_attestation",
        "Verify and print an image's attestations.",
    ),
    "scan": ("mltoolkit.cli.commands.scan:scan", "Scan IMAGE@DIGEST with trivy and gate it."),
    "sbom": ("mltoolkit.cli.commands.sbom:sbom", "Write a CycloneDX SBOM of IMAGE@DIGEST."),
    "validate-data": (
        "mltoolkit.cli.commands.validate_data:validate_data",
        "Validate data with a GX suite and gate.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is run or asked for help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring bug
            raise TypeError(f"{entry[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mltoolkit")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Policy file (default: mltoolkit.yaml, or $MLTOOLKIT_POLICY).",
)
@click.option("--json", "json_output", is_flag=True, help="Print the result as one JSON document.")
@click.option("--verbose", "-v", is_flag=True, help="Show debug output and tracebacks.")
@click.option(
    "--insecure-registry",
    "insecure_registries",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Reach this registry over plain HTTP (loopback registries always are).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    policy_path: Path | None,
    json_output: bool,
    verbose: bool,
    insecure_registries: tuple[str, ...],
) -> None:
    """Secure ML delivery: build, sign, scan, validate, register and promote models,
    with signed evidence at every step.

    Exit codes: 0 done, 1 a gate or verification said no, 2 bad usage or input,
    3 an outside service or tool failed.
    """
    env_policy = os.environ.get("MLTOOLKIT_POLICY")
    explicit = policy_path is not None or bool(env_policy)
    path = policy_path or Path(env_policy or "mltoolkit.yaml")
    ctx.obj = Settings(
        policy_path=path,
        policy_explicit=explicit,
        json_output=json_output,
        verbose=verbose,
        insecure_registries=insecure_registries,
    )


def _wants(flag: str, argv: list[str]) -> bool:
    """Whether a global flag stands before the command name.

    The global flags are read from argv too, so that an error raised while click is still
    parsing is rendered the way the user asked. Only the part before the command counts: a
    command's own ``--json FILE`` (scan, validate-data) is not the global flag.
    """
    takes_value = {"--policy", "--insecure-registry"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == flag:
            return True
        if arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return False
    return False


def _fail(code: int, line: str, *, json_output: bool, kind: str) -> NoReturn:
    # Error text can quote values a user passed; never let a masked secret through.
    from mltoolkit.ci.masking import redact

    line = redact(line)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # An annotation puts the reason on the run's summary page, not only in the log.
        from mltoolkit.ci.github import GitHubActions

        GitHubActions(os.environ).error(line)
    else:
        click.echo(f"error: {line}", err=True)
    if json_output:
        _print_json({"ok": False, "exit_code": code, "error": {"kind": kind, "message": line}})
    sys.exit(code)


def _print_json(doc: dict[str, Any]) -> None:
    import json  # only on the paths that print JSON: start-up stays small

    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def _traceback() -> None:
    import traceback

    traceback.print_exc()


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; every failure ends here as one line and an exit code."""
    if argv is None:
        # NOTE: the process ends with this command. Freezing every object once the other exit
        # handlers have run (atexit is last-in, first-out) spares the interpreter's final
        # garbage collection a walk over all of them: about 10 ms of each short command.
        atexit.register(gc.freeze)
        heap.short_lived()
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = _wants("--verbose", args) or _wants("-v", args)
    json_output = _wants("--json", args)
    try:
        # An explicit width spares click's help formatter the import of shutil (and zlib, bz2,
        # lzma behind it): a measurable share of `mltoolkit --help`.
        width = (
            int(os.environ.get("COLUMNS", "80")) if os.environ.get("COLUMNS", "").isdigit() else 80
        )
        returned = cli.main(
            args=args,
            prog_name="mltoolkit",
            standalone_mode=False,
            terminal_width=min(width, 120),
        )
    except Error as exc:
        if verbose:
            _traceback()
        kind = type(exc).__name__
        document = json_output and not exc.result_emitted
        _fail(int(exc.exit_code), exc.diagnostics(), json_output=document, kind=kind)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message(), err=True)
        if json_output:
            where = exc.ctx.command_path if exc.ctx is not None else "mltoolkit"
            message = f"{where}: missing a command"
            error = {"kind": "UsageError", "message": message}
            _print_json({"ok": False, "exit_code": int(ExitCode.USAGE), "error": error})
        sys.exit(int(ExitCode.USAGE))
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "mltoolkit"
        hint = f"see '{where} --help'"
        message = exc.format_message().rstrip(".")
        _fail(
            int(ExitCode.USAGE),
            f"{where}: {message}; {hint}",
            json_output=json_output,
            kind="UsageError",
        )
    except click.ClickException as exc:
        _fail(exc.exit_code, exc.format_message(), json_output=json_output, kind="ClickException")
    except click.exceptions.Abort:
        _fail(130, "interrupted", json_output=json_output, kind="Abort")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail(130, "interrupted", json_output=json_output, kind="Abort")
    except Exception as exc:  # a bug: still one line, with how to get the details
        if verbose:
            _traceback()
        _fail(
            int(ExitCode.EXTERNAL),
            f"unexpected {type(exc).__name__}: {exc}; rerun with --verbose and report it",
            json_output=json_output,
            kind="InternalError",
        )
    # Without standalone mode click hands back the code of a ctx.exit(N) instead of exiting.
    sys.exit(returned if isinstance(returned, int) and not isinstance(returned, bool) else 0)
