"""`gdtmesh import --companies companies.json` and `gdtmesh watch TASK_ID` against the gateway
in-process (real Temporal, activity doubles): the companies file format and its errors, a
batch started and followed to a summary table, one task followed to its result."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from gateway_support import KEY_A, PASSWORD, Gateway, auth, fresh_company, import_request

from gdtmesh.invoice.v1.invoice_pb2 import Flow
from programs.client import GatewayTarget
from programs.commands.import_ import load_companies
from programs.commands.watch import watch


def company_entry(company: str, **extra: Any) -> dict[str, Any]:
    return {
        "company_id": company,
        "company_name": f"CONG TY {company}",
        "username": company,
        "password": PASSWORD,
        "date_range_start": "2025-01-01",
        "date_range_end": "2025-02-28",
        **extra,
    }


def test_the_companies_file_defaults_to_the_electronic_flows(tmp_path: Path) -> None:
    path = tmp_path / "companies.json"
    entries = [
        company_entry("0101234560"),
        company_entry("0101234560-001", flows=["mua_vao_may_tinh_tien"], gcs_bucket="b-1"),
    ]
    path.write_text(json.dumps(entries))

    first, second = load_companies(path)

    assert first.flows == (Flow.FLOW_SOLD_ELECTRONIC, Flow.FLOW_PURCHASE_ELECTRONIC)
    assert (first.bucket, first.username, str(first.start)) == ("", "0101234560", "2025-01-01")
    assert second.flows == (Flow.FLOW_PURCHASE_CASH_REGISTER,) and second.bucket == "b-1"
    assert PASSWORD not in repr(first)


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ("{}", "must hold a non-empty JSON list"),
        ([{"company_id": "0101234560"}], "entry 0 (0101234560): missing password"),
        ([company_entry("0101234560", date_range_end="2025-2-1")], "YYYY-MM-DD"),
        ([company_entry("0101234560", date_range_end="2024-12-31")], "before date_range_start"),
        ([company_entry("0101234560", flows=["ban_ra"])], "unknown flow code 'ban_ra'"),
        ([company_entry("0101234560", password=42)], "password must be a string"),
    ],
)
def test_a_bad_companies_file_names_the_entry_and_field(
    tmp_path: Path, entries: Any, says: str
) -> None:
    path = tmp_path / "companies.json"
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    with pytest.raises(ValueError) as raised:
        load_companies(path)
    assert says in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_the_gateway_comes_from_flags_then_environment_then_endpoints_file(
    tmp_path: Path,
) -> None:
    endpoints = tmp_path / "mesh.json"
    endpoints.write_text(json.dumps({"gateway": "127.0.0.1:6000", "api_key": "from-file"}))
    environ = {"GDTMESH_API_KEY": "from-env"}

    assert GatewayTarget.resolve(None, None, endpoints, {}) == GatewayTarget(
        "127.0.0.1:6000", "from-file"
    )
    assert GatewayTarget.resolve(None, None, endpoints, environ).api_key == "from-env"
    assert GatewayTarget.resolve("h:1", "flag", endpoints, environ) == GatewayTarget("h:1", "flag")
    with pytest.raises(ValueError, match="no API key"):
        GatewayTarget.resolve(None, None, None, {})


async def test_import_starts_a_batch_follows_it_and_sums_it_up(
    gateway: Gateway, tmp_path: Path
) -> None:
    good = [fresh_company() for _ in range(3)]
    path = tmp_path / "companies.json"
    entries = [company_entry(c) for c in good] + [company_entry("0101234567")]  # bad check digit
    path.write_text(json.dumps(entries))
    command = [sys.executable, "-m", "programs.cli", "import", "--companies", str(path)]
    command += ["--gateway", gateway.address, "--api-key", KEY_A]

    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()

    assert process.returncode == 1, err.decode()  # one company was refused
    summary = text[text.index("company ") :].splitlines()
    rows = {line.split()[0]: line for line in summary[1:]}
    for company in good:
        assert " succeeded " in rows[company]
        assert rows[company].split()[-5:-1] == ["12", "12", "0", "0"]  # 2 flows x 2 months x 3
        assert rows[company].endswith(f"gdt_invoices/{company}/manifests/import.json")
    assert "not started: invalid request: invoice_import.company_tax_code" in rows["0101234567"]
    assert rows["total"].split()[1:] == ["36", "36", "0", "0"]
    assert "overall (4/4 done)" in text
    assert PASSWORD not in text + err.decode()


async def test_watch_follows_one_task_to_its_result(gateway: Gateway) -> None:
    gateway.imports.gate = asyncio.Event()
    company = fresh_company()
    started = await gateway.stub.StartTask(
        import_request(company, flows=[Flow.FLOW_SOLD_ELECTRONIC, Flow.FLOW_PURCHASE_ELECTRONIC]),
        metadata=auth(),
    )
    out = io.StringIO()
    following = asyncio.ensure_future(
        watch(GatewayTarget(gateway.address, KEY_A), started.task.task_id, out)
    )
    await asyncio.sleep(0.5)
    gateway.imports.gate.set()

    code = await asyncio.wait_for(following, 30)

    text = out.getvalue()
    assert code == 0
    assert "  ban_ra_dien_tu" in text and "  mua_vao_dien_tu" in text
    assert f"{started.task.task_id}: SUCCEEDED" in text
    assert "mua_vao_dien_tu        2025-02" in text
    assert f"manifest: gdt_invoices/{company}/manifests/import.json" in text
