"""The ledger's tables, and the database's refusal to change them.

Four tables only ever grow: `ledger` (one row per consumed message), `merkle_node` (hashes of
perfect subtrees, see domain/merkle.py), `checkpoints` (signed tree heads) and `access_log`
(who read which history). Two independent locks keep them that way:

* triggers that raise on UPDATE, DELETE (per row) and TRUNCATE (per statement), whoever asks;
* privileges: the service writes as a role that may only SELECT and INSERT them, and PUBLIC
  may not UPDATE, DELETE or TRUNCATE them.

A superuser can still switch the triggers off (ALTER TABLE ... DISABLE TRIGGER): that is what
the hash chains and the signed checkpoints are for, and what the mutation test does.
"""

from __future__ import annotations

import psycopg
from psycopg.sql import SQL, Identifier

APPEND_ONLY = ("ledger", "merkle_node", "checkpoints", "access_log")
CONSUMER_TABLES = ("consumer_positions", "consumed_events", "event_context", "relay_positions")

_TABLES = [
    """CREATE TABLE IF NOT EXISTS {s}.ledger (
        ledger_seq bigint PRIMARY KEY CHECK (ledger_seq >= 0),
        event_id text NOT NULL UNIQUE,
        topic text NOT NULL,
        partition int NOT NULL,
        "offset" bigint NOT NULL,
        ticket_id text NOT NULL,
        ticket_code text NOT NULL,
        ticket_seq bigint NOT NULL,
        event_type text NOT NULL,
        producer text NOT NULL,
        occurred_at timestamptz,
        event bytea NOT NULL,
        prev_hash bytea NOT NULL,
        entry_hash bytea NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (ticket_id, ticket_seq))""",
    "CREATE INDEX IF NOT EXISTS ledger_by_code ON {s}.ledger (ticket_code) WHERE ticket_code <> ''",
    """CREATE TABLE IF NOT EXISTS {s}.merkle_node (
        level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
        PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS {s}.checkpoints (
        tree_size bigint PRIMARY KEY, root_hash bytea NOT NULL, signed_at timestamptz NOT NULL,
        key_name text NOT NULL, note text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.access_log (
        id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
        sub text NOT NULL, role text NOT NULL, unit text NOT NULL,
        action text NOT NULL, target text NOT NULL, via text NOT NULL)""",
    # hash-chained since issue 18 (backbone/access_log.py); older rows stay unchained
    "ALTER TABLE {s}.access_log ADD COLUMN IF NOT EXISTS why text NOT NULL DEFAULT ''",
    "ALTER TABLE {s}.access_log ADD COLUMN IF NOT EXISTS prev_hash bytea",
    "ALTER TABLE {s}.access_log ADD COLUMN IF NOT EXISTS entry_hash bytea",
    """CREATE OR REPLACE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'the audit table %.% is append-only: % refused',
           TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
       END $$""",
]


def _protect(table: str) -> list[str]:
    t = "{s}." + table
    return [
        f"CREATE OR REPLACE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {t}"
        " FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change()",
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {t}"
        " FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change()",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {t} FROM PUBLIC",
    ]


def _grants(role: str) -> list[str]:
    r = "{r}"
    out = [
        "DO $$ BEGIN CREATE ROLE " + r + " NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL;"
        " END $$",
        "GRANT USAGE ON SCHEMA {s} TO " + r,
        "GRANT USAGE ON SEQUENCE {s}.access_log_id_seq TO " + r,
    ]
    for table in APPEND_ONLY:
        out += ["GRANT SELECT, INSERT ON {s}." + table + " TO " + r,
                "REVOKE UPDATE, DELETE, TRUNCATE ON {s}." + table + " FROM " + r]
    out += ["GRANT SELECT, INSERT, UPDATE ON {s}." + t + " TO " + r for t in CONSUMER_TABLES]
    return out


def create_tables(conninfo: str, schema: str, writer_role: str) -> None:
    """Create (idempotently) the ledger tables, their triggers, and the writer role's rights.

    Several replicas may start at once: an advisory lock makes them take turns."""
    statements = [*_TABLES]
    for table in APPEND_ONLY:
        statements += _protect(table)
    if writer_role:
        statements += _grants(writer_role)
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"audit-ddl:{schema}",))
        for text in statements:
            conn.execute(SQL(text).format(s=Identifier(schema), r=Identifier(writer_role or "x")))


def writer_conninfo(conninfo: str, writer_role: str) -> str:
    """The connection string whose sessions act as the writer role from their first query."""
    if not writer_role:
        return conninfo
    return f"{conninfo} options='-c role={writer_role}'"
