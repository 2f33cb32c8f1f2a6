"""Queries of the dispatch read model (tables in `adapters.recorder`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

ASSIGNMENT_SELECT = (
    "SELECT a.dispatch_id, a.unit, a.ticket_id, a.ticket_code, a.role, a.status,"
    " a.assignment_no, a.assigned_at, a.sign_for_due_at, a.bounce_back_due_at, a.updated_at,"
    " t.category, t.subcategory, t.request_type, t.urgency, t.text_masked, t.title_masked,"
    " t.channel, t.county, t.subdistrict, t.address_masked, t.lead_unit, t.co_units"
    " FROM {s}.dispatch_assignments a JOIN {s}.dispatch_tickets t USING (dispatch_id)")


def by_ref(*, code: str, ticket_id: str) -> tuple[str, list[str]]:
    """The condition naming a ticket of dispatch_tickets by its code, its id or both (both
    must match then), and its parameters."""
    clauses, params = [], []
    if code:
        clauses.append("ticket_code = %s")
        params.append(code)
    if ticket_id:
        clauses.append("ticket_id = %s")
        params.append(ticket_id)
    return " AND ".join(clauses), params


class ReadModel:
    def __init__(self, pool: ConnectionPool, schema: str) -> None:
        self.pool = pool
        self.schema = schema

    def _rows(self, query: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(SQL(query).format(s=Identifier(self.schema)), params)
            return list(cur.fetchall())

    def ticket(self, *, code: str = "", ticket_id: str = "") -> dict[str, Any] | None:
        """The ticket row by its code or its id (both given: both must match)."""
        if not code and not ticket_id:
            return None
        where, params = by_ref(code=code, ticket_id=ticket_id)
        rows = self._rows("SELECT * FROM {s}.dispatch_tickets WHERE " + where + " LIMIT 1",
                          params)
        return rows[0] if rows else None

    def units_of(self, dispatch_id: uuid.UUID) -> list[dict[str, Any]]:
        return self._rows(ASSIGNMENT_SELECT + " WHERE a.dispatch_id = %s ORDER BY a.assigned_at",
                          [dispatch_id])

    def labels(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM {s}.classification_labels ORDER BY id", [])

    def routing_labels(self) -> list[dict[str, Any]]:
        """The units dispatchers chose by hand (assign, transfer, coordinate), oldest first."""
        return self._rows("SELECT * FROM {s}.routing_labels ORDER BY id", [])
