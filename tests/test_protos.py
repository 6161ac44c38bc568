"""The contracts: buf lint/format/breaking are clean and the committed generated code is current."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gdtmesh import protogen

ROOT = protogen.ROOT
BUF = Path(sys.executable).parent / "buf"


def run_buf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_buf_lint_is_clean() -> None:
    result = run_buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_format_is_clean() -> None:
    result = run_buf("format", "--diff", "--exit-code")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_breaking_change_against_main() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to compare against")
    main_protos = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main", "protos"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if not main_protos.stdout.strip():
        pytest.skip("main has no protos yet: nothing to compare against")
    result = run_buf("breaking", "--against", ".git#branch=main")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_has_no_drift(tmp_path: Path) -> None:
    protogen.generate(tmp_path)
    stale = []
    for package in protogen.PACKAGES:
        fresh_dir = tmp_path / "gdtmesh" / package / "v1"
        committed_dir = ROOT / "gdtmesh" / package / "v1"
        fresh = {p.name for p in fresh_dir.iterdir() if p.is_file()}
        committed = {p.name for p in committed_dir.iterdir() if p.is_file()}
        stale += [f"{package}: missing or extra {name}" for name in fresh ^ committed]
        _, mismatch, errors = filecmp.cmpfiles(
            fresh_dir, committed_dir, sorted(fresh & committed), shallow=False
        )
        stale += [f"{package}/{name} differs" for name in mismatch + errors]
    assert not stale, f"run `make protos` and commit: {stale}"
    shutil.rmtree(tmp_path / "gdtmesh")
