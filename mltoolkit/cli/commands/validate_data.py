"""``mltoolkit validate-data``: a GX suite on a file, a PostgreSQL table/query or Spark, gated."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mltoolkit.cli.context import emit, log, settings
from mltoolkit.errors import DeniedError, InputError

if TYPE_CHECKING:
    from mltoolkit.data.results import Outcome
    from mltoolkit.data.source import DataSource


def _publish(
    outcome: Outcome, json_file: Path | None, junit: Path | None, docs: Path | None
) -> None:
    from mltoolkit.ci import detect
    from mltoolkit.data import reports
    from mltoolkit.files import write_json_report, write_report

    if json_file is not None:
        write_json_report(json_file, outcome.to_dict())
    if junit is not None:
        write_report(junit, reports.junit_xml(outcome))
    if docs is not None:
        from mltoolkit.data.docs import write_data_docs

        index = write_data_docs(outcome, docs)
        log(f"Data Docs: {index}")
    platform = detect()
    if platform.name != "local":
        platform.summary(reports.markdown(outcome))
        stats = outcome.statistics()
        platform.set_outputs(
            {
                "verdict": outcome.verdict,
                "failed": str(stats["failed_critical"]),
                "suite-sha256": outcome.suite.sha256,
            }
        )
        for result in outcome.results:
            if not result.passed:
                text = f"{result.expectation.describe()}: {result.observed_text()}"
                report = platform.error if result.gating else platform.warning
                report(text, file=str(outcome.suite.path), line=result.expectation.line)


@click.command("validate-data")
@click.option(
    "--suite",
    "suite_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The expectation suite (YAML).",
)
@click.option(
    "--data",
    "data",
    required=True,
    metavar="SOURCE",
    help="PATH.csv|PATH.parquet, postgresql://USER@HOST/DB?table=T|?query=SQL, or spark:PATH.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON result here.",
)
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here."
)
@click.option(
    "--docs",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the Data Docs site (offline-ready HTML) into this directory.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "pandas", "duckdb"]),
    default="auto",
    show_default=True,
    help="Engine for CSV/Parquet files: DuckDB under GX's SQL engine, or pandas "
    "(auto: DuckDB when installed and every expectation runs on it).",
)
@click.option(
    "--spark-master",
    metavar="URL",
    help="Spark master for spark: sources (local[N], spark://HOST:PORT, yarn, k8s://...). "
    "Default: the policy's data.spark, $SPARK_REMOTE or $MLTOOLKIT_SPARK_MASTER, local[*].",
)
@click.option(
    "--spark-remote",
    metavar="URL",
    help="Run spark: sources on a Spark Connect server (sc://HOST:PORT) or with Databricks "
    "Connect (databricks). Tokens only from $SPARK_CONNECT_AUTHENTICATE_TOKEN.",
)
@click.option(
    "--attest",
    "attest_image",
    metavar="IMAGE@DIGEST",
    help="Attach a signed data-validation attestation to this image.",
)
@click.option("--key", "key_ref", metavar="FILE|URI", help="Private key for --attest.")
@click.option("--keyless", is_flag=True, help="Sign --attest with the CI's OIDC identity.")
def validate_data(
    *,
    suite_path: Path,
    data: str,
    json_file: Path | None,
    junit: Path | None,
    docs: Path | None,
    engine: str,
    spark_master: str | None,
    spark_remote: str | None,
    attest_image: str | None,
    key_ref: str | None,
    keyless: bool,
) -> None:
    """Validate data with a Great Expectations suite and gate on the result.

    Critical expectations (the default severity) fail the gate; warnings are reported only.
    Exit 0 when the gate passes, 1 when it fails, 2 on a bad suite or data source, 3 when the
    database, Spark or the registry fails.
    """
    from mltoolkit.data.source import SparkSource, parse_source
    from mltoolkit.data.suite import read_suite

    suite = read_suite(suite_path)
    source = parse_source(data, spark_master=spark_master, engine=engine)
    source = _place_spark(source, spark_master, spark_remote)
    signing = _prepare_attestation(attest_image, key_ref, keyless)

    from mltoolkit.data.catalog import check_suite
    from mltoolkit.data.file_engine import choose_engine
    from mltoolkit.data.gx_setup import quiet_gx
    from mltoolkit.data.reports import human
    from mltoolkit.data.run import validate

    quiet_gx(spark=source.engine == "spark")
    check_suite(suite)
    source, why_pandas = choose_engine(suite, source)
    if why_pandas:
        log(why_pandas)
    log(f"validating {source.label} ({source.engine}) with {suite.name!r}")
    outcome = validate(suite, source)
    if isinstance(source, SparkSource) and source.placement is not None:
        outcome.spark = source.placement.describe()
    _publish(outcome, json_file, junit, docs)
    result: dict[str, Any] = outcome.to_dict()
    if signing is not None:
        result["attestation"] = signing.attest(outcome)
    emit(result, human(outcome))
    if not outcome.passed:
        stats = outcome.statistics()
        first = next(r for r in outcome.results if r.gating)
        denied = DeniedError(
            f"data validation failed: {stats['failed_critical']} critical expectation(s) failed, "
            f"first {first.expectation.describe()} at line {first.expectation.line}: "
            f"{first.observed_text()}",
            where=f"{suite.path} on {source.label}",
            fix="fix the data, or the suite if the expectation is wrong",
        )
        raise denied.after_result()


def _place_spark(source: DataSource, master: str | None, remote: str | None) -> DataSource:
    """Where a spark: source runs: options, then the policy, then the environment."""
    from mltoolkit.data.source import SparkSource

    if not isinstance(source, SparkSource):
        if remote:
            raise InputError("--spark-remote only goes with spark:PATH data", where="--data")
        return source
    import dataclasses
    import os

    from mltoolkit.data.spark_placement import resolve_placement
    from mltoolkit.policy import find_policy

    policy = find_policy(settings())
    placement = resolve_placement(
        cli_master=master,
        cli_remote=remote,
        policy=policy.data.spark if policy is not None else None,
        environ=os.environ,
    )
    return dataclasses.replace(source, master=placement.master or "", placement=placement)


class _Attestation:
    """The image, registry client and signer for --attest, checked before the data is read."""

    def __init__(self, image: str, key_ref: str | None, keyless: bool) -> None:
        from mltoolkit.oci.reference import ImageRef

        self.ref = ImageRef.parse(image)
        if self.ref.digest is None:
            raise InputError(
                "--attest needs IMAGE@DIGEST: a tag can move",
                where=image,
                fix="pass the digest printed by `mltoolkit build --push`",
            )
        self.keyless = keyless
        self.signer: Any = None
        if key_ref:
            from mltoolkit.signing.keys import load_signer

            self.signer = load_signer(key_ref)

    def attest(self, outcome: Outcome) -> dict[str, Any]:
        """Sign the data-validation predicate of ``outcome`` and store it beside the image."""
        from mltoolkit.ci import detect
        from mltoolkit.data.results import PREDICATE_TYPE
        from mltoolkit.signing import cli_support
        from mltoolkit.signing.target import pinned_target

        predicate = outcome.predicate() | {"run": detect().run_info().to_dict()}
        with cli_support.open_client(settings().insecure_registries) as client:
            target = pinned_target(client, self.ref, action="attest")
            log(f"attesting {PREDICATE_TYPE} for {target}")
            if self.keyless:
                from mltoolkit.signing import dsse
                from mltoolkit.signing import keyless as keyless_mod
                from mltoolkit.signing.sign import SignResult, attach_keyless_bundle

                token = keyless_mod.id_token(cli_support.platform_name())
                stmt = dsse.statement(target.name, target.digest.hex, PREDICATE_TYPE, predicate)
                signed = SignResult(str(target), "keyless (OIDC)")
                signed.written["bundle"] = attach_keyless_bundle(
                    client, target, stmt, PREDICATE_TYPE, token
                )
            else:
                from mltoolkit.signing.attest import attest_image

                signed = attest_image(client, target, self.signer, PREDICATE_TYPE, predicate)
        return signed.as_dict() | {"predicate_type": PREDICATE_TYPE}


def _prepare_attestation(
    image: str | None, key_ref: str | None, keyless: bool
) -> _Attestation | None:
    if image is None:
        if key_ref or keyless:
            raise InputError("--key and --keyless only go with --attest", where="validate-data")
        return None
    if bool(key_ref) == keyless:
        raise InputError("--attest needs exactly one of --key and --keyless", where="validate-data")
    return _Attestation(image, key_ref, keyless)
