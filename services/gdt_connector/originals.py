"""The signed original of an invoice: unpacked from the portal's export ZIP, parsed, and checked
against the detail JSON.

Both steps distrust their input: the ZIP must hold a reasonably sized `invoice.xml` (caps on
the uncompressed size and the compression ratio stop ZIP bombs) and the XML may not declare a
DOCTYPE or entities (no entity expansion, no external fetches).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

XML_NAME = "invoice.xml"
MAX_ENTRIES = 1000


class OriginalError(ValueError):
    """The export is not a usable original; the message says why."""


def invoice_xml_from_zip(data: bytes, *, max_bytes: int, max_ratio: float) -> bytes:
    """The bytes of `invoice.xml` in an export ZIP."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise OriginalError("the export is not a ZIP archive") from None
    with archive:
        entries = archive.infolist()
        _check_sizes(entries, max_bytes, max_ratio)
        member = next((e for e in entries if e.filename.rsplit("/", 1)[-1] == XML_NAME), None)
        if member is None:
            raise OriginalError(f"the export ZIP holds no {XML_NAME}")
        try:
            with archive.open(member) as stream:
                # The declared size can lie; never read more than the cap.
                content = stream.read(max_bytes + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError) as e:
            raise OriginalError(f"{XML_NAME} cannot be unpacked ({type(e).__name__})") from None
    if len(content) > max_bytes:
        raise OriginalError(f"{XML_NAME} is larger than {max_bytes} bytes")
    return content


def _check_sizes(entries: list[zipfile.ZipInfo], max_bytes: int, max_ratio: float) -> None:
    if len(entries) > MAX_ENTRIES:
        raise OriginalError(f"the export ZIP has {len(entries)} entries")
    total = sum(entry.file_size for entry in entries)
    if total > max_bytes:
        raise OriginalError(f"the export ZIP unpacks to {total} bytes, over {max_bytes}")
    for entry in entries:
        if entry.file_size > max_ratio * max(entry.compress_size, 1):
            ratio = entry.file_size / max(entry.compress_size, 1)
            raise OriginalError(
                f"{entry.filename} is compressed {ratio:.0f}:1 (limit {max_ratio:.0f}:1), "
                "refused as a possible ZIP bomb"
            )


class _Forbidden(Exception):
    pass


def _forbid(*_args: Any) -> Any:
    raise _Forbidden()


def parse_xml(content: bytes) -> ElementTree.Element:
    """Parse an invoice XML into an ElementTree, refusing DOCTYPE and entity declarations.

    expat is driven directly (ElementTree's C parser hides it) so that those declarations
    can be refused as they are read.
    """
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = lambda name, attributes: builder.start(
        _clark(name), {_clark(key): value for key, value in attributes.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    try:
        parser.Parse(content, True)
        return builder.close()
    except _Forbidden:
        raise OriginalError(f"{XML_NAME} declares a DOCTYPE or entities; refused") from None
    except expat.ExpatError as error:
        raise OriginalError(f"{XML_NAME} is not well-formed XML ({error})") from None


def _clark(name: str) -> str:
    """expat's "uri}local" as ElementTree's "{uri}local"."""
    return "{" + name if "}" in name else name


# (what, detail JSON key, XML path under HDon/DLHDon, compared as)
CHECKS: tuple[tuple[str, str, str, str], ...] = (
    ("seller tax code", "nbmst", "NDHDon/NBan/MST", "text"),
    ("buyer tax code", "nmmst", "NDHDon/NMua/MST", "text"),
    ("form", "khmshdon", "TTChung/KHMSHDon", "number"),
    ("series", "khhdon", "TTChung/KHHDon", "text"),
    ("number", "shdon", "TTChung/SHDon", "number"),
    ("total before tax", "tgtcthue", "NDHDon/TToan/TgTCThue", "number"),
    ("tax", "tgtthue", "NDHDon/TToan/TgTThue", "number"),
    ("total", "tgtttbso", "NDHDon/TToan/TgTTTBSo", "number"),
)


def differences(detail: Mapping[str, Any], root: ElementTree.Element) -> list[str]:
    """Where the XML disagrees with the detail JSON, one readable line per field."""
    data = _child(root, "DLHDon")
    if _local(root.tag) != "HDon" or data is None:
        return ["the XML is not a TT78 invoice (no HDon/DLHDon)"]
    found = []
    for what, key, path, kind in CHECKS:
        in_json, in_xml = detail.get(key), _text_at(data, path)
        if not _same(in_json, in_xml, kind):
            found.append(f"{what}: detail {_show(in_json)}, XML {_show(in_xml)}")
    return found


def _same(in_json: Any, in_xml: str | None, kind: str) -> bool:
    left = "" if in_json is None else str(in_json).strip()
    right = (in_xml or "").strip()
    if kind == "number" and left and right:
        try:
            return Decimal(left) == Decimal(right)
        except InvalidOperation:
            return False
    return left == right


def _show(value: Any) -> str:
    return "(none)" if value is None or value == "" else repr(str(value))


def _text_at(element: ElementTree.Element, path: str) -> str | None:
    node: ElementTree.Element | None = element
    for step in path.split("/"):
        node = _child(node, step) if node is not None else None
    return node.text if node is not None else None


def _child(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    """A direct child by local name, whatever its namespace."""
    return next((child for child in element if _local(child.tag) == name), None)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
