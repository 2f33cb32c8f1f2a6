"""Official holiday schedules: loaded from data files and by operators, kept in PostgreSQL.

An operator loads a year's schedule (the State Council publishes it each November) as JSON;
it is validated, stored (so it survives restarts and reaches every replica, which re-reads the
table on each timer round), and loaded into the calendar. The caller then recomputes the
provisional clocks (``Desk.recompute_provisional``).

Stored means: an event of the year's ``OfficialScheduleYear`` aggregate and the year's row of
``sla_official_schedules``, in one transaction. The outbox relay publishes the event on the
compacted topic ``calendar.schedules`` (``calendar_topic``; key: the year; value:
``OfficialScheduleLoaded``, ``schedule_message``), which dispatch follows for the sign-for
deadlines it tells units (services/dispatch/adapters/calendar_feed.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError as StoredConflictError
from minsheng.v1 import sla_calendar_pb2 as cal
from psycopg.errors import IntegrityError as PgIntegrityError
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.privacy import mask_personal_data
from backbone.settings import ServiceSettings
from backbone.store import EventContext, Statement, autocommit
from services.sla.domain.calendar import OfficialSchedule, WorkingCalendar, package_years
from services.sla.domain.schedule_year import OfficialScheduleYear

log = logging.getLogger(__name__)

CALENDAR_PARTITIONS = 1  # a row a year: one partition keeps the years in the order loaded
SCHEDULE_EVENTS = ("OfficialScheduleYear.Loaded", "OfficialScheduleYear.Replaced")
MESSAGE_TYPE = "OfficialScheduleLoaded"


class ScheduleConflictError(Exception):
    """Another load of the same year was stored meanwhile (another replica): try again."""


def calendar_topic(settings: ServiceSettings) -> str:
    """The compacted topic of official schedules (sla writes it, dispatch reads it)."""
    return settings.topic("calendar.schedules")


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


# -- the topic's message -------------------------------------------------------------------
def _days(entries: Any) -> list[cal.ScheduleDay]:
    out = []
    for entry in entries or ():
        if isinstance(entry, Mapping):
            out.append(cal.ScheduleDay(date=str(entry.get("date", "")),
                                       name=mask_personal_data(str(entry.get("name") or ""))))
        else:
            out.append(cal.ScheduleDay(date=str(entry)))
    return out


def schedule_message(body: Mapping[str, Any], *, loaded_by: str, loaded_at: dt.datetime,
                     load_no: int, event_id: str = "",
                     trace_id: str = "") -> cal.OfficialScheduleLoaded:
    """The topic's message of a stored schedule: its days, source and flag as fields (nothing
    else the body may hold; free text masked as every public text is), who loaded it and
    when. Never raises for a body that was valid when it was stored: the relay must not stall
    on one that later rules would refuse (the reader validates, and skips what fails)."""
    message = cal.OfficialScheduleLoaded(
        event_id=event_id, year=int(body.get("year") or 0),
        source=mask_personal_data(str(body.get("source", ""))),
        provisional=body.get("provisional") is True,
        holidays=_days(body.get("holidays")),
        make_up_working_days=_days(body.get("make_up_working_days")),
        loaded_by=loaded_by, load_no=load_no, trace_id=trace_id)
    message.loaded_at.FromDatetime(loaded_at.astimezone(dt.UTC))
    return message


def schedule_of(message: cal.OfficialScheduleLoaded) -> OfficialSchedule:
    """The schedule a message carries, validated (``ScheduleInvalidError`` says why)."""
    body: dict[str, Any] = {
        "year": message.year, "source": message.source, "provisional": message.provisional,
        "holidays": [d.date for d in message.holidays],
        "make_up_working_days": [d.date for d in message.make_up_working_days]}
    return OfficialSchedule.from_dict(body)


def raw_schedule(event: Any, trace_id: str = "") -> events.BareMessage:
    """The topic's message of a stored ``OfficialScheduleYear`` event."""
    message = schedule_message(
        event.body, loaded_by=event.loaded_by, loaded_at=event.timestamp,
        load_no=event.originator_version,
        event_id=events.event_id_for(event.originator_id, event.originator_version),
        trace_id=trace_id)
    return events.BareMessage(message, MESSAGE_TYPE, "sla", message.event_id, message.trace_id,
                              message.loaded_at)


# -- the store ---------------------------------------------------------------------------------
class Schedules:
    def __init__(self, *, calendar: WorkingCalendar, pool: ConnectionPool, schema: str,
                 app: Any = None):
        """`app`: sla's application (the year's aggregate is saved through it, with the row,
        so the relay publishes it); None only where nothing is stored (tests of reads)."""
        self.calendar = calendar
        self.pool = pool
        self.app = app
        self.table = SQL("{}.sla_official_schedules").format(Identifier(schema))
        self._seen: tuple[Any, ...] | None = None
        self._storing = threading.Lock()  # one load at a time in this process
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

    def _row(self, body: Mapping[str, Any], year: int, loaded_by: str) -> Statement:
        return Statement(SQL("INSERT INTO {} (year, body, loaded_by) VALUES (%s, %s, %s)"
                             " ON CONFLICT (year) DO UPDATE SET body = EXCLUDED.body,"
                             " loaded_by = EXCLUDED.loaded_by, loaded_at = now()")
                         .format(self.table), (year, Jsonb(dict(body)), loaded_by))

    def store(self, body: dict[str, Any], *, loaded_by: str, at: dt.datetime | None = None,
              context: EventContext | None = None) -> OfficialSchedule:
        """Validates (``ScheduleInvalidError`` says why) and keeps one year's schedule: the
        year's event and row in one transaction (``ScheduleConflictError``: another replica
        stored a load of the year meanwhile)."""
        schedule = OfficialSchedule.from_dict(body)
        at = at or dt.datetime.now(dt.UTC)
        with self._storing:
            self._save(body, schedule.year, loaded_by, at, context or EventContext())
        self.calendar.load_year(schedule)
        return schedule

    def _save(self, body: dict[str, Any], year: int, loaded_by: str, at: dt.datetime,
              context: EventContext) -> None:
        if self.app is None:  # (no application: the row alone, nothing published)
            with self.pool.connection() as conn:
                statement = self._row(body, year, loaded_by)
                conn.execute(statement.sql, statement.params)
            return
        try:
            aggregate: OfficialScheduleYear = self.app.repository.get(
                OfficialScheduleYear.create_id(year))
        except AggregateNotFoundError:
            aggregate = OfficialScheduleYear(year=year, body=dict(body), loaded_by=loaded_by,
                                             timestamp=at)
        else:
            aggregate.load(body=dict(body), loaded_by=loaded_by, at=at)
        try:
            self.app.save(aggregate, context=context, sql=[self._row(body, year, loaded_by)])
        except (StoredConflictError, PgIntegrityError) as exc:
            raise ScheduleConflictError(
                f"another load of {year}'s schedule was stored meanwhile: load it again") from exc

    def publish_stored(self, context: EventContext | None = None) -> list[int]:
        """The years of the table that have no event yet (loaded before schedules were
        published, session 20): each gets its first event now, with its row as it is, so the
        topic, and dispatch, have every stored year. Returns the years published."""
        if self.app is None:
            return []
        with autocommit(self.pool) as conn:
            rows = conn.execute(SQL("SELECT year, body, loaded_by, loaded_at FROM {}"
                                    " ORDER BY year").format(self.table)).fetchall()
        published = []
        for year, body, loaded_by, loaded_at in rows:
            try:
                self.app.repository.get(OfficialScheduleYear.create_id(year))
                continue
            except AggregateNotFoundError:
                pass
            aggregate = OfficialScheduleYear(year=year, body=dict(body), loaded_by=loaded_by,
                                             timestamp=loaded_at)
            try:
                self.app.save(aggregate, context=context or EventContext())
            except (StoredConflictError, PgIntegrityError):
                continue  # another replica published it
            published.append(year)
        if published:
            log.info("published the stored official schedules of %s", published)
        return published

    def coverage(self) -> dict[str, Any]:
        package = package_years()
        return {
            "package": {"name": "chinese-calendar", "first_year": package.start,
                        "last_year": package.stop - 1},
            "loaded_years": self.calendar.loaded_years(),
            "shipped_files": self.file_years,
            "covered_years": self.calendar.years_covered(),
        }
