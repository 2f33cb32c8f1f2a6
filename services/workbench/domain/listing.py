"""What a list query asks: filters, sort order and the keyset cursor (no I/O).

Keyset paging: a page ends at a (sort value, ticket id) pair, and the next page starts after
it; the database walks an index from there instead of counting past every earlier row, so the
thousandth page costs what the first does.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.workbench.domain.words import CHANNEL_ZH, RATING_ZH, STATUS_ZH

CHINA = ZoneInfo("Asia/Shanghai")
SORTS = {"submitted_at": "登记时间", "updated_at": "最近变化", "due_at": "办理时限"}
MAX_PAGE = 200


class ListQueryError(ValueError):
    """A filter, sort or cursor the list cannot use; the message says why (400)."""


@dataclass(frozen=True)
class TicketFilter:
    date_from: date | None = None      # submitted on or after (China time)
    date_to: date | None = None        # submitted on or before (China time)
    channel: str = ""
    county: str = ""
    unit: str = ""
    category: str = ""
    status: str = ""
    overdue: bool | None = None
    rating: str = ""
    q: str = ""                        # words in the masked text, title or road

    def check(self) -> TicketFilter:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ListQueryError("起始日期晚于截止日期 (date_from is after date_to)")
        for name, allowed in (("channel", CHANNEL_ZH), ("status", STATUS_ZH),
                              ("rating", RATING_ZH)):
            value = getattr(self, name)
            if value and value not in allowed:
                raise ListQueryError(f"{name} {value[:40]!r} is not one of {', '.join(allowed)}")
        if len(self.q) > 100:
            raise ListQueryError("搜索词过长 (q is over 100 characters)")
        return self

    def scoped_to(self, unit: str) -> TicketFilter:
        """A unit's list: its own tickets only, whatever unit it asked for."""
        return replace(self, unit=unit)

    @property
    def since(self) -> datetime | None:
        return datetime.combine(self.date_from, time(), CHINA) if self.date_from else None

    @property
    def before(self) -> datetime | None:
        if not self.date_to or self.date_to == date.max:  # no day after 9999-12-31: no bound
            return None
        return datetime.combine(self.date_to + timedelta(days=1), time(), CHINA)


@dataclass(frozen=True)
class Order:
    key: str = "submitted_at"
    descending: bool = True

    @staticmethod
    def parse(text: str) -> Order:
        descending = text.startswith("-")
        key = text.lstrip("-+") or "submitted_at"
        if key not in SORTS:
            raise ListQueryError(f"sort {key!r} is not one of {', '.join(SORTS)}")
        return Order(key, descending)


def encode_cursor(order: Order, value: datetime | None, ticket_id: str) -> str:
    raw = json.dumps([order.key, order.descending, value.isoformat() if value else None,
                      ticket_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str) -> tuple[datetime | None, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, descending, value, ticket_id = json.loads(raw)
        at = datetime.fromisoformat(value) if value else None
    except (ValueError, TypeError) as exc:
        raise ListQueryError("cursor is not one this list gave out") from exc
    if key != order.key or descending != order.descending or not isinstance(ticket_id, str):
        raise ListQueryError("cursor belongs to another sort order; start from the first page")
    return at, ticket_id
