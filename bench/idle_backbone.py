"""Idle cost of the backbone in one process: an outbox relay and an idempotent consumer with
nothing to do, measured from /proc (this process's CPU, and the PostgreSQL backends' CPU for
the connections it opened).

    python -m bench.idle_backbone [--seconds 20] [--relay-module backbone.relay]
        [--consumer-module backbone.consumer]

`--relay-module` / `--consumer-module` take a module file path too, so a previous version
(`git show <rev>:backbone/relay.py > /tmp/relay_old.py`) can be measured side by side.
Creates a throw-away schema and topic prefix and removes the schema at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import os
import sys
import time
import uuid
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.kafka import ensure_topics, make_producer
from backbone.settings import ServiceSettings
from backbone.store import application_env, ensure_database

TICKS = os.sysconf("SC_CLK_TCK")


def _module(name: str) -> Any:
    if name.endswith(".py"):
        spec = importlib.util.spec_from_file_location(f"_bench_{abs(hash(name))}", name)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(name)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def scans(settings: ServiceSettings) -> int:
    """Table scans (sequential and index) on the benchmark's schema so far: how often the
    idle relay and consumer read."""
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)"
                           " FROM pg_stat_user_tables WHERE schemaname = %s",
                           (settings.schema,)).fetchone()
    return int(row[0]) if row else 0


async def measure(seconds: float, relay_module: str, consumer_module: str) -> dict[str, float]:
    unique = uuid.uuid4().hex[:8]
    settings = ServiceSettings(service="intake", environment="development",
                               pg_schema=f"idle_{unique}", topic_prefix=f"idle{unique}.")
    ensure_database(settings)
    await ensure_topics(settings, {settings.lifecycle_topic: 12,
                                   settings.dead_letter_topic: 1})
    relays, consumers = _module(relay_module), _module(consumer_module)
    app = Application(env=application_env(settings))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    producer = make_producer(settings)
    await producer.start()
    relay = relays.OutboxRelay(settings=settings, app=app, pool=pool,
                               translate=lambda pub: [])
    consumer = consumers.IdempotentConsumer(
        name="idle", settings=settings, pool=pool, topics=[settings.lifecycle_topic],
        handlers=consumers.Handlers({"TicketAccepted": lambda *a: None}), producer=producer)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    try:
        await asyncio.sleep(5)  # started, joined the group, first rounds done
        scans0 = scans(settings)
        own0, wall0 = cpu_seconds(os.getpid()), time.monotonic()
        await asyncio.sleep(seconds)
        own1, wall1 = cpu_seconds(os.getpid()), time.monotonic()
        await asyncio.sleep(1)  # table statistics reach the views about a second late
        scans1 = scans(settings)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=15)
        await producer.stop()
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(settings.schema)))
    wall = wall1 - wall0
    return {"seconds": round(wall, 1),
            "process_cpu_pct_of_core": round(100 * (own1 - own0) / wall, 2),
            "reads_of_its_tables_per_s": round((scans1 - scans0) / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--relay-module", default="backbone.relay")
    parser.add_argument("--consumer-module", default="backbone.consumer")
    args = parser.parse_args()
    print(asyncio.run(measure(args.seconds, args.relay_module, args.consumer_module)))


if __name__ == "__main__":
    main()
