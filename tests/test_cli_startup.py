"""CLI start-up: `descend --help` lists every command without importing any (nor torch, pandas, Optuna...), and a
command imports only what it uses. Checked through sys.modules in a fresh interpreter, not by timing."""
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "numpy", "pandas", "sklearn", "scipy", "optuna", "matplotlib", "pyarrow")
PROBE = """
import json, sys
from descend.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} | {{m for m in sys.modules if m.startswith('descend')}})))
"""


def _loaded(argv: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_lists_every_command_and_imports_no_heavy_library():
    loaded = _loaded(["--help"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not any(m.startswith("descend.cli.commands.") for m in loaded)
    listing = subprocess.run([sys.executable, "-m", "descend.cli", "--help"], capture_output=True, text=True).stdout
    for command in ("bench", "compare", "demo", "doctor", "fit", "lr-find", "predict", "report", "tune", "update"):
        assert f"    {command} " in listing


@pytest.mark.parametrize("command,absent", [("doctor", {"optuna", "sklearn", "descend.cli.commands.fit"}),
                                            ("report", {"optuna", "descend.cli.commands.tune"})])
def test_a_command_imports_only_what_it_uses(command, absent):
    loaded = _loaded([command, "--help"])
    assert f"descend.cli.commands.{command}" in loaded
    assert not loaded & absent, sorted(loaded & absent)
