"""Read ``mltoolkit.yaml`` into a ``Policy``, strictly.

Every key is known, every value has its type, every name refers to something that exists: a
typo must never switch a gate off silently. Each error is one line,
``file:line: key.path: message; fix``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, TypeVar

import yaml

from mltoolkit.errors import InputError
from mltoolkit.policy import values
from mltoolkit.policy.model import (
    REQUIRABLE_EVIDENCE,
    SUPPORTED_VERSION,
    Approvals,
    DataGate,
    DataSettings,
    Environment,
    EvidenceType,
    Gates,
    IdentitySigner,
    KeySigner,
    Policy,
    Registries,
    ScanGate,
    Scanner,
    Severity,
    SparkSettings,
    Threshold,
    Trust,
)
from mltoolkit.policy.yamltree import (
    Field,
    Source,
    describe,
    did_you_mean,
    refuse_duplicates,
    suggestion,
)
from mltoolkit.signing.certificate_claims import CLAIM_NAMES, REGEXP_SUFFIX, ClaimRule

DEFAULT_POLICY_FILE = "mltoolkit.yaml"

T = TypeVar("T")


class PolicyLocation(Protocol):
    """What ``find_policy`` needs from the CLI settings."""

    policy_path: Path
    policy_explicit: bool


def find_policy(settings: PolicyLocation) -> Policy | None:
    """The policy named by ``--policy`` / ``$MLTOOLKIT_POLICY`` / ``./mltoolkit.yaml``.

    None when no policy was named and the default file does not exist; an InputError when a
    named file is missing or any policy is invalid.
    """
    if not settings.policy_explicit and not settings.policy_path.exists():
        return None
    return load_policy(settings.policy_path)


def require_policy(settings: PolicyLocation) -> Policy:
    """Like ``find_policy``, but a missing policy is an error (for commands that need one)."""
    policy = find_policy(settings)
    if policy is None:
        raise InputError(
            f"no policy file: {settings.policy_path} does not exist",
            fix="create it (see examples/policy/mltoolkit.yaml) or pass --policy FILE",
        )
    return policy


def load_policy(path: Path) -> Policy:
    """Load and check the policy at ``path``; every problem is an InputError naming file:line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            "policy file not found",
            where=str(path),
            fix="check --policy and $MLTOOLKIT_POLICY, or create it "
            "(see examples/policy/mltoolkit.yaml)",
        ) from None
    except IsADirectoryError:
        raise InputError("the policy path is a directory, not a file", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the policy file: {exc.strerror}", where=str(path)) from None
    source = Source(str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise source.error(line, "", "the file is not UTF-8 text") from None
    root = source.compose(text)
    if root is None:
        raise source.error(1, "", "the policy file is empty", fix="start it with 'version: 1'")
    return _PolicyReader(path).policy(root)


_SEVERITIES = [str(s) for s in Severity]
_EVIDENCE_TYPES = [str(e) for e in EvidenceType]
_REQUIRABLE = [str(e) for e in REQUIRABLE_EVIDENCE]
_SCANNERS = [str(s) for s in Scanner]


class _PolicyReader:
    """One pass over the document, section by section, then the cross-references."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.absolute().parent
        self.trusted = Trust()

    def policy(self, root: Field) -> Policy:
        if not isinstance(root.node, yaml.MappingNode):
            raise root.error(
                f"the policy must be a mapping of keys to values, not {root.kind()}",
                fix="start it with 'version: 1'",
            )
        fields = root.record(
            required=["version"],
            optional=["registries", "trust", "gates", "environments", "data"],
        )
        # Sections in their documented order; environments last, as they refer to signers.
        self.version(fields["version"])
        registries = self.optional(fields, "registries", self.registries, Registries())
        self.trusted = self.optional(fields, "trust", self.trust, Trust())
        gates = self.optional(fields, "gates", self.gates, Gates())
        no_environments: dict[str, Environment] = {}
        environments = self.optional(fields, "environments", self.environments, no_environments)
        data = self.optional(fields, "data", self.data, DataSettings())
        return Policy(
            path=self.path,
            version=SUPPORTED_VERSION,
            registries=registries,
            trust=self.trusted,
            gates=gates,
            environments=MappingProxyType(environments),
            data=data,
        )

    @staticmethod
    def optional(fields: dict[str, Field], key: str, read: Callable[[Field], T], default: T) -> T:
        return read(fields[key]) if key in fields else default

    @staticmethod
    def version(field: Field) -> None:
        version = field.integer(expected=f"the integer {SUPPORTED_VERSION}")
        if version != SUPPORTED_VERSION:
            raise field.error(
                f"unsupported version {version} (this mltoolkit reads {SUPPORTED_VERSION})",
                fix=f"write 'version: {SUPPORTED_VERSION}' or upgrade mltoolkit",
            )

    # -- registries --------------------------------------------------------------------------

    def registries(self, field: Field) -> Registries:
        fields = field.record(optional=["insecure"])
        insecure: list[tuple[Field, str]] = []
        if "insecure" in fields:
            for item in fields["insecure"].items():
                host = item.string(values.HOST_HINT)
                if not values.valid_host(host):
                    raise item.error(f"must be {values.HOST_HINT}, not {host!r}")
                insecure.append((item, host))
        refuse_duplicates(insecure)
        return Registries(insecure=tuple(host for _, host in insecure))

    # -- trust -------------------------------------------------------------------------------

    def trust(self, field: Field) -> Trust:
        fields = field.record(optional=["keys", "identities", "evidence"])
        keys = {
            name: self.key(name, value)
            for name, value in self.named(fields.get("keys"), "signer").items()
        }
        identities: dict[str, IdentitySigner] = {}
        for name, value in self.named(fields.get("identities"), "signer").items():
            if name in keys:
                raise value.error(
                    f"the signer name '{name}' is already used by trust.keys.{name}",
                    fix="give each signer its own name",
                    at_key=True,
                )
            identities[name] = self.identity(name, value)
        signer_names = [*keys, *identities]
        evidence = None
        if "evidence" in fields:
            evidence = self.evidence(fields["evidence"], signer_names)
        return Trust(
            keys=MappingProxyType(keys),
            identities=MappingProxyType(identities),
            evidence=None if evidence is None else MappingProxyType(evidence),
        )

    @staticmethod
    def named(field: Field | None, what: str) -> dict[str, Field]:
        """A mapping whose keys are names the user chooses (signers, environments)."""
        if field is None:
            return {}
        fields = field.entries()
        for name, value in fields.items():
            if not _matches(values.NAME_PATTERN, name):
                raise value.error(
                    f"{what} names must start with a letter or digit and hold only letters, "
                    "digits, '.', '_' and '-'",
                    at_key=True,
                )
        return fields

    def key(self, name: str, field: Field) -> KeySigner:
        fields = field.record(optional=["path", "uri"])
        if len(fields) != 1:
            raise field.error(
                "give exactly one of 'path' (a public key file) or 'uri' (a KMS key)",
                at_key=True,
            )
        if "path" in fields:
            return KeySigner(name=name, path=self.base / fields["path"].string("a file path"))
        uri = fields["uri"].matching(values.KMS_URI_PATTERN, values.KMS_URI_HINT)
        return KeySigner(name=name, uri=uri)

    @staticmethod
    def identity(name: str, field: Field) -> IdentitySigner:
        fields = field.record(
            optional=["issuer", "issuer-regexp", "subject", "subject-regexp", "claims"]
        )
        found: dict[str, str] = {}
        for exact in ("issuer", "subject"):
            given = [key for key in (exact, f"{exact}-regexp") if key in fields]
            if len(given) != 1:
                raise field.error(f"give exactly one of '{exact}' or '{exact}-regexp'", at_key=True)
            key = given[0]
            text = fields[key].string()
            if key.endswith("-regexp"):
                _check_regexp(fields[key], text)
            found[key] = text
        return IdentitySigner(
            name=name,
            issuer=found.get("issuer"),
            issuer_regexp=found.get("issuer-regexp"),
            subject=found.get("subject"),
            subject_regexp=found.get("subject-regexp"),
            claims=_claims(fields["claims"]) if "claims" in fields else (),
        )

    @staticmethod
    def evidence(field: Field, signer_names: list[str]) -> dict[EvidenceType, tuple[str, ...]]:
        fields = field.record(optional=_EVIDENCE_TYPES)
        trusted: dict[EvidenceType, tuple[str, ...]] = {}
        for kind, value in fields.items():
            trusted[EvidenceType(kind)] = _signer_list(value, signer_names)
        return trusted

    # -- gates -------------------------------------------------------------------------------

    def gates(self, field: Field) -> Gates:
        fields = field.record(optional=["scan", "data"])
        return Gates(
            scan=self.optional(fields, "scan", self.scan_gate, ScanGate()),
            data=self.optional(fields, "data", self.data_gate, DataGate()),
        )

    def scan_gate(self, field: Field) -> ScanGate:
        fields = field.record(
            optional=[
                "fail-on",
                "report-severity",
                "ignore-unfixed",
                "ignore-file",
                "max-db-age",
                "scanners",
            ]
        )
        default = ScanGate()
        fail_on = default.fail_on
        if "fail-on" in fields:
            chosen = fields["fail-on"].choice([*_SEVERITIES, "NONE"])
            fail_on = None if chosen == "NONE" else Severity(chosen)
        report = default.report_severity
        if "report-severity" in fields:
            report = Severity(fields["report-severity"].choice(_SEVERITIES))
        scanners = default.scanners
        if "scanners" in fields:
            items = fields["scanners"].items(min_items=1)
            chosen_scanners = [(item, item.choice(_SCANNERS)) for item in items]
            refuse_duplicates(chosen_scanners)
            scanners = tuple(Scanner(name) for _, name in chosen_scanners)
        return ScanGate(
            fail_on=fail_on,
            report_severity=report,
            ignore_unfixed=fields["ignore-unfixed"].boolean()
            if "ignore-unfixed" in fields
            else default.ignore_unfixed,
            ignore_file=self.base / fields["ignore-file"].string("a file path")
            if "ignore-file" in fields
            else None,
            max_db_age=_duration(fields["max-db-age"])
            if "max-db-age" in fields
            else default.max_db_age,
            scanners=scanners,
        )

    @staticmethod
    def data_gate(field: Field) -> DataGate:
        fields = field.record(optional=["min-success-percent", "max-age"])
        default = DataGate()
        percent = default.min_success_percent
        if "min-success-percent" in fields:
            percent = fields["min-success-percent"].number(
                minimum=0, maximum=100, expected="a number from 0 to 100"
            )
        return DataGate(
            min_success_percent=percent,
            max_age=_duration(fields["max-age"]) if "max-age" in fields else None,
        )

    # -- data --------------------------------------------------------------------------------

    def data(self, field: Field) -> DataSettings:
        fields = field.record(optional=["spark"])
        return DataSettings(spark=self.optional(fields, "spark", self.spark, SparkSettings()))

    def spark(self, field: Field) -> SparkSettings:
        fields = field.record(optional=["master", "remote", "conf"])
        if "master" in fields and "remote" in fields:
            raise fields["remote"].error(
                "give 'master' or 'remote', not both",
                fix="'master' for a cluster manager, 'remote' for Spark Connect or Databricks",
                at_key=True,
            )
        master = remote = origin = None
        if "master" in fields:
            master = fields["master"].matching(
                values.SPARK_MASTER_PATTERN, values.SPARK_MASTER_HINT
            )
            origin = f"{self.path}:{fields['master'].line}"
        if "remote" in fields:
            remote = _spark_remote(fields["remote"])
            origin = f"{self.path}:{fields['remote'].line}"
        conf: dict[str, str] = {}
        for key, value in fields["conf"].entries().items() if "conf" in fields else ():
            if not _matches(values.SPARK_CONF_KEY_PATTERN, key):
                raise value.error("Spark settings are named spark.*", at_key=True)
            if key in ("spark.master", "spark.remote"):
                raise value.error(f"set it as data.spark.{key[6:]}", at_key=True)
            conf[key] = _spark_conf_value(value)
        return SparkSettings(master, remote, MappingProxyType(conf), origin)

    # -- environments ------------------------------------------------------------------------

    def environments(self, field: Field) -> dict[str, Environment]:
        fields = self.named(field, "environment")
        environments = {name: self.environment(name, value) for name, value in fields.items()}
        _check_promotion_order(environments, fields)
        return environments

    def environment(self, name: str, field: Field) -> Environment:
        fields = field.record(
            required=["repository"],
            optional=["from", "requires", "metrics", "approvals"],
        )
        from_env = None
        if "from" in fields and not fields["from"].is_null():
            from_env = fields["from"].string("an environment name or null")
        requires: tuple[EvidenceType, ...] = ()
        if "requires" in fields:
            chosen = [(item, item.choice(_REQUIRABLE)) for item in fields["requires"].items()]
            refuse_duplicates(chosen)
            for item, kind in chosen:
                self.check_trusted(item, EvidenceType(kind))
            requires = tuple(EvidenceType(kind) for _, kind in chosen)
        metrics: dict[str, Threshold] = {}
        if "metrics" in fields:
            for metric, value in fields["metrics"].entries().items():
                metrics[metric] = _threshold(value)
        return Environment(
            name=name,
            repository=fields["repository"].matching(
                values.REPOSITORY_PATTERN, values.REPOSITORY_HINT
            ),
            from_env=from_env,
            requires=requires,
            metrics=MappingProxyType(metrics),
            approvals=self.approvals(fields["approvals"]) if "approvals" in fields else None,
        )

    def check_trusted(self, field: Field, kind: EvidenceType) -> None:
        """Refuse a requirement no signer can ever meet: it would deny every promotion."""
        if self.trusted.signers_for(kind):
            return
        if not self.trusted.signers:
            fix = "add a key or identity under trust"
        else:
            fix = f"list a signer under trust.evidence.{kind}"
        raise field.error(f"no signer is trusted for {kind} evidence", fix=fix)

    def approvals(self, field: Field) -> Approvals:
        fields = field.record(
            required=["required"],
            optional=["from", "separation-of-duties", "max-age"],
        )
        required = fields["required"].integer(minimum=1, expected="a positive integer")
        from_signers: tuple[str, ...] = ()
        if "from" in fields:
            from_signers = _signer_list(fields["from"], list(self.trusted.signers))
            approvers = fields["from"].items()
            if self.trusted.evidence is not None:
                allowed = self.trusted.evidence.get(EvidenceType.APPROVAL, ())
                for item, name in zip(approvers, from_signers, strict=True):
                    if name not in allowed:
                        raise item.error(
                            f"signer '{name}' is not trusted for approval evidence",
                            fix="add it to trust.evidence.approval",
                        )
            signers = [self.trusted.signers[name] for name in from_signers]
        else:
            self.check_trusted(fields["required"], EvidenceType.APPROVAL)
            signers = list(self.trusted.signers_for(EvidenceType.APPROVAL))
        countable = all(
            not (isinstance(s, IdentitySigner) and s.subject_regexp is not None) for s in signers
        )
        if countable and required > len(signers):
            raise fields["required"].error(
                f"needs {required} distinct approvers but only {len(signers)} signer"
                f"{'s' if len(signers) != 1 else ''} may approve",
                fix="lower 'required' or trust more approvers",
            )
        return Approvals(
            required=required,
            from_signers=from_signers,
            separation_of_duties=fields["separation-of-duties"].boolean()
            if "separation-of-duties" in fields
            else True,
            max_age=_duration(fields["max-age"]) if "max-age" in fields else None,
        )


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def _claims(field: Field) -> tuple[ClaimRule, ...]:
    """``claims:`` of an identity: Fulcio extension names, each exact or ``NAME-regexp``."""
    fields = field.entries()
    if not fields:
        raise field.error(
            "must name at least one claim", fix="remove 'claims' or pin source-repository-uri"
        )
    keys = [key for name in CLAIM_NAMES for key in (name, name + REGEXP_SUFFIX)]
    rules: list[ClaimRule] = []
    for key, value in fields.items():
        name = key.removesuffix(REGEXP_SUFFIX)
        if name not in CLAIM_NAMES:
            close = suggestion(key, keys)
            hint = f"did you mean '{close}'? " if close else ""
            raise value.error(
                f"unknown claim '{key}'",
                fix=f"{hint}valid claims (each also as NAME{REGEXP_SUFFIX}): "
                + ", ".join(CLAIM_NAMES),
                at_key=True,
            )
        if key != name and name in fields:
            raise value.error(f"give one of '{name}' or '{key}', not both", at_key=True)
        if isinstance(value.node, yaml.ScalarNode) and isinstance(value.value(), int | float):
            # Repository and owner ids are numbers: YAML reads them as such unless quoted.
            raise value.wrong("a string", fix=f"quote it: '{value.node.value}'")
        text = value.string()
        if key == name:
            rules.append(ClaimRule(name, value=text))
        else:
            _check_regexp(value, text)
            rules.append(ClaimRule(name, regexp=text))
    return tuple(rules)


def _check_regexp(field: Field, text: str) -> None:
    try:
        re.compile(text)
    except re.error as exc:
        raise field.error(f"invalid regular expression: {exc}") from None


def _spark_remote(field: Field) -> str:
    text = field.string(values.SPARK_REMOTE_HINT)
    if "@" in text or "token=" in text:
        # Not echoed: the value may be a live credential.
        raise field.error(
            "must not hold a token or user:password (the policy file is committed)",
            fix="set SPARK_CONNECT_AUTHENTICATE_TOKEN in the job's environment instead",
        )
    return field.matching(values.SPARK_REMOTE_PATTERN, values.SPARK_REMOTE_HINT)


def _spark_conf_value(field: Field) -> str:
    value = field.value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or (isinstance(value, str) and value):
        return str(value)
    raise field.wrong("a string, number or boolean")


def _duration(field: Field) -> timedelta:
    text = field.string(values.DURATION_HINT)
    duration = values.parse_duration(text)
    if duration is None:
        raise field.error(f"must be {values.DURATION_HINT}, not {describe(text)}")
    return duration


def _threshold(field: Field) -> Threshold:
    text = field.string(values.THRESHOLD_HINT)
    threshold = values.parse_threshold(text)
    if threshold is None:
        raise field.error(f"must be {values.THRESHOLD_HINT}, not {describe(text)}")
    return threshold


def _signer_list(field: Field, signer_names: list[str]) -> tuple[str, ...]:
    """A non-empty list of names of signers defined under trust.keys / trust.identities."""
    chosen = [(item, item.string("a signer name")) for item in field.items(min_items=1)]
    for item, name in chosen:
        if name not in signer_names:
            fix = (
                did_you_mean(name, signer_names, listing="signers")
                if signer_names
                else "define it under trust.keys or trust.identities"
            )
            raise item.error(f"unknown signer '{name}'", fix=fix)
    refuse_duplicates(chosen)
    return tuple(name for _, name in chosen)


def _check_promotion_order(environments: dict[str, Environment], fields: dict[str, Field]) -> None:
    """Every ``from`` names another environment, and following them never loops."""
    names = list(environments)
    for name, env in environments.items():
        if env.from_env is not None and env.from_env not in environments:
            from_field = fields[name].entries()["from"]
            others = [n for n in names if n != name]
            fix = did_you_mean(env.from_env, others, listing="environments") if others else None
            raise from_field.error(f"unknown environment '{env.from_env}'", fix=fix)
    for name in names:
        seen: list[str] = []
        current: str | None = name
        while current is not None and current not in seen:
            seen.append(current)
            current = environments[current].from_env
        if current == name:
            from_field = fields[name].entries()["from"]
            loop = " -> ".join([*seen, name])
            raise from_field.error(
                f"the promotion order has a cycle: {loop}",
                fix="one environment must have 'from: null'",
            )
