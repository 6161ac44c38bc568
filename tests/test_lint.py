"""The code stays ruff-clean, formatted and mypy-clean (what `make lint` runs; the import
contracts, also in `make lint`, are tests/test_layers.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "argv",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "gdtmesh", "programs", "sandbox", "services", "workers"],
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_clean(argv: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
