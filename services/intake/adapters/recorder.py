"""Intake's recorder: the backbone's, plus read-model writes in the same transaction.

`app.save(*aggregates, sql=[Statement(...)], progress=...)` commits the aggregates' events,
the read-model rows and the projector's position together, so the read models never drift
from the event store, whatever crashes when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Composed

from backbone.store import TrackedRecorder


@dataclass(frozen=True)
class Statement:
    sql: SQL | Composed
    params: Sequence[Any] | dict[str, Any] = ()


class IntakeRecorder(TrackedRecorder):
    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        for statement in kwargs.get("sql") or ():
            curs.execute(statement.sql, statement.params)


RECORDER_TOPIC = "services.intake.adapters.recorder:IntakeRecorder"
