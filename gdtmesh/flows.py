"""The portal's four invoice flows: proto enum <-> portal flow code, family and direction."""

from __future__ import annotations

from dataclasses import dataclass

from gdtmesh.invoice.v1.invoice_pb2 import Flow


@dataclass(frozen=True)
class FlowInfo:
    flow: Flow.ValueType
    code: str  # the name the bucket layout and the sandbox use, e.g. "ban_ra_dien_tu"
    family: str  # portal path family: "query" (electronic) or "sco-query" (cash register)
    direction: str  # portal list: "sold" or "purchase"

    @property
    def list_path(self) -> str:
        return f"/{self.family}/invoices/{self.direction}"


FLOWS: tuple[FlowInfo, ...] = (
    FlowInfo(Flow.FLOW_SOLD_ELECTRONIC, "ban_ra_dien_tu", "query", "sold"),
    FlowInfo(Flow.FLOW_SOLD_CASH_REGISTER, "ban_ra_may_tinh_tien", "sco-query", "sold"),
    FlowInfo(Flow.FLOW_PURCHASE_ELECTRONIC, "mua_vao_dien_tu", "query", "purchase"),
    FlowInfo(Flow.FLOW_PURCHASE_CASH_REGISTER, "mua_vao_may_tinh_tien", "sco-query", "purchase"),
)
_BY_ENUM = {info.flow: info for info in FLOWS}
_BY_CODE = {info.code: info for info in FLOWS}


def flow_info(flow: Flow.ValueType) -> FlowInfo:
    """Look a flow up by enum; ValueError for UNSPECIFIED or unknown values."""
    try:
        return _BY_ENUM[flow]
    except KeyError:
        raise ValueError(f"unknown flow {flow}") from None


def flow_by_code(code: str) -> FlowInfo:
    try:
        return _BY_CODE[code]
    except KeyError:
        raise ValueError(f"unknown flow code {code!r}") from None
