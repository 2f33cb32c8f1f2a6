"""A rebuild's COPY of the facts (text lines built by fact_store.copy_line) stores each fact
as it is: text with tabs, newlines and backslashes, any time zone, attrs of every JSON kind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import ensure_database
from services.analytics.adapters.fact_store import all_facts, create_tables, fact_copy
from services.analytics.domain.facts import Fact
from services.analytics.settings import AnalyticsSettings

TRICKY = ["plain", "tab\there", "line\nbreak\r\n", "back\\slash\\n", "引号\"和'单引号'", "\\N", ""]


def test_copied_facts_read_back_equal(infra, unique) -> None:
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"facts_{unique}")
    ensure_database(settings)
    at = datetime(2026, 12, 5, 23, 59, 59, 123456, tzinfo=UTC)
    facts = [Fact(str(uuid.uuid4()), f"T-{i}-{text}", "submitted",
                  at.astimezone(timezone(timedelta(hours=8))) if i % 2 else at.replace(microsecond=0),
                  {"text": text, "n": i, "ok": i % 2 == 0, "none": None, "list": [text, 1.5],
                   "nested": {"k\t": text}})
             for i, text in enumerate(TRICKY)]
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=1) as pool:
        try:
            create_tables(pool, settings.schema)
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cur, \
                    fact_copy(cur, settings.schema) as keep:
                keep(facts[:3])
                keep(facts[3:])
            stored = [f for page in all_facts(pool, settings.schema) for f in page]
            assert [(f.event_id, f.ticket_id, f.kind, f.at, f.attrs) for f in stored] == \
                   [(f.event_id, f.ticket_id, f.kind, f.at, f.attrs) for f in facts]
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(Identifier(settings.schema)))
