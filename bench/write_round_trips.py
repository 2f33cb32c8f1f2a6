"""Round trips and CPU of the shared write path, per save and per message (issue 13).

bench.backbone_rates's aggregates, group commit and relay, counted instead of timed: every
psycopg connection of this process is traced (libpq's protocol trace, to a temporary file)
and the Syncs, simple queries and Executes it sent are counted; the CPU of this process
(all threads) and of the PostgreSQL backends it talks to (/proc, 10 ms ticks) is read around
each phase:

- store: N aggregates through group commit, 256 in flight;
- relay: the backlog published (one round per relay_batch);
- trickle: 300 saves one at a time (~50/s, the stock Application.save) with the relay running
  as in a service: what one ticket's save and its relay round cost.

Run it from the tree to measure (its backbone is imported from the working directory), e.g.
an old commit unpacked with `git archive <commit> | tar -x -C /tmp/old`:

    cd /tmp/old && PYTHONPATH=.:proto /work/main/.venv/bin/python /work/main/bench/write_round_trips.py 3000
"""
import os
import sys

# run as a script: bench/ itself is not a place to import from (its modules shadow the
# standard library's); the tree measured is the working directory
sys.path[:] = [os.getcwd(), os.path.join(os.getcwd(), "proto")] + [
    p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import asyncio  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import psycopg  # noqa: E402
from eventsourcing.application import Application  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from backbone.group_commit import GroupCommitter  # noqa: E402
from backbone.kafka import ensure_topics  # noqa: E402
from backbone.relay import OutboxRelay  # noqa: E402
from backbone.settings import ServiceSettings  # noqa: E402
from backbone.store import EventContext, application_env, ensure_database  # noqa: E402
from bench.backbone_rates import Probe, _translate, drain, save_all, scratch  # noqa: E402

TRACES: list[tuple[str, object]] = []  # (pool: "es" for eventsourcing's, else "other", file)
PIDS: list[int] = []
TICK = os.sysconf("SC_CLK_TCK")
_connect = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]


def _traced(cls, *args, **kwargs):
    conn = _connect(cls, *args, **kwargs)
    f = tempfile.TemporaryFile("w+b")
    TRACES.append(("es" if "row_factory" in kwargs else "other", f))
    PIDS.append(conn.info.backend_pid)
    conn.pgconn.trace(f.fileno())
    conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
    conn._trace_file = f
    return conn


def counts(pool: str | None = None) -> dict[str, int]:
    """What the traced connections (of `pool`, or all) sent so far."""
    c = {"Sync": 0, "Query": 0, "Execute": 0}
    for tag, f in TRACES:
        if pool and tag != pool:
            continue
        f.flush()
        f.seek(0)
        for line in f.read().decode(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[0] == "F" and parts[2].split(" ")[0] in c:
                c[parts[2].split(" ")[0]] += 1
    return c


def backend_cpu() -> float:
    total = 0
    for pid in PIDS:
        try:
            with open(f"/proc/{pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            total += int(parts[11]) + int(parts[12])
        except OSError:
            pass
    return total / TICK


def _d(a: dict[str, int], b: dict[str, int], key: str) -> int:
    return b[key] - a[key]


async def measure(settings: ServiceSettings, n: int, k: int = 300) -> dict[str, object]:
    ensure_database(settings)
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 12})
    app = Application(env=application_env(settings))
    committer = GroupCommitter(app, service=f"bench-{settings.schema}")
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=_translate(topic, []),
                        committer=committer)
    probes = [Probe(ticket_id=str(uuid.uuid4()), text="x" * 150) for _ in range(n)]
    await committer.save_async(Probe(ticket_id="w", text="x"), context=EventContext(ticket_id="w"))
    c0, t0, w0 = counts(), time.process_time(), time.monotonic()
    await save_all(committer, probes)
    c1, t1, w1 = counts(), time.process_time(), time.monotonic()
    committer.close()
    await relay._producer()
    c2, t2, w2 = counts(), time.process_time(), time.monotonic()
    sent = await drain(relay, n + 1)
    c3, t3, w3 = counts(), time.process_time(), time.monotonic()
    # trickle: one save at a time, the relay running as in a service
    stop = asyncio.Event()
    task = asyncio.create_task(relay._publish_until(stop))
    saver = Application(env=application_env(settings))
    await asyncio.sleep(1.0)
    e0, o0, t4, b4 = counts("es"), counts("other"), time.process_time(), backend_cpu()
    for _ in range(k):
        p = Probe(ticket_id=str(uuid.uuid4()), text="x" * 150)
        await asyncio.to_thread(saver.save, p, context=EventContext(ticket_id=p.ticket_id))
        await asyncio.sleep(0.02)
    newest = saver.recorder.max_notification_id()
    while relay._position_cache != newest:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # the position written once quiet
    e1, o1, t5, b5 = counts("es"), counts("other"), time.process_time(), backend_cpu()
    stop.set()
    await task
    await relay._drop_producer()
    pool.close()
    return {
        "n": n, "store_cpu_us_per_append": round((t1 - t0) / n * 1e6, 1),
        "store_appends_per_s": round(n / (w1 - w0)),
        "store_syncs": _d(c0, c1, "Sync"), "store_queries": _d(c0, c1, "Query"),
        "store_executes": _d(c0, c1, "Execute"),
        "relay_cpu_us_per_msg": round((t3 - t2) / max(1, sent) * 1e6, 1),
        "relay_msgs_per_s": round(sent / (w3 - w2)), "sent": sent,
        "relay_syncs": _d(c2, c3, "Sync"), "relay_executes": _d(c2, c3, "Execute"),
        "trickle_saves": k,
        "trickle_relay_roundtrips_per_save":
            round((_d(o0, o1, "Sync") + _d(o0, o1, "Query")) / k, 2),
        "trickle_relay_executes_per_save": round(_d(o0, o1, "Execute") / k, 2),
        "trickle_store_roundtrips_per_save":
            round((_d(e0, e1, "Sync") + _d(e0, e1, "Query")) / k, 2),
        "trickle_store_executes_per_save": round(_d(e0, e1, "Execute") / k, 2),
        "trickle_cpu_ms_per_save": round((t5 - t4) / k * 1e3, 2),
        "trickle_backend_cpu_ms_per_save": round((b5 - b4) / k * 1e3, 2)}


def run(n: int) -> dict[str, object]:
    psycopg.Connection.connect = classmethod(_traced)  # type: ignore[method-assign,assignment]
    with scratch(ServiceSettings(environment="development")) as settings:
        return asyncio.run(measure(settings, n))


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)))
