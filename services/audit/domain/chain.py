"""Ledger entries, their per-ticket hash chain, and the Merkle leaf each entry becomes.

An entry is one message of ``tickets.events`` as the ledger stored it. Its canonical bytes are
a fixed, length-prefixed binary layout (not JSON) so that a verifier in any language can
rebuild them byte for byte without agreeing on key order, whitespace or number formats.

    entry_hash = SHA-256(prev_entry_hash || canonical(entry))   prev of a ticket's first = 0*32
    leaf_data  = canonical(entry) || entry_hash                  (the tree commits to the chains)

The ledger sequence number is the Merkle leaf index, so a finding or a proof names one number.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.audit.domain.merkle import (
    HASH_SIZE,
    InMemorySubtreeHashStore,
    MerkleLedgerTree,
    leaf_hash,
)

GENESIS_HASH = bytes(HASH_SIZE)
ENTRY_MAGIC = b"MSLE1"  # Minsheng ledger entry, layout version 1: a new layout gets a new tag


class LedgerEntryError(ValueError):
    """A ledger entry cannot be built: the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    ledger_seq: int
    topic: str
    partition: int
    offset: int
    ticket_id: str
    ticket_seq: int
    event: bytes
    prev_hash: bytes
    entry_hash: bytes

    def canonical(self) -> bytes:
        return canonical_bytes(
            ledger_seq=self.ledger_seq,
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            ticket_id=self.ticket_id,
            ticket_seq=self.ticket_seq,
            event=self.event,
        )

    def leaf_data(self) -> bytes:
        return self.canonical() + self.entry_hash

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_data())

    def expected_hash(self) -> bytes:
        """What ``entry_hash`` must be, given the stored ``prev_hash`` and fields."""
        return hashlib.sha256(self.prev_hash + self.canonical()).digest()

    def checked_hashes(self) -> tuple[bytes, bytes]:
        """(:meth:`expected_hash`, :meth:`leaf_hash`) from one encoding of the entry."""
        canonical = self.canonical()
        return (hashlib.sha256(self.prev_hash + canonical).digest(),
                leaf_hash(canonical + self.entry_hash))

    def to_row(self) -> dict[str, Any]:
        return {
            "ledger_seq": self.ledger_seq,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "ticket_id": self.ticket_id,
            "ticket_seq": self.ticket_seq,
            "event": self.event,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LedgerEntry:
        """Accept a row as the database returns it (bytes, or memoryview from psycopg)."""
        try:
            return cls(
                ledger_seq=int(row["ledger_seq"]),
                topic=str(row["topic"]),
                partition=int(row["partition"]),
                offset=int(row["offset"]),
                ticket_id=str(row["ticket_id"]),
                ticket_seq=int(row["ticket_seq"]),
                event=bytes(row["event"]),
                prev_hash=bytes(row["prev_hash"]),
                entry_hash=bytes(row["entry_hash"]),
            )
        except KeyError as missing:
            raise LedgerEntryError(f"ledger row has no {missing} column") from None


def _u64(value: int, name: str) -> bytes:
    if not 0 <= value < 1 << 64:
        raise LedgerEntryError(f"{name} {value} does not fit an unsigned 64-bit number")
    return struct.pack(">Q", value)


def _blob(value: bytes) -> bytes:
    if len(value) >= 1 << 32:
        raise LedgerEntryError("a field longer than 4 GiB cannot be encoded")
    return struct.pack(">I", len(value)) + value


_SEQ_TOPIC = struct.Struct(">QI")  # u64 ledger_seq, u32 length of the topic
_PARTITION_OFFSET_ID = struct.Struct(">QQI")  # u64 partition, u64 offset, u32 length of the id
_TICKET_SEQ_EVENT = struct.Struct(">QI")  # u64 ticket_seq, u32 length of the event


def canonical_bytes(
    *,
    ledger_seq: int,
    topic: str,
    partition: int,
    offset: int,
    ticket_id: str,
    ticket_seq: int,
    event: bytes,
) -> bytes:
    """MSLE1 | u64 ledger_seq | str topic | u64 partition | u64 offset | str ticket_id |
    u64 ticket_seq | bytes event; str/bytes are u32 big-endian length + (UTF-8) bytes."""
    t, tid, ev = topic.encode("utf-8"), ticket_id.encode("utf-8"), bytes(event)
    try:  # three packs of the fixed fields instead of one per field: every verify runs this
        return b"".join((ENTRY_MAGIC, _SEQ_TOPIC.pack(ledger_seq, len(t)), t,
                         _PARTITION_OFFSET_ID.pack(partition, offset, len(tid)), tid,
                         _TICKET_SEQ_EVENT.pack(ticket_seq, len(ev)), ev))
    except struct.error:
        pass
    # a number or a length out of range: the field by field form names which
    return b"".join(
        (
            ENTRY_MAGIC,
            _u64(ledger_seq, "ledger_seq"),
            _blob(t),
            _u64(partition, "partition"),
            _u64(offset, "offset"),
            _blob(tid),
            _u64(ticket_seq, "ticket_seq"),
            _blob(ev),
        )
    )


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last link of one ticket's chain: what the next entry of that ticket builds on."""

    ticket_seq: int
    entry_hash: bytes


def link_entry(
    head: ChainHead | None,
    *,
    ledger_seq: int,
    topic: str,
    partition: int,
    offset: int,
    ticket_id: str,
    event: bytes,
) -> LedgerEntry:
    """The next entry of a ticket's chain (``head`` None: the ticket's first entry, seq 1)."""
    return link_entry_and_leaf(head, ledger_seq=ledger_seq, topic=topic, partition=partition,
                               offset=offset, ticket_id=ticket_id, event=event)[0]


def link_entry_and_leaf(
    head: ChainHead | None,
    *,
    ledger_seq: int,
    topic: str,
    partition: int,
    offset: int,
    ticket_id: str,
    event: bytes,
) -> tuple[LedgerEntry, bytes]:
    """:func:`link_entry` and the entry's :meth:`LedgerEntry.leaf_hash`, from one encoding
    of its canonical bytes (an append needs both)."""
    if not ticket_id:
        raise LedgerEntryError("an entry needs a ticket id: the chain is per ticket")
    prev = GENESIS_HASH if head is None else head.entry_hash
    ticket_seq = 1 if head is None else head.ticket_seq + 1
    canonical = canonical_bytes(
        ledger_seq=ledger_seq,
        topic=topic,
        partition=partition,
        offset=offset,
        ticket_id=ticket_id,
        ticket_seq=ticket_seq,
        event=event,
    )
    entry_hash = hashlib.sha256(prev + canonical).digest()
    entry = LedgerEntry(
        ledger_seq=ledger_seq,
        topic=topic,
        partition=partition,
        offset=offset,
        ticket_id=ticket_id,
        ticket_seq=ticket_seq,
        event=bytes(event),
        prev_hash=prev,
        entry_hash=entry_hash,
    )
    return entry, leaf_hash(canonical + entry_hash)


@dataclass
class InMemoryLedger:
    """The ledger's write path without a database: chains, Merkle tree, duplicate skipping.

    The PostgreSQL ledger does the same with the heads and last offsets read from its tables;
    this one is the reference for tests and for the mutation test's untouched original."""

    entries: list[LedgerEntry] = field(default_factory=list)
    heads: dict[str, ChainHead] = field(default_factory=dict)
    last_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    tree: MerkleLedgerTree = field(
        default_factory=lambda: MerkleLedgerTree(InMemorySubtreeHashStore())
    )

    def record(
        self, *, topic: str, partition: int, offset: int, ticket_id: str, event: bytes
    ) -> LedgerEntry | None:
        """Append one consumed message; None when that offset is already in the ledger
        (at-least-once delivery redelivers, the ledger keeps each message once)."""
        last = self.last_offsets.get((topic, partition), -1)
        if offset <= last:
            return None
        entry = link_entry(
            self.heads.get(ticket_id),
            ledger_seq=len(self.entries),
            topic=topic,
            partition=partition,
            offset=offset,
            ticket_id=ticket_id,
            event=event,
        )
        self.entries.append(entry)
        self.heads[ticket_id] = ChainHead(entry.ticket_seq, entry.entry_hash)
        self.last_offsets[(topic, partition)] = offset
        self.tree.append_leaf_hashes([entry.leaf_hash()])
        return entry

    def rows(self) -> list[dict[str, Any]]:
        return [e.to_row() for e in self.entries]

    def history(self, ticket_id: str) -> Iterator[LedgerEntry]:
        return (e for e in self.entries if e.ticket_id == ticket_id)
