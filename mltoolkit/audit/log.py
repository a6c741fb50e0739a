"""The promotion audit log: append-only JSON lines, hash-chained and signed.

Each entry carries ``seq`` (1, 2, ...), ``prev`` (the SHA-256 of the previous line's bytes, 64
zeros for the first) and a signature over the entry without its ``signature`` field. Removing an
entry breaks the ``seq`` run and the next ``prev``; editing one breaks its signature and the
next ``prev``; ``verify_log`` names the entry either way. Removing the *last* entries leaves a
valid chain: ``audit`` catches that by comparing MLflow's aliases with the log's last entries.

The log lives next to the MLflow store (``.mltoolkit/audit.jsonl`` for the embedded store, the
SQLite file's directory otherwise) unless ``MLTOOLKIT_AUDIT_LOG`` names a file.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mltoolkit.errors import ExternalError, InputError
from mltoolkit.files import write_atomic

if TYPE_CHECKING:
    from mltoolkit.models.location import Location
    from mltoolkit.signing.keys import PublicKey, Signer

LOG_ENV = "MLTOOLKIT_AUDIT_LOG"
LOG_NAME = "audit.jsonl"
GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    """One verified-or-not entry of the log, as read."""

    line: int
    data: dict[str, Any]

    @property
    def seq(self) -> int:
        """The entry's sequence number (0 when missing)."""
        value = self.data.get("seq")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the entry."""
        return self.data.get(key, default)


@dataclass
class Verification:
    """The entries of a log and every problem found in its chain and signatures."""

    path: Path
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the chain is whole and every signature verifies with a trusted key."""
        return not self.problems


def log_path(location: Location, environ: Mapping[str, str] | None = None) -> Path:
    """Where the audit log of ``location``'s MLflow store lives."""
    env = os.environ if environ is None else environ
    configured = env.get(LOG_ENV, "").strip()
    if configured:
        return Path(configured)
    if location.embedded and location.artifact_root is not None:
        return location.artifact_root.parent / LOG_NAME
    parts = urlsplit(location.tracking_uri)
    if parts.scheme == "sqlite" and parts.path not in ("", "/", "/:memory:"):
        # sqlite:///relative.db has the path /relative.db; sqlite:////abs.db has //abs.db.
        return Path(parts.path[1:]).parent / LOG_NAME
    if parts.scheme in ("", "file"):
        return Path(parts.path) / LOG_NAME
    raise InputError(
        f"the MLflow store {location.describe()} is a server: there is no directory next to it "
        "for the audit log",
        where=LOG_ENV,
        fix=f"set {LOG_ENV} to a file every promotion job can reach (a shared volume)",
    )


def canonical(data: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the entry without ``signature``, keys sorted, compact."""
    body = {k: v for k, v in data.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def line_hash(line: bytes) -> str:
    """The chain hash of one line (without its newline)."""
    return hashlib.sha256(line).hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = (path.parent / f".{path.name}.lock").open("a")
    except OSError as exc:
        raise ExternalError(
            f"cannot open the audit log: {exc.strerror or exc}",
            where=str(path),
            fix=f"make the directory writable or set {LOG_ENV}",
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read_lines(path: Path) -> list[bytes]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ExternalError(f"cannot read the audit log: {exc.strerror}", where=str(path)) from None
    return [line for line in raw.split(b"\n") if line.strip()]


def append_entry(path: Path, fields: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """Append one signed entry (``seq`` and ``prev`` filled in) and return it.

    The whole file is rewritten through a temporary file and a rename under an exclusive lock:
    a crash leaves the old log or the new one, never half a line.
    """
    from mltoolkit.signing.keys import key_id, public_pem

    with _locked(path):
        lines = _read_lines(path)
        seq = 1
        if lines:
            try:
                last = json.loads(lines[-1])
                seq = int(last["seq"]) + 1
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    "the audit log's last entry is not readable",
                    where=str(path),
                    fix="run `mltoolkit audit` to see what is wrong with it",
                ) from None
        public = signer.public_key()
        entry: dict[str, Any] = dict(fields)
        entry.update(
            seq=seq,
            prev=line_hash(lines[-1]) if lines else GENESIS,
            signer={"key_id": key_id(public), "public_key": public_pem(public).decode()},
        )
        entry["signature"] = base64.b64encode(signer.sign(canonical(entry))).decode()
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        _write_atomic(path, b"".join(x + b"\n" for x in [*lines, line]))
    return entry


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data, durable=True)
    except OSError as exc:
        raise ExternalError(
            f"cannot write the audit log: {exc.strerror}", where=str(path)
        ) from None


def verify_log(path: Path, trusted: Mapping[str, PublicKey]) -> Verification:
    """Read the log and check its chain and each signature against ``trusted`` (name -> key)."""
    from mltoolkit.signing.keys import key_id, verify_signature

    result = Verification(path)
    by_id = {key_id(key): (name, key) for name, key in trusted.items()}
    previous: bytes | None = None
    expected = 1
    for number, line in enumerate(_read_lines(path), start=1):
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            result.problems.append(f"line {number} is not a JSON entry: the log was edited")
            previous = line
            expected += 1
            continue
        entry = Entry(number, data)
        result.entries.append(entry)
        label = f"entry {entry.seq or '?'} (line {number})"
        if entry.seq > expected:
            missing = ", ".join(str(s) for s in range(expected, entry.seq))
            result.problems.append(f"entry {missing} is missing: removed from the log")
        elif entry.seq < expected:
            result.problems.append(f"{label} is out of order: entries were moved or duplicated")
        want = line_hash(previous) if previous is not None else GENESIS
        if data.get("prev") != want:
            before = "the previous entry" if previous is not None else "the start of the log"
            result.problems.append(
                f"{label} does not chain to {before}: an entry before it was removed or edited"
            )
        result.problems.extend(_signature_problems(entry, label, by_id, verify_signature))
        previous = line
        expected = max(expected, entry.seq) + 1
    return result


def _signature_problems(
    entry: Entry, label: str, by_id: Mapping[str, tuple[str, PublicKey]], verify: Any
) -> Sequence[str]:
    signer = entry.get("signer")
    keyid = str(signer.get("key_id")) if isinstance(signer, dict) else ""
    if keyid not in by_id:
        return [f"{label} is signed by key {keyid}, which the policy does not trust for promotion"]
    try:
        signature = base64.b64decode(str(entry.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        return [f"{label} has no readable signature: it was edited"]
    if not verify(by_id[keyid][1], signature, canonical(entry.data)):
        return [f"{label} was edited: its signature does not verify"]
    return []


def signer_name(entry: Entry, trusted: Mapping[str, PublicKey]) -> str:
    """The policy name of the key that signed ``entry`` (its key id when none matches)."""
    from mltoolkit.signing.keys import key_id

    signer = entry.get("signer")
    keyid = signer.get("key_id") if isinstance(signer, dict) else None
    for name, key in trusted.items():
        if key_id(key) == keyid:
            return name
    return str(keyid)
