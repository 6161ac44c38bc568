"""One invoice in full, as the portal's detail JSON: parties, line items, totals, codes, times.

Everything derives from the invoice's hash, so a list row, the detail and the TT78 XML (built
from the detail) always agree. Line items keep `tthue` null as the portal does (TT78 has no
line-level tax element); the line tax travels in the line's `ttkhac`, as in real invoices.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sandbox import rowschema
from sandbox.catalog import INDUSTRIES, RATES, Product
from sandbox.layout import VN_OFFSET, Timing
from sandbox.model import InvoiceRef
from sandbox.parties import Issuer, Party
from sandbox.seeds import stream_key
from sandbox.vnwords import amount_in_words, java_double

Json = dict[str, Any]
# The tax authority's certificate (`cqtcks`) without its closing SigningTime member.
_GDT_CERT_HEAD = json.dumps(
    {
        "Subject": "CN=CỤC THUẾ,O=BỘ TÀI CHÍNH,L=Hà Nội,C=VN",
        "SerialNumber": "2A05F81267360000",
        "Issuer": "CN=CA phục vụ các cơ quan Nhà nước G2, O=Ban Cơ yếu Chính phủ, C=VN",
        "NotAfter": "2030-03-12T16:36:53",
        "NotBefore": "2025-03-13T16:36:53",
    },
    ensure_ascii=False,
    separators=(",", ":"),
)[:-1]
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)
# Fixed TLV head of the portal's QR payload (tags 00-62 empty or constant); tag 99 follows.
_QR_HEAD = "000201010212020004002600520053005400580059006000620099"


@dataclass(frozen=True)
class Line:
    name: str
    unit: str | None
    quantity: float | None
    price: float | None
    discount_rate: float | None
    discount: float  # stckhau
    amount: float  # thtien: quantity x price - discount
    rate_label: str  # ltsuat: "8%", "KCT", ...
    vat: float  # the line's tax, in its `ttkhac`
    code: str  # mhhdvu


@dataclass(frozen=True)
class InvoiceContext:
    """What the builder needs besides randomness: the ref and both parties."""

    ref: InvoiceRef
    family: str
    sold: bool
    seller: Issuer
    buyer: Party
    digest: int
    timing: Timing
    original: InvoiceRef | None  # for a replacement/adjustment: the invoice it corrects
    adjustment: bool


def vnd(value: float) -> int:
    """Round half up to whole đồng."""
    return math.floor(value + 0.5)


def utc_text(moment: datetime, millis: bool = True) -> str:
    """A UTC instant as the portal writes it: ``2025-09-22T03:50:07.955Z`` (or to the second)."""
    if millis:
        return moment.isoformat(timespec="milliseconds")[:23] + "Z"
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def tdlap_text(day: date) -> str:
    """Vietnam midnight of ``day`` in UTC, as the portal writes issue dates."""
    return (day - timedelta(days=1)).isoformat() + "T17:00:00Z"


def _uuid(rng: random.Random) -> str:
    """A random version-4 UUID string."""
    value = rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}X}"


def _code(rng: random.Random, length: int, alphabet: str = _ALNUM) -> str:
    """A random code over ``alphabet`` (at most 64 symbols)."""
    bits, size = rng.getrandbits(6 * length), len(alphabet)
    return "".join(alphabet[(bits >> (6 * i) & 63) % size] for i in range(length))


def _info(name: str, kind: str, value: str | None) -> Json:
    return {"ttruong": name, "kdlieu": kind, "dlieu": value}


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.2f}"


# -- line items ----------------------------------------------------------------------------------


def _period(day: date) -> str:
    previous = day.replace(day=1) - timedelta(days=1)
    return f"{previous.month:02d}/{previous.year}"


def make_lines(rng: random.Random, ctx: InvoiceContext) -> list[Line]:
    industry = INDUSTRIES[ctx.seller.trade]
    count = rng.randint(1, min(industry.max_lines, len(industry.products)))
    products = rng.sample(industry.products, count)
    if ctx.adjustment:
        products = products[:1]
    register = ctx.family == "sco-query"
    return [_line(rng, product, ctx, register) for product in products]


def _line(rng: random.Random, product: Product, ctx: InvoiceContext, register: bool) -> Line:
    rate = RATES[product.rate]
    code = f"BK-{_code(rng, 12)}" if "{code}" in product.name else f"SP{rng.randrange(10**5):05d}"
    name = product.name.format(period=_period(ctx.ref.tdlap), code=code)
    quantity = float(rng.randint(*product.quantity))
    if ctx.adjustment:
        name = f"Điều chỉnh tăng đơn giá {name[0].lower()}{name[1:]}"
        quantity = float(max(1, int(quantity) // 4))
    low, high = product.price
    price = rng.uniform(low, high)
    if register:  # shelf prices include VAT; the invoice shows the net unit price
        price = round(vnd(price / 1000) * 1000 / (1 + rate), 2)
    elif ctx.seller.provider.style == "misa" and rng.random() < 0.4:
        price = round(price, 2)
    else:
        price = float(vnd(price / 100) * 100 if high >= 1000 else vnd(price))
    if ctx.adjustment:
        price = float(vnd(price * 0.05) or 1)
    gross = vnd(quantity * price)
    discount_rate = (
        rng.choice((0.0, 0.0, 5.0, 10.0)) if ctx.seller.provider.style == "misa" else 0.0
    )
    discount = float(vnd(gross * discount_rate / 100))
    amount = float(gross - discount)
    return Line(
        name,
        product.unit,
        quantity,
        price,
        discount_rate,
        discount,
        amount,
        product.rate,
        float(vnd(amount * rate)),
        code,
    )


def rate_totals(lines: list[Line]) -> list[Json]:
    """`thttltsuat`: amount and tax per VAT rate, in order of first appearance."""
    totals: dict[str, list[float]] = {}
    for line in lines:
        entry = totals.setdefault(line.rate_label, [0.0, 0.0])
        entry[0] += line.amount
        entry[1] += line.vat
    return [
        {"tsuat": label, "thtien": amount, "tthue": vat, "gttsuat": None}
        for label, (amount, vat) in totals.items()
    ]


# -- provider-specific free-form fields ------------------------------------------------------------


def _line_info(style: str, line: Line, ctx: InvoiceContext) -> list[Json]:
    total = line.amount + line.vat
    if style == "misa":
        return [
            _info("Amount", "numeric", f"{line.amount + line.discount:.1f}"),
            _info("AmountWithoutVATOC", "numeric", f"{line.amount:.1f}"),
            _info("DiscountAmount", "numeric", f"{line.discount:.1f}"),
            _info("UnitPrice", "numeric", f"{line.price or 0:.2f}"),
            _info("VATAmount", "numeric", f"{line.vat:.1f}"),
        ]
    if style == "viettel":
        return [
            _info("TThue", "string", _num(line.vat)),
            _info("ThTien", "number", _num(line.amount)),
        ]
    if style == "vnpt":
        return [
            _info("Amount", "numeric", _num(total)),
            _info("VATAmount", "numeric", _num(line.vat)),
        ]
    if style == "hilo":
        info = [
            _info("ProdQuantity", "string", _num(line.quantity or 0)),
            _info("ProdPrice", "string", _num(line.price or 0)),
            _info("VATAmount", "string", _num(line.vat)),
            _info("Total", "string", _num(line.amount)),
            _info("Amount", "string", _num(total)),
        ]
        if line.code.startswith("BK-"):
            info.insert(0, _info("BookingCode", "string", line.code))
            info.insert(1, _info("BookingDate", "string", ctx.ref.tdlap.isoformat()))
        return info
    return [_info("VATAmount", "numeric", _num(line.vat))]


def _header_info(
    style: str, rng: random.Random, ctx: InvoiceContext, totals: Json, words: str
) -> dict[str, list[Json]]:
    """ttkhac, nbttkhac, nmttkhac, ttttkhac and cttkhac as the seller's software fills them."""
    seller, buyer = ctx.seller.party, ctx.buyer
    extra: dict[str, list[Json]] = {
        "ttkhac": [],
        "nbttkhac": [],
        "nmttkhac": [],
        "ttttkhac": [],
        "cttkhac": [],
    }
    if style == "viettel":
        extra["ttkhac"] = [
            _info("Trạng thái thanh toán", "string", "Đã thanh toán"),
            _info("Mã số bí mật", "string", _code(rng, 15)),
            _info("Ghi chú hóa đơn", "string", None),
        ]
        extra["ttttkhac"] = [
            _info("Tổng tiền thuế tiêu thụ đặc biệt", "string", "0"),
            _info("Tổng tiền phí", "string", "0"),
        ]
        extra["nbttkhac"] = [
            _info("Quận, huyện người bán", "string", seller.ward),
            _info("Tỉnh/Thành phố người bán", "string", seller.province.name),
            _info("Mã quốc gia người bán", "string", "84"),
            _info("Link tra cứu người bán", "string", None),
        ]
    elif style == "misa":
        extra["cttkhac"] = [
            _info("InvoiceTemplateID", "string", _uuid(rng)),
            _info("IsTaxReduction43", "numeric", "True"),
            _info("RefID", "string", _uuid(rng)),
            _info("MainCurrency", "string", "VND"),
            _info("TransactionID", "string", _code(rng, 12)),
        ]
        extra["ttttkhac"] = [
            _info("TotalAmount", "numeric", f"{totals['tgtttbso']:.1f}"),
            _info("TotalAmountInWordsVN", "string", words),
            _info("TotalAmountWithoutVAT", "numeric", f"{totals['tgtcthue']:.1f}"),
            _info("TotalDiscountAmount", "numeric", f"{totals['ttcktmai'] or 0:.1f}"),
            _info("TotalVATAmount", "numeric", f"{totals['tgtthue']:.1f}"),
        ]
        extra["nbttkhac"] = [
            _info("SellerAddress", "string", seller.address),
            _info("SellerBankAccount", "string", seller.bank_account),
            _info("SellerEmail", "string", seller.email),
        ]
    elif style == "vnpt":
        key = (
            f"{_code(rng, 3, 'ABCDEFGHJKLMNPQRSTUVWXYZ')}-{rng.randrange(1000):03d}-"
            f"{rng.randrange(10000):04d}-{ctx.ref.tdlap.year}-1-001-{ctx.ref.khhdon}-"
            f"{ctx.ref.shdon:08d}"
        )
        extra["ttkhac"] = [
            _info("salt", "String", _code(rng, 10, _ALNUM + "abcdefghijkmnpqrstuvwxyz")),
            _info("MaTraCuu", "String", _code(rng, 16, _ALNUM + "abcdefghijkmnpqrstuvwxyz")),
            _info("key", "String", key),
        ]
    elif style == "hilo":
        extra["cttkhac"] = [
            _info("SearchKey", "string", f"{rng.getrandbits(128):032x}"),
            # year and series letters, then a random tail, as that software writes it
            _info(
                "Fkey",
                "string",
                f"{ctx.ref.khhdon[1:3]}{ctx.ref.khhdon[4:]}{_code(rng, 11).lower()}",
            ),
            _info("MappingKey", "string", str(ctx.ref.shdon)),
            _info("VATAmount", "string", _num(totals["tgtthue"])),
            _info("GrossValue", "string", _num(totals["tgtcthue"])),
            _info("AmountVAT", "string", _num(totals["tgtttbso"])),
            _info("AmountInWords", "string", words),
        ]
        extra["ttkhac"] = [
            _info("Currency", "string", "VND"),
            _info("ExchangeRate", "string", "1.000000"),
        ]
        extra["nbttkhac"] = [_info("ComAddress", "string", seller.address)]
        extra["nmttkhac"] = [
            _info("CusName", "string", buyer.name),
            _info("PaymentMethod", "string", ctx.seller.provider.payment),
        ]
    elif style == "bkav":
        extra["ttkhac"] = [
            _info("MaCuaHang", "String", f"{rng.randrange(10**4, 10**5)}"),
            _info("TenCuaHang", "String", ctx.seller.store),
            _info("SoDonHang", "String", f"{rng.randrange(10**5, 10**6)}"),
        ]
    return extra


# -- the invoice -----------------------------------------------------------------------------------


def build_detail(ctx: InvoiceContext) -> Json:
    """The detail JSON of one invoice (list rows are this with `hdhhdvu`/`qrcode` null)."""
    rng = random.Random(ctx.digest)
    ref, seller, style = ctx.ref, ctx.seller, ctx.seller.provider.style
    lines = make_lines(rng, ctx)
    totals = _totals(lines, style, ctx.family)
    words = amount_in_words(totals["tgtttbso"], seller.provider.words)
    invoice_id = _uuid(rng)
    row: Json = dict.fromkeys(rowschema.row_keys(ctx.family, ctx.sold, ref.tdlap.year))
    row.update(_identity(ref, seller))
    row.update(_parties(ctx))
    row.update(totals)
    row["tgtttbchu"] = words
    row.update(_header_info(style, rng, ctx, totals, words))
    row.update(_codes(rng, ctx, invoice_id))
    row.update(_times(ctx))
    if ctx.original is not None:
        row.update(_reference(ctx.original))
    row["hdhhdvu"] = [
        _line_json(rng, line, number, ctx, invoice_id) for number, line in enumerate(lines, 1)
    ]
    row["qrcode"] = _qrcode(ref, totals["tgtttbso"])
    if not ref.has_original:
        _strip_to_summary(row)
    if not ctx.sold and ctx.family == "query" and ref.tdlap.year >= rowschema.PURCHASE_KEYS_FROM:
        _as_recorded_in_2026(row, ctx)
    return row


# Recorded by crawlers in 2026 on purchase invoices: the currency as "VNĐ" (MISA's) or a foreign
# currency with its rate (about 1 invoice in 40 of coded sellers, in USD), and whole amounts as
# JSON integers (VNPT's).
USD_RATE = 26110.0


def _as_recorded_in_2026(row: Json, ctx: InvoiceContext) -> None:
    style = ctx.seller.provider.style
    if row.get("dvtte") == "VND" and style == "misa":
        row["dvtte"] = "VNĐ"
    if ctx.ref.ttxly == 5 and (ctx.digest >> 20) % 40 == 0:
        row["dvtte"], row["tgia"] = "USD", USD_RATE
    if style == "vnpt":
        for key in ("tgtcthue", "tgtthue", "tgtttbso"):
            if isinstance(row[key], float) and row[key] == int(row[key]):
                row[key] = int(row[key])


def _totals(lines: list[Line], style: str, family: str) -> Json:
    before_tax = float(sum(line.amount for line in lines))
    tax = float(sum(line.vat for line in lines))
    discount = float(sum(line.discount for line in lines))
    return {
        "tgtcthue": before_tax,
        "tgtthue": tax,
        "tgtttbso": before_tax + tax,
        "thttltsuat": rate_totals(lines),
        "ttcktmai": None if style == "vnpt" and family == "query" else discount,
    }


def _identity(ref: InvoiceRef, seller: Issuer) -> Json:
    provider = seller.provider
    return {
        "nbmst": ref.nbmst,
        "khmshdon": ref.khmshdon,
        "khhdon": ref.khhdon,
        "shdon": ref.shdon,
        "cqt": seller.cqt,
        "hdon": f"{ref.khmshdon:02d}",
        "tdlap": tdlap_text(ref.tdlap),
        "thlap": ref.tdlap.year * 100 + ref.tdlap.month,
        "thdon": provider.thdon,
        "tlhdon": provider.thdon,
        "pban": provider.pban,
        "ptgui": 1,
        "tchat": 1,
        "tthai": ref.tthai,
        "ttxly": ref.ttxly,
        "ladhddt": 1,
        "bhphap": 0,
        "tthdclquan": False,
        "thtttoan": provider.payment,
        "tvandnkntt": provider.mst,
    } | _family_constants(ref)


def _family_constants(ref: InvoiceRef) -> Json:
    if ref.ttxly == 8:
        return {
            "hthdon": 5,
            "tttbao": 0,
            "tghdmman": 0,
            "cnhan": 0,
            "kqchtmloi": [],
            "nmloai": "0100" if ref.nmmst else "0200",
        }
    coded = ref.ttxly == 5
    return {
        "dvtte": "VND",
        "tgia": 1.0,
        "htttoan": 9,
        "thttlphi": [],
        "gchu": "",
        "hthdon": 1 if coded else 0,
        "tttbao": 1 if coded else 0,
        "hdcttchinh": 0,
    }


def _parties(ctx: InvoiceContext) -> Json:
    seller, buyer = ctx.seller.party, ctx.buyer
    fields: Json = {
        "nbten": seller.name,
        "nbdchi": seller.address,
        "nmmst": ctx.ref.nmmst,
        "nmten": buyer.name,
        "nmdchi": buyer.address,
    }
    if ctx.family == "sco-query":
        return fields
    style = ctx.seller.provider.style
    fields.update(
        nbsdthoai=seller.phone,
        nbdctdtu=seller.email if style != "vnpt" else None,
        nbwebsite=seller.website if style == "misa" else None,
        nbstkhoan=seller.bank_account if style != "vnpt" else None,
        nbtnhang=seller.bank_name if style != "vnpt" else None,
        nmsdthoai=buyer.phone,
        nmdctdtu=buyer.email,
    )
    return fields


def _codes(rng: random.Random, ctx: InvoiceContext, invoice_id: str) -> Json:
    ref, provider = ctx.ref, ctx.seller.provider
    fields: Json = {
        "id": invoice_id,
        "hsgoc": _uuid(rng),
        "mtdtchieu": f"V{provider.mst}{_hex(rng, 32)}",
    }
    if ctx.family == "sco-query":
        fields["mhdon"] = (
            f"M1-{ref.tdlap.year % 100:02d}-{ctx.seller.register_code}-"
            f"{rng.randrange(100, 1000):03d}{ref.shdon % 10**8:08d}"
        )
        fields["tentvandnkntt"] = provider.tvan
        return fields
    fields["ngcnhat"] = provider.tvan
    fields["msttcgp"] = provider.mst
    fields["mkhang"] = _customer_code(ctx)
    if ref.ttxly == 5:
        fields["hsgcma"] = _uuid(rng)
        fields["mhdon"] = f"00{_hex(rng, 32)}"
    return fields


def _customer_code(ctx: InvoiceContext) -> str | None:
    """The seller's code for this buyer: stable per (seller, buyer)."""
    style = ctx.seller.provider.style
    if style == "viettel" or ctx.buyer.mst is None:
        return None
    digest = stream_key(ctx.seller.party.mst, ctx.buyer.mst)
    if style == "misa":
        return f"KH{digest % 10**5:05d}"
    return "".join(_ALNUM[(digest >> (4 * i)) % len(_ALNUM)] for i in range(16))


def _times(ctx: InvoiceContext) -> Json:
    received = ctx.timing.received
    shown = ctx.timing.visible_at
    fields: Json = {
        "ntnhan": utc_text(received),
        "ntao": utc_text(received + timedelta(milliseconds=40)),
        "ncnhat": utc_text(shown),
    }
    if ctx.family == "sco-query":
        fields["ntao"] = fields["ncnhat"]
        return fields
    signed = ctx.timing.signed
    fields["nky"] = utc_text(signed, millis=False)
    fields["nbcks"] = ctx.seller.cert_json(signed + VN_OFFSET)
    if ctx.ref.ttxly == 5:
        coded = received + timedelta(milliseconds=76)
        fields["ncma"] = utc_text(coded)
        local = (coded + VN_OFFSET).isoformat(timespec="seconds")[:19]
        fields["cqtcks"] = f'{_GDT_CERT_HEAD},"SigningTime":"{local}"}}'
    return fields


def _reference(original: InvoiceRef) -> Json:
    return {
        "khhdgoc": original.khhdon,
        "khmshdgoc": str(original.khmshdon),
        "shdgoc": original.shdon,
        "tdlhdgoc": tdlap_text(original.tdlap),
        "lhdgoc": 1,
    }


def _line_json(
    rng: random.Random, line: Line, number: int, ctx: InvoiceContext, invoice_id: str
) -> Json:
    """One `hdhhdvu` entry, keys in the portal's order for the family."""
    info = _line_info(ctx.seller.provider.style, line, ctx)
    if ctx.family == "sco-query":
        return {
            "idhdon": invoice_id, "id": _uuid(rng), "dgia": line.price, "dvtinh": line.unit,
            "ltsuat": line.rate_label, "mhhdvu": line.code, "sluong": line.quantity,
            "stbchu": None, "stckhau": line.discount, "stt": number, "sxep": number,
            "tchat": 1, "ten": line.name, "thtcthue": None, "thtien": line.amount,
            "tlckhau": line.discount_rate, "tsuat": RATES[line.rate_label], "tthue": None,
            "ttkhac": info, "tthhdtrung": [],
        }  # fmt: skip
    return {
        "idhdon": invoice_id, "id": _uuid(rng), "dgia": line.price, "dvtinh": line.unit,
        "ltsuat": line.rate_label, "sluong": line.quantity, "stbchu": None,
        "stckhau": line.discount, "stt": number, "tchat": 1, "ten": line.name,
        "thtcthue": None, "thtien": line.amount, "tlckhau": line.discount_rate,
        "tsuat": RATES[line.rate_label], "tthue": None, "sxep": number, "ttkhac": info,
        "dvtte": None, "tgia": None, "tthhdtrung": [],
    }  # fmt: skip


def _qrcode(ref: InvoiceRef, total: float) -> str:
    """The portal's QR payload: EMV-style TLV with the invoice key, date and total in tag 99."""
    inner = "".join(
        f"{tag}{len(value):02d}{value}"
        for tag, value in (
            ("00", ""),
            ("01", ref.nbmst),
            ("02", str(ref.khmshdon)),
            ("03", ref.khhdon),
            ("04", str(ref.shdon)),
            ("05", f"{ref.tdlap:%Y%m%d}"),
            ("06", java_double(total)),
        )
    )
    return f"{_QR_HEAD}{len(inner):02d}{inner}"


# Fields a row without an original dossier (hsgoc null) leaves empty, as in real responses of
# invoices the tax authority only holds as summary data.
_SUMMARY_NULLS = (
    "hsgcma",
    "hsgoc",
    "htttoan",
    "mhdon",
    "nbdchi",
    "nbstkhoan",
    "nbtnhang",
    "ncma",
    "ngcnhat",
    "nky",
    "nmdchi",
    "tgia",
    "tgtttbchu",
    "thdon",
    "ttcktmai",
    "tttbao",
    "nbsdthoai",
    "nbdctdtu",
    "nbwebsite",
    "nbcks",
    "nmsdthoai",
    "nmdctdtu",
    "bhphap",
    "thtttoan",
    "msttcgp",
    "cqtcks",
    "gchu",
    "hdcttchinh",
)
_SUMMARY_EMPTY = ("nbttkhac", "nmttkhac", "thttlphi", "thttltsuat", "ttkhac", "ttttkhac", "hdhhdvu")


def _strip_to_summary(row: Json) -> None:
    for key in _SUMMARY_NULLS:
        row[key] = None
    for key in _SUMMARY_EMPTY:
        row[key] = []
    row["hthdon"] = 2
    row["kqcht"] = ""
    row["nbtnban"] = row["nbten"]
