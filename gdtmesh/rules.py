"""The rules for the values an import names: a bucket, a company, a flow, a year, an import id.

One owner for each, so the gateway refuses at StartTask what storage would refuse at its first
write (a task accepted and then failing on every write is the bug this module exists to prevent).
Each check returns what is wrong, or None; callers collect them under their own field names.
"""

from __future__ import annotations

import re

from gdtmesh.flows import flow_info
from gdtmesh.taxcode import is_valid_tax_code

# Plain GCS bucket names. The dotted, domain-named form is refused on purpose: it needs domain
# verification and breaks virtual-hosted TLS, and nothing here uses it.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]")
# The years the bucket layout files invoices under (four-digit folders, TT78 e-invoices).
MIN_YEAR, MAX_YEAR = 2000, 2099
# Import ids (the gateway's task ids): letters, digits, '_', '-', ':', '+' (flow codes joined
# by '+'). No '.', so "{id}.v2.json" can never be another import's manifest name.
IMPORT_ID_CHARS = "A-Za-z0-9_:+-"
MAX_IMPORT_ID_CHARS = 400
IMPORT_ID = re.compile(rf"[A-Za-z0-9][{IMPORT_ID_CHARS}]{{0,{MAX_IMPORT_ID_CHARS - 1}}}")
_SHOWN_CHARS = 40


def shown(value: str) -> str:
    """A bounded, printable rendering of a hostile value for an error message."""
    return repr(value[:_SHOWN_CHARS] + ("..." if len(value) > _SHOWN_CHARS else ""))


def bucket_problem(value: str) -> str | None:
    if not BUCKET_NAME.fullmatch(value):
        return (
            "must be a bucket name: 3-63 of a-z, 0-9, '-' and '_', starting and ending with a "
            f"letter or digit (no '.'), got {shown(value)}"
        )
    if value.startswith("goog") or "google" in value:
        return (
            f"must not start with 'goog' or contain 'google' (GCS refuses it), got {shown(value)}"
        )
    return None


def tax_code_problem(value: str) -> str | None:
    if is_valid_tax_code(value):
        return None
    return (
        "must be a valid tax code (10 digits with a correct check digit, optionally "
        f"'-' and a 3-digit branch, or a 12-digit personal id), got {shown(value)}"
    )


def flow_problem(flow: int) -> str | None:
    try:
        flow_info(flow)  # type: ignore[arg-type]
    except ValueError:
        return f"must be one of the four flows, got {flow}"
    return None


def year_problem(year: int) -> str | None:
    if MIN_YEAR <= year <= MAX_YEAR:
        return None
    return f"must be in {MIN_YEAR}-{MAX_YEAR}, got {year}"


def import_id_problem(value: str) -> str | None:
    if IMPORT_ID.fullmatch(value):
        return None
    allowed = "A-Z, a-z, 0-9, '_', '-', ':', '+' (no '.' or '/')"
    return f"must be 1-{MAX_IMPORT_ID_CHARS} of {allowed}, got {shown(value)}"
