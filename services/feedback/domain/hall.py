"""The public hall (大厅): which tickets may be shown, and what of them.

Pure projection: rows in (as the feedback service's read model keeps them), one filtered,
masked page out. The masking function is passed in (the platform's `backbone.privacy`
masker in production), so this module never decides alone what personal data looks like.

Defence in depth, because one leak is one too many:
- an allow-list of statuses and a deny-list of category words (reports, private matters);
- place is county + sub-district at most; a sub-district name that looks like a road,
  number, building or village is dropped, and the exact address is never copied;
- the row's known exact address is cut out of the free text BEFORE the masker runs;
- keyword search runs over the MASKED text only, so searching for a phone number or a name
  cannot reveal which ticket holds it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.feedback.domain.errors import InvalidHallQueryError
from services.feedback.domain.policy import load_data_file
from services.feedback.domain.satisfaction import RATING_LABELS_ZH

Masker = Callable[[str], str]
ADDRESS_PLACEHOLDER = "[地址已隐去]"


@dataclass(frozen=True)
class HallRules:
    shown_statuses: frozenset[str]
    status_labels: Mapping[str, str]
    hidden_category_words: tuple[str, ...]
    county_suffixes: tuple[str, ...]
    sub_district_suffixes: tuple[str, ...]
    forbidden_place_marks: tuple[str, ...]
    default_page_size: int = 20
    max_page_size: int = 50
    max_keyword_chars: int = 40


def load_hall_rules(data_dir: Path | None = None) -> HallRules:
    raw = load_data_file("hall_rules.json", data_dir)
    return HallRules(
        shown_statuses=frozenset(raw["shown_statuses"]),
        status_labels=dict(raw["status_labels"]),
        hidden_category_words=tuple(raw["hidden_category_words"]),
        county_suffixes=tuple(raw["county_suffixes"]),
        sub_district_suffixes=tuple(raw["sub_district_suffixes"]),
        forbidden_place_marks=tuple(raw["forbidden_place_marks"]),
        default_page_size=int(raw["default_page_size"]),
        max_page_size=int(raw["max_page_size"]),
        max_keyword_chars=int(raw["max_keyword_chars"]),
    )


@dataclass(frozen=True)
class HallRow:
    """The read model's row for one ticket (internal: it may hold the exact address)."""

    ticket_id: str
    ticket_code: str
    text: str
    category: str
    county: str
    sub_district: str
    unit_name: str
    status: str
    updated_at: datetime
    exact_address: str = ""
    reply_text: str = ""
    verdict: str | None = None
    private: bool = False  # the citizen asked not to be shown (不公开)


@dataclass(frozen=True)
class HallEntry:
    """What the public sees of a ticket."""

    ticket_code: str
    text: str
    category: str
    place: str
    county: str
    unit_name: str
    status: str
    status_label: str
    reply_text: str
    rating: str | None
    rating_label: str | None
    updated_at: datetime


@dataclass(frozen=True)
class HallQuery:
    keyword: str = ""
    category: str = ""
    county: str = ""
    status: str = ""
    cursor: str = ""
    page_size: int | None = None


@dataclass(frozen=True)
class HallPage:
    entries: list[HallEntry]
    next_cursor: str | None
    total: int


def may_show(row: HallRow, rules: HallRules) -> bool:
    """The showing rules: allowed status, not private, not a sensitive category."""
    if row.private or row.status not in rules.shown_statuses:
        return False
    return not any(word in row.category for word in rules.hidden_category_words)


def _place_part(name: str, suffixes: tuple[str, ...], rules: HallRules) -> str:
    name = name.strip()
    suffix = next((s for s in sorted(suffixes, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None or len(name) > 12:
        return ""
    stem_end = len(name) - len(suffix)
    if stem_end == 0 or any(ch.isdigit() for ch in name):
        return ""
    # A mark may appear only inside the suffix itself (街 in 街道 is fine, 小区 in 幸福小区
    # is not, even though 区 is an allowed county suffix).
    for mark in rules.forbidden_place_marks:
        start = name.find(mark)
        while start != -1:
            if start < stem_end:
                return ""
            start = name.find(mark, start + 1)
    return name


def district_place(row: HallRow, rules: HallRules) -> tuple[str, str]:
    """(county, "county sub-district") with nothing finer than a sub-district, ever."""
    county = _place_part(row.county, rules.county_suffixes, rules)
    if not county:
        return "", ""
    sub = _place_part(row.sub_district, rules.sub_district_suffixes, rules)
    return county, f"{county} {sub}" if sub else county


def _scrub(text: str, row: HallRow, mask: Masker) -> str:
    if row.exact_address.strip():
        text = text.replace(row.exact_address.strip(), ADDRESS_PLACEHOLDER)
    return mask(text)


def to_entry(row: HallRow, rules: HallRules, mask: Masker) -> HallEntry:
    county, place = district_place(row, rules)
    verdict = row.verdict
    return HallEntry(
        ticket_code=row.ticket_code,
        text=_scrub(row.text, row, mask),
        category=row.category,
        place=place,
        county=county,
        unit_name=row.unit_name,
        status=row.status,
        status_label=rules.status_labels.get(row.status, row.status),
        reply_text=_scrub(row.reply_text, row, mask) if row.reply_text else "",
        rating=verdict,
        rating_label=RATING_LABELS_ZH.get(verdict) if verdict else None,
        updated_at=row.updated_at,
    )


def encode_cursor(entry: HallEntry) -> str:
    raw = json.dumps([entry.updated_at.isoformat(), entry.ticket_code]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, code = json.loads(raw)
        moment = datetime.fromisoformat(when)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidHallQueryError("the page cursor is not one this hall gave out") from None
    if moment.tzinfo is None:  # rows carry aware times; a naive one cannot be ours
        raise InvalidHallQueryError("the page cursor is not one this hall gave out")
    if not isinstance(code, str) or not code.isprintable():  # ours hold a ticket code
        raise InvalidHallQueryError("the page cursor is not one this hall gave out")
    return moment, code


def _page_size(query: HallQuery, rules: HallRules) -> int:
    size = rules.default_page_size if query.page_size is None else query.page_size
    if not 1 <= size <= rules.max_page_size:
        raise InvalidHallQueryError(f"page size must be between 1 and {rules.max_page_size}")
    return size


def _matches(entry: HallEntry, query: HallQuery, keyword: str) -> bool:
    if query.category and entry.category != query.category:
        return False
    if query.county and entry.county != query.county:
        return False
    if query.status and entry.status != query.status:
        return False
    if keyword:
        haystack = " ".join(
            (entry.text, entry.reply_text, entry.category, entry.unit_name, entry.place)
        )
        return keyword in haystack
    return True


def hall_page(
    rows: Iterable[HallRow], query: HallQuery, *, mask: Masker, rules: HallRules
) -> HallPage:
    """One page of the hall, newest update first, keyset-paginated by an opaque cursor."""
    keyword = query.keyword.strip()
    if len(keyword) > rules.max_keyword_chars:
        raise InvalidHallQueryError(f"keyword is longer than {rules.max_keyword_chars} characters")
    size = _page_size(query, rules)
    after = decode_cursor(query.cursor) if query.cursor else None
    # The keyword is matched against masked entries, never against the raw rows.
    entries = [to_entry(r, rules, mask) for r in rows if may_show(r, rules)]
    matching = [e for e in entries if _matches(e, query, keyword)]
    matching.sort(key=lambda e: (e.updated_at, e.ticket_code), reverse=True)
    if after is not None:
        start = [e for e in matching if (e.updated_at, e.ticket_code) < after]
    else:
        start = matching
    page = start[:size]
    next_cursor = encode_cursor(page[-1]) if len(start) > size else None
    return HallPage(entries=page, next_cursor=next_cursor, total=len(matching))
