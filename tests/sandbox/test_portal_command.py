"""`python -m sandbox` (and `gdtmesh sandbox`, its delegate): flags, the start-up banner and a
clean shutdown on SIGINT/SIGTERM; a bad flag is one line and exit code 2."""

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
from sandbox.settings import ConfigError, config_from_flags, flags_parser

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "argv", [["sandbox", "--help"], ["--help"]], ids=["gdtmesh sandbox", "python -m sandbox"]
)
def test_help_says_where_the_passwords_are(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser() if argv[0] == "sandbox" else flags_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    assert "/_sandbox/companies" in capsys.readouterr().out


FLAGS = [
    "--host",
    "0.0.0.0",
    "--port",
    "9000",
    "--legacy-port",
    "9001",
    "--storm",
    "5",
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


def test_flags_become_the_config() -> None:
    config = config_from_flags(flags_parser().parse_args(FLAGS))
    assert (config.host, config.port, config.legacy_port) == ("0.0.0.0", 9000, 9001)
    assert config.storm_seconds == 5
    spec, portal = config.settings.dataset, config.settings.config
    assert (spec.seed, spec.companies, spec.invoices_per_company, spec.months) == (5, 7, 900, 2)
    assert portal.rate_per_account is None and portal.rate_global == 30
    assert portal.retry_after and not portal.reject_multi_sort
    assert portal.purchase_requires_ttxly and portal.captcha_error_legacy
    assert portal.latency_scale == 0 and portal.token_lifetime_s == 60
    assert portal.fault_rate("hang", "list") == 0.1
    assert portal.fault_rate("hang", "sco-list") == 0.5
    assert portal.min_backoff_s == 20


def test_gdtmesh_sandbox_takes_the_same_flags() -> None:
    ours = build_parser().parse_args(["sandbox", *FLAGS])
    theirs = flags_parser().parse_args(FLAGS)
    assert {k: v for k, v in vars(ours).items() if k not in ("command", "_run")} == vars(theirs)


@pytest.mark.parametrize(
    "flags",
    [
        ["--error-rate", "2"],
        ["--config", "{oops"],
        ["--config", '{"nope": 1}'],
        ["--config", "@/nonexistent/config.json"],
    ],
)
def test_bad_values_are_a_bad_configuration(flags: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"^bad configuration: "):
        config_from_flags(flags_parser().parse_args(flags))


@pytest.mark.parametrize("flags", [["--companies", "-1"], ["--months", "0"], ["--port", "x"]])
def test_bad_flags_are_refused_by_the_parser(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        flags_parser().parse_args(flags)
    assert refused.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_a_bad_configuration_is_one_line_and_exit_code_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--error-rate", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("sandbox: bad configuration: faults.error_5xx:"), line


@pytest.mark.parametrize(
    ("command", "signum"),
    [(["-m", "sandbox"], signal.SIGTERM), (["-m", "programs.cli", "sandbox"], signal.SIGINT)],
)
def test_runs_prints_banner_and_stops_cleanly(command: list[str], signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, *command, "--port", "0", "--companies", "3", "--latency-scale", "0"],
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
