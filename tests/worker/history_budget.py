"""Measure a workflow's recorded history: events per run and the largest payload, over every run
of a continued-as-new chain (read back from the server, as Temporal's limits see it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory

EVENT_LIMIT = 10_240  # Temporal warns here and fails a run at 51,200
PAYLOAD_LIMIT = 256 * 1024  # the budget the issue sets for one payload


@dataclass(frozen=True)
class RunSize:
    events: int
    history_bytes: int
    largest_payload: int


async def runs_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of the workflow, first to last, following continue-as-new links back."""
    histories = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return list(reversed(histories))
        run_id = started.continued_execution_run_id


def measure(history: WorkflowHistory) -> RunSize:
    sizes = [size for event in history.events for size in payload_sizes(event)]
    return RunSize(
        events=len(history.events),
        history_bytes=sum(event.ByteSize() for event in history.events),
        largest_payload=max(sizes, default=0),
    )


def payload_sizes(message: Message) -> Iterator[int]:
    """The serialized size of every Payload inside `message`."""
    if isinstance(message, Payload):
        yield message.ByteSize()
        return
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE or descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            items = value.values()
        elif descriptor.is_repeated:
            items = value
        else:
            items = [value]
        for item in items:
            if isinstance(item, Message):
                yield from payload_sizes(item)
