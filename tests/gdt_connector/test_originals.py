"""Unpacking, parsing and checking invoice originals: real samples and hostile inputs."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from services.gdt_connector.originals import (
    OriginalError,
    differences,
    invoice_xml_from_zip,
    parse_xml,
)
from tests.conftest import shared_samples


def unpack(data: bytes) -> bytes:
    return invoice_xml_from_zip(data, max_bytes=1_000_000, max_ratio=100.0)


def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sample_pair() -> tuple[dict[str, object], bytes]:
    folder = shared_samples("responses")
    detail = json.loads((folder / "detail_purchase_matching_invoice_xml.json").read_text())
    return detail, (folder / "invoice.xml").read_bytes()


def test_the_real_sample_xml_matches_its_detail() -> None:
    detail, xml = sample_pair()
    extracted = unpack(zipped({"invoice.xml": xml, "invoice.html": b"<html/>"}))
    assert extracted == xml
    assert differences(detail, parse_xml(extracted)) == []


def test_differences_name_each_field() -> None:
    detail, xml = sample_pair()
    changed = {**detail, "tgtthue": 1.0, "khhdon": "K25TEX", "nbmst": "0100000000"}
    found = differences(changed, parse_xml(xml))
    assert found == [
        "seller tax code: detail '0100000000', XML '0102431848'",
        "series: detail 'K25TEX', XML 'K25TEK'",
        "tax: detail '1.0', XML '344700'",
    ]


def test_numbers_compare_by_value_and_missing_buyers_agree() -> None:
    xml = (
        b"<HDon><DLHDon><TTChung><KHMSHDon>2</KHMSHDon><KHHDon>C26TAA</KHHDon><SHDon>7</SHDon>"
        b"</TTChung><NDHDon><NBan><MST>0102431848</MST></NBan><NMua><MST/></NMua><TToan>"
        b"<TgTCThue>100</TgTCThue><TgTThue>0</TgTThue><TgTTTBSo>100.00</TgTTTBSo></TToan>"
        b"</NDHDon></DLHDon></HDon>"
    )
    detail = {
        "nbmst": "0102431848",
        "nmmst": None,
        "khmshdon": 2,
        "khhdon": "C26TAA",
        "shdon": 7,
        "tgtcthue": 100.0,
        "tgtthue": 0,
        "tgtttbso": 100,
    }
    assert differences(detail, parse_xml(xml)) == []


def test_a_namespaced_invoice_is_read_too() -> None:
    root = parse_xml(
        b'<HDon xmlns="urn:x"><DLHDon><TTChung><SHDon>7</SHDon></TTChung></DLHDon></HDon>'
    )
    found = differences({"shdon": 7}, root)
    assert not any(line.startswith("number") for line in found)


def test_not_an_invoice() -> None:
    assert differences({}, parse_xml(b"<Other/>")) == [
        "the XML is not a TT78 invoice (no HDon/DLHDon)"
    ]


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<HDon>&lol2;</HDon>",
        b'<!DOCTYPE HDon SYSTEM "http://example.com/evil.dtd"><HDon/>',
        b'<!DOCTYPE HDon [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><HDon>&xxe;</HDon>',
    ],
)
def test_doctype_and_entities_are_refused(xml: bytes) -> None:
    with pytest.raises(OriginalError, match="DOCTYPE"):
        parse_xml(xml)


@pytest.mark.parametrize("xml", [b"", b"<HDon>", b"\xff\xfe<x/>", b"<a></b>"])
def test_broken_xml_is_refused(xml: bytes) -> None:
    with pytest.raises(OriginalError, match="not well-formed"):
        parse_xml(xml)


def test_a_high_ratio_entry_is_refused_as_a_bomb() -> None:
    data = zipped({"invoice.xml": b"<HDon>" + b"0" * 900_000 + b"</HDon>"})
    with pytest.raises(OriginalError, match="ZIP bomb"):
        unpack(data)


def test_a_large_total_is_refused() -> None:
    data = zipped({"invoice.xml": b"<HDon/>", "big.bin": b"x" * 2_000_000}, zipfile.ZIP_STORED)
    with pytest.raises(OriginalError, match="unpacks to"):
        unpack(data)


def test_a_lying_size_is_not_read_past_the_cap() -> None:
    data = bytearray(
        zipped({"invoice.xml": b"<HDon>" + b"x" * 5000 + b"</HDon>"}, zipfile.ZIP_STORED)
    )
    # Claim 10 bytes in both headers; the real content is longer.
    offset = data.find(b"PK\x01\x02")
    data[offset + 24 : offset + 28] = (10).to_bytes(4, "little")
    data[22:26] = (10).to_bytes(4, "little")
    with pytest.raises(OriginalError):
        unpack(bytes(data))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not a zip at all", "not a ZIP"),
        (zipped({"invoice.html": b"<html/>"}), "no invoice.xml"),
    ],
)
def test_unusable_exports(data: bytes, why: str) -> None:
    with pytest.raises(OriginalError, match=why):
        unpack(data)
