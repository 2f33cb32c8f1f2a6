"""Intake's read model of its tickets: lookup by citizen, Open311 queries, duplicate candidates.

One row per ticket, written by the projector (from intake's own event log, in the same
transaction as its position) and by the lifecycle consumer (other services' facts: the unit
that handles it, closing). Both upsert only their own columns, so they may arrive in any order.
Only masked text and pseudonyms are stored here.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import autocommit
from services.intake.adapters.recorder import Statement
from services.intake.domain.duplicates import TicketSnapshot

COLUMNS = ("ticket_id", "code", "channel", "adapter_id", "citizen", "status", "text_masked",
           "title_masked", "category", "lat", "lon", "address_masked", "submitted_at",
           "updated_at", "decided_at", "case_id", "primary_code", "merge_score",
           "merge_confirmed", "reason_code", "reason_text", "unit", "closed_at", "rating",
           "flags", "attachments", "erased", "external_ref", "answered_at", "answer_masked",
           "answer_round", "interim_masked", "interim_expected_by", "interim_at")


def create_table(pool: ConnectionPool, schema: str) -> None:
    s = Identifier(schema)
    with pool.connection() as conn:
        conn.execute(SQL(
            "CREATE TABLE IF NOT EXISTS {}.ticket_index ("
            " ticket_id uuid PRIMARY KEY, code text UNIQUE, channel text, adapter_id text,"
            " citizen text, status text, text_masked text, title_masked text, category text,"
            " lat double precision, lon double precision, address_masked text,"
            " submitted_at timestamptz, updated_at timestamptz, decided_at timestamptz,"
            " case_id uuid, primary_code text, merge_score double precision,"
            " merge_confirmed boolean, reason_code text, reason_text text, unit text,"
            " closed_at timestamptz, rating text, flags jsonb, attachments jsonb,"
            " erased boolean NOT NULL DEFAULT false, external_ref text,"
            " answered_at timestamptz)").format(s))
        _add_answered_at(conn, schema)
        # the answer itself (feedback's CitizenNotified, masked), for the citizen's 我的诉求
        conn.execute(SQL("ALTER TABLE {}.ticket_index ADD COLUMN IF NOT EXISTS answer_masked"
                         " text, ADD COLUMN IF NOT EXISTS answer_round int").format(s))
        # a 需较长时间办理 explanation (CitizenNotified needs_longer): why, and by which day
        conn.execute(SQL("ALTER TABLE {}.ticket_index ADD COLUMN IF NOT EXISTS interim_masked"
                         " text, ADD COLUMN IF NOT EXISTS interim_expected_by date,"
                         " ADD COLUMN IF NOT EXISTS interim_at timestamptz").format(s))
        for name, cols in (("citizen", "citizen"), ("submitted", "submitted_at"),
                           ("category_time", "category, submitted_at")):
            conn.execute(SQL("CREATE INDEX IF NOT EXISTS {} ON {}.ticket_index (" + cols + ")")
                         .format(Identifier(f"ticket_index_{name}"), s))
        # who holds a ticket that carries this attachment (GET /v1/attachments/{sha256})
        conn.execute(SQL("CREATE INDEX IF NOT EXISTS ticket_index_attachments ON"
                         " {}.ticket_index USING gin (attachments jsonb_path_ops)").format(s))


def _add_answered_at(conn: Any, schema: str) -> None:
    """Tables made before 已答复 existed: add the column; a closed ticket was answered by
    then at the latest, so its closing time stands in (what the consumer read is behind it)."""
    found = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                         " AND table_name = 'ticket_index' AND column_name = 'answered_at'",
                         (schema,)).fetchone()
    if found:
        return
    table = SQL("{}.ticket_index").format(Identifier(schema))
    conn.execute(SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS answered_at timestamptz")
                 .format(table))
    conn.execute(SQL("UPDATE {} SET answered_at = closed_at WHERE status = 'closed'")
                 .format(table))


def submitted_columns(ticket: Any, at: datetime) -> dict[str, Any]:
    """The columns a submission fixes. ``ticket`` is the Ticket aggregate (the submission
    writes its row in the ticket's own transaction, so whoever holds its code can read it at
    once) or its Submitted event (the projector): both carry these names. The status stays
    'submitted' until the projector has looked for duplicates of it: only 'accepted' rows are
    duplicate candidates, so the detector still sees tickets in the order they were decided."""
    place = ticket.place or {}
    return {"code": ticket.code, "channel": ticket.channel, "adapter_id": ticket.adapter_id,
            "citizen": ticket.citizen, "status": "submitted", "text_masked": ticket.masked_text,
            "title_masked": ticket.masked_title, "category": ticket.category_hint,
            "lat": place.get("lat"), "lon": place.get("lon"),
            "address_masked": place.get("address_masked"), "submitted_at": at,
            "updated_at": at, "attachments": ticket.attachment_refs,
            "external_ref": ticket.external_ref}


def rejected_columns(at: datetime, reason_code: str, reason_text: str) -> dict[str, Any]:
    return {"status": "rejected", "decided_at": at, "updated_at": at,
            "reason_code": reason_code, "reason_text": reason_text}


def _update(name: str) -> SQL | Any:
    if name == "status":
        # A closing reported by feedback is never undone by a late projection of the intake
        # decision; a reopening is its own status.
        return SQL("status = CASE WHEN t.status = 'closed' AND EXCLUDED.status IN"
                   " ('submitted', 'accepted') THEN t.status ELSE EXCLUDED.status END")
    if name == "answered_at":
        # A closing keeps the answer's own date (CitizenNotified came first); it only fills
        # in a missing one. A reopening (status 'reopened', answered_at NULL) forgets it.
        return SQL("answered_at = CASE WHEN EXCLUDED.status = 'closed'"
                   " THEN COALESCE(t.answered_at, EXCLUDED.answered_at)"
                   " ELSE EXCLUDED.answered_at END")
    return SQL("{} = EXCLUDED.{}").format(Identifier(name), Identifier(name))


class TicketIndex:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.table = SQL("{}.ticket_index").format(Identifier(schema))
        self._upserts: dict[tuple[str, ...], SQL] = {}

    # -- writes, as statements for the caller's transaction ---------------------------------
    def upsert(self, ticket_id: uuid.UUID | str, **columns: Any) -> Statement:
        """Insert the row or update only the given columns."""
        for name in columns:
            if name not in COLUMNS:
                raise ValueError(f"no column {name!r} in ticket_index")
        values = {k: (json.dumps(v, ensure_ascii=False) if k in ("flags", "attachments") else v)
                  for k, v in columns.items()}
        return Statement(self._upsert_sql(tuple(values)), [str(ticket_id), *values.values()])

    def fill(self, ticket_id: uuid.UUID | str, **columns: Any) -> Statement:
        """Insert the row, or write these columns into a row that lacks its submission (a stub
        another service's fact made first): a row the submission wrote is left as it is."""
        statement = self.upsert(ticket_id, **columns)
        return Statement(self._upsert_sql(tuple(columns), fill=True), statement.params)

    def _upsert_sql(self, columns: tuple[str, ...], *, fill: bool = False) -> SQL:
        """The upsert of these columns, composed once (composing it per write was a tenth of
        the projector's CPU). A row that already holds these values is not written again (no
        new row version: a replayed fact, or the same value twice); `fill`: only a row
        without its submission yet is written."""
        found = self._upserts.get((*columns, "?fill") if fill else columns)
        if found is None:
            names = ["ticket_id", *columns]
            where: Composable
            if fill:
                where = SQL("t.submitted_at IS NULL")
            else:
                where = SQL("({}) IS DISTINCT FROM ({})").format(
                    SQL(", ").join(SQL("t.{}").format(Identifier(n)) for n in columns),
                    SQL(", ").join(SQL("EXCLUDED.{}").format(Identifier(n)) for n in columns))
            found = SQL(SQL(
                "INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT (ticket_id) DO UPDATE SET {}"
                " WHERE {}"
            ).format(self.table, SQL(", ").join(Identifier(n) for n in names),
                     SQL(", ").join(SQL("%s") for _ in names),
                     SQL(", ").join(_update(n) for n in columns), where).as_string())
            self._upserts[(*columns, "?fill") if fill else columns] = found
        return found

    # -- reads --------------------------------------------------------------------------------
    def _select(self, where: Composable, params: list[Any], *, order: str = "submitted_at DESC",
                limit: int = 200, columns: str = "*") -> list[dict[str, Any]]:
        with autocommit(self.pool) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(SQL("SELECT " + columns + " FROM {} WHERE ").format(self.table) + where
                        + SQL(" ORDER BY " + order + " LIMIT %s"), [*params, limit])
            return list(cur.fetchall())

    def by_code(self, code: str) -> dict[str, Any] | None:
        rows = self._select(SQL("code = %s"), [code], limit=1)
        return rows[0] if rows else None

    def by_id(self, ticket_id: str) -> dict[str, Any] | None:
        rows = self._select(SQL("ticket_id = %s"), [ticket_id], limit=1)
        return rows[0] if rows else None

    def by_codes(self, codes: list[str]) -> list[dict[str, Any]]:
        return self._select(SQL("code = ANY(%s)"), [codes], limit=max(1, len(codes)))

    def carrying_attachment(self, sha256: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The tickets whose attachments include this hash: who may read it, under whose key."""
        return self._select(SQL("attachments @> %s::jsonb"),
                            [json.dumps([{"sha256": sha256}])], limit=limit,
                            columns="ticket_id, code, citizen, unit, erased, submitted_at")

    def of_citizen(self, citizen: str, limit: int = 100, *, erased: bool = True
                   ) -> list[dict[str, Any]]:
        """The citizen's tickets; `erased=False`: not those erased at their request (whoever
        signs in with the phone later, a recycled number's next owner, does not see them)."""
        where = "citizen = %s" if erased else "citizen = %s AND NOT erased"
        return self._select(SQL(where), [citizen], limit=limit)

    def answered_of_citizen(self, citizen: str, start: datetime, end: datetime,
                            limit: int = 50) -> list[dict[str, Any]]:
        """The citizen's tickets answered in [start, end] and not reopened since (已答复)."""
        return self._select(
            SQL("citizen = %s AND answered_at BETWEEN %s AND %s AND NOT erased"),
            [citizen, start, end], order="answered_at DESC", limit=limit,
            columns="code, citizen, category, title_masked, text_masked, answered_at")

    def search(self, *, codes: list[str] | None = None, categories: list[str] | None = None,
               start: datetime | None = None, end: datetime | None = None,
               statuses: list[str] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Open311's `GET requests` filters; status is open | closed as the standard has it."""
        where: list[Composable] = [SQL("code IS NOT NULL")]
        params: list[Any] = []
        if codes:
            where.append(SQL("code = ANY(%s)"))
            params.append(codes)
        if categories:
            where.append(SQL("category = ANY(%s)"))
            params.append(categories)
        if start is not None:
            where.append(SQL("submitted_at >= %s"))
            params.append(start)
        if end is not None:
            where.append(SQL("submitted_at <= %s"))
            params.append(end)
        if statuses:
            closed = SQL("(status IN ('rejected', 'closed'))")
            if set(statuses) == {"closed"}:
                where.append(closed)
            elif set(statuses) == {"open"}:
                where.append(SQL("NOT ") + closed)
        return self._select(SQL(" AND ").join(where), params, limit=limit)

    def duplicate_candidate_rows(self, new: TicketSnapshot, window: timedelta,
                                 radius_m: float, limit: int = 100) -> list[dict[str, Any]]:
        """Accepted tickets near in time (and place, when both have one), same or no category."""
        where: list[Composable] = [SQL("status IN ('accepted', 'closed')"), SQL("ticket_id <> %s"),
                 SQL("submitted_at BETWEEN %s AND %s")]
        params: list[Any] = [new.ticket_id, new.submitted_at - window, new.submitted_at + window]
        if new.category:
            where.append(SQL("(category IS NULL OR category = %s)"))
            params.append(new.category)
        if new.lat is not None and new.lon is not None:
            dlat = radius_m / 111_000
            dlon = radius_m / (111_000 * max(0.1, math.cos(math.radians(new.lat))))
            where.append(SQL("(lat IS NULL OR (lat BETWEEN %s AND %s AND lon BETWEEN %s AND %s))"))
            params += [new.lat - dlat, new.lat + dlat, new.lon - dlon, new.lon + dlon]
        # the most recent ones, and only what the detector reads: this runs on every acceptance
        return self._select(SQL(" AND ").join(where), params, limit=limit,
                            columns=CANDIDATE_COLUMNS)


    def recent_candidate_rows(self, keep: timedelta) -> tuple[datetime, list[dict[str, Any]]]:
        """The detector's in-memory candidates to start with: accepted tickets submitted within
        ``keep`` of the newest one, and that cut."""
        with autocommit(self.pool) as conn, conn.cursor(row_factory=dict_row) as cur:
            newest = cur.execute(SQL("SELECT max(submitted_at) AS m FROM {} WHERE status IN"
                                     " ('accepted', 'closed')").format(self.table)).fetchone()
            if newest is None or newest["m"] is None:
                return datetime.min.replace(tzinfo=UTC), []  # nothing accepted: all is here
            since = newest["m"] - keep
            cur.execute(SQL("SELECT " + CANDIDATE_COLUMNS + " FROM {} WHERE status IN"
                            " ('accepted', 'closed') AND submitted_at >= %s").format(self.table),
                        [since])
            return since, list(cur.fetchall())

    def still_candidates(self, ticket_ids: list[str]) -> set[str]:
        """Which of these tickets are still accepted or closed (not reopened, 重办)."""
        rows = self._select(SQL("ticket_id = ANY(%s::uuid[]) AND status IN ('accepted', 'closed')"),
                            [ticket_ids], order="ticket_id", limit=max(1, len(ticket_ids)),
                            columns="ticket_id")
        return {str(r["ticket_id"]) for r in rows}


def answered_of_citizen_sql() -> str:
    """`answered_of_citizen` as a subquery of adapters/submission_reads.py's statement, for
    each row ``u`` (citizen, lo, hi) of its citizens ({s}: the schema)."""
    return ("SELECT code, citizen, category, title_masked, text_masked, answered_at"
            " FROM {s}.ticket_index WHERE citizen = u.citizen AND answered_at BETWEEN u.lo"
            " AND u.hi AND NOT erased ORDER BY answered_at DESC LIMIT 50")


CANDIDATE_COLUMNS = ("ticket_id, code, status, case_id, category, title_masked, text_masked,"
                     " submitted_at, lat, lon, address_masked")


def snapshot(row: dict[str, Any]) -> TicketSnapshot:
    text = (row.get("title_masked") or "") + (row.get("text_masked") or "")
    return TicketSnapshot(ticket_id=str(row["ticket_id"]), text=text,
                          submitted_at=row["submitted_at"], category=row.get("category"),
                          lat=row.get("lat"), lon=row.get("lon"),
                          address=row.get("address_masked"))

