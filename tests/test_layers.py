"""The floors of the house (pyproject's import-linter contracts) hold, and would catch a new
upward or sideways import: the same contracts are run on small trees that break them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = [
    "gdtmesh",
    "programs",
    "sandbox",
    "services",
    "services.gateway",
    "services.gdt_connector",
    "services.storage",
    "workers",
]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_code_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{len(CONTRACTS['contracts'])} kept, 0 broken" in result.stdout


def _tree(root: Path, importer: str, imported: str) -> None:
    for package in PACKAGES:
        folder = root / package.replace(".", "/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text("")
    (root / importer.replace(".", "/") / "__init__.py").write_text(f"import {imported}\n")
    lines = [
        "[importlinter]",
        "root_packages =",
        *(f"    {name}" for name in CONTRACTS["root_packages"]),
    ]
    for index, contract in enumerate(CONTRACTS["contracts"]):
        lines += [f"[importlinter:contract:{index}]", f"name = {contract['name']}"]
        lines += [f"type = {contract['type']}"]
        key = "layers" if contract["type"] == "layers" else "modules"
        lines += [f"{key} =", *(f"    {entry}" for entry in contract[key])]
    (root / ".importlinter").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("gdtmesh", "services.storage"),  # the foundation reaching up
        ("gdtmesh", "programs"),
        ("workers", "programs"),  # a middle room reaching up
        ("services.gateway", "workers"),  # sideways: gateway into the worker's internals
        ("sandbox", "services.gdt_connector"),  # sideways: the fake portal into the solver
        ("services.gateway", "services.storage"),  # one service into another
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, importer: str, imported: str) -> None:
    _tree(tmp_path, importer, imported)
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" in result.stdout


def test_an_allowed_import_breaks_none(tmp_path: Path) -> None:
    _tree(tmp_path, "programs", "services.gateway")
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
