"""The supervisors' views: overdue and due-soon clocks, supervision orders and answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from services.sla.adapters.readmodel import fetch_dicts
from services.sla.domain.calendar import SHANGHAI, WorkingCalendar, local_day
from services.sla.domain.policy import end_of_day

CLOCK_COLUMNS = ("ticket_id, ticket_code, clock_no, grade, status, unit, parent_unit,"
                 " accepted_at, due_at, explanation_due_at, sign_for_due_at, signed_for,"
                 " provisional, extension_pending, explained_at, explained_late,"
                 " last_event_at")
ORDER_COLUMNS = ("order_id, ticket_id, ticket_code, order_key, unit, kind, status, level,"
                 " addressees, issued_by, reason, issued_at, answer_due_at, provisional,"
                 " answer_unit, answer_text, last_event_at")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            out[key] = value.astimezone(SHANGHAI).isoformat()
        elif key == "order_id":
            out[key] = str(value)
        else:
            out[key] = value
    return out


class Views:
    def __init__(self, *, pool: ConnectionPool, schema: str, calendar: WorkingCalendar):
        self.pool = pool
        self.s = Identifier(schema)
        self.calendar = calendar

    def _query(self, query: Composed, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return [_jsonable(r) for r in fetch_dicts(conn, query, params)]

    def ticket_id(self, ref: str) -> str:
        """The id of the ticket ``ref`` names: its id, or its code (FY-…, what every page and
        notice shows); ``ref`` itself when no clock has either (the caller answers 404)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL("SELECT ticket_id FROM {}.sla_clocks WHERE ticket_id = %(r)s"
                    " OR ticket_code = %(r)s ORDER BY ticket_id = %(r)s DESC LIMIT 1"
                    ).format(self.s), {"r": ref}).fetchone()
        return str(row[0]) if row else ref

    def overdue(self, *, unit: str | None, limit: int = 500) -> list[dict[str, Any]]:
        """Clocks past their deadline with no reply, most overdue first."""
        return self._query(
            SQL("SELECT " + CLOCK_COLUMNS + " FROM {}.sla_clocks WHERE status = 'overdue'"
                " AND (%(unit)s::text IS NULL OR unit = %(unit)s)"
                " ORDER BY due_at, ticket_id LIMIT %(limit)s").format(self.s),
            {"unit": unit, "limit": limit})

    def due_soon_limit(self, now: dt.datetime, working_days: int) -> dt.datetime:
        """The end of the ``working_days``-th working day after today (today is included)."""
        day = self.calendar.add_working_days(local_day(now), working_days).value
        return end_of_day(day)

    def due_soon(self, *, unit: str | None, now: dt.datetime, working_days: int,
                 limit: int = 500) -> list[dict[str, Any]]:
        """Running clocks due by the end of the k-th working day from today, earliest first."""
        return self._query(
            SQL("SELECT " + CLOCK_COLUMNS + " FROM {}.sla_clocks WHERE status = 'running'"
                " AND due_at >= %(now)s AND due_at <= %(until)s"
                " AND (%(unit)s::text IS NULL OR unit = %(unit)s)"
                " ORDER BY due_at, ticket_id LIMIT %(limit)s").format(self.s),
            {"unit": unit, "now": now, "until": self.due_soon_limit(now, working_days),
             "limit": limit})

    def clocks(self, ticket_id: str) -> list[dict[str, Any]]:
        return self._query(
            SQL("SELECT " + CLOCK_COLUMNS + " FROM {}.sla_clocks WHERE ticket_id = %(t)s"
                " ORDER BY clock_no").format(self.s), {"t": ticket_id})

    def orders(self, *, unit: str | None, status: str | None, ticket_id: str | None = None,
               limit: int = 500) -> list[dict[str, Any]]:
        """Supervision orders addressed to ``unit`` (or all), newest first."""
        return self._query(
            SQL("SELECT " + ORDER_COLUMNS + " FROM {}.sla_orders"
                " WHERE (%(unit)s::text IS NULL OR %(unit)s = ANY(addressees))"
                " AND (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(t)s::text IS NULL OR ticket_id = %(t)s)"
                " ORDER BY issued_at DESC, order_key LIMIT %(limit)s").format(self.s),
            {"unit": unit, "status": status, "t": ticket_id, "limit": limit})

    def order(self, order_id: Any) -> dict[str, Any] | None:
        rows = self._query(SQL("SELECT " + ORDER_COLUMNS + " FROM {}.sla_orders"
                               " WHERE order_id = %(o)s").format(self.s), {"o": order_id})
        return rows[0] if rows else None

    def provisional_count(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(SQL("SELECT count(*) FROM {}.sla_clocks WHERE provisional AND"
                                   " status NOT IN ('met', 'replied_late', 'stopped')")
                               .format(self.s)).fetchone()
        return int(row[0]) if row else 0
