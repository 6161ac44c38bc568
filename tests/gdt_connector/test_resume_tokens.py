"""A month's listing goes on from where an interrupted one stopped: every page carries a token,
and a listing given the token of page k reads pages k+1.. only (no portal request for the pages
already received), together giving exactly the whole month."""

from __future__ import annotations

import grpc
import pytest

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1 import invoice_pb2
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from tests.support.connector import TIMEOUT, Connector
from tests.support.portal import MONTHS, requests_to

PURCHASES = invoice_pb2.FLOW_PURCHASE_ELECTRONIC
LIST_PATH = "/query/invoices/purchase"


def _request(session_id: str, token: str = "") -> gdt_connector_pb2.ListInvoicesRequest:
    year, month = MONTHS[0]
    return gdt_connector_pb2.ListInvoicesRequest(
        session_id=session_id,
        flow=PURCHASES,
        month=invoice_pb2.YearMonth(year=year, month=month),
        resume_token=token,
    )


def _keys(pages: list[gdt_connector_pb2.ListInvoicesResponse]) -> list[tuple[str, str, int]]:
    key = lambda s: (s.key.seller_tax_code, s.key.series, s.key.number)  # noqa: E731
    return [key(summary) for page in pages for summary in page.invoices]


async def test_a_listing_resumed_after_any_page_reads_only_the_pages_after_it(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    session = await connector.open(company)
    whole = [page async for page in connector.stub.ListInvoices(_request(session), timeout=TIMEOUT)]
    assert len(whole) >= 3 and whole[-1].resume_token == ""
    assert all(page.resume_token for page in whole[:-1])
    for cut in range(len(whole) - 1):
        before = sum(requests_to(portal, LIST_PATH).values())
        rest = [
            page
            async for page in connector.stub.ListInvoices(
                _request(session, whole[cut].resume_token), timeout=TIMEOUT
            )
        ]
        assert _keys(whole[: cut + 1]) + _keys(rest) == _keys(whole)
        assert sum(requests_to(portal, LIST_PATH).values()) - before == len(rest)
        assert rest[-1].portal_total == whole[-1].portal_total


@pytest.mark.parametrize("token", ["x", "e30=", "eyJxIjogOSwgInMiOiBudWxsLCAidCI6IFsxXX0="])
async def test_a_token_that_is_no_position_of_the_listing_is_refused(
    connector: Connector, company: Company, token: str
) -> None:
    session = await connector.open(company)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        _ = [
            p async for p in connector.stub.ListInvoices(_request(session, token), timeout=TIMEOUT)
        ]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
