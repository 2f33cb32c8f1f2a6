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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
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
            " updated_at timestamptz NOT NULL, version int NOT NULL)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_tickets_code ON {}.dispatch_tickets"
            " (ticket_code)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_tickets_ticket ON {}.dispatch_tickets"
            " (ticket_id)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_tickets_queue ON {}.dispatch_tickets"
            " (queue, updated_at) WHERE queue IS NOT NULL").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.dispatch_assignments ("
            " dispatch_id uuid NOT NULL, unit text NOT NULL, ticket_id text NOT NULL,"
            " ticket_code text NOT NULL, role text NOT NULL, status text NOT NULL,"
            " assignment_no int NOT NULL, assigned_at timestamptz NOT NULL,"
            " sign_for_due_at timestamptz, bounce_back_due_at timestamptz,"
            " updated_at timestamptz NOT NULL, PRIMARY KEY (dispatch_id, unit))").format(s),
        SQL("CREATE INDEX IF NOT EXISTS dispatch_assignments_unit ON {}.dispatch_assignments"
            " (unit, status, assigned_at, ticket_id)").format(s),
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


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    cols = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (f"INSERT INTO {{}}.{table} ({cols}) VALUES ({marks})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


def _value(v: Any) -> Any:
    return Jsonb(v) if isinstance(v, dict) else v


@dataclass(frozen=True)
class _Statements:
    """The read model's statements for one schema, composed once into plain SQL (composing
    them on every save cost about as much as sending them)."""

    ticket: SQL
    release_open: SQL
    unit_status: SQL
    unit_row: SQL
    label: SQL
    routing_label: SQL


@functools.cache
def _statements(schema: str) -> _Statements:
    s = Identifier(schema)

    def plain(composed: Composed) -> SQL:
        return SQL(composed.as_string(None))

    return _Statements(
        ticket=plain(SQL(_upsert("dispatch_tickets", TICKET_COLUMNS, ["dispatch_id"]))
                     .format(s)),
        release_open=plain(SQL("UPDATE {}.dispatch_assignments SET status = %s,"
                               " updated_at = %s WHERE dispatch_id = %s AND status = ANY(%s)")
                           .format(s)),
        unit_status=plain(SQL("UPDATE {}.dispatch_assignments SET status = %s, updated_at = %s"
                              " WHERE dispatch_id = %s AND unit = %s").format(s)),
        unit_row=plain(SQL(_upsert("dispatch_assignments", UNIT_COLUMNS,
                                   ["dispatch_id", "unit"])).format(s)),
        label=plain(SQL("INSERT INTO {}.classification_labels (dispatch_id, text_masked,"
                        " address_masked, category, subcategory, request_type, urgency,"
                        " labelled_by, labelled_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)")
                    .format(s)),
        routing_label=plain(SQL("INSERT INTO {}.routing_labels (dispatch_id, text_masked,"
                                " address_masked, unit, suggested, labelled_by, labelled_at)"
                                " VALUES (%s,%s,%s,%s,%s,%s,%s)").format(s)))


def apply_changes(cur: Any, schema: str, changes: Sequence[ReadModelChange]) -> None:
    sql = _statements(schema)
    for change in changes:
        cur.execute(sql.ticket, [_value(change.ticket[c]) for c in TICKET_COLUMNS])
        if change.release_open_as:
            cur.execute(sql.release_open,
                        (change.release_open_as, change.ticket["updated_at"],
                         change.ticket["dispatch_id"], list(OPEN_STATUSES)))
        for status_only in change.unit_statuses:
            cur.execute(sql.unit_status,
                        (status_only["status"], change.ticket["updated_at"],
                         change.ticket["dispatch_id"], status_only["unit"]))
        if len(change.unit_rows) == 1:  # the usual case: no executemany round of its own
            cur.execute(sql.unit_row, [change.unit_rows[0][c] for c in UNIT_COLUMNS])
        elif change.unit_rows:
            cur.executemany(sql.unit_row,
                            [[row[c] for c in UNIT_COLUMNS] for row in change.unit_rows])
        for label in change.labels:
            cur.execute(sql.label,
                        (change.ticket["dispatch_id"], label["text_masked"],
                         label["address_masked"], label["category"], label["subcategory"],
                         label["request_type"], label["urgency"], label["by"], label["at"]))
        for routed in change.routing_labels:
            cur.execute(sql.routing_label,
                        (change.ticket["dispatch_id"], routed["text_masked"],
                         routed["address_masked"], routed["unit"], routed["suggested"],
                         routed["by"], routed["at"]))


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
