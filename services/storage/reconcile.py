"""Compare one folder of the layout (company, flow, month) with the invoices expected there.

Every detail object is read: keys come from the detail JSON itself, so the check does not trust
the names it verifies. Definitions (also in the proto):
- found: an expected key with at least one consistent detail object;
- missing: an expected key without one;
- duplicate: one key held by two or more detail objects with identical content (an idempotency
  failure; versions with different content are a changed invoice, counted in `versioned`);
- mismatched: an object whose name does not parse, a detail that is unreadable, disagrees with
  its name or its month, an XML beside a detail that says there is no original (or with no
  detail at all), and a detail whose original is announced but not stored;
- extra: a consistent detail object whose key was not expected.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.storage.detail import DetailError, DetailFacts, read_detail
from services.storage.layout import ParsedName, month_folder, parse_invoice_name
from services.storage.objects import ObjectInfo, ObjectNotFoundError, ObjectStore

Key = tuple[str, int, str, int]  # (seller tax code, form, series, number)
READ_CONCURRENCY = 16


class Problem:
    UNPARSEABLE_NAME = "unparseable_name"
    UNREADABLE_DETAIL = "unreadable_detail"
    KEY_MISMATCH = "key_mismatch"
    WRONG_MONTH = "wrong_month"
    UNEXPECTED_ORIGINAL = "unexpected_original"
    MISSING_ORIGINAL = "missing_original"
    ORPHAN_ORIGINAL = "orphan_original"


@dataclass(frozen=True)
class Mismatch:
    name: str
    problem: str
    description: str


@dataclass
class Report:
    prefix: str
    object_count: int = 0
    expected_count: int = 0
    found_count: int = 0
    versioned_count: int = 0
    missing: list[Key] = field(default_factory=list)
    duplicates: list[tuple[Key, list[str]]] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    extra: list[tuple[Key, list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class _Detail:
    info: ObjectInfo
    parsed: ParsedName
    facts: DetailFacts

    @property
    def key(self) -> Key:
        return (self.facts.seller_tax_code, self.facts.form, self.facts.series, self.facts.number)


async def reconcile(
    store: ObjectStore,
    bucket: str,
    company: str,
    flow_code: str,
    year: int,
    month: int,
    expected: Iterable[Key],
) -> Report:
    prefix = month_folder(company, flow_code, year, month)
    objects = await store.list_objects(bucket, prefix)
    report = Report(prefix, object_count=len(objects))
    details, originals = await _classify(store, bucket, prefix, objects, report)
    _check_originals(details, originals, report)
    _compare(details, set(expected), report)
    report.mismatched.sort(key=lambda item: (item.name, item.problem))
    return report


async def _classify(
    store: ObjectStore,
    bucket: str,
    prefix: str,
    objects: list[ObjectInfo],
    report: Report,
) -> tuple[list[_Detail], dict[str, ObjectInfo]]:
    """Split the folder into consistent details and originals (by name); record the rest."""
    detail_objects: list[tuple[ObjectInfo, ParsedName]] = []
    originals: dict[str, ObjectInfo] = {}
    for info in objects:
        parsed = parse_invoice_name(info.name)
        if parsed is None or parsed.place.folder != prefix:
            report.mismatched.append(
                Mismatch(info.name, Problem.UNPARSEABLE_NAME, "not a name of the layout")
            )
        elif parsed.ext == "xml":
            originals[info.name] = info
        else:
            detail_objects.append((info, parsed))
    limit = asyncio.Semaphore(READ_CONCURRENCY)

    async def check(info: ObjectInfo, parsed: ParsedName) -> _Detail | None:
        try:
            async with limit:
                data = await store.read(bucket, info.name)
        except ObjectNotFoundError:
            return None  # removed since the listing: nothing to check
        try:
            facts = read_detail(data)
        except DetailError as error:
            report.mismatched.append(Mismatch(info.name, Problem.UNREADABLE_DETAIL, str(error)))
            return None
        problem = _disagreement(info.name, parsed, facts)
        if problem is not None:
            report.mismatched.append(problem)
            return None
        return _Detail(info, parsed, facts)

    checked = await asyncio.gather(*(check(info, parsed) for info, parsed in detail_objects))
    return [detail for detail in checked if detail is not None], originals


def _disagreement(name: str, parsed: ParsedName, facts: DetailFacts) -> Mismatch | None:
    place = parsed.place
    in_name = f"{place.seller}-{place.form}-{place.series}-{place.number}"
    in_json = f"{facts.seller_tax_code}-{facts.form}-{facts.series}-{facts.number}"
    if in_name != in_json:
        return Mismatch(
            name, Problem.KEY_MISMATCH, f"the name says {in_name}, the detail says {in_json}"
        )
    day = facts.issue_day
    if day is not None and (day.year, day.month) != (place.year, place.month):
        return Mismatch(
            name,
            Problem.WRONG_MONTH,
            f"issued {day.isoformat()}, filed under {place.year:04d}-{place.month:02d}",
        )
    return None


def _check_originals(
    details: list[_Detail], originals: dict[str, ObjectInfo], report: Report
) -> None:
    """An XML belongs to the details of the same stem: it must be announced by one of them
    (hsgoc set), and an announced original must be stored."""
    by_stem: dict[str, list[_Detail]] = defaultdict(list)
    for detail in details:
        by_stem[detail.parsed.place.stem].append(detail)
    xml_stems: dict[str, list[str]] = defaultdict(list)
    for name in originals:
        parsed = parse_invoice_name(name)
        assert parsed is not None  # filtered by _classify
        xml_stems[parsed.place.stem].append(name)
    for stem, names in xml_stems.items():
        siblings = by_stem.get(stem)
        for name in names:
            if not siblings:
                report.mismatched.append(
                    Mismatch(name, Problem.ORPHAN_ORIGINAL, "no detail object for this original")
                )
            elif not any(detail.facts.has_original for detail in siblings):
                report.mismatched.append(
                    Mismatch(name, Problem.UNEXPECTED_ORIGINAL, "the detail has no hsgoc")
                )
    for stem, siblings in by_stem.items():
        if stem in xml_stems:
            continue
        for detail in siblings:
            if detail.facts.has_original:
                report.mismatched.append(
                    Mismatch(
                        detail.info.name,
                        Problem.MISSING_ORIGINAL,
                        "the detail has an original (hsgoc) but no XML is stored",
                    )
                )


def _compare(details: list[_Detail], expected: set[Key], report: Report) -> None:
    by_key: dict[Key, list[_Detail]] = defaultdict(list)
    for detail in details:
        by_key[detail.key].append(detail)
    report.expected_count = len(expected)
    report.found_count = len(expected & by_key.keys())
    report.missing = sorted(expected - by_key.keys())
    for key in sorted(by_key):
        held = sorted(by_key[key], key=lambda detail: detail.info.name)
        names = [detail.info.name for detail in held]
        if key not in expected:
            report.extra.append((key, names))
        by_content: dict[str, list[str]] = defaultdict(list)
        for detail in held:
            by_content[detail.info.md5 or detail.info.crc32c].append(detail.info.name)
        for same in by_content.values():
            if len(same) > 1:
                report.duplicates.append((key, same))
        if len(by_content) > 1:
            report.versioned_count += 1
