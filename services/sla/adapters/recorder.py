"""The SLA service's recorder: the backbone's, plus the read model in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore

from backbone.store import TrackedRecorder
from services.sla.adapters import readmodel


class SlaRecorder(TrackedRecorder):
    """``app.save(..., read_rows=(clock_rows, order_rows))`` upserts the rows with the events."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(readmodel.tables(datastore.schema))

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        rows = kwargs.get("read_rows")
        if rows:
            readmodel.write_rows(curs, self.datastore.schema, *rows)
