"""The gateway refuses at StartTask every value storage would refuse at its first write: a task
accepted and then failing on every write is worse than a clear INVALID_ARGUMENT up front."""

from __future__ import annotations

import grpc
import pytest
from gateway_support import Gateway, auth, day, fresh_company, import_request
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.invoice.v1.invoice_pb2 import Flow, YearMonth
from gdtmesh.runtime.errors import error_details
from services.gateway.auth import parse_api_keys
from services.gateway.invoice_import import InvoiceImportKind
from services.gateway.recent_resync import RecentMonthsResyncKind
from services.gateway.task_ids import TaskId
from services.storage import layout

BUCKETS = [
    "my.invoices",  # dotted: storage refuses it (the bug this test was written for)
    "ab",
    "a" * 64,
    "Invoices",
    "-invoices",
    "invoices-",
    "in voices",
    "googinvoices",
    "my-google-bucket",
    "in/voices",
    "invoices\n",
]
TAX_CODES = ["0101234567", "123", "01012345600", "0101234560-000", "0101234560-1", "abcdefghij"]
FLOWS = [0, 5, 9, -1, 2**31 - 1]
YEARS = [1, 1999, 2100, 9999]


async def _refused_fields(gateway: Gateway, request: pb.StartTaskRequest) -> set[str]:
    """The fields StartTask names as invalid (empty when it accepts the request)."""
    try:
        await gateway.stub.StartTask(request, metadata=auth())
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        [bad] = [d for d in error_details(error) if isinstance(d, error_details_pb2.BadRequest)]
        return {violation.field for violation in bad.field_violations}
    return set()


@pytest.mark.parametrize("bucket", BUCKETS)
async def test_a_bucket_storage_refuses(gateway: Gateway, bucket: str) -> None:
    assert layout.bucket_problem(bucket) is not None  # storage refuses it
    request = import_request(fresh_company(), bucket=bucket)
    assert "invoice_import.bucket" in await _refused_fields(gateway, request)


@pytest.mark.parametrize("company", TAX_CODES)
async def test_a_company_storage_refuses(gateway: Gateway, company: str) -> None:
    assert layout.tax_code_problem(company) is not None
    assert "invoice_import.company_tax_code" in await _refused_fields(
        gateway, import_request(company)
    )


@pytest.mark.parametrize("flow", FLOWS)
async def test_a_flow_storage_refuses(gateway: Gateway, flow: int) -> None:
    assert layout.flow_problem(flow) is not None
    request = import_request(fresh_company(), flows=[flow])
    assert "invoice_import.flows[0]" in await _refused_fields(gateway, request)


@pytest.mark.parametrize("year", YEARS)
async def test_a_year_storage_refuses(gateway: Gateway, year: int) -> None:
    assert layout.month_problem(YearMonth(year=year, month=1)) is not None
    for field, start, end in (
        ("start_date", day(year, 1, 1), day(2025, 2, 28)),
        ("end_date", day(2025, 1, 1), day(year, 1, 1)),
    ):
        refused = await _refused_fields(
            gateway, import_request(fresh_company(), start=start, end=end)
        )
        assert f"invoice_import.{field}" in refused, (field, year)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(bucket=st.text(alphabet="ab0_-.GOg/ ", min_size=1, max_size=70))
async def test_any_bucket_name_storage_refuses_is_refused_first(
    gateway: Gateway, bucket: str
) -> None:
    refused = "invoice_import.bucket" in await _refused_fields(
        gateway, import_request(fresh_company(), bucket=bucket)
    )
    assert refused == (layout.bucket_problem(bucket) is not None)


def test_every_task_id_the_gateway_makes_is_an_import_id_storage_accepts() -> None:
    tenant = "t" + "a-_9" * 15 + "zz"  # the longest tenant name
    assert len(tenant) == 63 and parse_api_keys(f"{tenant}:{'k' * 32}")
    flows = [Flow.FLOW_SOLD_ELECTRONIC, Flow.FLOW_SOLD_CASH_REGISTER, Flow.FLOW_PURCHASE_ELECTRONIC]
    company = "0101234560-001"
    specs = {
        InvoiceImportKind(): import_request(company, flows=flows).invoice_import,
        RecentMonthsResyncKind(): pb.RecentMonthsResyncSpec(company_tax_code=company, flows=flows),
    }
    for kind, spec in specs.items():
        task_id = str(TaskId(tenant, kind.id_segment, kind.task_key(spec)))
        assert layout.import_id_problem(task_id) is None, task_id


@pytest.mark.parametrize("tenant", ["acme.vn", "a/b", "-acme", "x" * 64])
def test_a_tenant_name_no_import_id_could_start_with_is_refused(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant names"):
        parse_api_keys(f"{tenant}:{'k' * 32}")
