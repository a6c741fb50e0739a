"""How a CLI process ends: every object is frozen after the other exit handlers, so the final
garbage collection skips them; an in-process ``main(argv)`` (tests, embedding) is left alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mltoolkit.cli import main as cli_main

# An exit handler registered before main() runs after main()'s own (last-in, first-out): it sees
# what the interpreter's final collection will see.
_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0, flush=True))
from mltoolkit.cli.main import main
sys.argv = ["mltoolkit", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("args", [["--version"], ["scan", "not a reference"]])
def test_a_cli_process_freezes_its_objects_at_exit(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=False
    )
    assert proc.stdout.strip().endswith("frozen True"), proc.stderr
    # The exit code and the error line are what they were without the freeze.
    assert proc.returncode == (0 if args == ["--version"] else 2)


def test_main_with_argv_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[object] = []
    monkeypatch.setattr(cli_main.atexit, "register", registered.append)
    with pytest.raises(SystemExit):
        cli_main.main(["--version"])
    assert registered == []
