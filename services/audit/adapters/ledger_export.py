"""The ledger read in bulk, for a rebuild elsewhere (analytics): entries in ledger order as
length-prefixed binary frames, the envelope's bytes exactly as stored.

One frame per entry: a 14-byte header ``>QHI`` (ledger_seq, length of the event type, length
of the event bytes), the event type (ASCII, the ledger's index column) and the event (the
protobuf Envelope as appended, the bytes the entry hash covers). The stream ends with one
frame whose type and event are both empty and whose ledger_seq is the cursor to continue
from: a reader that did not see it lost the end of the stream. The envelopes carry no citizen
personal data (intake masks it before publishing, and the ledger stores them as published).

Filtered by type (`types`: the reader names the event types it wants; analytics' rebuild asks
for the ones it counts): the stream covers a range of ledger positions fixed when the export
starts (``limit`` positions from ``after``, at most to the ledger's end at that moment), reads
it in ranges of ``CHUNK`` positions and sends only the entries of those types, so their
ledger_seqs have gaps. After each range one mark frame says how far the stream has covered and
how many entries it has sent since it began: header ``(covered up to, 0, 8)`` and the count as
``>Q`` (an entry of a filtered stream never has an empty type: the types asked for are not
empty). The end frame follows the last mark, its cursor the last mark's. So a reader still
detects a lost entry or a lost range with its mark (the count), an entry out of order or past
its range (its ledger_seq against the marks'), or a lost end (no end frame).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from psycopg.sql import SQL, Identifier

FRAME = struct.Struct(">QHI")
COUNT = struct.Struct(">Q")  # the body of a mark frame: entries sent since the stream began
CHUNK = 5000  # entries (filtered: positions) per database read
FIRST_CHUNK = 500  # the first read is smaller: the reader starts sooner


def read_chunk(pool: Any, schema: str, after: int, limit: int) -> list[tuple[int, str, bytes]]:
    """(ledger_seq, event_type, event) of up to ``limit`` entries from position ``after``."""
    with pool.connection() as conn, conn.cursor(binary=True) as cur:
        cur.execute(SQL("SELECT ledger_seq, event_type, event FROM {}.ledger"
                        " WHERE ledger_seq >= %s ORDER BY ledger_seq LIMIT %s")
                    .format(Identifier(schema)), (after, limit))
        return cur.fetchall()


def ledger_end(pool: Any, schema: str) -> int:
    """The ledger's size now: the ledger_seq its next entry gets (ledger_seq has no gaps:
    appends take turns and number from max + 1)."""
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(SQL("SELECT coalesce(max(ledger_seq) + 1, 0) FROM {}.ledger")
                    .format(Identifier(schema)))
        row = cur.fetchone()
        return int(row[0]) if row else 0


def read_range(pool: Any, schema: str, after: int, until: int, types: Sequence[str]
               ) -> list[tuple[int, str, bytes]]:
    """(ledger_seq, event_type, event) of the entries of ``types`` in positions
    ``[after, until)``: the primary key's range, the type checked on each row (no index on
    event_type: the range is read whole either way, and its rows of other types are neither
    sent to audit nor framed)."""
    with pool.connection() as conn, conn.cursor(binary=True) as cur:
        cur.execute(SQL("SELECT ledger_seq, event_type, event FROM {}.ledger"
                        " WHERE ledger_seq >= %s AND ledger_seq < %s AND event_type = ANY(%s)"
                        " ORDER BY ledger_seq").format(Identifier(schema)),
                    (after, until, list(types)))
        return cur.fetchall()


def frames(rows: Sequence[tuple[int, str, bytes]], tail: bytes = b"") -> bytes:
    """The rows as frames, then ``tail`` (a mark frame), in one buffer."""
    pack = FRAME.pack
    out: list[bytes] = []
    for seq, event_type, event in rows:
        kind = event_type.encode()
        out += (pack(seq, len(kind), len(event)), kind, event)
    if tail:
        out.append(tail)
    return b"".join(out)


def end_frame(next_after: int) -> bytes:
    return FRAME.pack(next_after, 0, 0)


def mark_frame(covered_to: int, sent: int) -> bytes:
    """A filtered stream's range done: positions up to ``covered_to`` (excluded) covered,
    ``sent`` entries sent since the stream began."""
    return FRAME.pack(covered_to, 0, COUNT.size) + COUNT.pack(sent)
