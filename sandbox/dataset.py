"""The sandbox portal's data: accounts and their invoices in the four flows, generated
deterministically from a seed and never materialised as a whole.

`Dataset` answers what the HTTP layer asks: list entries for a date range (`refs`), one invoice
by its key (`find`), the list row / detail JSON / TT78 ZIP of an entry, and the ground truth a
test compares a sync against (`truth`). 1,000 accounts x 10,000 invoices cost a few MB: per
(account, flow) the data set keeps a small day table and a pool of counterparties, built on
first use and kept in bounded caches; invoices are rebuilt from their hash on demand.
"""

from __future__ import annotations

import calendar
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from gdtmesh.taxcode import make_personal_tax_code, make_tax_code
from gdtmesh.vncalendar import months_back
from sandbox import tt78
from sandbox.catalog import ELECTRONIC_TRADES, REGISTER_TRADES, UNCODED_TRADES
from sandbox.invoices import InvoiceContext, build_detail
from sandbox.layout import VN_OFFSET, Counterparty, DayEntry, FlowLayout
from sandbox.model import FAMILIES, FAMILY, FLOWS, Company, DatasetSpec, InvoiceRef, is_sold
from sandbox.parties import (
    ELECTRONIC_STYLES,
    PROVINCE_BY_PREFIX,
    PROVINCES,
    REGISTER_STYLES,
    Issuer,
    Party,
    company_name,
    make_business,
    make_issuer,
    make_person,
    pick_province,
    street_address,
)
from sandbox.seeds import item_hash, rng_for, stream_key

__all__ = [
    "FAMILY",
    "FLOWS",
    "Company",
    "Dataset",
    "DatasetSpec",
    "InvoiceRef",
    "NoOriginalError",
]

DEMO_PASSWORD = "Demo@2025"
# Share of an account's invoices per flow (renormalised over the flows it has).
_FLOW_WEIGHTS = {
    "ban_ra_dien_tu": 0.35,
    "ban_ra_may_tinh_tien": 0.2,
    "mua_vao_dien_tu": 0.35,
    "mua_vao_may_tinh_tien": 0.1,
}
# Invoices per weekday (Monday first): offices issue on working days, shops every day.
_WEEKDAY_WEIGHTS = {
    "query": (1.0, 1.0, 1.0, 1.0, 1.1, 0.5, 0.2),
    "sco-query": (0.9, 0.9, 0.9, 1.0, 1.2, 1.4, 1.3),
}
_SERIES_LETTERS = "ABCDEGHKLMNPQRSTUVXY"
_WALK_IN = "Khách lẻ"


class NoOriginalError(LookupError):
    """The invoice has no original dossier (hsgoc null): the portal cannot export its XML."""


@dataclass(frozen=True)
class _DemoAccount:
    mst: str
    name: str
    province: str
    trade: str
    flows: tuple[str, ...]
    locked: bool = False


_DEMO_ACCOUNTS = (
    _DemoAccount(
        "0106843521", "CÔNG TY TNHH THƯƠNG MẠI VÀ DỊCH VỤ SEN VÀNG", "01", "office", FLOWS
    ),
    _DemoAccount("0315724687", "CÔNG TY CỔ PHẦN CÔNG NGHỆ BIỂN XANH", "03", "it", FLOWS),
    _DemoAccount(
        "0105927137-001",
        "CÔNG TY CỔ PHẦN THỰC PHẨM ĐỒNG QUÊ - CHI NHÁNH HÀ NỘI",
        "01",
        "food",
        ("ban_ra_dien_tu", "mua_vao_dien_tu"),
    ),
    _DemoAccount(
        "0309182570",
        "CÔNG TY TNHH XÂY DỰNG ĐÔNG Á",
        "03",
        "construction",
        ("ban_ra_dien_tu", "mua_vao_dien_tu"),
        locked=True,
    ),
)


@dataclass(frozen=True)
class _Profile:
    """How one account does business: what it sells, with which software and series."""

    company: Company
    counts: dict[str, int]
    trade: str
    register_trade: str
    style: str
    register_style: str
    series: dict[str, str]


_T = TypeVar("_T")


def _bounded_cache(maxsize: int, function: Callable[..., _T]) -> Callable[..., _T]:
    return functools.lru_cache(maxsize=maxsize)(function)


class Dataset:
    """The sandbox portal's accounts and invoices for one `DatasetSpec`."""

    def __init__(self, spec: DatasetSpec) -> None:
        if spec.companies < 0 or spec.invoices_per_company < 0 or spec.months < 1:
            raise ValueError("companies and invoices_per_company must be >= 0, months >= 1")
        self.spec = spec
        self.today = spec.today or (datetime.now(UTC) + VN_OFFSET).date()
        self.period_start = months_back(self.today, spec.months - 1)
        self._profiles = self._make_profiles()
        self._companies = tuple(profile.company for profile in self._profiles.values())
        self._layout = _bounded_cache(512, self._build_layout)
        self._own_issuer = _bounded_cache(1024, self._build_own_issuer)
        self._partner_party = _bounded_cache(8192, self._build_partner_party)
        self._detail = _bounded_cache(1024, self._build_detail)
        self._day = _bounded_cache(2048, self._build_day)

    # -- accounts ----------------------------------------------------------------------------

    def companies(self) -> Sequence[Company]:
        return self._companies

    def company(self, mst: str) -> Company | None:
        profile = self._profiles.get(mst)
        return profile.company if profile else None

    # -- listing and lookup ------------------------------------------------------------------

    def refs(
        self, company: str, flow: str, start: date, end: date, now: datetime
    ) -> list[InvoiceRef]:
        """Invoices ``company`` sees in ``flow`` with tdlap in [start, end] (Vietnam days) and
        visible by ``now``, newest first (tdlap desc, then shdon desc)."""
        _check_flow(flow)
        layout = self._layout_for(company, flow)
        if layout is None or start > end:
            return []
        return layout.refs(start, end, _aware(now), functools.partial(self._day, company, flow))

    def find(
        self,
        company: str,
        family: str,
        nbmst: str,
        khhdon: str,
        shdon: int,
        khmshdon: int,
        now: datetime,
    ) -> InvoiceRef | None:
        """The invoice with this key that ``company`` sees at ``now``, in O(1)."""
        if family not in FAMILIES:
            raise ValueError(f"unknown invoice family {family!r}; expected one of {FAMILIES}")
        now = _aware(now)
        wanted = {"nbmst": nbmst, "khhdon": khhdon, "shdon": shdon, "khmshdon": khmshdon}
        for flow in FLOWS:
            layout = self._layout_for(company, flow) if FAMILY[flow] == family else None
            for index in layout.index_candidates(nbmst, khhdon, shdon) if layout else ():
                ref = layout.ref_at(index, now)  # type: ignore[union-attr]
                if ref.key() == wanted and ref.visible_at <= now:
                    return ref
        return None

    def truth(
        self, company: str, flow: str, year: int, month: int, now: datetime
    ) -> list[dict[str, Any]]:
        """The keys `refs` lists for that calendar month as of ``now``."""
        last = calendar.monthrange(year, month)[1]
        return [
            ref.key()
            for ref in self.refs(company, flow, date(year, month, 1), date(year, month, last), now)
        ]

    def changes(
        self, company: str, flow: str, year: int, month: int, since: datetime, now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What changed in that month's list between ``since`` and ``now``: the invoices listed
        only now (late arrivals), and those listed both times whose status changed (an
        original replaced or adjusted meanwhile)."""
        last = calendar.monthrange(year, month)[1]
        first_day, last_day = date(year, month, 1), date(year, month, last)
        before = {
            _key_tuple(ref): ref.tthai
            for ref in self.refs(company, flow, first_day, last_day, since)
        }
        new, changed = [], []
        for ref in self.refs(company, flow, first_day, last_day, now):
            status = before.get(_key_tuple(ref))
            if status is None:
                new.append(ref.key())
            elif status != ref.tthai:
                changed.append(ref.key())
        return new, changed

    # -- invoice content ---------------------------------------------------------------------

    def list_row(self, ref: InvoiceRef) -> dict[str, Any]:
        """The list-row JSON object (`hdhhdvu` and `qrcode` null). A fresh top-level dict;
        nested lists are shared with the cache, so treat them as read-only."""
        row = self._detail(ref).copy()
        row["hdhhdvu"] = None
        row["qrcode"] = None
        row["tthai"] = ref.tthai
        return row

    def detail(self, ref: InvoiceRef) -> dict[str, Any]:
        """The detail JSON: the row plus line items (`hdhhdvu`) and `qrcode`."""
        row = self._detail(ref).copy()
        row["tthai"] = ref.tthai
        return row

    def export_zip(self, ref: InvoiceRef) -> bytes:
        """The export-xml ZIP (invoice.xml, invoice.html, a stylesheet); raises
        `NoOriginalError` for an invoice without an original dossier."""
        if not ref.has_original:
            raise NoOriginalError("Không tồn tại hồ sơ gốc của hóa đơn.")
        return tt78.export_zip(self.detail(ref))

    # -- generation --------------------------------------------------------------------------

    def _make_profiles(self) -> dict[str, _Profile]:
        profiles: dict[str, _Profile] = {}
        if self.spec.demo:
            for account in _DEMO_ACCOUNTS:
                profiles[account.mst] = self._demo_profile(account)
        generated = self.spec.companies - (3 if self.spec.demo else 0)
        for number in range(max(generated, 0)):
            profile = self._generated_profile(number, profiles)
            profiles[profile.company.mst] = profile
        return profiles

    def _demo_profile(self, account: _DemoAccount) -> _Profile:
        rng = rng_for(self.spec.seed, "demo", account.mst)
        province = PROVINCE_BY_PREFIX[account.province]
        address = street_address(rng, province, rng.choice(province.wards))
        return self._profile(
            rng,
            account.mst,
            account.name,
            address,
            DEMO_PASSWORD,
            account.locked,
            account.flows,
            account.trade,
        )

    def _generated_profile(self, number: int, taken: dict[str, _Profile]) -> _Profile:
        rng = rng_for(self.spec.seed, "company", number)
        province = pick_province(rng)
        branch = rng.random() < 0.05
        mst = make_tax_code(rng, branch=branch, province=province.prefix)
        while mst in taken:
            mst = make_tax_code(rng, branch=branch, province=province.prefix)
        trade = rng.choice(ELECTRONIC_TRADES)
        name = company_name(rng, trade)
        if branch:
            name += f" - CHI NHÁNH {province.name.upper()}"
        flows = tuple(flow for flow in FLOWS if _has_flow(rng, flow))
        address = street_address(rng, province, rng.choice(province.wards))
        return self._profile(rng, mst, name, address, _password(rng), False, flows, trade)

    def _profile(
        self,
        rng: random.Random,
        mst: str,
        name: str,
        address: str,
        password: str,
        locked: bool,
        flows: tuple[str, ...],
        trade: str,
    ) -> _Profile:
        counts = _split(self.spec.invoices_per_company, flows)
        active = tuple(flow for flow in flows if counts[flow] > 0)
        return _Profile(
            company=Company(mst, name, address, password, locked, active),
            counts=counts,
            trade=trade,
            register_trade=rng.choice(("restaurant", "cafe", "retail")),
            style=rng.choice(ELECTRONIC_STYLES),
            register_style=rng.choice(REGISTER_STYLES),
            series={
                "ban_ra_dien_tu": "T" + _letters(rng),
                "ban_ra_may_tinh_tien": "M" + _letters(rng),
            },
        )

    def _layout_for(self, company: str, flow: str) -> FlowLayout | None:
        profile = self._profiles.get(company)
        if profile is None or flow not in profile.company.flows:
            return None
        return self._layout(company, flow)

    def _build_layout(self, company: str, flow: str) -> FlowLayout:
        profile = self._profiles[company]
        key = stream_key(self.spec.seed, company, flow)
        days = (self.today - self.period_start).days + 1
        cum = _day_table(
            random.Random(key),
            self.period_start,
            days,
            profile.counts[flow],
            _WEEKDAY_WEIGHTS[FAMILY[flow]],
        )
        partners = _partner_pool(
            stream_key(self.spec.seed, company, flow, "partners"),
            flow,
            profile.counts[flow],
            company,
        )
        return FlowLayout(
            company,
            flow,
            key,
            self.period_start,
            cum,
            profile.series.get(flow, ""),
            partners,
            self.spec.twin_share,
        )

    def _build_day(self, company: str, flow: str, day: int) -> tuple[DayEntry, ...]:
        return self._layout(company, flow).day_entries(day)

    def _build_own_issuer(self, company: str, family: str) -> Issuer:
        profile = self._profiles[company]
        rng = rng_for(self.spec.seed, company, "issuer", family)
        province = PROVINCE_BY_PREFIX.get(company[:2], PROVINCES[0])
        trade = profile.trade if family == "query" else profile.register_trade
        party = make_business(rng, trade, mst=company, name=profile.company.name, province=province)
        party = replace(party, address=profile.company.address)
        style = profile.style if family == "query" else profile.register_style
        return make_issuer(rng, party, style, trade, _start_datetime(self.period_start))

    def _build_partner_party(self, partner: Counterparty) -> Issuer:
        """The full party behind a counterparty (an issuer for sellers; buyers get a dummy
        software profile that is never printed)."""
        rng = random.Random(partner.key)
        if partner.kind == "walkin":
            province = pick_province(rng)
            party = Party(
                None, _WALK_IN, None, province, province.wards[0], None, None, None, None, None
            )
        elif partner.kind == "person":
            party = replace(make_person(rng, partner.mst is not None), mst=partner.mst)
        else:
            party = make_business(rng, partner.trade, mst=partner.mst)
        return make_issuer(
            rng, party, _seller_style(partner), partner.trade, _start_datetime(self.period_start)
        )

    def _build_detail(self, ref: InvoiceRef) -> dict[str, Any]:
        company, flow, index = ref.company, ref.flow, ref.index
        layout = self._layout(company, flow)
        digest = item_hash(layout.key, index)
        pair = layout.pair_at(index)
        partner = layout.partner_of(index, digest, pair)
        timing = layout.timing((ref.tdlap - layout.start).days, digest, partner)
        original = None
        if pair is not None and index == pair.successor:
            original = layout.ref_at(pair.original, ref.visible_at)
        family = FAMILY[flow]
        own = self._own_issuer(company, family)
        if is_sold(flow):
            seller, buyer = own, self._partner_party(partner).party
        else:
            seller, buyer = self._partner_party(partner), own.party
        context = InvoiceContext(
            ref=ref,
            family=family,
            sold=is_sold(flow),
            seller=seller,
            buyer=buyer,
            digest=digest,
            timing=timing,
            original=original,
            adjustment=pair is not None and index == pair.successor and pair.tthai == 3,
        )
        return build_detail(context)


# -- helpers -----------------------------------------------------------------------------------


def _check_flow(flow: str) -> None:
    if flow not in FAMILY:
        raise ValueError(f"unknown flow {flow!r}; expected one of {FLOWS}")


def _aware(now: datetime) -> datetime:
    """``now`` as an aware datetime (naive values are taken as UTC)."""
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _start_datetime(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _has_flow(rng: random.Random, flow: str) -> bool:
    """Every generated account sells and buys electronically; cash registers are optional."""
    chance = {"ban_ra_may_tinh_tien": 0.35, "mua_vao_may_tinh_tien": 0.75}.get(flow, 1.0)
    return rng.random() < chance


def _split(total: int, flows: tuple[str, ...]) -> dict[str, int]:
    """``total`` invoices shared among ``flows`` by weight (largest remainders first)."""
    if not flows:
        return {}
    weight = sum(_FLOW_WEIGHTS[flow] for flow in flows)
    exact = {flow: total * _FLOW_WEIGHTS[flow] / weight for flow in flows}
    counts = {flow: int(share) for flow, share in exact.items()}
    by_remainder = sorted(flows, key=lambda flow: exact[flow] - counts[flow], reverse=True)
    for flow in by_remainder[: total - sum(counts.values())]:
        counts[flow] += 1
    return counts


def _day_table(
    rng: random.Random, start: date, days: int, count: int, weekday_weights: tuple[float, ...]
) -> tuple[int, ...]:
    """Cumulative invoice counts per day: entry d is the first index issued on day d."""
    weights = [
        weekday_weights[(start + timedelta(d)).weekday()] * rng.uniform(0.6, 1.4)
        for d in range(days)
    ]
    total = sum(weights)
    cum, running = [0], 0.0
    for weight in weights:
        running += weight
        cum.append(int(count * running / total))
    cum[-1] = count
    return tuple(cum)


def _letters(rng: random.Random) -> str:
    return rng.choice(_SERIES_LETTERS) + rng.choice(_SERIES_LETTERS)


def _password(rng: random.Random) -> str:
    body = "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(7))
    return f"{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{body}@{rng.randrange(10, 100)}"


def _seller_style(partner: Counterparty) -> str:
    """The invoice software of a selling counterparty (buyers never print theirs)."""
    rng = random.Random(partner.key ^ 0x57)
    if partner.kind in ("company", "person", "walkin"):
        return "vnpt"
    if partner.kind == "register":
        return rng.choice(REGISTER_STYLES)
    if partner.kind == "uncoded":
        return rng.choice(("vnpt", "vnpt", "viettel"))
    return rng.choice(ELECTRONIC_STYLES)


def _partner_pool(key: int, flow: str, count: int, company: str) -> tuple[Counterparty, ...]:
    """The counterparties of one flow: sellers for purchases, buyers for sales."""
    rng = random.Random(key)
    size = max(3, min(300, count // (8 if is_sold(flow) else 12) + 3))
    taken = {company}
    partners = []
    for slot in range(size):
        partner = _counterparty(rng, flow, slot, item_hash(key, slot))
        while partner.mst in taken:
            partner = _counterparty(rng, flow, slot, item_hash(key, slot + 7919 * len(taken)))
        if partner.mst is not None:
            taken.add(partner.mst)
        partners.append(partner)
    return tuple(partners)


def _tax_code(rng: random.Random, branch: bool) -> str:
    """A tax code registered in one of the provinces the addresses come from."""
    return make_tax_code(rng, branch=branch, province=pick_province(rng).prefix)


# Invoices received without a code (ttxly 6): in real captures about a quarter are full records
# (hsgoc set, line items, an exportable XML), the rest summary data only. Per seller, the share
# of its invoices that are full; on average a quarter.
_UNCODED_ORIGINAL_SHARES = (0.0, 0.0, 0.3, 0.7)


def _counterparty(rng: random.Random, flow: str, slot: int, key: int) -> Counterparty:
    if flow == "mua_vao_dien_tu":
        uncoded = rng.random() < 0.22
        return Counterparty(
            slot=slot,
            mst=_tax_code(rng, branch=rng.random() < 0.1),
            kind="uncoded" if uncoded else "coded",
            trade=rng.choice(UNCODED_TRADES if uncoded else ELECTRONIC_TRADES),
            series="T" + _letters(rng),
            gap=rng.choice((1, 1, 2, 3, 5, 8, 20, 60, 250)),
            scale=10 ** rng.randint(2, 6),
            original_share=rng.choice(_UNCODED_ORIGINAL_SHARES) if uncoded else 1.0,
            key=key,
        )
    if flow == "mua_vao_may_tinh_tien":
        return Counterparty(
            slot,
            make_tax_code(rng, branch=rng.random() < 0.3),
            "register",
            rng.choice(REGISTER_TRADES),
            "M" + _letters(rng),
            rng.choice((5, 20, 80, 400, 2000)),
            10 ** rng.randint(4, 7),
            1.0,
            key,
        )
    walk_in_share = 0.65 if flow == "ban_ra_may_tinh_tien" else 0.0
    draw = rng.random()
    if draw < walk_in_share:
        return Counterparty(slot, None, "walkin", "", "", 1, 1, 1.0, key)
    if draw < walk_in_share + 0.06:
        mst = make_personal_tax_code(rng) if rng.random() < 0.5 else None
        return Counterparty(slot, mst, "person", "", "", 1, 1, 1.0, key)
    return Counterparty(
        slot,
        make_tax_code(rng, branch=rng.random() < 0.08),
        "company",
        rng.choice(ELECTRONIC_TRADES),
        "",
        1,
        1,
        1.0,
        key,
    )


def _key_tuple(ref: InvoiceRef) -> tuple[str, int, str, int]:
    return ref.nbmst, ref.khmshdon, ref.khhdon, ref.shdon
