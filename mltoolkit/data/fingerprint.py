"""What exactly was checked: a fingerprint of the data, bound into the evidence.

Files: the sha256 of their bytes (streamed). Tables and queries: row count, schema, the query
text and an order-independent checksum computed inside PostgreSQL, so that the rows never leave
the database.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20

# The sum over rows of the two halves of md5(row::text), as numerics (no overflow): a multiset
# hash, so that it does not depend on row order, computed in one streaming pass by PostgreSQL.
SQL_CHECKSUM_ALGORITHM = "postgresql:sum(md5(row::text))"
_SQL_CHECKSUM = (
    "SELECT count(*) AS row_count,"
    " coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0) AS high,"
    " coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) AS low"
    " FROM (SELECT md5(r::text) AS h FROM {relation} AS r) AS hashed"
)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def path_fingerprint(path: Path, fmt: str) -> dict[str, Any]:
    """The content fingerprint of a file, or of every file under a directory (sorted by name)."""
    if path.is_file():
        return {
            "kind": "file",
            "format": fmt,
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
        }
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    manifest = hashlib.sha256()
    size = 0
    for item in files:
        manifest.update(f"{item.relative_to(path).as_posix()}\0{sha256_file(item)}\n".encode())
        size += item.stat().st_size
    return {
        "kind": "directory",
        "format": fmt,
        "sha256": manifest.hexdigest(),
        "files": len(files),
        "size": size,
    }


def sql_checksum_query(relation: str) -> str:
    """The checksum query over ``relation`` (a quoted table name or a parenthesised query)."""
    return _SQL_CHECKSUM.format(relation=relation)


def sql_fingerprint(
    row_count: int,
    high: Any,
    low: Any,
    schema: list[dict[str, str]],
    *,
    table: str | None,
    query: str | None,
) -> dict[str, Any]:
    """The fingerprint of a table or query from the numbers PostgreSQL computed."""
    checksum = hashlib.sha256(f"{row_count}:{high}:{low}".encode()).hexdigest()
    doc: dict[str, Any] = {
        "kind": "table" if table else "query",
        "row_count": row_count,
        "schema": schema,
        "checksum": {"algorithm": SQL_CHECKSUM_ALGORITHM, "sha256": checksum},
    }
    if table:
        doc["table"] = table
    if query:
        doc["query"] = query
        doc["query_sha256"] = hashlib.sha256(query.encode()).hexdigest()
    return doc
