"""The dispatch read model, written in the SAME transaction as the events it reflects.

`DispatchApplication.save` turns the changed `TicketDispatch` aggregates into row changes
(`application.projection`) and hands them to the recorder as the `readmodel` keyword; this
recorder (eventsourcing's PostgreSQL recorder + the backbone's progress and context) writes
them with the cursor of the transaction that inserts the events. So the department systems'
lists and the dispatchers' queues can never disagree with the event store, and no second
consumer is needed to keep them. Chosen over a SQL-mode consumer of our own Kafka events
because those carry only the public payloads, not everything the console shows.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg import RawCursor
from psycopg.sql import SQL, Composed, Identifier
from psycopg.types.json import Jsonb

from backbone.store import TrackedRecorder
from services.dispatch.application.projection import (
    OPEN_STATUSES,
    TICKET_COLUMNS,
    UNIT_COLUMNS,
    ReadModelChange,
)


def readmodel_tables(schema: str) -> list[Composed]:
    s = Identifier(schema)
    return [
        SQL("CREATE TABLE IF NOT EXISTS {}.dispatch_tickets ("
            " dispatch_id uuid PRIMARY KEY, ticket_id text NOT NULL, ticket_code text NOT NULL,"
            " state text NOT NULL, owner text NOT NULL, queue text, queue_reason text,"
            " suggested_unit text, confidence double precision, category text, subcategory text,"
            " request_type text, urgency text, classified_by text, channel text,"
            " title_masked text, text_masked text, address_masked text, county text,"
            " subdistrict text, assignee text, lead_unit text, co_units text[],"
            " assignment_no int NOT NULL, case_id text, primary_ticket_id text,"
            " primary_code text, reply_masked text, reply_outcome text, bounce_backs int,"
            " last_bounced_by text, reopen_count int, pending_transfer jsonb,"
            " updated_at timestamptz NOT NULL, version int NOT NULL, queued_at timestamptz)"
            " WITH (fillfactor = 70)").format(s),
        # A table made before queued_at: the column, filled for the tickets queued now.
        SQL("ALTER TABLE {}.dispatch_tickets ADD COLUMN IF NOT EXISTS queued_at timestamptz"
            ).format(s),
        SQL("UPDATE {}.dispatch_tickets SET queued_at = updated_at"
            " WHERE queue IS NOT NULL AND queued_at IS NULL").format(s),
        # Room on each page for a row's next versions: a save rewrites the ticket's row, and
        # with no indexed column changed (queued_at is NULL out of a queue) the new version
        # is a HOT update on the same page, no index touched.
        SQL("ALTER TABLE {}.dispatch_tickets SET (fillfactor = 70)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_tickets_code ON {}.dispatch_tickets"
            " (ticket_code)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_tickets_ticket ON {}.dispatch_tickets"
            " (ticket_id)").format(s),
        # the queues (queue, queued_at) replace (queue, updated_at): updated_at changes with
        # every save, and a changed indexed column makes every update non-HOT
        SQL("DROP INDEX IF EXISTS {}.dispatch_tickets_queue").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_tickets_queued ON {}.dispatch_tickets"
            " (queue, queued_at) WHERE queue IS NOT NULL").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.dispatch_assignments ("
            " dispatch_id uuid NOT NULL, unit text NOT NULL, ticket_id text NOT NULL,"
            " ticket_code text NOT NULL, role text NOT NULL, status text NOT NULL,"
            " assignment_no int NOT NULL, assigned_at timestamptz NOT NULL,"
            " sign_for_due_at timestamptz, bounce_back_due_at timestamptz,"
            " updated_at timestamptz NOT NULL, PRIMARY KEY (dispatch_id, unit))").format(s),
        # (unit, status, ...) answers a unit's listing by status (ListAssignments, the open
        # ones of StreamAssignments) from the index alone; it keeps the assignments' status
        # changes non-HOT (sign-for, reply), the price of not scanning a unit's whole history.
        SQL("CREATE INDEX IF NOT EXISTS dispatch_assignments_unit ON {}.dispatch_assignments"
            " (unit, status, assigned_at, ticket_id)").format(s),
        # department systems' request ids (adapters.loop_reads.RequestKey), written with the
        # change each made
        SQL("CREATE TABLE IF NOT EXISTS {}.dispatch_request_keys ("
            " key_id uuid PRIMARY KEY, unit text NOT NULL, request_id text NOT NULL,"
            " method text NOT NULL, ticket_id text NOT NULL, result jsonb NOT NULL)").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.classification_labels ("
            " id bigserial PRIMARY KEY, dispatch_id uuid NOT NULL, text_masked text NOT NULL,"
            " address_masked text NOT NULL, category text NOT NULL, subcategory text NOT NULL,"
            " request_type text NOT NULL, urgency text NOT NULL, labelled_by text NOT NULL,"
            " labelled_at timestamptz NOT NULL)").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.routing_labels ("
            " id bigserial PRIMARY KEY, dispatch_id uuid NOT NULL, text_masked text NOT NULL,"
            " address_masked text NOT NULL, unit text NOT NULL, suggested text NOT NULL,"
            " labelled_by text NOT NULL, labelled_at timestamptz NOT NULL)").format(s),
    ]


def _value(v: Any) -> Any:
    if isinstance(v, dict):
        return Jsonb(v)
    return text_array(v) if isinstance(v, list) else v


def text_array(values: Sequence[str]) -> str | list[Any]:
    """A text[] parameter as PostgreSQL's array literal (its placeholder cast `::text[]`):
    psycopg dumps a list by scanning its elements for their type first, on every save (~15
    us an empty list, ~35 us two units: py-spy had it at a tenth of the group-commit
    thread's samples). Every element quoted, backslashes and quotes escaped: the same array.
    Anything but strings is left to psycopg."""
    if not all(type(x) is str for x in values):
        return list(values)
    return "{" + ",".join('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for x in values) + "}"


_OPEN = text_array(sorted(OPEN_STATUSES))


# An assignment row's content as its unit sees it: a save that leaves it as it was does not
# rewrite it (updated_at is when the unit's assignment last changed, not the ticket).
_UNIT_CONTENT = tuple(c for c in UNIT_COLUMNS if c not in ("dispatch_id", "unit", "updated_at"))


_LABEL_COLUMNS = ("dispatch_id", "text_masked", "address_masked", "category", "subcategory",
                  "request_type", "urgency", "labelled_by", "labelled_at")
_ROUTING_COLUMNS = ("dispatch_id", "text_masked", "address_masked", "unit", "suggested",
                    "labelled_by", "labelled_at")


def _values(columns: Sequence[str], rows: int) -> str:
    return ", ".join("(" + ", ".join(["%s"] * len(columns)) + ")" for _ in range(rows))


def _numbered(query: str) -> bytes:
    """`%s` placeholders as PostgreSQL's own `$1, $2, ...`, for a raw cursor."""
    parts = query.split("%s")
    n = itertools.count(1)
    return "".join(p + (f"${next(n)}" if i < len(parts) - 1 else "")
                   for i, p in enumerate(parts)).encode()


@functools.cache
def _change_sql(schema: str, releases: bool, unit_rows: int, labels: int = 0,
                routing_labels: int = 0) -> bytes:
    """ONE statement writing a save's change of one ticket: its row (upsert), the units that
    lost it (their open rows released, or the named units' status set), the rows of the
    units that hold it now (upsert, only where the content differs) and the dispatchers'
    labels. Was 2-5 statements per save, one of them an UPDATE that found nothing on every
    first assignment. The units upserted are left out of the release, so no row is written
    twice.

    Numbered placeholders, as bytes, for a raw cursor: with more than 50 parameters (a
    ticket's row alone has 36) psycopg does not cache its parse of a `%s` query and split
    it with a regular expression on every save, and a `SQL` object was encoded every time
    (py-spy: ~4 % of the process's Python CPU, in the consumer and the group commit)."""
    s = Identifier(schema).as_string(None)
    cols = ", ".join(TICKET_COLUMNS)
    marks = ", ".join("%s::text[]" if c == "co_units" else "%s" for c in TICKET_COLUMNS)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in TICKET_COLUMNS if c != "dispatch_id")
    parts = [f"t AS (INSERT INTO {s}.dispatch_tickets ({cols}) VALUES ({marks})"
             f" ON CONFLICT (dispatch_id) DO UPDATE SET {sets} RETURNING 1)"]
    if releases:
        # params: the named units' statuses (units[], statuses[]) the release status (NULL:
        # none), the time, the ticket, the units upserted below
        parts.append(
            f"r AS (UPDATE {s}.dispatch_assignments a SET status = COALESCE("
            "(SELECT x.status FROM unnest(%s::text[], %s::text[]) AS x(unit, status)"
            " WHERE x.unit = a.unit), %s::text), updated_at = %s"
            " WHERE a.dispatch_id = %s AND a.unit <> ALL(%s::text[])"
            " AND (a.unit = ANY(%s::text[]) OR (%s::text IS NOT NULL"
            " AND a.status = ANY(%s::text[]))) RETURNING 1)")
    if labels:
        parts.append(f"l AS (INSERT INTO {s}.classification_labels ({', '.join(_LABEL_COLUMNS)})"
                     f" VALUES {_values(_LABEL_COLUMNS, labels)} RETURNING 1)")
    if routing_labels:
        parts.append(f"rl AS (INSERT INTO {s}.routing_labels ({', '.join(_ROUTING_COLUMNS)})"
                     f" VALUES {_values(_ROUTING_COLUMNS, routing_labels)} RETURNING 1)")
    if unit_rows:
        ucols = ", ".join(UNIT_COLUMNS)
        usets = ", ".join(f"{c} = EXCLUDED.{c}" for c in UNIT_COLUMNS
                          if c not in ("dispatch_id", "unit"))
        old = ", ".join(f"a.{c}" for c in _UNIT_CONTENT)
        new = ", ".join(f"EXCLUDED.{c}" for c in _UNIT_CONTENT)
        main = (f"INSERT INTO {s}.dispatch_assignments AS a ({ucols})"
                f" VALUES {_values(UNIT_COLUMNS, unit_rows)}"
                f" ON CONFLICT (dispatch_id, unit) DO UPDATE SET {usets}"
                f" WHERE ({old}) IS DISTINCT FROM ({new})")
    else:
        main = "SELECT 1"
    return _numbered("WITH " + ", ".join(parts) + " " + main)


def apply_changes(cur: Any, schema: str, changes: Sequence[ReadModelChange]) -> None:
    """The changes' statements on `cur`'s connection, in its transaction (and pipeline)."""
    raw: Any = RawCursor(cur.connection)
    for change in changes:
        ticket = change.ticket
        dispatch_id = ticket["dispatch_id"]
        params: list[Any] = [_value(ticket[c]) for c in TICKET_COLUMNS]
        named = {s["unit"]: s["status"] for s in change.unit_statuses}  # the last one counts
        releases = bool(change.release_open_as or named)
        if releases:
            units, statuses = text_array(list(named)), text_array(list(named.values()))
            params += [units, statuses, change.release_open_as, ticket["updated_at"],
                       dispatch_id, text_array([r["unit"] for r in change.unit_rows]), units,
                       change.release_open_as, _OPEN]
        for label in change.labels:
            params += [dispatch_id, label["text_masked"], label["address_masked"],
                       label["category"], label["subcategory"], label["request_type"],
                       label["urgency"], label["by"], label["at"]]
        for routed in change.routing_labels:
            params += [dispatch_id, routed["text_masked"], routed["address_masked"],
                       routed["unit"], routed["suggested"], routed["by"], routed["at"]]
        for row in change.unit_rows:
            params += [row[c] for c in UNIT_COLUMNS]
        raw.execute(_change_sql(schema, releases, len(change.unit_rows), len(change.labels),
                                len(change.routing_labels)), params)


class DispatchRecorder(TrackedRecorder):
    """TrackedRecorder + the dispatch read model, in the transaction of the events."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(readmodel_tables(datastore.schema))

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        changes: Sequence[ReadModelChange] = kwargs.get("readmodel") or ()
        if changes:
            apply_changes(curs, self.datastore.schema, changes)
