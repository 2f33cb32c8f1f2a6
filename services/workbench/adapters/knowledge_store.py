"""The knowledge base's table, in the workbench's schema; searched by bigrams like the list."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from services.workbench.domain.knowledge import KnowledgeEntry
from services.workbench.domain.search import bigrams, query_terms


class KnowledgeStore:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.s = Identifier(schema)

    def create_tables(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(SQL(
                "CREATE TABLE IF NOT EXISTS {}.knowledge ("
                " id bigserial PRIMARY KEY, topic text NOT NULL, question text NOT NULL,"
                " answer text NOT NULL, source text NOT NULL, source_date date NOT NULL,"
                " unit text NOT NULL DEFAULT '', keywords jsonb NOT NULL DEFAULT '[]',"
                " grams text[] NOT NULL, edited_by text NOT NULL,"
                " edited_at timestamptz NOT NULL DEFAULT now(),"
                " retired boolean NOT NULL DEFAULT false)").format(self.s))
            conn.execute(SQL("CREATE INDEX IF NOT EXISTS knowledge_grams ON {}.knowledge"
                             " USING gin (grams)").format(self.s))

    def seed(self) -> int:
        """The starting entries (data/knowledge.json), once, into an empty base."""
        with self.pool.connection() as conn:
            found = conn.execute(SQL("SELECT count(*) FROM {}.knowledge").format(self.s)
                                 ).fetchone()
            if found and found[0]:
                return 0
        raw = resources.files("services.workbench").joinpath("data", "knowledge.json")
        entries = [KnowledgeEntry(**e) for e in json.loads(raw.read_text("utf-8"))]
        for entry in entries:
            self.add(entry, by="seed")
        return len(entries)

    def _values(self, entry: KnowledgeEntry) -> list[Any]:
        return [entry.topic, entry.question, entry.answer, entry.source, entry.source_date,
                entry.unit, Jsonb(entry.keywords), bigrams(entry.searchable())]

    def add(self, entry: KnowledgeEntry, *, by: str) -> dict[str, Any]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(SQL(
                "INSERT INTO {}.knowledge (topic, question, answer, source, source_date, unit,"
                " keywords, grams, edited_by) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " RETURNING id, topic, question, answer, source, source_date, unit, keywords,"
                " edited_by, edited_at").format(self.s),
                [*self._values(entry), by]).fetchone()  # type: ignore[return-value]

    def update(self, entry_id: int, entry: KnowledgeEntry, *, by: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(SQL(
                "UPDATE {}.knowledge SET topic=%s, question=%s, answer=%s, source=%s,"
                " source_date=%s, unit=%s, keywords=%s, grams=%s, edited_by=%s,"
                " edited_at=now() WHERE id=%s AND NOT retired"
                " RETURNING id, topic, question, answer, source, source_date, unit, keywords,"
                " edited_by, edited_at").format(self.s),
                [*self._values(entry), by, entry_id]).fetchone()

    def retire(self, entry_id: int, *, by: str) -> bool:
        with self.pool.connection() as conn:
            done = conn.execute(SQL("UPDATE {}.knowledge SET retired = true, edited_by = %s,"
                                    " edited_at = now() WHERE id = %s AND NOT retired"
                                    ).format(self.s), (by, entry_id))
            return done.rowcount == 1

    def get(self, entry_id: int) -> dict[str, Any] | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(SQL(
                "SELECT id, topic, question, answer, source, source_date, unit, keywords,"
                " edited_by, edited_at FROM {}.knowledge WHERE id = %s AND NOT retired"
            ).format(self.s), (entry_id,)).fetchone()

    def search(self, query: str, *, topic: str = "", limit: int = 10) -> list[dict[str, Any]]:
        """Entries sharing the most bigrams with the query (all of them when it is empty)."""
        grams = sorted({g for t in query_terms(query) for g in bigrams(t)})
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(SQL(
                "SELECT id, topic, question, answer, source, source_date, unit, keywords,"
                " edited_by, edited_at,"
                " cardinality(ARRAY(SELECT unnest(grams) INTERSECT SELECT unnest(%s::text[])))"
                "  AS shared FROM {}.knowledge WHERE NOT retired"
                " AND (cardinality(%s::text[]) = 0 OR grams && %s::text[])"
                " AND (%s = '' OR topic = %s)"
                " ORDER BY shared DESC, source_date DESC, id LIMIT %s").format(self.s),
                (grams, grams, grams, topic, topic, limit)).fetchall()
        for r in rows:
            r["score"] = round(r.pop("shared") / max(len(grams), 1), 3)
        return [r for r in rows if not grams or r["score"] >= 0.2]


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k, v in out.items():
        if isinstance(v, date):
            out[k] = v.isoformat()
    return out
