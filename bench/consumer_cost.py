"""What the idempotent consumer costs per message, in one process: N lifecycle-like envelopes
(every event type of the catalogue in turn, with the relay's headers) on a fresh topic, read by
two consumers: one that wants a few types (like dispatch: 5 of ~60) and one that wants every
type (like the ledger), each writing one row per wanted event.

    python -m bench.consumer_cost [--messages 5000] [--consumer-module backbone.consumer]

Reports wall time to drain, this process's CPU per message (from /proc), transactions and
consumed_events rows. `--consumer-module` takes a file path, so a previous version can be
measured side by side (`git show <rev>:backbone/consumer.py > /tmp/consumer_old.py`).

    python -m bench.consumer_cost --service workbench [--tickets 400] [--rate 10] [--profile]

The same for one service's real consumer (`--service`: see SERVICES, bench/service_cost.py),
fed real lifecycles: the envelopes of whole tickets as the audit ledger recorded them in a
platform run (`--ledger-dsn`), copied under fresh ticket and event ids, published in
ledger order by a child process at `--rate` tickets/s (0: all first, then drained).
Reports CPU ms per ticket of this process, and with `--profile` where it goes (cProfile).

    python -m bench.consumer_cost --service dispatch --rate 50 --hops

`--hops` adds, for that run, where a wanted message's time goes inside the consumer (medians
and p90 over the wanted messages, ms, from the message's CreateTime, the publisher's clock =
this machine's): `to_poll` (the producer's linger, the broker, the fetch's gather), `poll_to_
apply` (the consumer's linger and the hop to the apply thread), `apply` (handlers and the
commit, fsync included), `to_committed` (CreateTime to the commit returned); and the Kafka
requests this process sent, by client and kind, per ticket (a fetch that brought nothing
wanted is still a request, and a wake-up of the consumer).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.kafka import drop_topics, ensure_topics, make_producer
from backbone.settings import ServiceSettings
from backbone.store import ensure_database
from bench.idle_backbone import _module, cpu_seconds

FEW = ("TicketSubmitted", "TicketAccepted", "TicketMergedIntoCase", "TicketUnmergedFromCase",
       "TicketReopened")


def _envelopes(n: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    kinds = list(events.catalogue().values())
    out = []
    tickets = [str(uuid.uuid4()) for _ in range(max(1, n // 14))]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        ticket = tickets[i % len(tickets)]
        env = events.make_envelope(payload=kind.message_class(), event_id=str(uuid.uuid4()),
                                   ticket_id=ticket, ticket_code="FY", producer=kind.owner,
                                   occurred_at=events.utcnow())
        out.append((ticket.encode(), env.SerializeToString(), events.kafka_headers(env)))
    return out


def _count(settings: ServiceSettings, sql: str, *params: Any) -> int:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        row = conn.execute(SQL(sql).format(Identifier(settings.schema)), params).fetchone()
    return int(row[0]) if row else 0


async def measure(n: int, consumer_module: str) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    settings = ServiceSettings(service="intake", environment="development",
                               pg_schema=f"cc_{unique}", topic_prefix=f"cc{unique}.")
    ensure_database(settings)
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 12, settings.dead_letter_topic: 1})
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (consumer text, event_id text)")
                     .format(Identifier(settings.schema)))
    producer = make_producer(settings)
    await producer.start()
    for key, value, headers in _envelopes(n):
        await producer.send(topic, value, key=key, headers=headers)
    await producer.flush()
    consumers_module = _module(consumer_module)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    results: dict[str, Any] = {}
    try:
        for name, wanted in (("few", FEW), ("all", tuple(events.catalogue()))):
            def seen(d: Any, cur: Any, record: Any, name: str = name) -> None:
                cur.execute(SQL("INSERT INTO {}.seen VALUES (%s, %s)")
                            .format(Identifier(settings.schema)), (name, d.event_id))

            consumer = consumers_module.IdempotentConsumer(
                name=name, settings=settings, pool=pool, topics=[topic],
                handlers=consumers_module.Handlers({t: seen for t in wanted}),
                producer=producer)
            stop = asyncio.Event()
            cpu0, wall0 = cpu_seconds(_pid()), time.monotonic()
            task = asyncio.create_task(consumer.run(stop))
            while _count(settings, "SELECT coalesce(sum(next_offset), 0) FROM"
                         " {}.consumer_positions WHERE consumer = %s", name) < n:
                await asyncio.sleep(0.05)
                if time.monotonic() - wall0 > 600:
                    raise TimeoutError(name)
            wall, cpu = time.monotonic() - wall0, cpu_seconds(_pid()) - cpu0
            stop.set()
            await asyncio.wait_for(task, 15)
            results[name] = {
                "wanted_types": len(wanted), "seconds_to_drain": round(wall, 2),
                "messages_per_s": round(n / wall),
                "process_cpu_us_per_message": round(cpu * 1e6 / n),
                "applied": _count(settings, "SELECT count(*) FROM {}.seen WHERE consumer = %s",
                                  name),
                "consumed_events_rows": _count(
                    settings, "SELECT count(*) FROM {}.consumed_events WHERE consumer = %s",
                    name)}
    finally:
        await producer.stop()
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(settings.schema)))
        await drop_topics(settings)  # the run's topics too: nothing of it left on the broker
    return results


class Hops:
    """Timing of every wanted message through the consumer, and the Kafka requests sent: for
    one measurement run, by wrapping the consumer's `_poll` and `apply` and aiokafka's
    connection `send` (nothing of the consumer's own code changes)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, float]] = []  # created, polled, apply, done
        self.requests: dict[tuple[str, str], int] = {}
        self._polled: dict[int, float] = {}  # id(record) -> when its poll returned
        self.batches = 0  # applied batches that held a wanted message

    def install(self) -> None:
        from aiokafka import conn

        from backbone import consumer

        hops, original_poll, original_apply = self, consumer.IdempotentConsumer._poll, \
            consumer.IdempotentConsumer.apply
        original_send = conn.AIOKafkaConnection.send

        async def poll(self: Any, *args: Any, **kwargs: Any) -> Any:
            batches = await original_poll(self, *args, **kwargs)
            now = time.time()
            for rs in batches.values():
                for r in rs:
                    hops._polled[id(r)] = now
            if self.consumer is not None and not getattr(self.consumer, "_hops", False):
                getmany = self.consumer.getmany  # the linger's poll too (it calls getmany)

                async def counted(*a: Any, **kw: Any) -> Any:
                    got = await getmany(*a, **kw)
                    now = time.time()
                    for rs in got.values():
                        for r in rs:
                            hops._polled.setdefault(id(r), now)
                    return got

                self.consumer.getmany = counted
                self.consumer._hops = True
            return batches

        def apply(self: Any, records: list[Any]) -> None:
            began = time.time()
            original_apply(self, records)
            done = time.time()
            wanted = 0
            for r in records:
                polled = hops._polled.pop(id(r), None)
                if polled is not None and self.handlers.wants(
                        consumer.header_event_type(r) or ""):
                    hops.rows.append((r.timestamp / 1000, polled, began, done))
                    wanted += 1
            hops.batches += bool(wanted)

        def send(self: Any, request: Any, expect_response: bool = True) -> Any:
            key = (self._client_id, type(request).__name__)
            hops.requests[key] = hops.requests.get(key, 0) + 1
            return original_send(self, request, expect_response)

        consumer.IdempotentConsumer._poll = poll  # type: ignore[method-assign]
        consumer.IdempotentConsumer.apply = apply  # type: ignore[method-assign]
        conn.AIOKafkaConnection.send = send  # type: ignore[method-assign]

    def report(self, tickets: int) -> dict[str, Any]:
        def ms(values: list[float]) -> dict[str, float]:
            values = sorted(values)
            if not values:
                return {}
            return {"p50": round(values[len(values) // 2] * 1000, 1),
                    "p90": round(values[int(len(values) * 0.9)] * 1000, 1)}

        rows = self.rows
        return {"wanted_messages": len(rows), "batches": self.batches,
                "to_poll_ms": ms([p - c for c, p, _, _ in rows]),
                "poll_to_apply_ms": ms([a - p for _, p, a, _ in rows]),
                "apply_ms": ms([d - a for _, _, a, d in rows]),
                "to_committed_ms": ms([d - c for c, _, _, d in rows]),
                "kafka_requests_per_ticket": {
                    f"{client} {kind}": round(n / tickets, 2)
                    for (client, kind), n in sorted(self.requests.items())
                    if kind in ("FetchRequest", "ProduceRequest", "OffsetCommitRequest",
                                "HeartbeatRequest")}}


def _pid() -> int:
    import os

    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--consumer-module", default="backbone.consumer")
    parser.add_argument("--service", default="", help="measure this service's consumer")
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--rate", type=float, default=10.0, help="tickets/s; 0: drain")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--ledger-dsn", default="")
    parser.add_argument("--hops", action="store_true",
                        help="--service: where a wanted message's time goes, Kafka requests")
    parser.add_argument("--notifier-contacts", choices=("reachable", "unreachable"),
                        default="reachable", help="--service notifier: intake's contact"
                        " endpoint answers, or nobody listens (every SMS attempt fails)")
    args = parser.parse_args()
    if args.service:
        from bench import service_cost

        hops = Hops() if args.hops else None
        if hops is not None:
            hops.install()
        figures = service_cost.run(args.service, tickets=args.tickets, rate=args.rate,
                                   profile=args.profile, ledger_dsn=args.ledger_dsn,
                                   notifier_contacts=args.notifier_contacts)
        if hops is not None:
            figures["hops"] = hops.report(figures["tickets"])
        print(figures)
        return
    for name, figures in asyncio.run(measure(args.messages, args.consumer_module)).items():
        print(name, figures)


if __name__ == "__main__":
    main()
