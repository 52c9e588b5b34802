"""The layering of DESIGN.md, enforced: import-linter contracts and a `sys.modules` check."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib

import pytest
from conftest import REPO_ROOT

LINT_IMPORTS = shutil.which("lint-imports")
EXPECTED_CONTRACTS = ("Layers point downwards", "Only faulttui.tui imports textual")


def test_the_contracts_are_configured() -> None:
    settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert {contract["name"] for contract in settings["contracts"]} >= set(EXPECTED_CONTRACTS)
    # a `forbidden` contract on an external package (textual) needs this, or lint-imports
    # stops with a configuration error before checking anything
    assert settings.get("include_external_packages") is True


@pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed")
def test_lint_imports_passes() -> None:
    assert LINT_IMPORTS is not None
    result = subprocess.run([LINT_IMPORTS], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in EXPECTED_CONTRACTS:
        assert f"{name} KEPT" in result.stdout
    assert "0 broken" in result.stdout


INFO_WITHOUT_TEXTUAL = """
import json, sys
from faulttui.cli import main
try:
    main(["info", "sample_traces/cold-8t-writer.txt.xz", "--json"])
except SystemExit as exit_:
    code = exit_.code
loaded = sorted(name for name in sys.modules if name == "textual" or name.startswith("textual."))
print(json.dumps({"exit": code, "textual": loaded}))
"""


def test_info_never_imports_textual() -> None:
    result = subprocess.run([sys.executable, "-c", INFO_WITHOUT_TEXTUAL], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = result.stdout.strip().splitlines()[-1]
    assert report == '{"exit": 0, "textual": []}'
    assert '"faults"' in result.stdout  # the info JSON was printed before the report
