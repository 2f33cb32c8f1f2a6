"""(c) The limits we are measured against, on the same machine in the same run:
Kafka's own producer performance tool at our median envelope size (acks=all), and batched
INSERTs into PostgreSQL of rows that size (500 rows a transaction)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from backbone.kafka import LIFECYCLE_PARTITIONS, ensure_topics
from backbone.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
KAFKA_LIBS = ROOT / ".data" / "kafka" / "libs"
SUMMARY = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency,"
                     r" ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th")


@dataclass(frozen=True)
class KafkaRun:
    records: int
    record_bytes: int
    per_second: float
    mb_per_second: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class PostgresRun:
    rows: int
    row_bytes: int
    batch: int
    seconds: float
    rows_per_second: float


def kafka_producer(topic: str, *, records: int, record_bytes: int, bootstrap: str) -> KafkaRun:
    """The broker creates no topics by itself: make one shaped like the lifecycle topic."""
    settings = ServiceSettings(kafka_bootstrap=bootstrap, service="bench")
    asyncio.run(ensure_topics(settings, {topic: LIFECYCLE_PARTITIONS}))
    command = ["java", "-Xmx512m", "-cp", f"{KAFKA_LIBS}/*", "org.apache.kafka.tools.ProducerPerformance",
               "--topic", topic, "--num-records", str(records), "--record-size", str(record_bytes),
               "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    found = SUMMARY.findall(done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"ProducerPerformance failed ({done.returncode}): {done.stderr[-800:]}")
    sent, rate, mb, _, _, p50, _, p99 = found[-1]
    return KafkaRun(int(sent), record_bytes, float(rate), float(mb), float(p50), float(p99))


def postgres_inserts(settings: ServiceSettings, *, rows: int, row_bytes: int, batch: int = 500) -> PostgresRun:
    """``rows`` rows of ``row_bytes`` bytes, ``batch`` per transaction, in a throw-away schema."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    payload = os.urandom(row_bytes)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        table = sql.Identifier(schema, "events")
        conn.execute(sql.SQL("CREATE TABLE {} (seq bigserial PRIMARY KEY, event_id uuid NOT NULL,"
                             " ticket_id uuid NOT NULL, payload bytea NOT NULL,"
                             " recorded_at timestamptz NOT NULL DEFAULT now())").format(table))
        insert = sql.SQL("INSERT INTO {} (event_id, ticket_id, payload) VALUES (%s, %s, %s)").format(table)
        try:
            began = time.perf_counter()
            with conn.cursor() as cur:
                for start in range(0, rows, batch):
                    n = min(batch, rows - start)
                    with conn.transaction():
                        cur.executemany(insert, [(uuid.uuid4(), uuid.uuid4(), payload) for _ in range(n)])
            seconds = time.perf_counter() - began
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return PostgresRun(rows, row_bytes, batch, round(seconds, 2), round(rows / seconds, 1))
