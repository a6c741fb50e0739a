"""The policy as typed, immutable values: what ``load_policy`` returns.

YAML keys are kebab-case (``fail-on``); the attributes here are their snake_case twins
(``fail_on``). Nothing in this module reads files or raises: the loader checks everything first.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from mltoolkit.signing.certificate_claims import ClaimRule

SUPPORTED_VERSION = 1


class EvidenceType(StrEnum):
    """The kinds of signed evidence mltoolkit produces and checks."""

    SIGNATURE = "signature"
    SBOM = "sbom"
    VULNERABILITY_SCAN = "vulnerability-scan"
    DATA_VALIDATION = "data-validation"
    PROVENANCE = "provenance"
    MODEL_SIGNATURE = "model-signature"
    APPROVAL = "approval"
    PROMOTION = "promotion"


# What an environment may list under `requires`; approvals and promotions have their own keys.
REQUIRABLE_EVIDENCE: tuple[EvidenceType, ...] = (
    EvidenceType.SIGNATURE,
    EvidenceType.SBOM,
    EvidenceType.VULNERABILITY_SCAN,
    EvidenceType.DATA_VALIDATION,
    EvidenceType.PROVENANCE,
    EvidenceType.MODEL_SIGNATURE,
)


class Severity(StrEnum):
    """Vulnerability severities, in trivy's names, from least to most severe."""

    UNKNOWN = "UNKNOWN"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """0 for UNKNOWN up to 4 for CRITICAL."""
        return list(Severity).index(self)

    def at_or_above(self) -> tuple[Severity, ...]:
        """This severity and every more severe one (trivy's ``--severity`` list)."""
        return tuple(s for s in Severity if s.rank >= self.rank)


class Scanner(StrEnum):
    """trivy scanners the scan gate runs."""

    VULN = "vuln"
    SECRET = "secret"  # noqa: S105 - a scanner name, not a password
    MISCONFIG = "misconfig"


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
THRESHOLD_OPERATORS: tuple[str, ...] = tuple(_COMPARISONS)


@dataclass(frozen=True)
class Threshold:
    """A metric bound such as ``>= 0.90``: ``op`` is one of >=, >, <=, <, ==."""

    op: str
    value: float

    def accepts(self, measured: float) -> bool:
        """True when ``measured`` satisfies the bound."""
        return _COMPARISONS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class KeySigner:
    """A signer known by its public key: a file (absolute, resolved from the policy's
    directory) or a KMS URI (``awskms://``, ``gcpkms://``, ``azurekms://``, ``hashivault://``)."""

    name: str
    path: Path | None = None
    uri: str | None = None

    @property
    def kind(self) -> str:
        return "key"

    @property
    def reference(self) -> str:
        """The key file or URI, as text."""
        return str(self.path) if self.path is not None else str(self.uri)


@dataclass(frozen=True)
class IdentitySigner:
    """A keyless (Sigstore) signer: an OIDC issuer and a certificate subject, each given
    exactly or as a regular expression (exactly one of each pair is set), and ``claims``:
    Fulcio certificate extensions (``source-repository-uri``...) that must fit as well."""

    name: str
    issuer: str | None = None
    issuer_regexp: str | None = None
    subject: str | None = None
    subject_regexp: str | None = None
    claims: tuple[ClaimRule, ...] = ()

    @property
    def kind(self) -> str:
        return "identity"

    def matches(
        self, issuer: str, subject: str, claims: Mapping[str, str] = MappingProxyType({})
    ) -> bool:
        """True when a certificate's OIDC issuer, subject and extension ``claims`` (by claim
        name) fit this identity; a claim the identity pins and ``claims`` lacks does not fit.

        Regexps must match the whole value (``re.fullmatch``): an unanchored pattern cannot
        be satisfied by a longer subject that merely contains it.
        """
        return (
            _fits(issuer, self.issuer, self.issuer_regexp)
            and _fits(subject, self.subject, self.subject_regexp)
            and all(rule.mismatch(claims) is None for rule in self.claims)
        )

    @property
    def reference(self) -> str:
        """``issuer subject [claim=value...]``, regexps shown as ``~regexp``."""
        issuer = self.issuer if self.issuer is not None else f"~{self.issuer_regexp}"
        subject = self.subject if self.subject is not None else f"~{self.subject_regexp}"
        return " ".join([issuer, subject, *(str(rule) for rule in self.claims)])


def _fits(value: str, exact: str | None, pattern: str | None) -> bool:
    if exact is not None:
        return value == exact
    return pattern is not None and re.fullmatch(pattern, value) is not None


Signer = KeySigner | IdentitySigner


K = TypeVar("K")
V = TypeVar("V")


def _frozen(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Trust:
    """Who is trusted to sign what.

    ``evidence`` maps an evidence type to the names of the signers trusted for it. When the
    policy has no ``trust.evidence`` section (``evidence is None``) every signer is trusted for
    every type; when it has one, a type it does not list has no trusted signer at all.
    """

    keys: Mapping[str, KeySigner] = field(default_factory=_frozen)
    identities: Mapping[str, IdentitySigner] = field(default_factory=_frozen)
    evidence: Mapping[EvidenceType, tuple[str, ...]] | None = None

    @property
    def signers(self) -> Mapping[str, Signer]:
        """Every named signer, keys first."""
        merged: dict[str, Signer] = {**self.keys, **self.identities}
        return MappingProxyType(merged)

    def signers_for(self, kind: EvidenceType) -> tuple[Signer, ...]:
        """The signers whose ``kind`` evidence a gate may trust."""
        signers = self.signers
        if self.evidence is None:
            return tuple(signers.values())
        return tuple(signers[name] for name in self.evidence.get(kind, ()))


@dataclass(frozen=True)
class ScanGate:
    """How the vulnerability scan gate decides.

    ``fail_on`` is the least severity that fails the gate (``None``: never fail, YAML ``NONE``);
    ``report_severity`` the least severity reported; ``max_db_age`` refuses a vulnerability
    database older than that (72 hours unless the policy says otherwise).
    """

    fail_on: Severity | None = Severity.HIGH
    report_severity: Severity = Severity.UNKNOWN
    ignore_unfixed: bool = False
    ignore_file: Path | None = None
    max_db_age: timedelta | None = timedelta(hours=72)
    scanners: tuple[Scanner, ...] = (Scanner.VULN, Scanner.SECRET)

    def fails_on(self, severity: Severity) -> bool:
        """True when a finding of ``severity`` fails the gate."""
        return self.fail_on is not None and severity.rank >= self.fail_on.rank


@dataclass(frozen=True)
class DataGate:
    """How the data validation gate decides: the least share of expectations that must pass
    (in percent) and how old a validation result may be (``None``: any age)."""

    min_success_percent: float = 100.0
    max_age: timedelta | None = None


@dataclass(frozen=True)
class Gates:
    """The gate settings shared by every environment."""

    scan: ScanGate = field(default_factory=ScanGate)
    data: DataGate = field(default_factory=DataGate)


@dataclass(frozen=True)
class Approvals:
    """Human approvals an environment needs: ``required`` distinct approvers among
    ``from_signers`` (empty: the signers trusted for approval evidence), never the builder
    when ``separation_of_duties``, none older than ``max_age`` (``None``: any age)."""

    required: int
    from_signers: tuple[str, ...] = ()
    separation_of_duties: bool = True
    max_age: timedelta | None = None


@dataclass(frozen=True)
class Environment:
    """A deployment stage: where its images live, where they come from and what they need."""

    name: str
    repository: str
    from_env: str | None = None
    requires: tuple[EvidenceType, ...] = ()
    metrics: Mapping[str, Threshold] = field(default_factory=_frozen)
    approvals: Approvals | None = None


@dataclass(frozen=True)
class Registries:
    """Registry settings: hosts (``host[:port]``) reached over plain HTTP."""

    insecure: tuple[str, ...] = ()


@dataclass(frozen=True)
class SparkSettings:
    """Where ``spark:PATH`` data is validated: a ``master`` URL or a Spark Connect ``remote``
    (``sc://...`` or ``databricks``), never both, plus ``conf`` for the session. ``origin`` is
    ``file:line`` of the setting, for messages."""

    master: str | None = None
    remote: str | None = None
    conf: Mapping[str, str] = field(default_factory=_frozen)
    origin: str | None = None


@dataclass(frozen=True)
class DataSettings:
    """Settings of the data validation engines."""

    spark: SparkSettings = field(default_factory=SparkSettings)


@dataclass(frozen=True)
class Policy:
    """A loaded, checked ``mltoolkit.yaml``."""

    path: Path
    version: int = SUPPORTED_VERSION
    registries: Registries = field(default_factory=Registries)
    trust: Trust = field(default_factory=Trust)
    gates: Gates = field(default_factory=Gates)
    environments: Mapping[str, Environment] = field(default_factory=_frozen)
    data: DataSettings = field(default_factory=DataSettings)

    def approvers(self, environment: Environment) -> tuple[Signer, ...]:
        """The signers whose approvals count for ``environment``."""
        if environment.approvals is not None and environment.approvals.from_signers:
            signers = self.trust.signers
            return tuple(signers[name] for name in environment.approvals.from_signers)
        return self.trust.signers_for(EvidenceType.APPROVAL)

    def promotion_path(self, name: str) -> tuple[str, ...]:
        """The environments an image passes through to reach ``name``, first one first."""
        path: list[str] = []
        current: str | None = name
        while current is not None:
            path.append(current)
            current = self.environments[current].from_env
        return tuple(reversed(path))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view with the YAML's key names (durations in seconds)."""
        return {
            "path": str(self.path),
            "version": self.version,
            "registries": {"insecure": list(self.registries.insecure)},
            "trust": _trust_dict(self.trust),
            "gates": _gates_dict(self.gates),
            "environments": {
                name: _environment_dict(env) for name, env in self.environments.items()
            },
            "data": {"spark": _spark_dict(self.data.spark)},
        }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _trust_dict(trust: Trust) -> dict[str, Any]:
    return {
        "keys": {
            name: {"path": str(k.path)} if k.path is not None else {"uri": k.uri}
            for name, k in trust.keys.items()
        },
        "identities": {
            name: {
                key: value
                for key, value in (
                    ("issuer", i.issuer),
                    ("issuer-regexp", i.issuer_regexp),
                    ("subject", i.subject),
                    ("subject-regexp", i.subject_regexp),
                )
                if value is not None
            }
            | ({"claims": _claims_dict(i.claims)} if i.claims else {})
            for name, i in trust.identities.items()
        },
        "evidence": None
        if trust.evidence is None
        else {str(kind): list(names) for kind, names in trust.evidence.items()},
    }


def _claims_dict(claims: tuple[ClaimRule, ...]) -> dict[str, str]:
    return {rule.key: rule.given for rule in claims}


def _gates_dict(gates: Gates) -> dict[str, Any]:
    scan = gates.scan
    return {
        "scan": {
            "fail-on": str(scan.fail_on) if scan.fail_on is not None else "NONE",
            "report-severity": str(scan.report_severity),
            "ignore-unfixed": scan.ignore_unfixed,
            "ignore-file": None if scan.ignore_file is None else str(scan.ignore_file),
            "max-db-age-seconds": _seconds(scan.max_db_age),
            "scanners": [str(s) for s in scan.scanners],
        },
        "data": {
            "min-success-percent": gates.data.min_success_percent,
            "max-age-seconds": _seconds(gates.data.max_age),
        },
    }


def _spark_dict(spark: SparkSettings) -> dict[str, Any]:
    return {"master": spark.master, "remote": spark.remote, "conf": dict(spark.conf)}


def _environment_dict(env: Environment) -> dict[str, Any]:
    approvals = env.approvals
    return {
        "from": env.from_env,
        "repository": env.repository,
        "requires": [str(kind) for kind in env.requires],
        "metrics": {name: str(t) for name, t in env.metrics.items()},
        "approvals": None
        if approvals is None
        else {
            "required": approvals.required,
            "from": list(approvals.from_signers),
            "separation-of-duties": approvals.separation_of_duties,
            "max-age-seconds": _seconds(approvals.max_age),
        },
    }
