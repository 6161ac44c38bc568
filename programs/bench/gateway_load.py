"""TaskService latency at fixed request rates, against the real Temporal dev server.

Open loop: calls are sent on a fixed schedule whether or not earlier ones have answered (a
closed loop would slow down with the server and hide its queueing). Half are StartTask for a
new company (each starts an import workflow that the worker runs and that fails at the
portal's login: real load on Temporal and the worker), half GetTask of a task started earlier.
A rate "sheds" when the gateway refuses calls (RESOURCE_EXHAUSTED or UNAVAILABLE), and
saturates when calls fail otherwise or the 99th percentile exceeds the latency objective.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.taxcode import make_tax_code
from programs.client import to_date

SHEDDING_CODES = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})
CALL_TIMEOUT_S = 10.0
P99_OBJECTIVE_MS = 1000.0


@dataclass
class RateResult:
    rate: float
    seconds: float
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    codes: Counter[str] = field(default_factory=Counter)
    late_ms_max: float = 0.0  # how far the sender fell behind its schedule

    def percentile(self, rpc: str, q: float) -> float:
        values = sorted(self.latencies_ms.get(rpc, []))
        if not values:
            return float("nan")
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]

    @property
    def calls(self) -> int:
        return sum(self.codes.values())

    @property
    def shed(self) -> int:
        return sum(self.codes[code.name] for code in SHEDDING_CODES)

    @property
    def errors(self) -> int:
        return self.calls - self.codes[grpc.StatusCode.OK.name] - self.shed

    def saturated(self) -> bool:
        worst = max((self.percentile(rpc, 0.99) for rpc in self.latencies_ms), default=math.inf)
        return self.errors > 0.01 * self.calls or worst > P99_OBJECTIVE_MS

    def summary(self) -> dict[str, Any]:
        return {
            "rate_per_s": self.rate,
            "seconds": self.seconds,
            "calls": self.calls,
            "codes": dict(self.codes),
            "p50_ms": {rpc: round(self.percentile(rpc, 0.5), 1) for rpc in self.latencies_ms},
            "p99_ms": {rpc: round(self.percentile(rpc, 0.99), 1) for rpc in self.latencies_ms},
            "sender_late_ms_max": round(self.late_ms_max, 1),
        }


class GatewayLoad:
    def __init__(self, address: str, api_key: str, start: dt.date, end: dt.date) -> None:
        self._channel = open_channel(address)
        self._stub = gateway_pb2_grpc.TaskServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._start, self._end = start, end
        self._random = random.Random(8)
        self._task_ids: list[str] = []

    async def close(self) -> None:
        await self._channel.close()

    async def run(self, rate: float, seconds: float) -> RateResult:
        result = RateResult(rate, seconds)
        began = time.monotonic()
        calls = []
        for index in range(int(rate * seconds)):
            due = began + index / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            result.late_ms_max = max(result.late_ms_max, (time.monotonic() - due) * 1000)
            start = index % 2 == 0 or not self._task_ids
            calls.append(asyncio.create_task(self._call(result, start)))
        await asyncio.gather(*calls)
        return result

    async def _call(self, result: RateResult, start: bool) -> None:
        rpc = "StartTask" if start else "GetTask"
        sent = time.monotonic()
        try:
            if start:
                reply = await self._stub.StartTask(
                    self._start_request(), metadata=self._metadata, timeout=CALL_TIMEOUT_S
                )
                self._task_ids.append(reply.task.task_id)
            else:
                task_id = self._random.choice(self._task_ids)
                await self._stub.GetTask(
                    gateway_pb2.GetTaskRequest(task_id=task_id),
                    metadata=self._metadata,
                    timeout=CALL_TIMEOUT_S,
                )
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            code = error.code()
        result.codes[code.name] += 1
        if code == grpc.StatusCode.OK:
            result.latencies_ms.setdefault(rpc, []).append((time.monotonic() - sent) * 1000)

    def _start_request(self) -> gateway_pb2.StartTaskRequest:
        spec = gateway_pb2.InvoiceImportSpec(
            company_tax_code=make_tax_code(self._random),
            credentials=gateway_pb2.PortalCredentials(password="not-a-portal-account"),
            start_date=to_date(self._start),
            end_date=to_date(self._end),
        )
        return gateway_pb2.StartTaskRequest(invoice_import=spec)
