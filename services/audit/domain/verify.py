"""Find and locate tampering in the ledger.

Two checks, both pure:

* :func:`verify_ledger` streams the whole ledger (rows in ledger order, as the database returns
  them) once, with O(tickets + partitions + log n) memory, against the signed checkpoints.
* :func:`verify_history` checks one ticket's history as replay serves it: the chain from its
  genesis, and an inclusion proof of every entry against one signed checkpoint.

What each kind of tampering leaves behind (and so how it is located):

=========================  ================================================================
flipped byte / field edit  ``entry_hash_mismatch`` at the entry (the hash covers every field)
changed chain hash         ``entry_hash_mismatch`` at it, ``chain_break`` at the ticket's next
deleted entry              ``ledger_seq_gap`` where it was, ``ticket_seq_gap``/``chain_break``
inserted entry             ``duplicate_ledger_seq``/``ledger_seq_gap``, ``chain_break``, offsets
reordered entries          ``entry_hash_mismatch`` (the ledger seq is hashed), chain findings
truncated tail             ``truncated`` at the first missing seq, for signed sizes
forged checkpoint          ``checkpoint_forged`` / ``checkpoint_fork``
chains recomputed too      ``root_mismatch``: located to the entries between two checkpoints
=========================  ================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from services.audit.domain.chain import GENESIS_HASH, ChainHead, LedgerEntry, LedgerEntryError
from services.audit.domain.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    CheckpointVerifier,
)
from services.audit.domain.merkle import CompactRange, InvalidProofError, verify_inclusion


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    ledger_seq: int | None  # where it is (the first entry of a range)
    ticket_id: str | None
    detail: str
    last_seq: int | None = None  # last entry of the range, when a finding names a range

    def covers(self, ledger_seq: int) -> bool:
        if self.ledger_seq is None:
            return False
        last = self.ledger_seq if self.last_seq is None else self.last_seq
        return self.ledger_seq <= ledger_seq <= last


def open_checkpoints(
    notes: Iterable[str], verifier: CheckpointVerifier, ledger_id: str | None
) -> tuple[list[Checkpoint], list[Finding]]:
    """Checkpoints that verify, by size; a finding for every note that does not."""
    good: dict[int, Checkpoint] = {}
    findings: list[Finding] = []
    for i, note in enumerate(notes):
        try:
            cp = verifier.open(note)
        except (CheckpointFormatError, CheckpointSignatureError) as err:
            findings.append(Finding("checkpoint_forged", None, None, f"checkpoint #{i}: {err}"))
            continue
        if ledger_id is not None and cp.ledger_id != ledger_id:
            findings.append(
                Finding("checkpoint_forged", None, None, f"checkpoint #{i} is for {cp.ledger_id}")
            )
            continue
        other = good.get(cp.tree_size)
        if other is not None and other.root_hash != cp.root_hash:
            findings.append(
                Finding(
                    "checkpoint_fork",
                    None,
                    None,
                    f"two signed roots for size {cp.tree_size}: the ledger was rewritten",
                )
            )
            continue
        good[cp.tree_size] = cp
    ordered = [good[s] for s in sorted(good)]
    for before, after in pairwise(ordered):
        if after.timestamp < before.timestamp:
            findings.append(
                Finding(
                    "checkpoint_time_disorder",
                    after.tree_size,
                    None,
                    f"size {after.tree_size} signed before the smaller size {before.tree_size}",
                )
            )
    return ordered, findings


class _LedgerScan:
    """The state of one pass over the ledger."""

    def __init__(self, checkpoints: Sequence[Checkpoint]) -> None:
        self.findings: list[Finding] = []
        self.heads: dict[str, ChainHead] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        self.prev_seq = -1
        self.tree = CompactRange()
        self.pending = list(checkpoints)
        self.last_good_size = 0

    def add(self, kind: str, entry: LedgerEntry, detail: str) -> None:
        self.findings.append(Finding(kind, entry.ledger_seq, entry.ticket_id, detail))

    def scan(self, position: int, row: Mapping[str, Any]) -> None:
        try:
            entry = LedgerEntry.from_row(row)
        except (LedgerEntryError, ValueError, TypeError) as err:
            self.findings.append(Finding("malformed_row", position, None, str(err)))
            return
        expected, leaf = entry.checked_hashes()
        self.check_order(entry)
        self.check_offset(entry)
        self.check_chain(entry, expected)
        self.tree.append_leaf_hash(leaf)
        self.check_checkpoints()

    def check_order(self, e: LedgerEntry) -> None:
        if e.ledger_seq == self.prev_seq:
            self.add("duplicate_ledger_seq", e, "a second entry with this ledger seq")
        elif e.ledger_seq < self.prev_seq:
            self.add("ledger_seq_out_of_order", e, f"comes after seq {self.prev_seq}")
        elif e.ledger_seq > self.prev_seq + 1:
            first, last = self.prev_seq + 1, e.ledger_seq - 1
            self.findings.append(
                Finding("ledger_seq_gap", first, None, f"entries {first}..{last} are missing", last)
            )
        self.prev_seq = max(self.prev_seq, e.ledger_seq)

    def check_offset(self, e: LedgerEntry) -> None:
        key = (e.topic, e.partition)
        last = self.offsets.get(key)
        if last is not None and e.offset <= last:
            kind = "duplicate_offset" if e.offset == last else "offset_out_of_order"
            self.add(kind, e, f"{e.topic}[{e.partition}] offset {e.offset} after {last}")
        self.offsets[key] = max(e.offset, last if last is not None else -1)

    def check_chain(self, e: LedgerEntry, expected_hash: bytes | None = None) -> None:
        """``expected_hash``: ``e.expected_hash()`` when the caller has it already."""
        if (expected_hash or e.expected_hash()) != e.entry_hash:
            self.add("entry_hash_mismatch", e, "the stored entry hash does not match its content")
        head = self.heads.get(e.ticket_id)
        expected_prev = GENESIS_HASH if head is None else head.entry_hash
        expected_seq = 1 if head is None else head.ticket_seq + 1
        if e.prev_hash != expected_prev:
            where = "genesis" if head is None else f"ticket entry {head.ticket_seq}"
            self.add("chain_break", e, f"prev hash does not link to {where}")
        if e.ticket_seq > expected_seq:
            self.add(
                "ticket_seq_gap", e, f"ticket entries {expected_seq}..{e.ticket_seq - 1} missing"
            )
        elif e.ticket_seq < expected_seq:
            self.add(
                "ticket_seq_out_of_order", e, f"ticket seq {e.ticket_seq}, expected {expected_seq}"
            )
        self.heads[e.ticket_id] = ChainHead(e.ticket_seq, e.entry_hash)

    def check_checkpoints(self) -> None:
        while self.pending and self.pending[0].tree_size <= self.tree.size:
            cp = self.pending.pop(0)
            if cp.tree_size < self.tree.size:
                continue  # only a size-0 checkpoint can be passed over; it holds nothing
            if self.tree.root() == cp.root_hash:
                self.last_good_size = cp.tree_size
                continue
            start = self.last_good_size
            self.findings.append(
                Finding(
                    "root_mismatch",
                    start,
                    None,
                    f"root of the first {cp.tree_size} entries differs from the checkpoint "
                    f"signed {cp.timestamp:%Y-%m-%d %H:%M:%SZ}: tampering within entries "
                    f"{start}..{cp.tree_size - 1}",
                    cp.tree_size - 1,
                )
            )

    def finish(self) -> None:
        # Entries since the last confirmed size are unproven too: the ledger may have been cut
        # and rewritten (re-chained) at once, so the range starts there, not at the cut.
        for cp in self.pending:
            self.findings.append(
                Finding(
                    "truncated",
                    self.last_good_size,
                    None,
                    f"a checkpoint signed size {cp.tree_size}, the ledger holds {self.tree.size}: "
                    f"entries {self.tree.size}..{cp.tree_size - 1} are gone, and "
                    f"{self.last_good_size}..{self.tree.size - 1} are confirmed by no checkpoint",
                    cp.tree_size - 1,
                )
            )


def verify_ledger(
    rows: Iterable[Mapping[str, Any]],
    checkpoints: Iterable[str],
    verifier: CheckpointVerifier,
    *,
    ledger_id: str | None = None,
) -> list[Finding]:
    """Every finding in the ledger; an empty list means it verifies against the checkpoints."""
    opened, findings = open_checkpoints(checkpoints, verifier, ledger_id)
    scan = _LedgerScan([cp for cp in opened if cp.tree_size > 0])
    for position, row in enumerate(rows):
        scan.scan(position, row)
    scan.finish()
    return findings + scan.findings


def verify_history(
    rows: Sequence[Mapping[str, Any]],
    *,
    checkpoint_note: str,
    verifier: CheckpointVerifier,
    proofs: Mapping[int, Sequence[bytes]],
    ledger_id: str | None = None,
) -> list[Finding]:
    """Check one ticket's full history: its chain from genesis, and that each entry is in
    the tree the checkpoint signs (``proofs`` maps ledger seq to its inclusion path)."""
    opened, findings = open_checkpoints([checkpoint_note], verifier, ledger_id)
    if not opened:
        return findings
    cp = opened[0]
    scan = _LedgerScan([])
    for position, row in enumerate(rows):
        try:
            entry = LedgerEntry.from_row(row)
        except (LedgerEntryError, ValueError, TypeError) as err:
            findings.append(Finding("malformed_row", position, None, str(err)))
            continue
        expected, leaf = entry.checked_hashes()
        scan.check_chain(entry, expected)
        try:
            verify_inclusion(
                leaf=leaf,
                leaf_index=entry.ledger_seq,
                tree_size=cp.tree_size,
                path=proofs.get(entry.ledger_seq, ()),
                root=cp.root_hash,
            )
        except InvalidProofError as err:
            findings.append(Finding("not_in_tree", entry.ledger_seq, entry.ticket_id, str(err)))
    return findings + scan.findings
