"""A rebuild's COPY of the facts (binary rows built by fact_store.copy_row; text lines by
copy_line on a connection not in UTF-8) stores each fact as it is: text with tabs, newlines
and backslashes, any time zone, attrs of every JSON kind; both ways store the same rows."""

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


def _stored_rows(pool: ConnectionPool, schema: str) -> list[tuple[object, ...]]:
    with pool.connection() as conn:
        return conn.execute(SQL("SELECT seq, event_id, ticket_id, kind, at, attrs::text FROM {}.facts"
                                " ORDER BY seq").format(Identifier(schema))).fetchall()


def test_binary_and_text_copies_store_the_same_rows(infra, unique) -> None:
    """The binary COPY (fact_store.copy_row) stores what the text lines (copy_line) store:
    the same uuid (whatever form of it uuid's input takes), text, microseconds and jsonb."""
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"facts_{unique}")
    ensure_database(settings)
    at = datetime(2026, 12, 5, 23, 59, 59, 123456, tzinfo=UTC)
    ids = [uuid.uuid4() for _ in TRICKY]
    forms = [str, lambda u: str(u).upper(), lambda u: u.hex, lambda u: "{" + str(u) + "}",
             lambda u: "-".join(u.hex[i:i + 4] for i in range(0, 32, 4))]
    facts = [Fact(forms[i % len(forms)](ids[i]), f"T-{i}-{text}", kind,
                  at.astimezone(timezone(timedelta(hours=-i))) - timedelta(days=400 * i,
                                                                           microseconds=i),
                  {"text": text, "n": i, "f": i / 3, "none": None, "list": [text, "\u2028"],
                   "nested": {"k\t": text, "e": "\x01\x1f"}})
             for i, (text, kind) in enumerate(zip(TRICKY, ["submitted", "accepted", "assigned",
                                                          "closed", "rated", "callback",
                                                          "reopened"], strict=True))]
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=1) as pool:
        try:
            create_tables(pool, settings.schema)
            stored = []
            for binary in (True, False):
                with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    cur.execute(SQL("TRUNCATE {}.facts RESTART IDENTITY")
                                .format(Identifier(settings.schema)))
                    with fact_copy(cur, settings.schema, binary=binary) as keep:
                        keep(facts[:2])
                        keep(facts[2:])
                stored.append(_stored_rows(pool, settings.schema))
            assert stored[0] == stored[1]
            assert [r[1] for r in stored[0]] == ids
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(Identifier(settings.schema)))


def test_uuid_bytes_takes_what_postgresql_takes(infra) -> None:
    """fact_store.uuid_bytes (the binary COPY's event ids) against PostgreSQL's uuid input:
    the same 16 bytes for every form it takes, an error for every form it refuses."""
    import random

    import psycopg

    from services.analytics.adapters.fact_store import uuid_bytes
    u = uuid.UUID("0123abcd-4567-89ef-aBcD-0123456789ab")
    s, h = str(u), u.hex
    cases = [s, s.upper(), h, "{" + s + "}", "{" + h + "}", "", s + " ", " " + s, s[:-1],
             s + "0", "{" + s, s + "}", "urn:uuid:" + s, s[:35] + "g", s[:8] + " " + s[9:],
             h[:4] + "-" + h[4:], h[:3] + "-" + h[3:], "-" + h, h + "-", h[:4] + "--" + h[4:],
             s.replace("-", " "), s[:9] + "\u0663" + s[10:], "{" + h + "}x", h[:30] + " 12",
             s[:8] + "\t" + s[9:], s[:8] + "\n" + s[9:]]
    rnd = random.Random(13)
    for _ in range(500):
        chars = list(rnd.choice([s, h, "{" + s + "}"]))
        for _ in range(rnd.randint(1, 2)):
            i = rnd.randrange(len(chars) + 1)
            op, c = rnd.randint(0, 2), rnd.choice("-0aF{} g")
            if op == 0:
                chars.insert(i, c)
            elif i < len(chars):
                if op == 1:
                    del chars[i]
                else:
                    chars[i] = c
        cases.append("".join(chars))
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        for text in cases:
            try:
                theirs = conn.execute("SELECT %s::text::uuid", (text,)).fetchone()[0].bytes
            except psycopg.DataError:
                theirs = None
            try:
                mine = uuid_bytes(text)
            except psycopg.DataError:
                mine = None
            assert mine == theirs, text
