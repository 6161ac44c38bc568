"""JSON log lines captured in a buffer, as a process writes them to stderr."""

from __future__ import annotations

import io
import json
from typing import Any


class LogLines:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line]

    def find(self, event: str) -> dict[str, Any]:
        [line] = [line for line in self.events() if line.get("event") == event]
        return line
