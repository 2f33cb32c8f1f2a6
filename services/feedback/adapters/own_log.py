"""The end of the own-log projection, once, after an upgrade.

`feedback_state` and `follows` were projected from feedback's notification log by a loop of
their own (position `projection:state` in relay_positions), which trailed the store by up to
half a second: a second read of every stored event, a LISTEN connection woken by every
commit, a transaction and thread hops a round, and a citizen who rated by code right after
the notice could find no row yet. They are now written in the transaction that saves the
record or the follower (services/feedback/application/state_projection.py), so they are never
behind it. What that loop had not projected when the service was upgraded is projected here,
once, in one transaction, and its position removed: a replica starting meanwhile waits on the
position's lock and then finds nothing to do. (Stop the replicas of the previous version
first: a running one would find its position gone.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

POSITION = "projection:state"
Apply = Callable[[list[Any], psycopg.Cursor[Any]], None]


def finish(*, app: Application, pool: ConnectionPool, schema: str, apply: Apply,
           wanted: tuple[str, ...], batch: int = 500) -> int:
    """Project what the retired loop left, then drop its position; the notifications read."""
    s = Identifier(schema)
    recorder: Any = app.recorder
    select = SQL("SELECT notification_id, originator_id, originator_version, topic, state"
                 " FROM {}.{} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                 ).format(s, Identifier(recorder.events_table_name))
    marks = tuple(f":{w}." for w in wanted)
    to_domain_event = app.mapper.to_domain_event
    with pool.connection() as conn, conn.transaction(), conn.cursor(binary=True) as cur:
        row = cur.execute(SQL("SELECT last_notification_id FROM {}.relay_positions"
                              " WHERE relay = %s FOR UPDATE").format(s), (POSITION,)).fetchone()
        if row is None:
            return 0
        done, after = 0, int(row[0])
        while rows := cur.execute(select, (after, batch)).fetchall():
            notes = [to_domain_event(StoredEvent(r[1], r[2], r[3], bytes(r[4]))) for r in rows
                     if any(m in r[3] for m in marks)]
            if notes:
                apply(notes, cur)
            done += len(rows)
            after = rows[-1][0]
        cur.execute(SQL("DELETE FROM {}.relay_positions WHERE relay = %s").format(s),
                    (POSITION,))
        return done
