"""CPU per full ticket of the whole feedback process, the citizen's rating included
(`python -m bench.feedback_cost`).

The feedback service runs as its own process (`python -m services.feedback`, from `--tree`:
an older checkout can be measured side by side) on a throw-away schema and topic prefix, in
event-clock mode as `make bench` runs it. The other services' envelopes of whole tickets as
the audit ledger recorded them (tickets whose reply was accepted and that were not merged:
the shape of a full ticket in `make bench`'s end-to-end run) are copied under fresh ids and
published in ledger order at `--rate` tickets/s; feedback's own facts are left out, feedback
makes them. For every notice feedback sends with a rating link, the citizen rates at once
through `POST /v1/ratings/link` with the link's token, as the simulator does. The process's
CPU (user + system, every thread, /proc) is counted from the first publication until
everything is done: every rating answered, every consumer at the topic's end, the relay (and
in older trees the own-log projection) at the last notification. `--profile`: py-spy on the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from minsheng.v1 import feedback_notices_pb2 as fn
from psycopg.sql import SQL, Identifier

from backbone import events
from backbone.kafka import client_options, drop_topics, ensure_topics
from backbone.settings import ServiceSettings
from backbone.store import ensure_database
from bench.idle_backbone import cpu_seconds
from bench.service_cost import _NS, _publish, _Spy, recorded

ROOT = Path(__file__).resolve().parents[1]


def full_tickets(raw: list[bytes]) -> list[list[events.DecodedEvent]]:
    """Each recorded ticket's envelopes from the other services, for the tickets whose reply
    was accepted once and that were never merged into a case, and whose accepted reply was
    final: a needs_longer one (需较长时间办理) is answered with an interim notice that carries
    no rating link, so its citizen never rates and the run would never end."""
    by_ticket: dict[str, list[Any]] = {}
    for r in raw:
        d = events.decode(r)
        by_ticket.setdefault(d.ticket_id, []).append(d)
    out = []
    for lifecycle in by_ticket.values():
        types = [d.event_type for d in lifecycle]
        accepted = [d for d in lifecycle if d.event_type == "ReplyReviewed" and d.payload.accepted]
        interim = any(d.payload.interim or d.payload.outcome == "needs_longer" for d in accepted)
        if ("TicketSubmitted" in types and len(accepted) == 1 and not interim
                and "TicketMergedIntoCase" not in types):
            out.append([d for d in lifecycle if d.envelope.producer != "feedback"])
    return out


def copies(raw: list[bytes], tickets: int) -> list[tuple[bytes, bytes, list]]:
    """`tickets` tickets' envelopes under fresh ids, in ledger order (per copy), ten
    simulated seconds apart: event time only moves on, so no rating window closes before its
    citizen rates (the recorded times span more than a window, and a second copy would
    start back in the past; the unrated timer then closed tickets ahead of their ratings)."""
    recorded_tickets = full_tickets(raw)
    order = {id(d): i for i, d in enumerate(d for t in recorded_tickets for d in t)}
    out: list[tuple[bytes, bytes, list]] = []
    n = 0
    start = int(time.time()) - 86400
    while n < tickets:
        run = uuid.uuid4().hex[:6]
        chosen = recorded_tickets[:tickets - n]
        envelopes = sorted((d for t in chosen for d in t), key=lambda d: order[id(d)])
        for d in envelopes:
            env = d.envelope
            copy = type(env)()
            copy.CopyFrom(env)
            copy.ticket_id = str(uuid.uuid5(_NS, f"{run}:{env.ticket_id}"))
            copy.event_id = str(uuid.uuid5(_NS, f"{run}:{env.event_id}"))
            copy.ticket_code = f"{env.ticket_code[:-1]}{n // len(recorded_tickets) % 10}"
            copy.occurred_at.FromSeconds(start + 10 * len(out))
            out.append((copy.ticket_id.encode(), copy.SerializeToString(),
                        events.kafka_headers(copy)))
        n += len(chosen)
    return out


class Citizens:
    """Rates every reply whose notice carries a rating link, once per ticket and round."""

    def __init__(self, settings: ServiceSettings, url: str):
        self.settings = settings
        self.client = httpx.AsyncClient(base_url=url, timeout=60)
        self.rated: set[tuple[str, int]] = set()
        self.answers: dict[int, int] = {}
        self.pending: set[asyncio.Task[None]] = set()
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            self.settings.topic("citizen.notices"), **client_options(self.settings),  # type: ignore[arg-type]
            group_id=None, auto_offset_reset="earliest")
        await self.consumer.start()
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        assert self.consumer is not None
        async for message in self.consumer:
            notice = fn.CitizenNotice.FromString(message.value)
            key = (notice.ticket_id, notice.reply_round)
            if not notice.rating_token or key in self.rated:
                continue
            self.rated.add(key)
            task = asyncio.create_task(self._rate(notice))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _rate(self, notice: Any) -> None:
        at = notice.composed_at.ToDatetime().replace(tzinfo=events.UTC) + timedelta(minutes=1)
        response = await self.client.post("/v1/ratings/link", json={
            "token": notice.rating_token, "rating": "satisfied", "occurred_at": at.isoformat()})
        self.answers[response.status_code] = self.answers.get(response.status_code, 0) + 1
        if response.status_code != 201 and self.answers[response.status_code] <= 3:
            print("rating refused:", response.status_code, response.text[:300], file=sys.stderr)

    @property
    def answered(self) -> int:
        return sum(self.answers.values())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        if self.consumer:
            await self.consumer.stop()
        await self.client.aclose()


def _done_in_store(conn: psycopg.Connection[Any], schema: str) -> tuple[dict[str, int], int]:
    s = Identifier(schema)
    positions = dict(conn.execute(SQL(
        "SELECT consumer, sum(next_offset) FROM {}.consumer_positions GROUP BY consumer")
        .format(s)).fetchall())
    relays = dict(conn.execute(SQL("SELECT relay, last_notification_id FROM {}.relay_positions")
                               .format(s)).fetchall())
    last = conn.execute(SQL("SELECT coalesce(max(notification_id), 0) FROM {}.feedback_events")
                        .format(s)).fetchone()
    return {**{k: int(v) for k, v in positions.items()},
            **{f"relay:{k}": int(v) for k, v in relays.items()}}, int(last[0]) if last else 0


async def measure(*, tree: Path, tickets: int, rate: float, profile: bool,
                  ledger_dsn: str = "") -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    settings = ServiceSettings(service="feedback", environment="development",
                               pg_schema=f"fbc_{unique}", topic_prefix=f"fbc{unique}.")
    ensure_database(settings)
    messages = copies(recorded(ledger_dsn), tickets)
    await ensure_topics(settings, {settings.lifecycle_topic: 12, settings.dead_letter_topic: 1,
                                   settings.topic("citizen.notices"): 12})
    port = 18500 + os.getpid() % 1000
    env = {**os.environ, "PYTHONPATH": f"{tree}:{tree / 'proto'}",
           "MINSHENG_ENVIRONMENT": "development", "MINSHENG_CLOCK": "event",
           "MINSHENG_PG_SCHEMA": settings.schema, "MINSHENG_TOPIC_PREFIX": settings.topic_prefix,
           "MINSHENG_HTTP_PORT": str(port), "MINSHENG_RATING_LINK_REQUESTS_PER_MINUTE": "1000000",
           "MINSHENG_LOG_LEVEL": "WARNING"}
    log = open(f"/tmp/feedback_cost_{unique}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.feedback"], cwd=tree, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    citizens = Citizens(settings, url)
    watch = psycopg.connect(settings.pg_conninfo(), autocommit=True)
    ends = AIOKafkaConsumer(**client_options(settings), group_id=None)  # type: ignore[arg-type]
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"feedback exited: /tmp/feedback_cost_{unique}.log")
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - t0 > 120:
                raise TimeoutError("feedback not ready")
            await asyncio.sleep(0.3)
        # FastAPI builds a router's routes on its first request (~0.4 s of CPU, once per
        # process): spent before the measurement, as a running service spent it long ago
        httpx.post(url + "/v1/ratings/link", json={"token": "warm-up", "rating": "satisfied"},
                   timeout=30)
        await citizens.start()
        await ends.start()
        tps = [TopicPartition(settings.lifecycle_topic, p) for p in range(12)]
        await asyncio.sleep(2.0)  # the consumers have their partitions
        per_s = rate * len(messages) / tickets if rate > 0 else 0.0
        child = multiprocessing.get_context("spawn").Process(
            target=_publish, args=(settings.model_dump(), settings.lifecycle_topic, messages,
                                   per_s))
        tables0 = _table_counts(watch, settings.schema)
        with _Spy(profile, "feedback", proc.pid) as recording:
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            child.start()
            last_state: Any = None
            while True:
                await asyncio.sleep(0.25)
                if time.monotonic() - wall0 > 1800:
                    raise TimeoutError("feedback_cost")
                if child.is_alive() or citizens.pending:
                    continue
                end = sum((await ends.end_offsets(tps)).values())
                positions, last = _done_in_store(watch, settings.schema)
                # every consumer of the process (one or two, by the tree's version) at the
                # topic's end, the positions of skipped messages included
                consumers = [v for k, v in positions.items() if not k.startswith("relay:")]
                done = (bool(consumers) and min(consumers) >= end
                        and positions.get("relay:lifecycle", 0) >= last
                        # the own-log projection of trees before it was retired
                        and positions.get("relay:projection:state", last) >= last
                        and len(citizens.rated) >= tickets and citizens.answered >= tickets)
                state = (end, last, tuple(sorted(positions.items())), citizens.answered)
                if done and state == last_state:
                    break
                last_state = state if done else None
            wall, cpu = time.monotonic() - wall0, cpu_seconds(proc.pid) - cpu0
        child.join(30)
        tables = _table_counts(watch, settings.schema, settle=True)
    finally:
        await citizens.stop()
        await ends.stop()
        proc.terminate()
        proc.wait(30)
        watch.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))
        await drop_topics(settings)
    return {"tree": str(tree), "tickets": tickets, "messages": len(messages),
            "rate_tickets_per_s": rate, "ratings": dict(citizens.answers),
            "seconds": round(wall, 1), "cpu_ms_per_ticket": round(cpu * 1000 / tickets, 2),
            "tables_per_ticket": _per_ticket(tables0, tables, tickets),
            "profile": recording.text()}


_COUNTS = ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "n_tup_del", "idx_scan", "seq_scan")


def _table_counts(conn: psycopg.Connection[Any], schema: str,
                  settle: bool = False) -> dict[str, tuple[int, ...]]:
    """The schema's tables' row and scan counters (pg_stat_user_tables). `settle`: after the
    service's backends flushed their statistics (they do when idle, about every second)."""
    if settle:
        time.sleep(2.5)
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(
        "SELECT relname, " + ", ".join(f"coalesce({c}, 0)" for c in _COUNTS)
        + " FROM pg_stat_user_tables WHERE schemaname = %s", (schema,)).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _per_ticket(before: dict[str, tuple[int, ...]], after: dict[str, tuple[int, ...]],
                tickets: int) -> dict[str, dict[str, float]]:
    """Per table, what changed per ticket (inserts, updates (HOT), deletes, index and
    sequential scans); tables nothing happened to are left out."""
    out = {}
    for table, counts in sorted(after.items()):
        old = before.get(table, (0,) * len(_COUNTS))
        delta = {c: round((a - b) / tickets, 2) for c, a, b in
                 zip(_COUNTS, counts, old, strict=True)}
        if any(delta.values()):
            out[table] = {c: v for c, v in delta.items() if v}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="the checkout whose services.feedback runs (default: this one)")
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="tickets/s published")
    parser.add_argument("--profile", action="store_true", help="py-spy on the process")
    parser.add_argument("--ledger-dsn", default="")
    args = parser.parse_args()
    result = asyncio.run(measure(tree=args.tree.resolve(), tickets=args.tickets,
                                 rate=args.rate, profile=args.profile,
                                 ledger_dsn=args.ledger_dsn))
    text = result.pop("profile")
    print(json.dumps(result))
    if text:
        print(text)


if __name__ == "__main__":
    main()
