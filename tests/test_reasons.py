"""Every ErrorInfo reason has one owner (gdtmesh.reasons), is documented in the proto of the
service that returns it, and is never spelled out again as a literal in the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gdtmesh import reasons

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos" / "gdtmesh"
BY_SERVICE = {
    "gdt_connector/v1/gdt_connector.proto": reasons.GDT_CONNECTOR_REASONS,
    "gateway/v1/gateway.proto": reasons.GATEWAY_REASONS,
    "storage/v1/storage.proto": reasons.STORAGE_REASONS,
}
ALL = {value for name, value in vars(reasons).items() if name.isupper() and isinstance(value, str)}
# Calls whose string argument becomes an ErrorInfo reason.
REASON_CALLS = {"error_info", "retry_later", "unavailable"}


@pytest.mark.parametrize("proto", sorted(BY_SERVICE))
def test_each_reason_is_documented_in_its_services_proto(proto: str) -> None:
    text = (PROTOS / proto).read_text()
    missing = [reason for reason in BY_SERVICE[proto] if not re.search(rf"\b{reason}\b", text)]
    assert not missing, f"{proto} does not document {missing}"


def test_every_reason_belongs_to_one_service() -> None:
    listed = [reason for group in BY_SERVICE.values() for reason in group]
    assert sorted(listed) == sorted(ALL)


def _literals(path: Path) -> list[str]:
    """Where the code spells a reason out, or hands a literal to a call that makes one."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and node.value in ALL:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in REASON_CALLS:
            arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {argument.value!r}"
                for argument in arguments
                if isinstance(argument, ast.Constant)
                and isinstance(argument.value, str)
                and re.fullmatch(r"[A-Z][A-Z_]+", argument.value)
            ]
    return found


def test_no_code_spells_a_reason_out() -> None:
    sources = [
        path
        for folder in ("gdtmesh", "services", "workers", "programs")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "gdtmesh" / "reasons.py" and "_pb2" not in path.name
    ]
    found = [place for path in sources for place in _literals(path)]
    assert not found, f"use gdtmesh.reasons: {found}"
