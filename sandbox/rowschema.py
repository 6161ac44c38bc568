"""The shapes of the portal's invoice JSON, derived from the anonymised real responses in
shared/gdt-samples/responses (key sets, key order and value types).

Electronic invoices (`query` family) and cash-register invoices (`sco-query`) have different key
sets; a sold electronic row carries four trailing keys more than a purchase row (139 vs 135). A
detail response is the list row with `hdhhdvu` (line items) and `qrcode` filled in.
"""

from __future__ import annotations

from collections.abc import Iterable

QUERY_PURCHASE_ROW_KEYS: tuple[str, ...] = (
    "nbmst",
    "khmshdon",
    "khhdon",
    "shdon",
    "cqt",
    "cttkhac",
    "dvtte",
    "hdon",
    "hsgcma",
    "hsgoc",
    "hthdon",
    "htttoan",
    "id",
    "idtbao",
    "khdon",
    "khhdgoc",
    "khmshdgoc",
    "lhdgoc",
    "mhdon",
    "mtdiep",
    "mtdtchieu",
    "nbdchi",
    "chma",
    "chten",
    "nbhdktngay",
    "nbhdktso",
    "nbhdso",
    "nblddnbo",
    "nbptvchuyen",
    "nbstkhoan",
    "nbten",
    "nbtnhang",
    "nbtnvchuyen",
    "nbttkhac",
    "ncma",
    "ncnhat",
    "ngcnhat",
    "nky",
    "nmdchi",
    "nmmst",
    "nmstkhoan",
    "nmten",
    "nmtnhang",
    "nmtnmua",
    "nmttkhac",
    "ntao",
    "ntnhan",
    "pban",
    "ptgui",
    "shdgoc",
    "tchat",
    "tdlap",
    "tgia",
    "tgtcthue",
    "tgtthue",
    "tgtttbchu",
    "tgtttbso",
    "thdon",
    "thlap",
    "thttlphi",
    "thttltsuat",
    "tlhdon",
    "ttcktmai",
    "tthai",
    "ttkhac",
    "tttbao",
    "ttttkhac",
    "ttxly",
    "tvandnkntt",
    "mhso",
    "ladhddt",
    "mkhang",
    "nbsdthoai",
    "nbdctdtu",
    "nbfax",
    "nbwebsite",
    "nbcks",
    "nmsdthoai",
    "nmdctdtu",
    "nmcmnd",
    "nmcks",
    "bhphap",
    "hddunlap",
    "gchdgoc",
    "tbhgtngay",
    "bhpldo",
    "bhpcbo",
    "bhpngay",
    "tdlhdgoc",
    "tgtphi",
    "unhiem",
    "mstdvnunlhdon",
    "tdvnunlhdon",
    "nbmdvqhnsach",
    "nbsqdinh",
    "nbncqdinh",
    "nbcqcqdinh",
    "nbhtban",
    "nmmdvqhnsach",
    "nmddvchden",
    "nmtgvchdtu",
    "nmtgvchdden",
    "nbtnban",
    "dcdvnunlhdon",
    "dksbke",
    "dknlbke",
    "thtttoan",
    "msttcgp",
    "cqtcks",
    "gchu",
    "kqcht",
    "hdntgia",
    "tgtkcthue",
    "tgtkhac",
    "nmshchieu",
    "nmnchchieu",
    "nmnhhhchieu",
    "nmqtich",
    "ktkhthue",
    "nmstttoan",
    "nmttttoan",
    "hdhhdvu",
    "qrcode",
    "ttmstten",
    "ladhddtten",
    "hdxkhau",
    "hdxkptquan",
    "hdgktkhthue",
    "hdonLquans",
    "tthdclquan",
    "pdndungs",
    "hdtbssrses",
    "hdTrung",
    "isHDTrung",
    "hdcttchinh",
)
# Keys sold rows carry, and purchase rows too from 2026 (139 keys then, 135 in 2025).
_SOLD_ONLY_KEYS: tuple[str, ...] = ("dlhquan", "dlnhtmai", "bltphi", "tcsvhdChinh")
PURCHASE_KEYS_FROM = 2026
PURCHASE_KEYS_ADDED = _SOLD_ONLY_KEYS
SCO_ROW_KEYS: tuple[str, ...] = (
    "nbmst",
    "khmshdon",
    "khhdon",
    "shdon",
    "cqt",
    "cttkhac",
    "hdon",
    "hsgoc",
    "hthdon",
    "id",
    "idtbao",
    "idtbhgthdon",
    "idtbhgtrinh",
    "khhdgoc",
    "khmshdgoc",
    "lhdgoc",
    "mhdon",
    "mtdtchieu",
    "nbdchi",
    "nbten",
    "ncnhat",
    "ngcnhat",
    "nky",
    "nmmst",
    "nmten",
    "nmtnmua",
    "ntao",
    "ntnhan",
    "pban",
    "ptgui",
    "shdgoc",
    "tchat",
    "tdlap",
    "tgtcthue",
    "tgtthue",
    "tgtttbchu",
    "tgtttbso",
    "thdon",
    "thlap",
    "thttltsuat",
    "tlhdon",
    "ttcktmai",
    "tthai",
    "tttbao",
    "ttttkhac",
    "ttxly",
    "tvandnkntt",
    "ladhddt",
    "nbsdthoai",
    "nbcks",
    "nmsdthoai",
    "nmcccd",
    "bhphap",
    "gchdgoc",
    "tbhgtngay",
    "bhpldo",
    "bhpcbo",
    "bhpngay",
    "tdlhdgoc",
    "tentvandnkntt",
    "kqcht",
    "nbttkhac",
    "nmttkhac",
    "ttkhac",
    "nmloai",
    "tghdmman",
    "tghdmmldo",
    "cnhan",
    "kqchtmloi",
    "nmdchi",
    "chma",
    "chten",
    "nmshchieu",
    "nbstkhoan",
    "nbtnhang",
    "nmhvtnmhang",
    "thtttoan",
    "nmmdvqhnsach",
    "dksbke",
    "dknlbke",
    "hdhhdvu",
    "qrcode",
    "ttmstten",
    "ladhddtten",
    "hdxkhau",
    "hdxkptquan",
    "hdgktkhthue",
    "hdonLquans",
    "tthdclquan",
    "pdndungs",
    "mtthdtbssrs",
    "tcsvhdChinh",
)
QUERY_LINE_KEYS: tuple[str, ...] = (
    "idhdon",
    "id",
    "dgia",
    "dvtinh",
    "ltsuat",
    "sluong",
    "stbchu",
    "stckhau",
    "stt",
    "tchat",
    "ten",
    "thtcthue",
    "thtien",
    "tlckhau",
    "tsuat",
    "tthue",
    "sxep",
    "ttkhac",
    "dvtte",
    "tgia",
    "tthhdtrung",
)
SCO_LINE_KEYS: tuple[str, ...] = (
    "idhdon",
    "id",
    "dgia",
    "dvtinh",
    "ltsuat",
    "mhhdvu",
    "sluong",
    "stbchu",
    "stckhau",
    "stt",
    "sxep",
    "tchat",
    "ten",
    "thtcthue",
    "thtien",
    "tlckhau",
    "tsuat",
    "tthue",
    "ttkhac",
    "tthhdtrung",
)

QUERY_SOLD_ROW_KEYS: tuple[str, ...] = QUERY_PURCHASE_ROW_KEYS + _SOLD_ONLY_KEYS
RATE_TOTAL_KEYS: tuple[str, ...] = ("tsuat", "thtien", "tthue", "gttsuat")
EXTRA_INFO_KEYS: tuple[str, ...] = ("ttruong", "kdlieu", "dlieu")
SAME_LINE_INFO_KEYS: tuple[str, ...] = ("lhhdtrung", "ttruong", "dlieu")

NoneType = type(None)
JsonTypes = tuple[type, ...]


def _types(groups: Iterable[tuple[JsonTypes, str]]) -> dict[str, JsonTypes]:
    return {key: types for types, keys in groups for key in keys.split()}


# JSON value types seen per key in the real electronic rows (sold and purchase, lists and details).
QUERY_ROW_TYPES: dict[str, JsonTypes] = _types(
    [
        (
            (str,),
            "nbmst khhdon cqt dvtte hdon id mtdtchieu nbten ncnhat nmmst nmten ntao ntnhan pban "
            "tdlap tlhdon tvandnkntt",
        ),
        ((int,), "khmshdon shdon hthdon ptgui tchat thlap tthai ttxly ladhddt"),
        ((list,), "cttkhac nbttkhac nmttkhac thttlphi thttltsuat ttkhac ttttkhac"),
        (
            (NoneType, str),
            "hsgcma hsgoc mhdon nbdchi nbstkhoan nbtnhang ncma ngcnhat nky nmdchi "
            "tgtttbchu thdon mkhang nbsdthoai nbdctdtu nbwebsite nbcks nmsdthoai "
            "nmdctdtu nbtnban thtttoan msttcgp cqtcks gchu kqcht",
        ),
        ((NoneType, int), "htttoan tttbao bhphap hdcttchinh"),
        ((NoneType, float), "tgia ttcktmai"),
        ((float, int), "tgtcthue"),
        ((float,), "tgtthue tgtttbso"),
        ((bool,), "tthdclquan"),
    ]
)
for _key in QUERY_SOLD_ROW_KEYS:
    QUERY_ROW_TYPES.setdefault(_key, (NoneType,))

# JSON value types seen per key in the real cash-register rows.
SCO_ROW_TYPES: dict[str, JsonTypes] = _types(
    [
        (
            (str,),
            "nbmst khhdon cqt hdon hsgoc id mhdon mtdtchieu nbdchi nbten ncnhat nmmst nmten ntao "
            "ntnhan pban tdlap tgtttbchu thdon tlhdon tvandnkntt tentvandnkntt nmloai nmdchi "
            "thtttoan",
        ),
        (
            (int,),
            "khmshdon shdon hthdon ptgui tchat thlap tthai tttbao ttxly ladhddt bhphap tghdmman "
            "cnhan",
        ),
        ((list,), "cttkhac thttltsuat ttttkhac nbttkhac nmttkhac ttkhac kqchtmloi"),
        ((NoneType, str), "nmtnmua"),
        ((float,), "tgtcthue tgtthue tgtttbso ttcktmai"),
        ((bool,), "tthdclquan"),
    ]
)
for _key in SCO_ROW_KEYS:
    SCO_ROW_TYPES.setdefault(_key, (NoneType,))

# Values the samples never show but the portal sends in states the sandbox produces: the
# references of a replacement/adjustment invoice to its original (types as in public captures of
# the portal's related-invoice data), and buyers without a tax code (individuals, walk-in
# cash-register customers).
REFERENCE_TYPES: dict[str, JsonTypes] = {
    "khhdgoc": (str,),
    "khmshdgoc": (str,),
    "shdgoc": (int,),
    "tdlhdgoc": (str,),
    "lhdgoc": (int,),
}
BUYER_WITHOUT_CODE_TYPES: dict[str, JsonTypes] = {"nmmst": (NoneType,), "nmdchi": (NoneType,)}
# Recorded by crawlers in 2026 beyond the samples: whole amounts as JSON integers.
RECORDED_2026_TYPES: dict[str, JsonTypes] = {"tgtthue": (int,), "tgtttbso": (int,)}

# JSON value types seen per key of a line item (`hdhhdvu[]`).
QUERY_LINE_TYPES: dict[str, JsonTypes] = _types(
    [
        ((str,), "idhdon id ten"),
        ((int,), "stt tchat sxep"),
        ((float,), "thtien tsuat"),
        ((list,), "ttkhac tthhdtrung"),
        ((NoneType, float), "dgia sluong stckhau tlckhau"),
        ((NoneType, str), "dvtinh ltsuat"),
        ((NoneType,), "stbchu thtcthue tthue dvtte tgia"),
    ]
)
SCO_LINE_TYPES: dict[str, JsonTypes] = _types(
    [
        ((str,), "idhdon id dvtinh ltsuat mhhdvu ten"),
        ((int,), "stt sxep tchat"),
        ((float,), "dgia sluong stckhau thtien tlckhau tsuat"),
        ((list,), "ttkhac tthhdtrung"),
        ((NoneType,), "stbchu thtcthue tthue"),
    ]
)


def row_keys(family: str, sold: bool, year: int) -> tuple[str, ...]:
    """The ordered key set of a list row (and of a detail) of one family and direction, for an
    invoice issued in ``year``."""
    if family == "sco-query":
        return SCO_ROW_KEYS
    return QUERY_SOLD_ROW_KEYS if sold or year >= PURCHASE_KEYS_FROM else QUERY_PURCHASE_ROW_KEYS


def line_keys(family: str) -> tuple[str, ...]:
    """The ordered key set of a line item of one family."""
    return SCO_LINE_KEYS if family == "sco-query" else QUERY_LINE_KEYS


def row_types(family: str) -> dict[str, JsonTypes]:
    return SCO_ROW_TYPES if family == "sco-query" else QUERY_ROW_TYPES


def line_types(family: str) -> dict[str, JsonTypes]:
    return SCO_LINE_TYPES if family == "sco-query" else QUERY_LINE_TYPES
