"""The JSON Schema of ``mltoolkit.yaml``, shipped in the package (``schema.json``).

The same file is published as ``schemas/mltoolkit-policy.schema.json`` for editors; a unit
test keeps the two identical and checks that the schema and the loader agree.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

# No public URL serves the schema yet: a URN names it without pretending one does.
SCHEMA_ID = "urn:mltoolkit:schema:policy:1"


def schema_text() -> str:
    """The schema as published (JSON text)."""
    return resources.files("mltoolkit.policy").joinpath("schema.json").read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The schema as a JSON object."""
    document: dict[str, Any] = json.loads(schema_text())
    return document
