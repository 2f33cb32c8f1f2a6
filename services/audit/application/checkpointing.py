"""Signing checkpoints: the tree head (size, root, time), signed whenever the ledger grew."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.audit.adapters.checkpoint_store import CheckpointStore, StoredCheckpoint
from services.audit.adapters.ledger_store import LedgerReader
from services.audit.domain.checkpoint import Checkpoint, CheckpointSigner

log = logging.getLogger(__name__)

Publish = Callable[[StoredCheckpoint], Awaitable[None]]


class Checkpointer:
    def __init__(self, *, reader: LedgerReader, store: CheckpointStore, signer: CheckpointSigner,
                 ledger_id: str):
        self.reader, self.store, self.signer, self.ledger_id = reader, store, signer, ledger_id

    def sign_if_grown(self, now: datetime | None = None) -> StoredCheckpoint | None:
        """Sign the current tree head if the ledger grew since the last checkpoint.

        The root of size n never changes once the first n entries are in, so a head read while
        appends continue is still a true head of the ledger."""
        latest = self.store.latest()
        with self.reader.pool.connection() as conn:
            tree = self.reader.tree(conn)
            size = tree.size
            if size == 0 or (latest is not None and latest.tree_size >= size):
                return None
            root = tree.root(size)
        when = now or datetime.now(UTC)
        if latest is not None and when < latest.signed_at:
            when = latest.signed_at  # a clock step back must not make the heads disagree in time
        checkpoint = Checkpoint(self.ledger_id, size, root, when.replace(microsecond=0))
        note = self.signer.sign(checkpoint)
        if not self.store.add(checkpoint, note, self.signer.name):
            return None  # another replica signed this size first
        return StoredCheckpoint(size, root, checkpoint.timestamp, note)

    def loop(self, interval_s: float, publish: Publish | None = None,
             leader: Callable[[], bool] | None = None,
             until_grown: Callable[[asyncio.Event], Awaitable[None]] | None = None
             ) -> Callable[[asyncio.Event], Awaitable[None]]:
        """``leader``: with several replicas, the one that signs now (the holder of the
        lifecycle topic's partition 0, backbone/ownership.py); None: this one always. Should
        two sign at once around a rebalance, the store keeps the first head of each size.
        ``until_grown``: waits until entries were appended (the ledger consumer's commit
        NOTIFY) or a fallback passed, so an idle ledger is not looked at every interval;
        then a head is signed at most every ``interval_s``. None: look every interval."""
        async def sign_checkpoints(stop: asyncio.Event) -> None:
            while not stop.is_set():
                try:
                    signed = None
                    if leader is None or leader():
                        signed = await asyncio.to_thread(self.sign_if_grown)
                    if signed is not None and publish is not None:
                        await publish(signed)
                except Exception:
                    log.exception("signing a checkpoint failed; will retry")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
                except TimeoutError:
                    pass
                if until_grown is not None and not stop.is_set():
                    await until_grown(stop)

        return sign_checkpoints
