"""Every shell example of README.md and docs/*.md runs as printed against a mesh from
`gdtmesh up`, so an example that stops working fails the suite.

The blocks of one document run in order in one bash, from a folder that looks like the project
root after `make run` (`.venv` and the `mesh.json` that `gdtmesh up --endpoints-file` wrote),
without the environment's tools on the PATH: each document puts them there the way it tells a
reader to. The mesh runs on free ports, so the default ports the docs print (`MeshPorts()`) are
replaced by the mesh's. Every command must succeed (`set -e -o pipefail`). A block whose first
line is `# not run by the docs test: <why>` is skipped (it needs Docker, Jaeger, ...).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gdtmesh.vncalendar import VIETNAM
from programs.mesh.launcher import Mesh, MeshPorts
from programs.mesh.servers import BIN_DIR
from tests.support.dashboards import PROMETHEUS_OWN, expressions, metric_names
from tests.support.up import UpProcess, kill_all, start_up

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = "# not run by the docs test:"
FENCE = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
MAX_SKIPPED = 3  # across all documents: skipping must stay the exception


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    text: str

    @property
    def skipped(self) -> bool:
        return self.text.startswith(SKIP)

    @property
    def name(self) -> str:
        return f"{self.document.name}:{self.line}"


def shell_blocks(document: Path) -> list[Block]:
    text = document.read_text()
    return [
        Block(document, text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in FENCE.finditer(text)
    ]


@dataclass
class DocsMesh:
    up: UpProcess
    root: Path  # stands for the project root
    ports: MeshPorts

    def localise(self, text: str) -> str:
        """The docs' default ports become this mesh's."""
        defaults = dataclasses.asdict(MeshPorts())
        actual = dataclasses.asdict(self.ports)
        for name, port in defaults.items():
            text = re.sub(rf"\b(127\.0\.0\.1|localhost):{port}\b", rf"\g<1>:{actual[name]}", text)
        return text


def _ports(endpoints: dict[str, str]) -> MeshPorts:
    def port(key: str) -> int:
        return int(re.findall(r":(\d+)", endpoints[key])[-1])

    # Every port has its entry, by the same name (`gateway`, ..., `worker_metrics`).
    return MeshPorts(**{f.name: port(f.name) for f in dataclasses.fields(MeshPorts)})


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsMesh]:
    root = tmp_path_factory.mktemp("project")
    (root / ".venv").symlink_to(BIN_DIR.parent)
    up = start_up(root / "mesh.json")
    children = up.descendants()
    try:
        yield DocsMesh(up, root, _ports(up.endpoints))
    finally:
        up.stop()
        kill_all(children)


def bare_environment() -> dict[str, str]:
    """The reader's shell: none of the project's tools on the PATH, no virtualenv active, and a
    clock whose date is not Vietnam's today (an example that forgets the gateway's calendar
    fails at any hour)."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != BIN_DIR]
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    return {**env, "PATH": os.pathsep.join(path), "TZ": elsewhere_than_vietnam()}


def elsewhere_than_vietnam() -> str:
    """UTC-12 or UTC+14, whichever is not on Vietnam's (UTC+7) date now: one always is not."""
    now = dt.datetime.now(dt.UTC)
    vietnam = now.astimezone(VIETNAM).date()
    for zone in ("Etc/GMT+12", "Pacific/Kiritimati"):
        if now.astimezone(ZoneInfo(zone)).date() != vietnam:
            return zone
    raise AssertionError("unreachable: the two zones are 26 hours apart")


def run_document(mesh: DocsMesh, blocks: list[Block]) -> subprocess.CompletedProcess[str]:
    folder = mesh.root / "blocks"
    folder.mkdir(exist_ok=True)
    sources = []
    for block in blocks:
        script = folder / f"{block.name.replace(':', '-L')}.sh"
        script.write_text(mesh.localise(block.text))
        sources.append(f"echo '--- {block.name}'\nsource {script}")
    trap = "trap 'echo \"FAILED: ${BASH_SOURCE##*/} line $LINENO: $BASH_COMMAND\" >&2' ERR"
    driver = "\n".join(["set -eE -o pipefail", trap, *sources, ""])
    return subprocess.run(
        ["bash", "-c", driver],
        cwd=mesh.root,
        env=bare_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def redacted(text: str, mesh: DocsMesh) -> str:
    for secret in (mesh.up.endpoints["api_key"], mesh.up.endpoints["codec_token"]):
        text = text.replace(secret, "<redacted>")
    return text


def families(url: str) -> list[Metric]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return list(text_string_to_metric_families(answer.read().decode()))


def scrape(url: str) -> dict[str, list[Sample]]:
    """The series at a metrics endpoint, by sample name."""
    series: dict[str, list[Sample]] = {}
    for family in families(url):
        for sample in family.samples:
            series.setdefault(sample.name, []).append(sample)
    return series


OUR_PROCESSES = ("gateway", "gdt_connector", "storage", "worker")
# What alerts read, there at 0 before the first event (first in this module: a fresh mesh).
AT_ZERO_FROM_START = {
    "gdt_connector": (
        "gdtmesh_portal_throttled_total",
        "gdtmesh_portal_backoff_seconds_total",
        "gdtmesh_portal_pacing_refused_total",
        "gdtmesh_portal_pacing_bound_total",
    ),
    "gateway": ("gdtmesh_gateway_shed_total",),
}


def test_every_process_serves_the_metrics_an_operator_alerts_on(mesh: DocsMesh) -> None:
    endpoints = mesh.up.endpoints
    scraped = {name: scrape(endpoints[f"{name}_metrics"]) for name in OUR_PROCESSES}
    for name, series in scraped.items():
        assert "process_resident_memory_bytes" in series, name
        [build] = series["gdtmesh_build_info"]
        assert build.value == 1 and build.labels["version"], name
    assert any(n.startswith("temporal_") for n in scraped["worker"]), "the SDK's, forwarded"
    for name, metrics in AT_ZERO_FROM_START.items():
        for metric in metrics:
            assert scraped[name].get(metric), f"{name}: {metric}"
            assert {sample.value for sample in scraped[name][metric]} == {0}, metric
    env = Mesh(MeshPorts(), Path("."), api_key="k", codec_keys="c").service_env()
    rates = scraped["gdt_connector"]["gdtmesh_portal_budget_rate"]
    budgets = {sample.labels["budget"]: sample.value for sample in rates}
    assert budgets["account"] == float(env["GDTMESH_PORTAL_ACCOUNT_RATE"])
    assert budgets["host"] == float(env["GDTMESH_PORTAL_GLOBAL_RATE"])
    assert scrape(endpoints["temporal_metrics"]), "the Temporal server's own"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_every_shell_example_runs(mesh: DocsMesh, document: Path) -> None:
    blocks = [block for block in shell_blocks(document) if not block.skipped]
    if not blocks:
        pytest.skip(f"{document.name} has no shell example to run")
    result = run_document(mesh, blocks)
    output = redacted(result.stdout + result.stderr, mesh)
    code = result.returncode  # not `result` in the assertion: pytest would print it unredacted
    assert code == 0, output
    ran = re.findall(r"^--- (\S+)$", result.stdout, re.MULTILINE)
    assert ran == [block.name for block in blocks], output


def test_skipping_stays_rare_and_says_why() -> None:
    skipped = [b for d in DOCUMENTS for b in shell_blocks(d) if b.skipped]
    assert len(skipped) <= MAX_SKIPPED, [b.name for b in skipped]
    for block in skipped:
        reason = block.text.splitlines()[0].removeprefix(SKIP).strip()
        assert reason, f"{block.name}: say why it is not run"


def test_blocks_are_found() -> None:
    """The extraction itself: the README's examples are there to run."""
    readme = shell_blocks(ROOT / "README.md")
    assert any("grpcurl" in block.text for block in readme)
    assert all(block.text.endswith("\n") for block in readme)


def test_the_docs_name_one_jaeger_operation_for_start_task() -> None:
    named = {
        name
        for document in DOCUMENTS
        for name in re.findall(r"operation\s+`([^`]*StartTask)`", document.read_text())
    }
    assert named == {"/gdtmesh.gateway.v1.TaskService/StartTask"}


def test_our_metrics_follow_the_prometheus_naming_conventions(mesh: DocsMesh) -> None:
    """Run after the examples: a labelled histogram appears with its first observation."""
    ours = [
        family
        for name in OUR_PROCESSES
        for family in families(mesh.up.endpoints[f"{name}_metrics"])
        if family.name.startswith("gdtmesh_")
    ]
    assert {f.type for f in ours} >= {"counter", "histogram"}  # after the examples' imports
    for family in ours:
        if family.type == "histogram":
            assert family.name.endswith(("_duration_seconds", "_bytes")), family.name
        if family.type == "counter":  # the parser strips the `_total` each sample carries
            assert all(s.name == family.name + "_total" for s in family.samples), family.name


def test_alerts_and_dashboards_name_only_exported_metrics(mesh: DocsMesh) -> None:
    """Run after the examples (imports done): what the compose mesh's Prometheus would find."""
    endpoints = mesh.up.endpoints
    exported = set(PROMETHEUS_OWN)
    for name in (*OUR_PROCESSES, "temporal"):
        for family in families(endpoints[f"{name}_metrics"]):
            exported |= {family.name} | {sample.name for sample in family.samples}
    missing = {
        where: sorted(metric_names(expression) - exported)
        for where, expression in expressions().items()
        if metric_names(expression) - exported
    }
    assert missing == {}
    observability = (ROOT / "docs" / "observability.md").read_text()
    documented = set(re.findall(r"`(gdtmesh_\w+)", observability))
    assert documented and sorted(documented - exported) == [], "documented, never exported"
