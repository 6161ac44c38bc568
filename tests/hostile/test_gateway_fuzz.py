"""Property-based: thousands of requests per gateway RPC, well-formed, malformed and oversized,
against the gateway in-process on the real Temporal dev server. Every call ends with a
well-defined status (never UNKNOWN, INTERNAL, DATA_LOSS or UNIMPLEMENTED), and the gateway
still serves afterwards.

The RPCs are read from the service descriptor and requests are generated from the message
descriptors, so an RPC added to TaskService is fuzzed without touching this file. Field values
lean towards what the gateway checks (tax codes, task ids, dates, flows) and towards the
hostile: control characters, huge strings and lists, out-of-range enums and integers.
"""

from __future__ import annotations

import asyncio
import os
import random
import string
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import message, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.type import date_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.taxcode import make_tax_code
from tests.hostile.gateway_fixtures import KEY_A
from tests.support.gateway import Gateway, bearer

SERVICE = gateway_pb2.DESCRIPTOR.services_by_name["TaskService"]
METHODS = list(SERVICE.methods)
# What a client can act on; the others mean the gateway broke (or lost data) on this input.
FORBIDDEN = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
EXAMPLES = int(os.environ.get("GDTMESH_FUZZ_EXAMPLES", "1000"))
CALL_TIMEOUT_S = 15.0
STREAM_TIMEOUT_S = 2.0  # a watch on a live task streams until it ends: cut it short
STREAM_MESSAGES = 3
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # the shared bootstrap's limit on every server
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

pytestmark = pytest.mark.timeout(900)
T = TypeVar("T")

# ---- values ----------------------------------------------------------------------------------

_tax_codes = [make_tax_code(random.Random(seed)) for seed in range(20)]
HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud7ff\ufffe",
        "../../etc/passwd",
        "%s%n%x",
        "' OR 1=1 --",
        "WorkflowId = 'x' OR 1=1",
        "a" * 5_000,
        "é" * 70_000,
        "tenant-b:invoice-import:0101234560:20250101-20250131:all",
        "tenant-a:invoice-import:" + "9" * 200,
        ":::",
        "\n\r\t",
        "0101234560-001",
        "*",
    ]
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable, max_size=300),
    HOSTILE_TEXT,
    st.sampled_from(_tax_codes),
)
# Field names the gateway reads with meaning: bias them towards values that pass some checks.
NAMED_TEXT: dict[str, st.SearchStrategy[str]] = {
    "company_tax_code": st.one_of(st.sampled_from(_tax_codes), TEXT),
    "task_id": st.one_of(
        st.builds(
            lambda tenant, code: f"{tenant}:invoice-import:{code}:20250101-20250131:all",
            st.sampled_from(["tenant-a", "tenant-b", "other"]),
            st.sampled_from(_tax_codes),
        ),
        TEXT,
    ),
    "bucket": st.one_of(st.sampled_from(["", "hostile-bucket", "UPPER", "a", "goog-x"]), TEXT),
    "kind": st.one_of(st.sampled_from(["", "invoice_import", "invoice-import"]), TEXT),
}
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    """Small values (dates, counts) most of the time, the extremes sometimes."""
    small = st.integers(max(low, -5), min(high, 10_000))
    return st.one_of(small, small, st.sampled_from([low, high, 0]), st.integers(low, high))


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return NAMED_TEXT.get(field.name, TEXT)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=200)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), integers(-(2**31), 2**31 - 1))
    low, high = INT_RANGES[kind]
    return integers(low, high)


def _plausible_import() -> st.SearchStrategy[message.Message]:
    """Specs the gateway accepts (so that the fuzz also reaches Temporal)."""
    flows = [f.number for f in invoice_pb2.Flow.DESCRIPTOR.values if f.number]

    def build(company: str, year: int, month: int, months: int, chosen: list[int], pw: str) -> Any:
        start = date_pb2.Date(year=year, month=month, day=1)
        end_month = min(12, month + months)
        return gateway_pb2.InvoiceImportSpec(
            company_tax_code=company,
            credentials=gateway_pb2.PortalCredentials(password=pw),
            start_date=start,
            end_date=date_pb2.Date(year=year, month=end_month, day=28),
            flows=chosen,  # type: ignore[arg-type]
        )

    return st.builds(
        build,
        st.sampled_from(_tax_codes),
        st.integers(2022, 2025),
        st.integers(1, 12),
        st.integers(0, 3),
        st.lists(st.sampled_from(flows), max_size=4, unique=True),
        TEXT,
    )


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[message.Message]:
    """Messages of `descriptor` with any subset of fields set to generated values."""
    generic = _generic(descriptor, depth)
    if descriptor.full_name == gateway_pb2.InvoiceImportSpec.DESCRIPTOR.full_name:
        return st.one_of(generic, _plausible_import())
    return generic


def _generic(descriptor: Descriptor, depth: int) -> st.SearchStrategy[message.Message]:
    cls = message_factory.GetMessageClass(descriptor)
    optional = {f.name: _field(f, depth) for f in descriptor.fields if depth < 4 or not _nested(f)}

    def build(values: dict[str, Any]) -> message.Message:
        built = cls()
        for name, value in values.items():
            target = getattr(built, name) if _is_container(built, name) else None
            if target is None:
                setattr(built, name, value)
            elif isinstance(value, list):
                target.extend(value)
            else:
                target.CopyFrom(value)
        return built

    return st.fixed_dictionaries({}, optional=optional).map(build)


def _nested(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE


def _is_container(built: message.Message, name: str) -> bool:
    field = built.DESCRIPTOR.fields_by_name[name]
    return field.is_repeated or field.type == FieldDescriptor.TYPE_MESSAGE


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    nested = field.message_type
    one = st.deferred(lambda: messages(nested, depth + 1)) if nested is not None else scalar(field)
    if not field.is_repeated:
        return one
    # Mostly short lists; sometimes past any sane bound (StartTasks allows 500).
    return st.one_of(st.lists(one, max_size=4), st.lists(one, min_size=501, max_size=520))


# ---- calls -----------------------------------------------------------------------------------


def _caller(gateway: Gateway, method: MethodDescriptor) -> Callable[..., Any]:
    path = f"/{SERVICE.full_name}/{method.name}"
    identity: Callable[[bytes], bytes] = lambda data: data  # noqa: E731
    if method.server_streaming:
        return gateway.channel.unary_stream(path, identity, identity)
    return gateway.channel.unary_unary(path, identity, identity)


async def call(gateway: Gateway, method: MethodDescriptor, payload: bytes) -> grpc.StatusCode:
    """Send raw request bytes; the status the call ended with."""
    invoke = _caller(gateway, method)
    try:
        if method.server_streaming:
            stream = invoke(payload, metadata=bearer(KEY_A), timeout=STREAM_TIMEOUT_S)
            received = 0
            async for _ in stream:
                received += 1
                if received >= STREAM_MESSAGES:
                    stream.cancel()
                    break
        else:
            await invoke(payload, metadata=bearer(KEY_A), timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        if method.server_streaming and error.code() in (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.CANCELLED,
        ):
            return grpc.StatusCode.OK  # a live watch cut short by us
        return error.code()
    return grpc.StatusCode.OK


def check(code: grpc.StatusCode, method: MethodDescriptor, what: object) -> None:
    assert code not in FORBIDDEN, f"{method.name} answered {code.name} to {what!r}"[:2000]
    if not method.server_streaming:
        assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{method.name} hung on {what!r}"[:2000]


# ---- the properties --------------------------------------------------------------------------


def on_this_loop() -> Callable[[Coroutine[Any, Any, T]], T]:
    """Hypothesis drives examples synchronously (in a thread, see the tests); each example's
    call runs on the test's event loop, where the gateway and its channel live."""
    loop = asyncio.get_running_loop()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    return run


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
async def test_generated_requests_get_well_defined_codes(
    hostile_gateway: Gateway, method: MethodDescriptor
) -> None:
    run = on_this_loop()

    @FUZZ
    @given(request=messages(method.input_type))
    def one(request: message.Message) -> None:
        code = run(call(hostile_gateway, method, request.SerializeToString()))
        check(code, method, request)

    await asyncio.to_thread(one)
    await _still_serving(hostile_gateway)


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
async def test_malformed_bytes_get_well_defined_codes(
    hostile_gateway: Gateway, method: MethodDescriptor
) -> None:
    run = on_this_loop()

    @FUZZ
    @given(payload=st.one_of(st.binary(max_size=300), _truncated(method.input_type)))
    def one(payload: bytes) -> None:
        check(run(call(hostile_gateway, method, payload)), method, payload)

    await asyncio.to_thread(one)
    await _still_serving(hostile_gateway)


def _truncated(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """A valid request's bytes cut anywhere, or with a byte flipped."""

    def damage(data: bytes, cut: float, flip: int) -> bytes:
        if not data:
            return b"\xff"
        at = int(cut * len(data))
        if flip % 2:
            return data[:at]
        return data[:at] + bytes([(data[at % len(data)] + flip) % 256]) + data[at + 1 :]

    valid = messages(descriptor).map(lambda m: m.SerializeToString())
    return st.builds(damage, valid, st.floats(0, 1), st.integers(0, 255))


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
@pytest.mark.parametrize("size", [5 * 1024 * 1024, 20 * 1024 * 1024, 64 * 1024 * 1024])
async def test_oversized_requests_are_refused(
    hostile_gateway: Gateway, method: MethodDescriptor, size: int
) -> None:
    # A string field of `size` bytes in an otherwise empty request (field 1 of every request
    # message is a string or a repeated message; both are length-delimited).
    payload = b"\x0a" + _varint(size) + b"x" * size
    code = await call(hostile_gateway, method, payload)
    check(code, method, f"{size}-byte request")
    if size > MAX_REQUEST_BYTES:
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    await _still_serving(hostile_gateway)


async def test_many_bad_fields_still_answer_invalid_argument(
    hostile_gateway: Gateway,
) -> None:
    spec = gateway_pb2.InvoiceImportSpec(
        company_tax_code=_tax_codes[0],
        credentials=gateway_pb2.PortalCredentials(password="x"),
        start_date=date_pb2.Date(year=2025, month=1, day=1),
        end_date=date_pb2.Date(year=2025, month=1, day=31),
        flows=[1000 + n for n in range(600)],  # type: ignore[misc]
    )
    start = SERVICE.methods_by_name["StartTask"]
    payload = gateway_pb2.StartTaskRequest(invoice_import=spec).SerializeToString()
    assert await call(hostile_gateway, start, payload) == grpc.StatusCode.INVALID_ARGUMENT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


async def _still_serving(gateway: Gateway) -> None:
    reply = await health_pb2_grpc.HealthStub(gateway.channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
