"""Official holiday schedules: loaded from data files and by operators, kept in PostgreSQL.

An operator loads a year's schedule (the State Council publishes it each November) as JSON;
it is validated, stored (so it survives restarts and reaches every replica, which re-reads the
table on each timer round), and loaded into the calendar. The caller then recomputes the
provisional clocks (``Desk.recompute_provisional``).
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from backbone.store import autocommit
from services.sla.domain.calendar import OfficialSchedule, WorkingCalendar, package_years

log = logging.getLogger(__name__)


def load_schedule_files(calendar: WorkingCalendar) -> list[int]:
    """Loads ``services/sla/data/official/<year>.json`` (shipped schedules); returns the years."""
    folder = resources.files("services.sla").joinpath("data", "official")
    years = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            schedule = OfficialSchedule.from_dict(json.loads(entry.read_text(encoding="utf-8")))
            calendar.load_year(schedule)
            years.append(schedule.year)
    return years


class Schedules:
    def __init__(self, *, calendar: WorkingCalendar, pool: ConnectionPool, schema: str):
        self.calendar = calendar
        self.pool = pool
        self.table = SQL("{}.sla_official_schedules").format(Identifier(schema))
        self._seen: tuple[Any, ...] | None = None
        self.file_years = load_schedule_files(calendar)

    def refresh(self) -> None:
        """Loads the stored schedules when the table changed (cheap to call every round:
        one autocommit read when nothing changed, no BEGIN and COMMIT around it)."""
        with autocommit(self.pool) as conn:
            mark = conn.execute(SQL("SELECT count(*), max(loaded_at) FROM {}").format(
                self.table)).fetchone()
            if mark == self._seen:
                return
            rows = conn.execute(SQL("SELECT body FROM {} ORDER BY year").format(
                self.table)).fetchall()
        for (body,) in rows:
            self.calendar.load_year(OfficialSchedule.from_dict(body))
        self._seen = tuple(mark) if mark else None

    def store(self, body: dict[str, Any], *, loaded_by: str) -> OfficialSchedule:
        """Validates (``ScheduleInvalidError`` says why) and keeps one year's schedule."""
        schedule = OfficialSchedule.from_dict(body)
        with self.pool.connection() as conn:
            conn.execute(SQL("INSERT INTO {} (year, body, loaded_by) VALUES (%s, %s, %s)"
                             " ON CONFLICT (year) DO UPDATE SET body = EXCLUDED.body,"
                             " loaded_by = EXCLUDED.loaded_by, loaded_at = now()")
                         .format(self.table), (schedule.year, Jsonb(body), loaded_by))
        self.calendar.load_year(schedule)
        return schedule

    def coverage(self) -> dict[str, Any]:
        package = package_years()
        return {
            "package": {"name": "chinese-calendar", "first_year": package.start,
                        "last_year": package.stop - 1},
            "loaded_years": self.calendar.loaded_years(),
            "shipped_files": self.file_years,
            "covered_years": self.calendar.years_covered(),
        }
