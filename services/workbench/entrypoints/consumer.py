"""The lifecycle consumer (SQL mode): the events the list cares about (domain.tickets.FOLDS,
which is also what the consumer skips unread) fold into the tickets' rows in the same
transaction as the consumer's progress, so nothing is applied twice.

A polled batch is one read and one write at most: the rows of its tickets not in memory are
read in one statement, every event is folded in memory, and each ticket's row is written once
(domain order kept per ticket: one ticket's events arrive in its partition's order). Rows stay
in memory between batches (`TicketList`, bounded); each write names the stamp of the row it
replaces, so a row made stale by another replica (a rebalance) or by a transaction that rolled
back is not written over: the batch fails as a conflict, the consumer retries it, and the
retry reads those rows again. (A rollback the consumer sees, such as a batch holding a
relay's copy of an applied event, drops the rows at once: `TicketList.forget`.)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import psycopg

from backbone.consumer import ConcurrentUpdateError, Handlers
from backbone.events import DecodedEvent
from services.workbench.adapters import readmodel
from services.workbench.domain.tickets import FOLDS, TicketRow, fold

CONSUMER = "workbench-tickets"
# Rows kept in memory, the least recently written forgotten first (a forgotten row is read
# from the table again with the rest of its batch's, in the one query a batch makes). ~1-2 KB
# each: 50,000 (the open tickets of a busy month) grew with history to ~100 MB, for rows
# that at a city's rate (3,000 tickets a day) change a few times a day; the tickets in
# flight under the bench's load are a few hundred (docs/profiles/memory.md).
KEPT_ROWS = 4096


class StaleRowError(ConcurrentUpdateError):
    """A row held in memory was changed by another writer since; the batch is retried."""


class TicketList:
    """The list's rows as this consumer last wrote them: ticket id -> (row, stamp)."""

    def __init__(self, schema: str, kept: int = KEPT_ROWS):
        self.schema, self.kept = schema, kept
        self.rows: OrderedDict[str, tuple[TicketRow, int]] = OrderedDict()

    def apply(self, batch: list[tuple[DecodedEvent, Any]], cur: psycopg.Cursor[Any]) -> None:
        ids = list(dict.fromkeys(d.ticket_id for d, _ in batch))
        stored = readmodel.load_many(cur, self.schema, [t for t in ids if t not in self.rows])
        now: dict[str, tuple[TicketRow | None, int]] = {}
        for ticket_id in ids:
            kept = self.rows.get(ticket_id)  # a (row, stamp) pair: never falsy
            now[ticket_id] = kept if kept is not None else stored.get(ticket_id, (None, 0))
        folded: dict[str, TicketRow] = {}
        for d, _ in batch:
            folded[d.ticket_id] = fold(
                folded.get(d.ticket_id) or now[d.ticket_id][0], ticket_id=d.ticket_id,
                code=d.envelope.ticket_code, event_type=d.event_type, payload=d.payload,
                occurred_at=d.occurred_at)
        writes = []
        for ticket_id, row in folded.items():
            before, stamp = now[ticket_id]
            writes.append((row, _grams(before, row), stamp, readmodel.new_stamp()))
        written = readmodel.save_many(cur, self.schema, writes)
        if written != set(folded):
            for ticket_id in ids:
                self.rows.pop(ticket_id, None)
            raise StaleRowError(f"{len(set(folded) - written)} row(s) changed by another"
                                " writer; the batch is applied again on fresh rows")
        # kept now, before the commit: a rollback leaves a stamp the table never got, which
        # the next write of that row finds out (above) and then reads the row again
        for row, _, _, stamp in writes:
            self.rows[row.ticket_id] = (row, stamp)
            self.rows.move_to_end(row.ticket_id)
        while len(self.rows) > self.kept:
            self.rows.popitem(last=False)

    def forget(self) -> None:
        """A transaction rolled back: the rows it wrote are not the table's; read them again
        (else the next write of one finds its stamp stale and the batch is retried)."""
        self.rows.clear()


def _text(row: TicketRow | None) -> tuple[str, str, str]:
    return (row.title_masked, row.text_masked, row.address_masked) if row else ("", "", "")


def _grams(before: TicketRow | None, row: TicketRow) -> list[str] | None:
    """The row's search bigrams when its text is not what the row before had (None: the
    stored bigrams stand): computed and written once per text, not at every update. (A row
    held in memory whose insert rolled back is inserted again without them: save_many
    writes the bigrams of every row it inserts.)"""
    return row.search_grams if _text(row) != _text(before) else None


def handlers(schema: str, kept: int = KEPT_ROWS) -> Handlers:
    """FOLDS' event types, each applied by one `TicketList` (per event, or a batch at once),
    which keeps at most ``kept`` rows in memory."""
    tickets = TicketList(schema, kept)

    def keep(decoded: DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        tickets.apply([(decoded, record)], cur)

    return Handlers({event_type: keep for event_type in FOLDS}, batch=tickets.apply,
                    forget=tickets.forget)
