"""Hostile portal answers, end to end through a connector: what the connector's own tests
(tests/gdt_connector/test_failures.py, test_originals.py) do not already cover. Every answer
is refused with a well-defined status (never INTERNAL or UNKNOWN), nothing from a local file
leaks through an XML entity, and an endless or huge body is cut at the connector's limit with
bounded memory.

A tampering proxy between the connector and the sandbox replaces chosen answers; each case
names the stage it hits: the login (captcha, authenticate), a month's listing, or a download.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web

from gdtmesh.flows import flow_by_code
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from tests.support.connector import Rewrite, StartConnector, TamperingProxy
from tests.support.portal import MONTHS

pytestmark = pytest.mark.timeout(120)
SOLD = flow_by_code("ban_ra_dien_tu").flow
BROKEN = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
MiB = 1024 * 1024
DEEP = 100_000  # nesting depth of a JSON body: far past Python's recursion limit


def json_answer(value: Any) -> Rewrite:
    return lambda request, status, body: web.json_response(value)


def raw_answer(body: bytes, content_type: str = "application/json") -> Rewrite:
    return lambda request, status, _: web.Response(body=body, content_type=content_type)


def deep_json() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


def with_row(**fields: Any) -> Rewrite:
    """The real first list page with its first row's fields replaced."""

    def rewrite(request: web.Request, status: int, body: bytes) -> web.Response | None:
        page = json.loads(body)
        if not page.get("datas"):
            return None
        page["datas"][0].update(fields)
        return web.Response(body=json.dumps(page).encode(), content_type="application/json")

    return rewrite


def endless(chunk: bytes, total: int) -> Rewrite:
    """A streamed body of `total` bytes that nobody should read to the end."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    return lambda request, status, body: web.Response(
        body=chunks(), content_type="application/json"
    )


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def many_entries() -> bytes:
    return zip_of({f"static/{n}.css": b"" for n in range(5_000)} | {"invoice.xml": b"<HDon/>"})


def xxe(secret_file: Path) -> bytes:
    return zip_of(
        {
            "invoice.xml": (
                f'<?xml version="1.0"?><!DOCTYPE HDon [<!ENTITY s SYSTEM "file://{secret_file}">]>'
                "<HDon><DLHDon><TTChung><SHDon>&s;</SHDon></TTChung></DLHDon></HDon>"
            ).encode()
        }
    )


def billion_laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "ha">{entities}]><HDon>&l9;</HDon>'
    return zip_of({"invoice.xml": doc.encode()})


@dataclass(frozen=True)
class Case:
    stage: str  # "login", "list" or "fetch"
    path_suffix: str
    rewrite: Callable[[Path], Rewrite]


CASES: dict[str, Case] = {
    # login
    "captcha content not a string": Case(
        "login", "/captcha", lambda _: json_answer({"key": "a" * 24, "content": 12345})
    ),
    "captcha 5 MiB of junk SVG": Case(
        "login",
        "/captcha",
        lambda _: json_answer({"key": "a" * 24, "content": "<svg>" + "<path d='M0'/>" * 400_000}),
    ),
    "captcha deeply nested JSON": Case("login", "/captcha", lambda _: raw_answer(deep_json())),
    "login token not a string": Case(
        "login", "/authenticate", lambda _: json_answer({"token": ["a", "b"]})
    ),
    "login deeply nested JSON": Case("login", "/authenticate", lambda _: raw_answer(deep_json())),
    # listing
    "list deeply nested JSON": Case("list", "/invoices/sold", lambda _: raw_answer(deep_json())),
    "list number in superscript digits": Case(
        "list", "/invoices/sold", lambda _: with_row(shdon="²")
    ),
    "list number of 5000 digits": Case(
        "list", "/invoices/sold", lambda _: with_row(shdon="9" * 5000)
    ),
    "list number 1e300": Case("list", "/invoices/sold", lambda _: with_row(shdon=1e300)),
    "list ttxly past int32": Case("list", "/invoices/sold", lambda _: with_row(ttxly=2**40)),
    "list date at the end of time": Case(
        "list", "/invoices/sold", lambda _: with_row(tdlap="9999-12-31T23:59:59Z")
    ),
    "list datas not a list": Case(
        "list", "/invoices/sold", lambda _: json_answer({"datas": "x", "total": 1, "state": None})
    ),
    "list endless body": Case("list", "/invoices/sold", lambda _: endless(b" " * MiB, 1024 * MiB)),
    # downloads
    "detail deeply nested JSON": Case(
        "fetch", "/invoices/detail", lambda _: raw_answer(deep_json())
    ),
    "detail a JSON array": Case("fetch", "/invoices/detail", lambda _: json_answer([1, 2, 3])),
    "detail 40 MiB": Case("fetch", "/invoices/detail", lambda _: endless(b"x" * MiB, 40 * MiB)),
    "export not a ZIP": Case(
        "fetch", "/invoices/export-xml", lambda _: raw_answer(b"PK\x03\x04junk", "application/zip")
    ),
    "export with 5000 entries": Case(
        "fetch", "/invoices/export-xml", lambda _: raw_answer(many_entries(), "application/zip")
    ),
    "export XML with an external entity": Case(
        "fetch", "/invoices/export-xml", lambda secret: raw_answer(xxe(secret), "application/zip")
    ),
    "export XML billion laughs": Case(
        "fetch", "/invoices/export-xml", lambda _: raw_answer(billion_laughs(), "application/zip")
    ),
    "export ZIP inside the ZIP": Case(
        "fetch",
        "/invoices/export-xml",
        lambda _: raw_answer(zip_of({"invoice.xml": zip_of({"invoice.xml": b"<HDon/>"})})),
    ),
}
SECRET_TEXT = "top-secret-file-content-7f3a"


def peak_rss_reset() -> bool:
    """Reset this process's peak RSS (Linux: clear_refs 5); False where that is unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("name", list(CASES))
async def test_a_hostile_answer_is_refused_safely(
    name: str,
    start_connector: StartConnector,
    proxy: TamperingProxy,
    portal: RunningSandbox,
    company: Company,
    tmp_path: Path,
) -> None:
    case = CASES[name]
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_TEXT)
    connector = await start_connector(proxy.url, portal_captcha_attempts=2)
    measured = peak_rss_reset()
    before = peak_rss_mib()
    proxy.rules[case.path_suffix] = case.rewrite(secret)

    outcome = await _run_until(case.stage, connector, company)

    grown = peak_rss_mib() - before
    assert outcome.code not in BROKEN, f"{name}: {outcome.code.name}: {outcome.text}"
    if case.stage == "fetch" and outcome.code == grpc.StatusCode.OK:
        assert outcome.item_error == grpc.StatusCode.DATA_LOSS.value[0], outcome
    assert SECRET_TEXT not in outcome.text
    if measured:
        assert grown < 200, f"{name}: peak memory grew by {grown:.0f} MiB"


@dataclass
class Outcome:
    code: grpc.StatusCode
    text: str = ""  # everything the connector answered, for the leak check
    item_error: int | None = None


async def _run_until(stage: str, connector: Any, company: Company) -> Outcome:
    try:
        session = await connector.open(company)
        if stage == "login":
            return Outcome(grpc.StatusCode.OK)
        if stage == "list":
            pages = await connector.list_all(session, SOLD, *MONTHS[1])
            return Outcome(grpc.StatusCode.OK, str(pages))
        invoices = await _with_original(connector, session)
        (item,) = await connector.fetch(session, SOLD, invoices[:1])
        return Outcome(
            grpc.StatusCode.OK, str(item), item.error.code if item.HasField("error") else 0
        )
    except grpc.aio.AioRpcError as error:
        return Outcome(error.code(), error.details() or "")


async def _with_original(connector: Any, session: str) -> list[Any]:
    invoices = await connector.list_all(session, SOLD, *MONTHS[1])
    with_original = [i for i in invoices if i.has_original]
    assert with_original, "the test data set has invoices with originals"
    return with_original
