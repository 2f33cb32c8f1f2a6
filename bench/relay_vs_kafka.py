"""The outbox relay against Kafka's own ProducerPerformance, same message size, same run.

Stores `--events` events through group commit in a throw-away schema (as bench.backbone_rates),
lets the relay publish them (read, translate, send with acks=all, wait for every ack, record
the position; wall time and the process's CPU per message, the steadier figure on a shared
machine), then runs ProducerPerformance (acks=all) with as many records of the same size
on a throw-away topic. Prints JSON with both rates and their ratio (the issue asks >= 0.5).
`--profile FILE` writes a cProfile of the event loop's thread (the relay's sends; its reads run
in worker threads, which cProfile does not see).
Run it from another checkout (`cd /tmp/old && python -m bench.relay_vs_kafka`) for a before.
Use 100,000 or more: at 10,000-20,000 records ProducerPerformance's own start (JVM, JIT) is most
of its run (7,600-16,400 records/s measured, against ~100,000 on the same broker at 200,000),
and the relay's 0.1-0.5 s run moves by half with one pause of the broker or PostgreSQL.

    python -m bench.relay_vs_kafka --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import time
import uuid
from typing import Any

from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

from backbone.group_commit import GroupCommitter
from backbone.kafka import ensure_topics
from backbone.relay import OutboxRelay
from backbone.settings import ServiceSettings
from backbone.store import application_env, ensure_database
from bench import backbone_rates, limits
from tests import janitor


async def relay_phase(settings: ServiceSettings, n: int) -> dict[str, Any]:
    """Store ``n`` events (group commit, as bench.backbone_rates), then time the relay alone:
    wall time and the process's CPU (every thread: the reads run in workers) per message."""
    ensure_database(settings)
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 12})
    app = Application(env=application_env(settings))
    committer = GroupCommitter(app, service=f"rvk-{settings.schema}")
    sizes: list[int] = []
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    relay = OutboxRelay(settings=settings, app=app, pool=pool,
                        translate=backbone_rates._translate(topic, sizes), committer=committer)
    await backbone_rates.save_all(committer, [
        backbone_rates.Probe(ticket_id=str(uuid.uuid4()), text="x" * 150) for _ in range(n)])
    committer.close()
    await relay._producer()  # connected before the clock starts
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        sent = await backbone_rates.drain(relay, n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await relay._drop_producer()
        pool.close()
    return {"relay_messages_per_s": round(sent / wall) if sent else 0,
            "relay_cpu_us_per_message": round(cpu * 1e6 / max(1, sent), 1),
            "message_bytes": sizes[0] if sizes else 0,  # key + envelope + headers
            "envelope_bytes": sizes[1] if sizes else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")  # bench.limits' own settings
    base = ServiceSettings(environment="development")
    unique = uuid.uuid4().hex[:8]
    settings = base.model_copy(update={"service": "intake", "pg_schema": f"rvk_{unique}",
                                       "topic_prefix": f"rvk{unique}."})
    profiler = cProfile.Profile() if args.profile else None
    load1 = os.getloadavg()[0]
    try:
        if profiler is not None:
            profiler.enable()
        relay = asyncio.run(relay_phase(settings, args.events))
        if profiler is not None:
            profiler.disable()
        kafka = limits.kafka_producer(f"rvk{unique}.perf", records=args.events,
                                      record_bytes=relay["message_bytes"] or 200,
                                      bootstrap=base.kafka_bootstrap)
    finally:
        janitor.sweep({unique}, base)  # the schema, the topics
    if profiler is not None:
        profiler.dump_stats(args.profile)
    print(json.dumps({"relay_messages_per_s": relay["relay_messages_per_s"],
                      "kafka_records_per_s": kafka.per_second,
                      "ratio": round(relay["relay_messages_per_s"] / kafka.per_second, 3),
                      "message_bytes": relay["message_bytes"], "events": args.events,
                      "relay_cpu_us_per_message": relay["relay_cpu_us_per_message"],
                      "loadavg_1m": [round(load1, 2), round(os.getloadavg()[0], 2)]}))


if __name__ == "__main__":
    main()
