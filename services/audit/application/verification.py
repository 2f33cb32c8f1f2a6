"""Checking the stored ledger, and handing out proofs an outside auditor can check alone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from services.audit.adapters.checkpoint_store import CheckpointStore
from services.audit.adapters.ledger_store import LedgerReader, PgSubtreeHashStore
from services.audit.application.histories import finding_json
from services.audit.domain.bundle import consistency_bundle, inclusion_bundle
from services.audit.domain.chain import LedgerEntry, LedgerEntryError
from services.audit.domain.checkpoint import CheckpointVerifier
from services.audit.domain.merkle import NodeKey, ProofError, node_hash
from services.audit.domain.verify import Finding, verify_ledger


class ProofRequestError(ValueError):
    """A proof was asked for that cannot exist (a size never signed, an entry not yet in it)."""


class StoredTreeCheck:
    """Rebuild every perfect subtree from the ledger rows as they stream by and compare it
    with the stored node: a stored hash that differs would make proofs of its leaves fail for
    the auditors, so it is located here first (to the leaves it covers)."""

    BATCH = 5000

    def __init__(self, reader: LedgerReader):
        self.reader = reader
        self.stack: list[tuple[int, bytes]] = []
        self.size = 0
        self.pending: dict[NodeKey, bytes] = {}
        self.findings: list[Finding] = []

    def watch(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for position, row in enumerate(rows):
            if row["ledger_seq"] == position:  # gaps and disorder are the scan's findings
                try:
                    self._leaf(LedgerEntry.from_row(row).leaf_hash())
                except (LedgerEntryError, ValueError, TypeError):
                    pass
            yield row

    def _leaf(self, h: bytes) -> None:
        index, level = self.size, 0
        self.pending[(0, index)] = h
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            h = node_hash(left, h)
            level, index = level + 1, index >> 1
            self.pending[(level, index)] = h
        self.stack.append((level, h))
        self.size += 1
        if len(self.pending) >= self.BATCH:
            self._compare()

    def _compare(self) -> None:
        keys = list(self.pending)
        with self.reader.pool.connection() as conn:
            stored = PgSubtreeHashStore(conn.cursor(), self.reader.schema).get_some(keys)
        for key in keys:
            if stored.get(key) != self.pending[key]:
                self._mismatch(key)
        self.pending.clear()

    def _mismatch(self, key: NodeKey) -> None:
        level, idx = key
        first, last = idx << level, ((idx + 1) << level) - 1
        self.findings.append(Finding("stored_tree_mismatch", first, None,
                                     f"stored subtree hash ({level}, {idx}) is not the hash of "
                                     f"entries {first}..{last}", last))

    def finish(self) -> list[Finding]:
        if self.pending:
            self._compare()
        # report the smallest mismatching subtrees only: their ancestors differ as a consequence
        if len(self.findings) > 1000:
            return self.findings
        return [f for f in self.findings
                if not any(g is not f and _within(g, f) for g in self.findings)]


def _within(inner: Finding, outer: Finding) -> bool:
    assert inner.ledger_seq is not None and outer.ledger_seq is not None
    return outer.ledger_seq <= inner.ledger_seq and (inner.last_seq or 0) <= (outer.last_seq or 0)


class Verification:
    def __init__(self, *, reader: LedgerReader, checkpoints: CheckpointStore,
                 verifier: CheckpointVerifier, ledger_id: str):
        self.reader, self.checkpoints = reader, checkpoints
        self.verifier, self.ledger_id = verifier, ledger_id

    def verify(self) -> dict[str, Any]:
        """Stream the whole ledger once: chains, order, offsets, every signed root, and the
        stored subtree hashes that proofs are served from."""
        notes = self.checkpoints.notes()
        tree_check = StoredTreeCheck(self.reader)
        findings = verify_ledger(tree_check.watch(self.reader.stream()), notes, self.verifier,
                                 ledger_id=self.ledger_id)
        findings += tree_check.finish() + self._stored_tree_findings()
        size = self.reader.size()
        latest = self.checkpoints.latest()
        return {
            "ok": not findings,
            "ledger_size": size,
            "checkpoints": len(notes),
            "latest_checkpoint": latest.tree_size if latest else 0,
            "unconfirmed_entries": size - (latest.tree_size if latest else 0),
            "findings": [finding_json(f) for f in findings],
        }

    def _stored_tree_findings(self) -> list[Finding]:
        """The stored subtree hashes (which proofs are built from) must give the signed root."""
        latest = self.checkpoints.latest()
        if latest is None:
            return []
        with self.reader.pool.connection() as conn:
            try:
                root = self.reader.tree(conn, cached=False).root(latest.tree_size)
            except (KeyError, ProofError) as exc:
                return [Finding("stored_tree_incomplete", None, None, f"missing node {exc}")]
        if root != latest.root_hash:
            return [Finding("stored_tree_mismatch", 0, None,
                            f"stored subtree hashes do not give the root signed for size "
                            f"{latest.tree_size}: proofs served from them would fail",
                            latest.tree_size - 1)]
        return []

    def inclusion(self, ledger_seq: int, tree_size: int | None = None) -> dict[str, Any]:
        """Proof that entry ``ledger_seq`` is in the signed tree of ``tree_size`` (default: the
        newest checkpoint)."""
        cp = (self.checkpoints.latest() if tree_size is None
              else self.checkpoints.at_size(tree_size))
        if cp is None:
            raise ProofRequestError(f"no checkpoint signed for tree size {tree_size}"
                                    if tree_size is not None else "no checkpoint signed yet")
        if not 0 <= ledger_seq < cp.tree_size:
            raise ProofRequestError(
                f"entry {ledger_seq} is not in the tree of size {cp.tree_size}")
        rows = self.reader.page(ledger_seq, 1)
        with self.reader.pool.connection() as conn:
            path = self.reader.tree(conn).inclusion_proof(ledger_seq, cp.tree_size)
        return inclusion_bundle(entry=LedgerEntry.from_row(rows[0]), path=path,
                                checkpoint_note=cp.note, public_key=self.verifier.vkey())

    def consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        """Proof that the signed tree of ``first`` entries is a prefix of the one of ``second``
        (default: the newest checkpoint)."""
        old = self.checkpoints.at_size(first)
        new = (self.checkpoints.latest() if second is None
               else self.checkpoints.at_size(second))
        if old is None or new is None:
            missing = first if old is None else second
            raise ProofRequestError(f"no checkpoint signed for tree size {missing}")
        if old.tree_size > new.tree_size:
            raise ProofRequestError(f"size {first} is after {new.tree_size}: ask the other way")
        with self.reader.pool.connection() as conn:
            path = self.reader.tree(conn).consistency_proof(old.tree_size, new.tree_size)
        return consistency_bundle(old_checkpoint_note=old.note, new_checkpoint_note=new.note,
                                  path=path, public_key=self.verifier.vkey())
