"""Signed checkpoints as stored: one row per signed tree size, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from services.audit.domain.checkpoint import Checkpoint


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    note: str


def _stored(row: dict[str, Any]) -> StoredCheckpoint:
    return StoredCheckpoint(int(row["tree_size"]), bytes(row["root_hash"]), row["signed_at"],
                            row["note"])


class CheckpointStore:
    def __init__(self, pool: Any, schema: str):
        self.pool, self.s = pool, Identifier(schema)

    def add(self, checkpoint: Checkpoint, note: str, key_name: str) -> bool:
        """Store a signed checkpoint; False when that size is already signed."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                SQL("INSERT INTO {}.checkpoints (tree_size, root_hash, signed_at, key_name, note)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tree_size) DO NOTHING")
                .format(self.s),
                (checkpoint.tree_size, checkpoint.root_hash, checkpoint.timestamp, key_name, note))
            return cur.rowcount == 1

    def _query(self, where: str, params: tuple[Any, ...] = ()) -> list[StoredCheckpoint]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                SQL("SELECT tree_size, root_hash, signed_at, note FROM {}.checkpoints "
                    + where).format(self.s), params).fetchall()
        return [_stored(r) for r in rows]

    def latest(self) -> StoredCheckpoint | None:
        found = self._query("ORDER BY tree_size DESC LIMIT 1")
        return found[0] if found else None

    def at_size(self, tree_size: int) -> StoredCheckpoint | None:
        found = self._query("WHERE tree_size = %s", (tree_size,))
        return found[0] if found else None

    def covering(self, tree_size: int) -> StoredCheckpoint | None:
        """The smallest checkpoint whose tree holds the first ``tree_size`` entries."""
        found = self._query("WHERE tree_size >= %s ORDER BY tree_size LIMIT 1", (tree_size,))
        return found[0] if found else None

    def listing(self, after: int = -1, limit: int = 100) -> list[StoredCheckpoint]:
        return self._query("WHERE tree_size > %s ORDER BY tree_size LIMIT %s", (after, limit))

    def notes(self) -> list[str]:
        return [c.note for c in self._query("ORDER BY tree_size")]
