"""The backbone's two write paths at full speed, on a throw-away schema and topic prefix:

- event store: aggregates appended through group commit (each with its event context and,
  as intake saves them, the relay's messages made at commit), appends/s; compare with the raw
  batched INSERT of bench.limits;
- relay: the stored events published by the outbox relay (read, send the messages made at
  commit with acks=all, record the position), messages/s; compare with Kafka's
  ProducerPerformance.

    python -m bench.backbone_rates [--events 20000]

Reports JSON; `measure()` is what bench.run can call with its isolated settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from minsheng.v1 import intake_events_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.group_commit import GroupCommitter
from backbone.kafka import drop_topics, ensure_topics
from backbone.relay import OutboxRelay, Outgoing, Publication, _record
from backbone.settings import ServiceSettings
from backbone.store import EventContext, application_env, ensure_database


class Probe(Aggregate):
    @event("Opened")
    def __init__(self, ticket_id: str, text: str) -> None:
        self.ticket_id = ticket_id
        self.text = text


async def drain(relay: OutboxRelay, n: int) -> int:
    """Run the relay until ``n`` messages are sent or nothing is left; the number sent."""
    sent = 0
    while sent < n:
        got = await relay.run_once()
        if got <= 0:
            break
        sent += got
    await relay.settle()  # the last round's position, recorded
    return sent


async def save_all(committer: GroupCommitter, probes: list[Probe], in_flight: int = 256) -> None:
    """Save every probe through group commit with ``in_flight`` commands waiting at any time,
    as under load: that many callers, each saving its next probe as soon as its last one is
    committed (a task per probe behind a semaphore cost the harness a quarter of the CPU)."""
    pending = iter(probes)

    async def caller() -> None:
        for p in pending:
            # with a trace id, as intake's saves always have (its request's): without one
            # the relay's messages derived it from the event id, a cost only the bench paid
            await committer.save_async(p, context=EventContext(
                ticket_id=p.ticket_id, trace_id=p.ticket_id.replace("-", "")))

    await asyncio.gather(*[caller() for _ in range(in_flight)])


def _translate(topic: str, sizes: list[int]) -> Any:
    def translate(pub: Publication) -> list[Outgoing]:
        env = pub.envelope(intake_events_pb2.TicketAccepted(flags=["no_location"]))
        out = [Outgoing(topic, env.ticket_id, env)]
        if not sizes:  # the message's size, for the limits at the same size
            sizes.extend(record_bytes(_record(out[0])))
        return out

    return translate


def record_bytes(record: Any) -> tuple[int, int]:
    """(the whole record's bytes, the envelope's) of one message as the relay sends it. A
    record is its key, its value (the envelope) and its headers (the envelope's type, id,
    producer, time and trace context, ~180 bytes): ProducerPerformance sends a value only, so
    it is given the whole record's size (and the raw INSERTs rows of that size, about an
    event's stored state)."""
    _, key, value, headers, _ = record
    return (len(key) + len(value) + sum(len(name.encode()) + len(v) for name, v in headers),
            len(value))


async def measure(settings: ServiceSettings, n: int = 20000,
                  relay_events: int | None = None) -> dict[str, Any]:
    """The store's rate over `n` appends; then the relay's over `relay_events` messages
    (default `n`; more are stored first, untimed, through the same group commit). Give the
    relay as many messages as ProducerPerformance sends: over 20,000 messages (~0.2-0.5 s)
    one pause of the broker or PostgreSQL moves its rate by half."""
    ensure_database(settings)
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 12})
    app = Application(env=application_env(settings))
    committer = GroupCommitter(app, service=f"bench-{settings.schema}")
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    sizes: list[int] = []
    # as intake wires them: the relay's messages are made at commit (their cost is in the
    # store's figure) and the relay sends the stored bytes
    relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=_translate(topic, sizes),
                        committer=committer)
    probes = [Probe(ticket_id=str(uuid.uuid4()), text="x" * 150) for _ in range(n)]
    backends0, cpu0 = _backends_cpu_s(app), time.process_time()
    started = time.monotonic()
    await save_all(committer, probes)
    store_s = time.monotonic() - started
    cpu_s, backends_s = time.process_time() - cpu0, _backends_cpu_s(app) - backends0
    relay_n = max(n, relay_events or n)
    if relay_n > n:  # the relay's backlog, stored like the rest but not timed
        await save_all(committer, [Probe(ticket_id=str(uuid.uuid4()), text="x" * 150)
                                   for _ in range(relay_n - n)])
    committer.close()
    from backbone.group_commit import BATCH_SIZE

    batches = BATCH_SIZE.labels(f"bench-{settings.schema}")
    mean_batch = batches._sum.get() / max(1, sum(b.get() for b in batches._buckets))
    try:
        # connected before the clock, as a running service's relay is (bench.relay_vs_kafka
        # does the same); the producer's start (bootstrap, metadata, producer id: a few ms) is
        # reported on its own
        started = time.monotonic()
        await relay._producer()
        connect_s = time.monotonic() - started
        started, relay_cpu = time.monotonic(), time.process_time()
        sent = await drain(relay, relay_n)
        relay_s, relay_cpu = time.monotonic() - started, time.process_time() - relay_cpu
    finally:
        await relay._drop_producer()
        pool.close()
    return {"events": n, "store_appends_per_s": round(n / store_s),
            "store_mean_commands_per_transaction": round(mean_batch, 1),
            # CPU per append, which a shared machine's load moves far less than the rate:
            # this process (committer and callers) and the application pool's backends
            "store_cpu_us_per_append": round(cpu_s / n * 1e6, 1),
            "store_pg_cpu_us_per_append": round(backends_s / n * 1e6, 1),
            "relay_messages_per_s": round(sent / relay_s) if sent else 0,
            "relay_messages": sent,
            # this process (the sends on the event loop, the reads in worker threads)
            "relay_cpu_us_per_message": round(relay_cpu / max(1, sent) * 1e6, 1),
            "relay_connect_ms": round(connect_s * 1000, 1),
            "relay_batch": settings.relay_batch, "message_bytes": sizes[0] if sizes else 0,
            "envelope_bytes": sizes[1] if sizes else 0}


def _backends_cpu_s(app: Application) -> float:
    """CPU seconds the PostgreSQL backends of the application's pool have used (/proc, 10 ms
    ticks; 0 where /proc is not this machine's). A backend connected during the phase counts
    its start too (a few ms, next to seconds of appends)."""
    pool: Any = app.recorder.datastore.pool  # type: ignore[attr-defined]
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for conn in list(getattr(pool, "_pool", ())):
        try:
            with open(f"/proc/{conn.info.backend_pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError, psycopg.Error):
            continue
    return total


@contextlib.contextmanager
def scratch(base: ServiceSettings) -> Iterator[ServiceSettings]:
    """Settings for a throw-away schema of ``base``'s database under its topic prefix; the
    schema and its topics are dropped afterwards."""
    unique = uuid.uuid4().hex[:8]
    settings = base.model_copy(update={"service": "intake", "pg_schema": f"rates_{unique}",
                                       "topic_prefix": f"{base.topic_prefix}rates{unique}."})
    try:
        yield settings
    finally:
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                         .format(Identifier(settings.schema)))
        asyncio.run(drop_topics(settings))


def run(base: ServiceSettings, n: int, relay_events: int | None = None) -> dict[str, Any]:
    """``measure`` in a throw-away schema (``scratch``) of ``base``'s database and under its
    topic prefix (bench.run passes the isolated platform's), on the event loop the services
    run on (``event_loop``, uvloop by default: backbone.runtime.run), as intake's callers of
    the group commit and its relay do; asyncio's own loop cost the callers ~1 us more an
    append (asyncio's Handle and call_soon in Python a command)."""
    with scratch(base) as settings:
        if settings.event_loop == "uvloop":
            import uvloop

            return uvloop.run(measure(settings, n, relay_events))
        return asyncio.run(measure(settings, n, relay_events))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--relay-events", type=int, default=None,
                        help="messages the relay publishes (default: --events)")
    args = parser.parse_args()
    print(json.dumps(run(ServiceSettings(environment="development"), args.events,
                         args.relay_events)))


if __name__ == "__main__":
    main()
