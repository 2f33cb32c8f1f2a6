"""The backbone's group committer, with read-model statements in the shared transaction.

A command may bring SQL that must commit with its events (a new citizen's key claim, see
identity_store): `save(*aggregates, context=..., sql=[Statement])`. In a failed batch every
command is retried alone by the backbone, its statements with it, so one command's refused
statement never fails the others.

(Only `_Command` and `_save` of backbone.group_commit differ; if the backbone grows a `sql`
argument, this module goes.)
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from backbone.group_commit import GroupCommitter, _Command
from backbone.store import EventContext, Statement


@dataclass
class _CommandWithSql(_Command):
    sql: list[Statement] = field(default_factory=list)


class StatementCommitter(GroupCommitter):
    def save(self, *aggregates: Any, context: EventContext, timeout: float = 30,
             sql: list[Statement] | None = None) -> None:
        """Save the aggregates' new events and run ``sql`` in the same transaction; blocks
        until committed (or raises its error)."""
        done: Future[None] = Future()
        self._queue.put(_CommandWithSql(list(aggregates), context, done, list(sql or ())))
        done.result(timeout=timeout)

    def _save(self, batch: list[_Command]) -> None:
        contexts: dict[uuid.UUID, EventContext] = {}
        for c in batch:
            for a in c.aggregates:
                contexts[a.id] = c.context
        statements = [s for c in batch for s in getattr(c, "sql", ())]
        self.app.save(*[a for c in batch for a in c.aggregates], contexts=contexts,
                      sql=statements)
