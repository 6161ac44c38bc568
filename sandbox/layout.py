"""Where the invoices of one (account, flow) are, by arithmetic instead of storage.

Invoice ``index`` (0..count-1) of a flow is dated by a small per-flow table of cumulative
counts per day, so a date range maps to an index range. Its key fields come from a 64-bit hash
of (seed, account, flow, index): the counterparty, the number within the series, lateness. The
number encodes the index, so a key maps back to its index in O(1) (`index_for`).

Numbering follows the real portal: series carry the two-digit year (C25TAA, K26TEK, C26MGA) and
restart at 1 every January; a seller's invoices to one buyer leave gaps for its other buyers.
Sellers number independently, so on the purchase side two sellers' invoices often share form,
series and number ("twins"): a purchase invoice flagged as a twin (`twin_share`) carries the
series and number of the invoice just before it, issued the same month by another seller.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from gdtmesh.vncalendar import VIETNAM
from sandbox.model import FAMILY, InvoiceRef, is_sold
from sandbox.seeds import GOLDEN, MASK64, item_hash, mix64

VN_OFFSET = VIETNAM.utcoffset(None)  # the sandbox keeps naive-free UTC instants
BLOCK = 40  # at most one replaced/adjusted invoice pair per block of this many invoices
PAIR_SHARE = 0.45  # share of blocks that hold one (about 1 invoice in 90 is a successor)
_LATE_SHARE = {"coded": 0.08, "uncoded": 0.35, "register": 0.12}
_KHMSHDON = 1  # every generated invoice is a VAT invoice (form 1)
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)
VISIBLE_AFTER_MS = 83  # processing time between arrival (ntnhan) and listing (ncnhat)


@dataclass(frozen=True)
class Counterparty:
    """A light record of the other party of a flow's invoices: enough for list filters and key
    arithmetic; the full party (names, addresses) is built from ``key`` when needed."""

    slot: int
    mst: str | None
    kind: str  # sellers: "coded" | "uncoded" | "register"; buyers: "company" | "person" | "walkin"
    trade: str  # catalog industry of a seller
    series: str  # the three letters after C/K + year, e.g. "TAA", "MGA"
    gap: int  # average distance between this buyer's numbers at that seller
    scale: int  # size of the seller's numbering before the period
    original_share: float  # share of its invoices with an original XML
    key: int

    @property
    def form(self) -> int:
        """`khmshdon`: a VAT invoice (1), or for some coded sellers stamps and tickets (5)."""
        return 5 if self.kind == "coded" and (self.key >> 11) % 16 == 0 else _KHMSHDON


@dataclass(frozen=True)
class Pair:
    """An original invoice and the later invoice that replaces (2) or adjusts (3) it."""

    original: int
    successor: int
    tthai: int

    @property
    def members(self) -> tuple[int, int]:
        return self.original, self.successor


@dataclass(frozen=True)
class Timing:
    signed: datetime  # UTC, the seller's signature (`nky`)
    received: datetime  # UTC, arrival at the tax authority (`ntnhan`)

    @property
    def visible_at(self) -> datetime:
        """When the invoice appears in lists: once processed (`ncnhat`)."""
        return self.received + timedelta(milliseconds=VISIBLE_AFTER_MS)


DayEntry = tuple[InvoiceRef, "datetime | None"]


def vn_midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - VN_OFFSET


class FlowLayout:
    """The invoices of one account in one flow."""

    def __init__(
        self,
        company: str,
        flow: str,
        key: int,
        start: date,
        cum: tuple[int, ...],
        own_series: str,
        partners: tuple[Counterparty, ...],
        twin_share: float = 0.0,
    ) -> None:
        self.company = company
        self.flow = flow
        self.family = FAMILY[flow]
        self.sold = is_sold(flow)
        self.key = key
        self.start = start
        self.cum = cum  # cum[d] = first index issued on day start+d; cum[-1] = count
        self.count = cum[-1]
        self.days = len(cum) - 1
        self.own_series = own_series
        self.partners = partners
        self.partner_slot = {p.mst: p.slot for p in partners if p.mst is not None}
        self._dates = tuple(start + timedelta(d) for d in range(self.days))
        self._midnights = tuple(vn_midnight_utc(day) for day in self._dates)
        # Per counterparty slot: ttxly, and thresholds (of 256) for lateness and originals.
        self._ttxly = tuple(self.ttxly(p) for p in partners)
        late_shares = {} if self.sold else _LATE_SHARE
        self._late_threshold = tuple(late_shares.get(p.kind, 0.0) * 256 for p in partners)
        self._original_threshold = tuple(p.original_share * 256 for p in partners)
        self._numbering: dict[tuple[int, int], tuple[str, int]] = {}
        self._pairs_enabled = self.family == "query"
        self._year_first = self._first_index_per_year()
        self._twin_threshold = 0 if self.sold else int(twin_share * 256)
        self._slots_by_series: dict[int, dict[str, list[int]]] = {}

    # -- dates -------------------------------------------------------------------------------

    def day_of(self, index: int) -> int:
        return bisect.bisect_right(self.cum, index) - 1

    def date_of(self, day: int) -> date:
        return self.start + timedelta(day)

    def day_range(self, first: date, last: date) -> range:
        """Day offsets of [first, last] inside the period (possibly empty)."""
        lo = max((first - self.start).days, 0)
        hi = min((last - self.start).days, self.days - 1)
        return range(lo, hi + 1)

    def _first_index_per_year(self) -> dict[int, int]:
        years = range(self.start.year, self.date_of(self.days - 1).year + 1)
        return {
            year: 0 if year == self.start.year else self.cum[(date(year, 1, 1) - self.start).days]
            for year in years
        }

    # -- counterparties and pairs ------------------------------------------------------------

    def pair_at(self, index: int) -> Pair | None:
        """The replacement/adjustment pair ``index`` belongs to, if any."""
        pair = self._block_pair(index // BLOCK)
        return pair if pair is not None and index in pair.members else None

    def _block_pair(self, block: int) -> Pair | None:
        if not self._pairs_enabled:
            return None
        digest = item_hash(self.key ^ 0x5A17, block)
        if (digest & 0xFFFF) >= PAIR_SHARE * 0x10000:
            return None
        first = (digest >> 16) % (BLOCK - 1)
        later = first + 1 + (digest >> 24) % (BLOCK - 1 - first)
        original, successor = block * BLOCK + first, block * BLOCK + later
        if successor >= self.count:
            return None
        return Pair(original, successor, 2 if (digest >> 40) % 4 else 3)

    def partner_of(self, index: int, digest: int, pair: Pair | None) -> Counterparty:
        if pair is not None and index == pair.successor:  # same parties as the original
            digest = item_hash(self.key, pair.original)
        share = (digest & 0xFFFF) / 0x10000
        return self.partners[int(len(self.partners) * share * share)]

    # -- numbers -----------------------------------------------------------------------------

    def numbering(self, year: int, partner: Counterparty) -> tuple[str, int]:
        """The series an invoice of ``year`` carries and how many numbers that series used
        before the period's first invoice (numbering restarts every January)."""
        cache_key = (year, -1 if self.sold else partner.slot)
        cached = self._numbering.get(cache_key)
        if cached is None:
            cached = self._numbering[cache_key] = (
                self._series_name(year, partner),
                self._start_number(year, partner),
            )
        return cached

    def _series_name(self, year: int, partner: Counterparty) -> str:
        letters = self.own_series if self.sold else partner.series
        uncoded = not self.sold and partner.kind == "uncoded"
        return f"{'K' if uncoded else 'C'}{year % 100:02d}{letters}"

    def _start_number(self, year: int, partner: Counterparty) -> int:
        new_year = year != self.start.year or self.start == date(year, 1, 1)
        elapsed = (self.start - date(year, 1, 1)).days
        if self.sold:
            if new_year:
                return 0
            per_day = self.count / max(self.days, 1)
            return int(elapsed * per_day * (0.7 + mix64(self.key ^ year) % 600 / 1000))
        salt = mix64(partner.key ^ year)
        if new_year:
            return salt % (partner.gap * 3)
        return salt % partner.scale + elapsed * partner.gap

    def number_of(
        self, index: int, year: int, base: int, partner: Counterparty, digest: int
    ) -> int:
        """Sold: consecutive numbers; bought: the seller's numbers, with gaps for its other
        buyers, increasing with the index."""
        position = index - self._year_first[year]
        if self.sold:
            return base + position + 1
        return base + position * partner.gap + mix64(digest) % partner.gap + 1

    def index_for(self, nbmst: str, khhdon: str, shdon: int) -> int | None:
        """The only index that can carry this key (to be confirmed by rebuilding its ref)."""
        if len(khhdon) != 6 or not khhdon[1:3].isdigit() or shdon < 1:
            return None
        year = 2000 + int(khhdon[1:3])
        if year not in self._year_first:
            return None
        if self.sold:
            partner = self.partners[0]
            if nbmst != self.company:
                return None
        else:
            slot = self.partner_slot.get(nbmst)
            if slot is None:
                return None
            partner = self.partners[slot]
        series, base = self.numbering(year, partner)
        if khhdon != series:
            return None
        offset = shdon - 1 - base
        position = offset if self.sold else offset // partner.gap
        index = self._year_first[year] + position
        return index if position >= 0 and index < self.count else None

    def index_candidates(self, nbmst: str, khhdon: str, shdon: int) -> list[int]:
        """The indexes that can carry this key (to be confirmed by rebuilding their refs): its
        own seller's, and the twin of an invoice of any seller with that series and number."""
        candidates = [] if (own := self.index_for(nbmst, khhdon, shdon)) is None else [own]
        if self._twin_threshold and len(khhdon) == 6 and khhdon[1:3].isdigit():
            year = 2000 + int(khhdon[1:3])
            for slot in self._series_slots(year).get(khhdon, []):
                source = self.index_for(self.partners[slot].mst or "", khhdon, shdon)
                if source is not None and self.twin_source(source + 1) == source:
                    candidates.append(source + 1)
        return candidates

    def _series_slots(self, year: int) -> dict[str, list[int]]:
        """Counterparty slots by the series they use in ``year``."""
        by_series = self._slots_by_series.get(year)
        if by_series is None:
            by_series = self._slots_by_series[year] = {}
            if year in self._year_first:
                for partner in self.partners:
                    if partner.mst is not None:
                        series = self.numbering(year, partner)[0]
                        by_series.setdefault(series, []).append(partner.slot)
        return by_series

    def _twin_flag(self, index: int) -> bool:
        digest = mix64((self.key + index * GOLDEN) & MASK64)
        return ((digest >> 48) & 0xFF) < self._twin_threshold

    def twin_source(self, index: int) -> int | None:
        """The invoice whose series and number invoice ``index`` carries, if it is a twin: the
        one just before it, of another seller, issued the same month, neither in a pair."""
        if not self._twin_threshold or not 0 < index < self.count or not self._twin_flag(index):
            return None
        source = index - 1
        if self._twin_flag(source) or self.pair_at(index) or self.pair_at(source):
            return None
        if self._dates[self.day_of(source)].replace(day=1) != self._dates[
            self.day_of(index)
        ].replace(day=1):
            return None
        partner = self.partner_of(index, mix64((self.key + index * GOLDEN) & MASK64), None)
        other = self.partner_of(source, mix64((self.key + source * GOLDEN) & MASK64), None)
        year = self._dates[self.day_of(index)].year
        # Another seller of the same kind, and another series than the twin's seller's own: no
        # twin can take the key of one of its seller's own invoices.
        if partner.kind != other.kind or partner.form != other.form or partner == other:
            return None  # a twin is coded (C) or not (K), and of a form, like its seller's own
        if self.numbering(year, partner)[0] == self.numbering(year, other)[0]:
            return None
        return source

    def _key_numbers(
        self, index: int, day: int, partner: Counterparty, digest: int
    ) -> tuple[str, int]:
        """Series and number of invoice ``index`` (a twin's are its source's)."""
        source = self.twin_source(index)
        if source is not None:
            index, day = source, self.day_of(source)
            digest = mix64((self.key + index * GOLDEN) & MASK64)
            partner = self.partner_of(index, digest, None)
        year = self._dates[day].year
        series, base = self.numbering(year, partner)
        return series, self.number_of(index, year, base, partner, digest)

    # -- timing ------------------------------------------------------------------------------

    def _received_ms(self, digest: int, partner: Counterparty) -> int:
        """Milliseconds from the issue day's Vietnam midnight to arrival at the authority:
        seconds after signing, or days for a late purchase invoice."""
        received = (27000 + (digest >> 40) % 43200) * 1000 + 900 + ((digest >> 57) & 0x7F) * 290
        if ((digest >> 16) & 0xFF) < self._late_threshold[partner.slot]:
            late_days = 2 + ((digest >> 24) & 0xFF) % 19
            received += late_days * 86_400_000 + (digest >> 8) % 36000 * 1000
        return received

    def timing(self, day: int, digest: int, partner: Counterparty) -> Timing:
        midnight = self._midnights[day]
        signed = midnight + timedelta(seconds=27000 + (digest >> 40) % 43200)
        return Timing(signed, midnight + timedelta(milliseconds=self._received_ms(digest, partner)))

    def _visible_at(self, day: int, digest: int, partner: Counterparty) -> datetime:
        received = self._received_ms(digest, partner) + VISIBLE_AFTER_MS
        return self._midnights[day] + timedelta(milliseconds=received)

    # -- refs --------------------------------------------------------------------------------

    def ref_at(self, index: int, now: datetime, day: int | None = None) -> InvoiceRef:
        """The index entry of invoice ``index`` as the portal shows it at ``now``."""
        return self._ref(
            index, self.day_of(index) if day is None else day, self.pair_at(index), now
        )

    def _ref(self, index: int, day: int, pair: Pair | None, now: datetime) -> InvoiceRef:
        digest = mix64((self.key + index * GOLDEN) & MASK64)
        partner = self.partner_of(index, digest, pair)
        issued = self._dates[day]
        series, number = self._key_numbers(index, day, partner, digest)
        tthai = 1
        if pair is not None:
            tthai = pair.tthai if index == pair.successor else self._original_state(pair, now)
        own, other = self.company, partner.mst
        visible_ms = self._received_ms(digest, partner) + VISIBLE_AFTER_MS
        return InvoiceRef(
            self.company,
            self.flow,
            index,
            own if self.sold else other or "",
            other if self.sold else own,
            _KHMSHDON if self.sold else partner.form,
            series,
            number,
            issued,
            self._midnights[day] + timedelta(milliseconds=visible_ms),
            self._ttxly[partner.slot],
            tthai,
            ((digest >> 32) & 0xFF) < self._original_threshold[partner.slot],
        )

    def _original_state(self, pair: Pair, now: datetime) -> int:
        """4 (replaced) / 5 (adjusted) once the successor exists at ``now``, else 1."""
        if self._successor_visible_at(pair) > now:
            return 1
        return 4 if pair.tthai == 2 else 5

    def _successor_visible_at(self, pair: Pair) -> datetime:
        digest = item_hash(self.key, pair.successor)
        partner = self.partner_of(pair.successor, digest, pair)
        return self._visible_at(self.day_of(pair.successor), digest, partner)

    def ttxly(self, partner: Counterparty) -> int:
        if self.family == "sco-query":
            return 8
        return 6 if not self.sold and partner.kind == "uncoded" else 5

    def day_entries(self, day: int) -> tuple[DayEntry, ...]:
        """Day ``day``'s invoices in their final state, newest first, each with the moment its
        successor appears if it gets replaced or adjusted (its tthai is 1 before that).
        Independent of the time of asking, so callers may cache it."""
        entries: list[DayEntry] = []
        block, pair_of_block = -1, None
        for index in range(self.cum[day], self.cum[day + 1]):
            if index // BLOCK != block:
                block = index // BLOCK
                pair_of_block = self._block_pair(block)
            pair = pair_of_block if pair_of_block and index in pair_of_block.members else None
            successor_at = None
            if pair is not None and index == pair.original:
                successor_at = self._successor_visible_at(pair)
            entries.append((self._ref(index, day, pair, _END_OF_TIME), successor_at))
        if self.sold:  # own numbers grow with the index
            entries.reverse()
        else:
            entries.sort(key=_entry_order, reverse=True)
        return tuple(entries)

    def refs(
        self,
        first: date,
        last: date,
        now: datetime,
        day_entries: Callable[[int], tuple[DayEntry, ...]] | None = None,
    ) -> list[InvoiceRef]:
        """Entries issued on [first, last] and visible at ``now``, newest first (tdlap desc,
        shdon desc); ``day_entries`` may be a caching wrapper of `day_entries`."""
        entries_of = day_entries or self.day_entries
        found = []
        for day in reversed(self.day_range(first, last)):
            for ref, successor_at in entries_of(day):
                if ref.visible_at <= now:
                    if successor_at is not None and successor_at > now:
                        ref = replace(ref, tthai=1)
                    found.append(ref)
        return found


def _entry_order(entry: DayEntry) -> tuple[int, str, str]:
    """Order within one day: number, then seller and series (numbers of sellers may tie)."""
    ref = entry[0]
    return ref.shdon, ref.nbmst, ref.khhdon
