"""The export-xml ZIP: the TT78 invoice XML (built from the detail JSON, so both always agree),
a human-readable HTML rendering and its stylesheet.

The XML follows the portal's files: no XML declaration, tab indentation, `HDon/DLHDon` with
`TTChung` and `NDHDon`, `MCCQT` for invoices with a tax-authority code, and XML-DSig-shaped
signatures in `DSCKS` (their digests and values are hashes and random bytes: they look right but
do not verify, like the anonymised sample).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from gdtmesh.vncalendar import vietnam_date

Json = dict[str, Any]
_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_CERT_PREFIX = bytes.fromhex("308206383082042" + "0a003020102021" + "0")
_STYLESHEET = """body { font-family: "Times New Roman", serif; margin: 2em; color: #222; }
h1 { text-align: center; font-size: 1.4em; margin-bottom: 0.2em; }
.meta { text-align: center; margin-bottom: 1.5em; }
.party { margin: 0.8em 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border: 1px solid #888; padding: 4px 6px; }
td.n { text-align: right; }
.code { margin-top: 1.5em; font-family: monospace; }
"""


@dataclass
class Node:
    """A minimal XML element: text or children, attributes in insertion order."""

    tag: str
    text: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    def add(self, tag: str, text: object = None, **attrs: str) -> Node:
        child = Node(tag, None if text is None else str(text), dict(attrs))
        self.children.append(child)
        return child

    def render(self, depth: int = 0) -> Iterator[str]:
        pad = "\t" * depth
        attrs = "".join(f" {name}={quoteattr(value)}" for name, value in self.attrs.items())
        if "xmlns" in self.attrs:  # the portal's files break the line before a namespace
            attrs = f"\n{pad}\t{attrs[1:]}"
        if self.children:
            yield f"{pad}<{self.tag}{attrs}>"
            for child in self.children:
                yield from child.render(depth + 1)
            yield f"{pad}</{self.tag}>"
        elif self.text is None or self.text == "":
            yield f"{pad}<{self.tag}{attrs}/>"
        else:
            yield f"{pad}<{self.tag}{attrs}>{escape(self.text)}</{self.tag}>"


def number(value: float | None) -> str | None:
    """Amounts as TT78 writes them: no trailing .0, up to the precision given."""
    if value is None:
        return None
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def issue_date(tdlap: str) -> str:
    """The Vietnam calendar day of a portal `tdlap` (UTC at Vietnam midnight)."""
    moment = datetime.strptime(tdlap, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return vietnam_date(moment).isoformat()


def _other_info(parent: Node, entries: list[Json] | None) -> None:
    if not entries:
        return
    container = parent.add("TTKhac")
    for entry in entries:
        info = container.add("TTin")
        info.add("TTruong", entry["ttruong"])
        info.add("KDLieu", entry["kdlieu"])
        info.add("DLieu", entry["dlieu"])


def _general(data: Node, detail: Json) -> None:
    general = data.add("TTChung")
    _other_info(general, detail.get("ttkhac"))
    general.add("PBan", detail["pban"])
    general.add("THDon", detail["thdon"])
    general.add("KHMSHDon", detail["khmshdon"])
    general.add("KHHDon", detail["khhdon"])
    general.add("SHDon", detail["shdon"])
    general.add("NLap", issue_date(detail["tdlap"]))
    if detail.get("hdcttchinh") is not None:
        general.add("HDCTTChinh", detail["hdcttchinh"])
    general.add("DVTTe", detail.get("dvtte") or "VND")
    general.add("TGia", number(detail.get("tgia") or 1.0))
    general.add("HTTToan", detail["thtttoan"])
    if detail.get("msttcgp"):
        general.add("MSTTCGP", detail["msttcgp"])
    if detail.get("khhdgoc"):
        related = general.add("TTHDLQuan")
        related.add("TCHDon", 1 if detail["tthai"] == 2 else 2)
        related.add("LHDCLQuan", detail["lhdgoc"])
        related.add("KHMSHDCLQuan", detail["khmshdgoc"])
        related.add("KHHDCLQuan", detail["khhdgoc"])
        related.add("SHDCLQuan", detail["shdgoc"])
        related.add("NLHDCLQuan", issue_date(detail["tdlhdgoc"]))


def _parties(content: Node, detail: Json) -> None:
    seller = content.add("NBan")
    seller.add("Ten", detail["nbten"])
    seller.add("MST", detail["nbmst"])
    seller.add("DChi", detail["nbdchi"])
    if detail.get("nbsdthoai"):
        seller.add("SDThoai", detail["nbsdthoai"])
    if detail.get("nbdctdtu"):
        seller.add("DCTDTu", detail["nbdctdtu"])
    if detail.get("nbstkhoan"):
        seller.add("STKNHang", detail["nbstkhoan"])
        seller.add("TNHang", detail["nbtnhang"])
    buyer = content.add("NMua")
    buyer.add("Ten", detail["nmten"])
    if detail.get("nmmst"):
        buyer.add("MST", detail["nmmst"])
    if detail.get("nmdchi"):
        buyer.add("DChi", detail["nmdchi"])
    for key, tag in (("mkhang", "MKHang"), ("nmdctdtu", "DCTDTu"), ("nmsdthoai", "SDThoai")):
        if detail.get(key):
            buyer.add(tag, detail[key])


def _items(content: Node, detail: Json) -> None:
    items = content.add("DSHHDVu")
    for line in detail["hdhhdvu"]:
        item = items.add("HHDVu")
        item.add("TChat", line["tchat"])
        item.add("STT", line["stt"])
        if line.get("mhhdvu"):
            item.add("MHHDVu", line["mhhdvu"])
        item.add("THHDVu", line["ten"])
        item.add("DVTinh", line["dvtinh"])
        item.add("SLuong", number(line["sluong"]))
        item.add("DGia", number(line["dgia"]))
        item.add("TLCKhau", number(line["tlckhau"]))
        item.add("STCKhau", number(line["stckhau"]))
        item.add("TSuat", line["ltsuat"])
        item.add("ThTien", number(line["thtien"]))
        _other_info(item, line["ttkhac"])


def _totals(content: Node, detail: Json) -> None:
    totals = content.add("TToan")
    per_rate = totals.add("THTTLTSuat")
    for rate in detail["thttltsuat"]:
        entry = per_rate.add("LTSuat")
        entry.add("TSuat", rate["tsuat"])
        entry.add("TThue", number(rate["tthue"]))
        entry.add("ThTien", number(rate["thtien"]))
    totals.add("TgTCThue", number(detail["tgtcthue"]))
    totals.add("TgTThue", number(detail["tgtthue"]))
    if detail.get("ttcktmai"):
        totals.add("TTCKTMai", number(detail["ttcktmai"]))
    totals.add("TgTTTBSo", number(detail["tgtttbso"]))
    totals.add("TgTTTBChu", detail["tgtttbchu"])
    _other_info(totals, detail.get("ttttkhac"))


def _signature(
    rng: random.Random,
    signed_data: bytes,
    subject: str,
    serial_hex: str,
    signing_time: str,
    reference: str = "#DuLieuKy",
) -> Node:
    """An XML-DSig-shaped seller or tax-authority signature."""
    suffix = f"{rng.getrandbits(128):032x}"
    signature = Node("Signature", attrs={"xmlns": _DSIG, "Id": f"Signature-{suffix}"})
    info = signature.add("SignedInfo")
    info.add("CanonicalizationMethod", Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
    info.add("SignatureMethod", Algorithm=f"{_DSIG}rsa-sha1")
    data_ref = info.add("Reference", URI=reference)
    transforms = data_ref.add("Transforms")
    transforms.add("Transform", Algorithm=f"{_DSIG}enveloped-signature")
    data_ref.add("DigestMethod", Algorithm=f"{_DSIG}sha1")
    data_ref.add("DigestValue", base64.b64encode(hashlib.sha1(signed_data).digest()).decode())
    time_ref = info.add("Reference", URI=f"#SigningTime-{suffix}")
    time_ref.add("DigestMethod", Algorithm=f"{_DSIG}sha1")
    time_ref.add("DigestValue", base64.b64encode(rng.randbytes(20)).decode())
    signature.add("SignatureValue", base64.b64encode(rng.randbytes(256)).decode())
    x509 = signature.add("KeyInfo").add("X509Data")
    x509.add("X509SubjectName", subject)
    serial = bytes.fromhex(serial_hex.rjust(32, "0")[-32:])
    certificate = _CERT_PREFIX + serial + rng.randbytes(1596 - len(_CERT_PREFIX) - len(serial))
    x509.add("X509Certificate", base64.b64encode(certificate).decode())
    properties = signature.add("Object", Id=f"SigningTime-{suffix}").add(
        "SignatureProperties", xmlns=""
    )
    properties.add("SignatureProperty", Target=f"#Signature-{suffix}").add(
        "SigningTime", signing_time
    )
    return signature


def invoice_xml(detail: Json) -> str:
    """The TT78 `invoice.xml` of a detail JSON object."""
    root = Node("HDon")
    data = root.add("DLHDon", Id="DuLieuKy")
    _general(data, detail)
    content = data.add("NDHDon")
    _parties(content, detail)
    _items(content, detail)
    _totals(content, detail)
    signed = "\n".join(data.render()).encode()
    rng = random.Random(detail["id"])
    code_id = f"Id-{detail['id'].replace('-', '')}"
    if detail.get("mhdon"):
        root.add("MCCQT", detail["mhdon"], Id=code_id)
    signatures = root.add("DSCKS")
    seller = signatures.add("NBan")
    if detail.get("nbcks"):
        certificate = json.loads(detail["nbcks"])
        seller.children.append(
            _signature(
                rng,
                signed,
                certificate["Subject"],
                certificate["SerialNumber"],
                certificate["SigningTime"],
            )
        )
    if detail.get("cqtcks"):
        authority = json.loads(detail["cqtcks"])
        signatures.add("CQT").children.append(
            _signature(
                rng,
                signed + detail["mhdon"].encode(),  # the authority signs the code as well
                authority["Subject"],
                authority["SerialNumber"],
                authority["SigningTime"],
                reference=f"#{code_id}",
            )
        )
    return "\n".join(root.render()) + "\n"


def invoice_html(detail: Json) -> str:
    """A simple printable rendering of the invoice."""
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{line['stt']}</td><td>{e(line['ten'])}</td><td>{e(line['dvtinh'] or '')}</td>"
        f'<td class="n">{number(line["sluong"]) or ""}</td>'
        f'<td class="n">{number(line["dgia"]) or ""}</td>'
        f'<td class="n">{e(line["ltsuat"] or "")}</td>'
        f'<td class="n">{number(line["thtien"])}</td></tr>'
        for line in detail["hdhhdvu"]
    )
    code = (
        f'<p class="code">Mã của cơ quan thuế: {e(detail["mhdon"])}</p>'
        if detail.get("mhdon")
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="vi">
<head><meta charset="utf-8"><title>{e(detail["khhdon"])} {detail["shdon"]}</title>
<link rel="stylesheet" href="static/invoice.css"></head>
<body>
<h1>{e((detail["thdon"] or "Hóa đơn").upper())}</h1>
<p class="meta">Ký hiệu: {e(detail["khhdon"])} &nbsp; Số: {detail["shdon"]} &nbsp;
Ngày lập: {issue_date(detail["tdlap"])}</p>
<div class="party"><b>Người bán:</b> {e(detail["nbten"])}<br>Mã số thuế: {e(detail["nbmst"])}
<br>Địa chỉ: {e(detail["nbdchi"] or "")}</div>
<div class="party"><b>Người mua:</b> {e(detail["nmten"] or "")}<br>
Mã số thuế: {e(detail["nmmst"] or "")}<br>Địa chỉ: {e(detail["nmdchi"] or "")}</div>
<table>
<tr><th>STT</th><th>Tên hàng hóa, dịch vụ</th><th>ĐVT</th><th>Số lượng</th><th>Đơn giá</th>
<th>Thuế suất</th><th>Thành tiền</th></tr>
{rows}
<tr><td colspan="6">Cộng tiền hàng</td><td class="n">{number(detail["tgtcthue"])}</td></tr>
<tr><td colspan="6">Tiền thuế GTGT</td><td class="n">{number(detail["tgtthue"])}</td></tr>
<tr><td colspan="6"><b>Tổng tiền thanh toán</b></td>
<td class="n"><b>{number(detail["tgtttbso"])}</b></td></tr>
</table>
<p>Số tiền viết bằng chữ: {e(detail["tgtttbchu"] or "")}</p>
{code}
</body>
</html>
"""


def export_zip(detail: Json) -> bytes:
    """The ZIP the portal's export-xml returns, built in memory."""
    buffer = io.BytesIO()
    stamp = datetime.strptime(detail["ntao"][:19], "%Y-%m-%dT%H:%M:%S").timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("invoice.xml", invoice_xml(detail)),
            ("invoice.html", invoice_html(detail)),
            ("static/invoice.css", _STYLESHEET),
        ):
            archive.writestr(
                zipfile.ZipInfo(name, date_time=stamp),
                text.encode(),
                compress_type=zipfile.ZIP_DEFLATED,
            )
    return buffer.getvalue()
