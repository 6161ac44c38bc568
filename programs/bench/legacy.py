"""The legacy way: one plain sequential loop over the portal, what the original service did.

For each company, one after another: a captcha (read with the real solver) and a login; for
each flow and month, each list page; for each invoice, its detail and then its XML export,
one request at a time, each body written to a local folder. It is polite, as the original
had to be to keep its accounts: requests of an account are spaced by the account's budget,
and a 429 is waited out (Retry-After, else an exponential backoff). No concurrency at all:
that, and nothing else, is what the mesh is compared with.
"""

from __future__ import annotations

import calendar
import datetime as dt
import http.client
import io
import json
import time
import urllib.parse
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdtmesh.vncalendar import months_between, vietnam_date
from services.gdt_connector.captcha import CaptchaError, solve_captcha

LISTS = {
    "ban_ra_dien_tu": "/query/invoices/sold",
    "ban_ra_may_tinh_tien": "/sco-query/invoices/sold",
    "mua_vao_dien_tu": "/query/invoices/purchase",
    "mua_vao_may_tinh_tien": "/sco-query/invoices/purchase",
}
PAGE_SIZE = 50
LOGIN_ATTEMPTS = 5
TIMEOUT_S = 60.0
MAX_BACKOFF_S = 900.0


class LegacyError(RuntimeError):
    """The portal refused something the loop cannot get past."""


@dataclass
class Tally:
    requests: int = 0
    throttled: int = 0
    invoices: int = 0
    originals: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # company -> crawl time


class LegacyCrawler:
    """Crawls the portal at `base` (with its `/api` prefix) into `out_dir`, one request at a
    time, at most `account_rate` requests per second per account."""

    def __init__(self, base: str, out_dir: Path, account_rate: float, backoff_s: float) -> None:
        parts = urllib.parse.urlsplit(base)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._out = out_dir
        self._spacing = 1.0 / account_rate
        self._backoff_s = backoff_s
        self._connection = http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT_S)
        self._next_send = 0.0
        self._token = ""
        self.tally = Tally()

    def close(self) -> None:
        self._connection.close()

    def crawl(self, company: str, password: str, start: dt.date, end: dt.date) -> None:
        began = time.monotonic()
        self._next_send = 0.0  # a new account: its own budget
        self._token = ""
        self._token = self._log_in(company, password)
        for flow, path in LISTS.items():
            family = path.split("/")[1]
            for year, month in months_between(start, end):
                for row in self._list_month(path, year, month):
                    self._download(company, flow, family, row)
        self.tally.seconds[company] = time.monotonic() - began

    # -- the steps ---------------------------------------------------------------------------

    def _log_in(self, company: str, password: str) -> str:
        for _ in range(LOGIN_ATTEMPTS):
            captcha = self._json(self._send("GET", "/captcha"))
            try:
                answer = solve_captcha(captcha["content"])
            except CaptchaError:
                continue
            body = {"username": company, "password": password, "ckey": captcha["key"]}
            status, data = self._send(
                "POST", "/security-taxpayer/authenticate", body | {"cvalue": answer}
            )
            token = self._json((status, data)).get("token") if status == 200 else None
            if isinstance(token, str) and token:
                return token
        raise LegacyError(f"could not log in as {company}")

    def _list_month(self, path: str, year: int, month: int) -> Iterator[dict[str, Any]]:
        last = calendar.monthrange(year, month)[1]
        search = (
            f"tdlap=ge=01/{month:02d}/{year}T00:00:00;"
            f"tdlap=le={last:02d}/{month:02d}/{year}T23:59:59"
        )
        query = {"sort": "tdlap:desc", "size": str(PAGE_SIZE), "search": search}
        while True:
            page = self._json(self._send("GET", path + "?" + urllib.parse.urlencode(query)))
            yield from page["datas"]
            if not page.get("state"):
                return
            query["state"] = page["state"]

    def _download(self, company: str, flow: str, family: str, row: dict[str, Any]) -> None:
        key = {name: str(row[name]) for name in ("nbmst", "khhdon", "shdon", "khmshdon")}
        params = urllib.parse.urlencode(key)
        status, detail = self._send("GET", f"/{family}/invoices/detail?{params}")
        self._expect_ok(status, "detail")
        day = vietnam_date(dt.datetime.fromisoformat(row["tdlap"].replace("Z", "+00:00")))
        folder = self._out / company / flow / f"{day.year:04d}" / f"{day.month:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{key['khmshdon']}-{key['khhdon']}-{key['shdon']}"
        (folder / f"{stem}.json").write_bytes(detail)
        self.tally.invoices += 1
        if json.loads(detail).get("hsgoc"):
            status, archive = self._send("GET", f"/{family}/invoices/export-xml?{params}")
            self._expect_ok(status, "export-xml")
            with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                (folder / f"{stem}.xml").write_bytes(bundle.read("invoice.xml"))
            self.tally.originals += 1

    # -- HTTP, one request at a time ---------------------------------------------------------

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        backoff = self._backoff_s
        while True:
            time.sleep(max(0.0, self._next_send - time.monotonic()))
            self._next_send = time.monotonic() + self._spacing
            status, headers, data = self._exchange(method, path, body)
            self.tally.requests += 1
            if status != 429:
                return status, data
            self.tally.throttled += 1
            wait = float(headers.get("Retry-After") or backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            self._next_send = time.monotonic() + wait

    def _exchange(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"request-id": str(uuid.uuid4())}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):  # a dropped keep-alive connection: reconnect once
            try:
                self._connection.request(method, self._prefix + path, payload, headers)
                reply = self._connection.getresponse()
                return reply.status, dict(reply.getheaders()), reply.read()
            except (http.client.HTTPException, ConnectionError):
                self._connection.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _json(reply: tuple[int, bytes]) -> dict[str, Any]:
        status, data = reply
        LegacyCrawler._expect_ok(status, "request")
        parsed: dict[str, Any] = json.loads(data)
        return parsed

    @staticmethod
    def _expect_ok(status: int, what: str) -> None:
        if status != 200:
            raise LegacyError(f"{what}: HTTP {status}")
