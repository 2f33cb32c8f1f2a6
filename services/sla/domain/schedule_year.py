"""One year's official holiday schedule as sla stores it: an aggregate per year.

Each load of the year (``PUT /v1/calendar/official/{year}``) is an event (``Loaded`` the first
time, ``Replaced`` after) holding the schedule as the supervisor gave it (validated before:
``OfficialSchedule.from_dict``). The event is stored in the transaction that upserts the year's row of ``sla_official_schedules`` (which
sla's replicas re-read), and the outbox relay publishes it on the compacted topic
``calendar.schedules``, keyed by the year: the table dispatch's sign-for rule follows. Stored
and published together, or neither.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class OfficialScheduleYear(Aggregate):
    @staticmethod
    def create_id(year: int) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"minsheng:sla:official-schedule:{year}")

    @event("Loaded")
    def __init__(self, year: int, body: dict[str, Any], loaded_by: str,
                 timestamp: dt.datetime) -> None:
        self.year, self.body, self.loaded_by = year, body, loaded_by

    def load(self, *, body: dict[str, Any], loaded_by: str, at: dt.datetime) -> None:
        """Replaces the year's schedule (an event dated before the last one is dated at it:
        the aggregate's events stay in order whatever time a command states)."""
        self._loaded(body=body, loaded_by=loaded_by, timestamp=max(at, self.modified_on))

    @event("Replaced")
    def _loaded(self, body: dict[str, Any], loaded_by: str, timestamp: dt.datetime) -> None:
        self.body, self.loaded_by = body, loaded_by
