"""Who read which history, when: an append-only table (the same triggers as the ledger)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from backbone.auth import Principal


class AccessLog:
    def __init__(self, pool: Any, schema: str):
        self.pool, self.s = pool, Identifier(schema)

    def record(self, who: Principal, *, action: str, target: str, via: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                SQL("INSERT INTO {}.access_log (sub, role, unit, action, target, via)"
                    " VALUES (%s, %s, %s, %s, %s, %s)").format(self.s),
                (who.sub, who.role, who.unit, action, target, via))

    def listing(self, *, after: int, limit: int, target: str = "") -> list[dict[str, Any]]:
        where = "WHERE id > %s" + (" AND target = %s" if target else "")
        params: tuple[Any, ...] = (after, target, limit) if target else (after, limit)
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                SQL("SELECT id, at, sub, role, unit, action, target, via FROM {}.access_log "
                    + where + " ORDER BY id LIMIT %s").format(self.s), params).fetchall()
        return [{**r, "at": r["at"].isoformat()} for r in rows]
