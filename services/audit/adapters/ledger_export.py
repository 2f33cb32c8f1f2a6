"""The ledger read in bulk, for a rebuild elsewhere (analytics): entries in ledger order as
length-prefixed binary frames, the envelope's bytes exactly as stored.

One frame per entry: a 14-byte header ``>QHI`` (ledger_seq, length of the event type, length
of the event bytes), the event type (ASCII, the ledger's index column) and the event (the
protobuf Envelope as appended, the bytes the entry hash covers). The stream ends with one
frame whose type and event are both empty and whose ledger_seq is the cursor to continue
from: a reader that did not see it lost the end of the stream. The envelopes carry no citizen
personal data (intake masks it before publishing, and the ledger stores them as published).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from psycopg.sql import SQL, Identifier

FRAME = struct.Struct(">QHI")
CHUNK = 5000  # entries per database read
FIRST_CHUNK = 500  # the first read is smaller: the reader starts sooner


def read_chunk(pool: Any, schema: str, after: int, limit: int) -> list[tuple[int, str, bytes]]:
    """(ledger_seq, event_type, event) of up to ``limit`` entries from position ``after``."""
    with pool.connection() as conn, conn.cursor(binary=True) as cur:
        cur.execute(SQL("SELECT ledger_seq, event_type, event FROM {}.ledger"
                        " WHERE ledger_seq >= %s ORDER BY ledger_seq LIMIT %s")
                    .format(Identifier(schema)), (after, limit))
        return cur.fetchall()


def frames(rows: Sequence[tuple[int, str, bytes]]) -> bytes:
    """The rows as frames, in one buffer."""
    pack = FRAME.pack
    out: list[bytes] = []
    for seq, event_type, event in rows:
        kind = event_type.encode()
        out += (pack(seq, len(kind), len(event)), kind, event)
    return b"".join(out)


def end_frame(next_after: int) -> bytes:
    return FRAME.pack(next_after, 0, 0)
