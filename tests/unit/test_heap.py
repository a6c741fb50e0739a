"""The collector around GX's and MLflow's imports: off during them and their objects frozen
afterwards in a CLI process; untouched in a long-lived one (tests, embedding)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Each probe runs in its own interpreter: freezing is process-wide and would stay in pytest's.
_BLOCK = """
import gc, json, sys
from mltoolkit import heap
if sys.argv[1] == "cli":
    heap.short_lived()
if sys.argv[2] == "gc-off":
    gc.disable()
seen = {}
try:
    with heap.bulk_import():
        seen["inside"] = gc.isenabled()
        kept = [[i] for i in range(1000)]
        if sys.argv[3] == "raise":
            raise RuntimeError("import failed")
except RuntimeError:
    seen["raised"] = True
seen["after"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count()
print(json.dumps(seen))
"""


def _probe(*args: str, code: str = _BLOCK, env: dict[str, str] | None = None) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_a_cli_process_imports_without_the_collector_and_freezes_what_it_imported() -> None:
    seen = _probe("cli", "gc-on", "ok")
    assert seen["inside"] is False
    assert seen["after"] is True
    assert isinstance(seen["frozen"], int) and seen["frozen"] >= 1000


def test_a_failed_import_still_turns_the_collector_back_on() -> None:
    seen = _probe("cli", "gc-on", "raise")
    assert seen == {"inside": False, "raised": True, "after": True, "frozen": seen["frozen"]}


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    assert _probe("cli", "gc-off", "ok")["after"] is False


def test_a_long_lived_process_is_left_alone() -> None:
    seen = _probe("embedded", "gc-on", "ok")
    assert seen["inside"] is True
    assert seen["frozen"] == 0


_CLI = """
import atexit, sys
from mltoolkit import heap
atexit.register(lambda: print("short-lived", heap._Process.short_lived, flush=True))
from mltoolkit.cli.main import main
sys.argv = ["mltoolkit", "--version"]
main()
"""


def test_the_cli_entry_point_declares_its_process_short_lived() -> None:
    proc = subprocess.run([sys.executable, "-c", _CLI], capture_output=True, text=True, check=False)
    assert proc.stdout.strip().endswith("short-lived True"), proc.stderr


_IMPORTS = """
import gc, json, os, sys
from mltoolkit import heap
heap.short_lived()
if sys.argv[1] == "gx":
    from mltoolkit.data.gx_setup import quiet_gx
    quiet_gx()
else:
    from mltoolkit.models.location import resolve_location
    from mltoolkit.models.store import open_store
    open_store(resolve_location())
print(json.dumps({"frozen": gc.get_freeze_count()}))
"""


@pytest.mark.parametrize("library", ["gx", "mlflow"])
def test_gx_and_the_mlflow_store_are_imported_in_bulk(library: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "GX_ANALYTICS_ENABLED": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    frozen = _probe(library, code=_IMPORTS, env=env)["frozen"]
    # Their imports create far more than 50,000 objects; without bulk_import none is frozen.
    assert isinstance(frozen, int) and frozen > 50_000
