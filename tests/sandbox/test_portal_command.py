"""`gdtmesh sandbox`: flags, the start-up banner and a clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from programs.cli import build_parser
from programs.commands import sandbox as command

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


def test_help_says_where_the_passwords_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sandbox", "--help"])
    assert "/_sandbox/companies" in capsys.readouterr().out


def test_flags_become_settings() -> None:
    args = build_parser().parse_args(
        [
            "sandbox",
            "--seed",
            "5",
            "--companies",
            "7",
            "--invoices",
            "900",
            "--months",
            "2",
            "--rate-per-account",
            "0",
            "--rate-global",
            "30",
            "--retry-after",
            "--allow-multi-sort",
            "--purchase-requires-ttxly",
            "--legacy-captcha-error",
            "--latency-scale",
            "0",
            "--hang-rate",
            "0.1",
            "--token-lifetime",
            "60",
            "--config",
            '{"faults": {"hang": {"sco-list": 0.5}}, "min_backoff_s": 20}',
        ]
    )
    settings = command.build_settings(args)
    spec, config = settings.dataset, settings.config
    assert (spec.seed, spec.companies, spec.invoices_per_company, spec.months) == (5, 7, 900, 2)
    assert config.rate_per_account is None and config.rate_global == 30
    assert config.retry_after and not config.reject_multi_sort
    assert config.purchase_requires_ttxly and config.captcha_error_legacy
    assert config.latency_scale == 0 and config.token_lifetime_s == 60
    assert config.fault_rate("hang", "list") == 0.1
    assert config.fault_rate("hang", "sco-list") == 0.5
    assert config.min_backoff_s == 20


@pytest.mark.parametrize(
    "flags",
    [
        ["--error-rate", "2"],
        ["--config", "{oops"],
        ["--config", '{"nope": 1}'],
        ["--config", "@/nonexistent/config.json"],
        ["--companies", "-1"],
    ],
)
def test_bad_flags_exit_2_with_a_message(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["sandbox", *flags])
    assert command.run(args) == 2
    assert "gdtmesh sandbox:" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_runs_prints_banner_and_stops_cleanly(signum: int) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "programs.cli",
            "sandbox",
            "--port",
            "0",
            "--companies",
            "3",
            "--latency-scale",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, f"sandbox exited early: {''.join(banner)}"
            banner.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(banner)
        url = re.search(r"http://127\.0\.0\.1:\d+", text)
        assert url, text
        with urllib.request.urlopen(f"{url.group(0)}/_sandbox/companies", timeout=5) as answer:
            companies = json.load(answer)
        for company in companies:
            assert company["mst"] in text and company["password"] in text
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
