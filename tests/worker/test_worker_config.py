"""Worker configuration, months of a range, invoice refs, download planning: the pure parts."""

from __future__ import annotations

import datetime as dt

import pytest

from gdtmesh.runtime.codec import new_key_spec
from gdtmesh.runtime.config import ConfigError, load
from gdtmesh.vncalendar import month_windows, months_spanned
from tests.support.imports import make_ref
from workers.config import WorkerConfig
from workers.imports.refs import key_of, pack, unpack
from workers.imports.workflows import MAX_BATCH, DownloadPlan

REQUIRED = {
    "GDTMESH_CODEC_KEYS": new_key_spec(),
    "GDTMESH_GDT_CONNECTOR_ADDRESS": "127.0.0.1:50061",
    "GDTMESH_STORAGE_ADDRESS": "127.0.0.1:50062",
}


def test_the_worker_needs_keys_and_the_two_services() -> None:
    config = load(WorkerConfig, environ=REQUIRED)
    assert (config.temporal_address, config.task_queue) == ("127.0.0.1:7233", "gdtmesh-imports")
    with pytest.raises(ConfigError) as raised:
        load(WorkerConfig, environ={})
    for variable in REQUIRED:
        assert f"{variable}: required" in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("GDTMESH_STORAGE_ADDRESS", "storage", "GDTMESH_STORAGE_ADDRESS must be host:port"),
        ("GDTMESH_WORKER_MAX_CONCURRENT_ACTIVITIES", "0", "must be at least 1"),
        ("GDTMESH_TASK_QUEUE", "", "GDTMESH_TASK_QUEUE must not be empty"),
        ("GDTMESH_CODEC_KEYS", "k1", "codec keys must look like"),
    ],
)
def test_bad_worker_settings_are_refused(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load(WorkerConfig, environ={**REQUIRED, variable: value})


def test_months_are_clipped_to_the_range() -> None:
    windows = month_windows(dt.date(2024, 12, 15), dt.date(2025, 2, 10))
    assert [(w.year, w.month, w.first_day.day, w.last_day.day) for w in windows] == [
        (2024, 12, 15, 31),
        (2025, 1, 1, 31),
        (2025, 2, 1, 10),
    ]
    assert month_windows(dt.date(2025, 2, 1), dt.date(2025, 1, 1)) == []
    assert months_spanned(dt.date(2024, 12, 31), dt.date(2025, 1, 1)) == 2


def test_refs_round_trip_and_name_their_invoice() -> None:
    ref = make_ref(dt.date(2025, 1, 15), 42, has_original=False)
    assert ref == "0101234560|1|C25TAA|42|2025-01-15|5|1|0"
    assert pack(unpack(ref)) == ref and key_of(ref) == "0101234560|1|C25TAA|42"
    with pytest.raises(ValueError):
        unpack("0101234560|1|C25TAA")


@pytest.mark.parametrize(
    ("total", "max_concurrent", "overlap", "lanes", "size"),
    [
        (20_000, 10, 4, 2, MAX_BATCH),
        (100, 10, 4, 2, 50),
        (40, 10, 1, 10, 4),
        (3, 10, 4, 2, 2),
        (1_000, 3, 4, 1, 3),  # fewer than the overlap: batches that small
        (0, 10, 4, 2, 1),
    ],
)
def test_download_plans_bound_the_invoices_in_flight(
    total: int, max_concurrent: int, overlap: int, lanes: int, size: int
) -> None:
    plan = DownloadPlan.for_import(total, max_concurrent, overlap)
    assert (plan.lanes, plan.batch_size) == (lanes, size)
    assert plan.lanes * min(plan.batch_size, overlap) <= max_concurrent
