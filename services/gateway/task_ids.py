"""Task ids: `{tenant}:{kind}:{key}`, e.g.
`acme:invoice-import:0101234560:20250101-20250331:all`.

A task id is the workflow id of its Temporal workflow: deterministic (the same request gives the
same id, so it is one task), readable in the Temporal UI, and scoped to its tenant (two tenants
asking for the same import get two tasks; a tenant asking for another's id finds nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from gdtmesh.rules import MAX_IMPORT_ID_CHARS

SEPARATOR = ":"
MAX_CHARS = MAX_IMPORT_ID_CHARS  # a task id names its import's manifest


@dataclass(frozen=True)
class TaskId:
    tenant: str
    kind: str  # the task kind's id segment, e.g. "invoice-import"
    key: str  # what identifies the task within the kind (may contain ':')

    def __str__(self) -> str:
        return SEPARATOR.join((self.tenant, self.kind, self.key))

    @classmethod
    def parse(cls, text: str) -> TaskId | None:
        """The parts of a task id, or None when `text` cannot be one."""
        parts = text.split(SEPARATOR, 2)
        if len(text) > MAX_CHARS or len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)
