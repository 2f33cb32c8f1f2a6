"""Surge alerts as the dashboard lists them: one row per SurgeDetected event (event id
unique), written in the lifecycle consumer's transaction, so each alert is kept once."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL(
            "CREATE TABLE IF NOT EXISTS {}.surges ("
            " event_id uuid PRIMARY KEY, subject text NOT NULL, county text NOT NULL,"
            " subcategory text NOT NULL, window_start timestamptz NOT NULL,"
            " window_end timestamptz NOT NULL, count int NOT NULL, baseline double precision"
            " NOT NULL, threshold int NOT NULL, detected_at timestamptz NOT NULL,"
            " ticket_codes jsonb NOT NULL,"
            " recorded_at timestamptz NOT NULL DEFAULT clock_timestamp())")
            .format(Identifier(schema)))


def insert_alert(cur: psycopg.Cursor[Any], schema: str, event_id: str, subject: str,
                 p: Any) -> None:
    cur.execute(SQL(
        "INSERT INTO {}.surges (event_id, subject, county, subcategory, window_start,"
        " window_end, count, baseline, threshold, detected_at, ticket_codes)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
        .format(Identifier(schema)),
        (event_id, subject, p.county, p.subcategory, p.window_start, p.window_end, p.count,
         p.baseline, p.threshold, p.detected_at, Jsonb(list(p.ticket_codes))))


def recent(pool: ConnectionPool, schema: str, limit: int) -> list[dict[str, Any]]:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SQL(
            "SELECT subject, county, subcategory, window_start, window_end, count, baseline,"
            " threshold, detected_at, ticket_codes FROM {}.surges"
            " ORDER BY detected_at DESC LIMIT %s").format(Identifier(schema)), (limit,))
        return cur.fetchall()
