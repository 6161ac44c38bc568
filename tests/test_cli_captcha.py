"""`gdtmesh captcha` as a user runs it: a subprocess of the installed entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GDTMESH = ROOT / ".venv/bin/gdtmesh"
SAMPLES = ROOT / "../shared/gdt-samples/captcha"


def gdtmesh(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GDTMESH), *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def sample_files() -> list[Path]:
    files = sorted(SAMPLES.glob("*__1.svg"))
    if not files:
        pytest.skip(f"real captcha samples not found at {SAMPLES} (a clone without ../shared)")
    return files


def test_solve_prints_file_and_answer(sample_files: list[Path]) -> None:
    result = gdtmesh("captcha", "solve", *sample_files)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [f"{path}\t{path.name.split('__')[0]}" for path in sample_files]
    assert result.stderr == ""


def test_solve_reports_bad_files_and_goes_on(tmp_path: Path, sample_files: list[Path]) -> None:
    garbage = tmp_path / "garbage.svg"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    not_svg = tmp_path / "page.html"
    not_svg.write_text("<html><body>Request Rejected</body></html>")
    missing = tmp_path / "missing.svg"
    portal_json = tmp_path / "captcha.json"
    portal_json.write_text(json.dumps({"key": "0" * 24, "content": sample_files[0].read_text()}))
    good = sample_files[1]

    result = gdtmesh("captcha", "solve", garbage, not_svg, missing, portal_json, good)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{portal_json}\t{sample_files[0].name[:6]}",
        f"{good}\t{good.name[:6]}",
    ]
    errors = result.stderr.splitlines()
    assert errors == [
        f"gdtmesh captcha: {garbage}: file is not UTF-8 text: not a captcha",
        f"gdtmesh captcha: {not_svg}: unreadable captcha: not an SVG document"
        " (root element <html>)",
        f"gdtmesh captcha: {missing}: No such file or directory",
    ]
    assert "Traceback" not in result.stderr


def test_generate_writes_solvable_files(tmp_path: Path) -> None:
    out = tmp_path / "captchas"
    result = gdtmesh("captcha", "generate", "--seed", "7", "--count", "3", "--out", out)
    assert result.returncode == 0, result.stderr
    written = [Path(line) for line in result.stdout.splitlines()]
    assert len(written) == 3 and all(path.parent == out for path in written)

    again = gdtmesh("captcha", "generate", "--seed", "7", "--count", "3", "--out", tmp_path / "b")
    assert [Path(line).name for line in again.stdout.splitlines()] == [p.name for p in written]

    solved = gdtmesh("captcha", "solve", *written)
    assert solved.returncode == 0, solved.stderr
    assert solved.stdout.splitlines() == [f"{path}\t{path.stem}" for path in written]


def test_usage_errors_are_short() -> None:
    result = gdtmesh("captcha", "generate", "--count", "0")
    assert result.returncode == 2
    assert "at least 1" in result.stderr and "Traceback" not in result.stderr
    assert "solve" in gdtmesh("captcha", "--help").stdout
