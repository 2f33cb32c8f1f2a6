"""CPU per full ticket of the whole dispatch process, doing all it does in an end-to-end run.

    python -m bench.dispatch_cost [--tickets 200] [--rate 10] [--tree PATH] [--profile]

The real `python -m services.dispatch` (from `--tree`, so an older checkout can be measured by
the same harness: `git archive <rev> | tar -x -C /tmp/old`) on a throw-away schema, topic
prefix and ports, event clock as `make bench` runs it, driven as bench/e2e.py drives it:
- the recorded lifecycles of a platform run (the audit ledger, bench.service_cost.recorded),
  copied under fresh ids: each ticket's TicketSubmitted and TicketAccepted are published on
  the lifecycle topic at `--rate` tickets/s; the rest of its recorded life that is not
  dispatch's own (sla's, feedback's, the notifier's events, which dispatch skips unread)
  follows its reply, so its consumer reads what it reads in a platform;
- every handling unit keeps a StreamAssignments open (the simulator's board), and each
  ticket's holder signs for it and replies over gRPC (unit tokens, request ids);
- a ticket dispatch queues for a dispatcher (~40 %) is assigned through the console's HTTP
  API to the unit it went to in the recorded run; a desk polls the console's queues every
  0.5 s (unrouted and awaiting review), as the simulator's desk does;
- the relay publishes everything (the lifecycle topic and the units' assignment topics).
Measured: the dispatch process's CPU (user + system, every thread, /proc) from the first
publication until every ticket's DispatchClosed is on the lifecycle topic and dispatch's
consumer has passed every message, ÷ tickets. `--profile`: py-spy on the process meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_api_pb2 as api
from minsheng.v1 import dispatch_api_pb2_grpc as api_grpc
from psycopg.sql import SQL, Identifier

from backbone import auth, events
from backbone.kafka import drop_topics, ensure_topics, make_producer
from backbone.settings import ServiceSettings
from bench import profile
from bench.idle_backbone import cpu_seconds
from bench.service_cost import recorded
from tests.e2e.platform_harness import distinct_ports

TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]
_NS = uuid.UUID("0b3c52a4-6f0e-4b8e-9d57-2f1c9a0e7d11")
HANDLED_LATER = {"TicketMergedIntoCase", "TicketUnmergedFromCase", "TicketReopened"}


@dataclass
class Life:
    """One ticket to drive: what intake publishes first, the rest of its life that is not
    dispatch's, and the unit a dispatcher gives it if dispatch queues it."""

    ticket_id: str
    first: list[tuple[bytes, bytes, list]]
    rest: list[tuple[bytes, bytes, list]]
    unit: str
    at: Any  # TicketAccepted's business time
    assigned: asyncio.Event = field(default_factory=asyncio.Event)
    queued: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    holder: str = ""


def lives(raw: list[bytes], tickets: int) -> list[Life]:
    """Whole recorded tickets (not merged or reopened: one assignment each) under fresh ids,
    again and again until `tickets`."""
    by_ticket: dict[str, list[Any]] = defaultdict(list)
    for r in raw:
        by_ticket[(d := events.decode(r)).ticket_id].append(d)
    usable = []
    for ds in by_ticket.values():
        types = [d.event_type for d in ds]
        assigned = [d for d in ds if d.event_type == "TicketAssigned"]
        if ("TicketSubmitted" in types and "TicketAccepted" in types and len(assigned) == 1
                and "DispatchClosed" in types and not HANDLED_LATER & set(types)):
            usable.append((ds, assigned[0].payload.unit))
    out: list[Life] = []
    k = 0
    while len(out) < tickets:
        for ds, unit in usable:
            if len(out) >= tickets:
                break
            run = f"{k}:{uuid.uuid4().hex[:6]}"
            first, rest, ticket_id, at = [], [], "", None
            for d in ds:
                if d.envelope.producer == "dispatch":
                    continue
                env = type(d.envelope)()
                env.CopyFrom(d.envelope)
                env.ticket_id = ticket_id = str(uuid.uuid5(_NS, f"{run}:{d.ticket_id}"))
                env.event_id = str(uuid.uuid5(_NS, f"{run}:{d.event_id}"))
                message = (ticket_id.encode(), env.SerializeToString(), events.kafka_headers(env))
                if d.event_type in ("TicketSubmitted", "TicketAccepted"):
                    first.append(message)
                    at = d.occurred_at
                else:
                    rest.append(message)
            out.append(Life(ticket_id, first, rest, unit, at))
        k += 1
    return out


def _stamp(at: Any) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


class Driver:
    def __init__(self, settings: ServiceSettings, grpc_target: str, http: str,
                 units: list[str]):
        self.settings = settings
        self.issuer = auth.issuer_for(settings)
        self.channel = grpc.aio.insecure_channel(grpc_target)
        self.stub = api_grpc.DepartmentServiceStub(self.channel)
        self.console = httpx.AsyncClient(base_url=http, timeout=30, headers={
            "authorization": "Bearer " + self.token("dispatcher", "bench-dispatcher")})
        self.units = units
        self.tokens: dict[str, str] = {}
        self.by_id: dict[str, Life] = {}
        self.errors: dict[str, int] = defaultdict(int)
        self.streams: list[asyncio.Task[None]] = []
        self.connected: set[str] = set()
        self.dispatcher_assigned = 0

    def token(self, role: str, sub: str, unit: str = "") -> str:
        return auth.mint(self.issuer, sub=sub, role=role, unit=unit, ttl_s=86400)

    def unit_metadata(self, unit: str) -> tuple[tuple[str, str], ...]:
        if unit not in self.tokens:
            self.tokens[unit] = self.token("unit", f"bench-oa-{unit}", unit)
        return (("authorization", f"Bearer {self.tokens[unit]}"),)

    # -- what dispatch tells ---------------------------------------------------------------
    async def follow(self, unit: str) -> None:
        while True:
            try:
                stream = self.stub.StreamAssignments(api.StreamAssignmentsRequest(
                    include_open=True), metadata=self.unit_metadata(unit))
                self.connected.add(unit)
                async for a in stream:
                    life = self.by_id.get(a.ticket_id)
                    if life is not None and a.role in ("", "lead"):
                        life.holder = a.unit
                        life.assigned.set()
            except grpc.aio.AioRpcError:
                self.connected.discard(unit)
                await asyncio.sleep(0.5)

    async def watch(self, stop: asyncio.Event) -> None:
        """Dispatch's own events on the lifecycle topic: queued for a dispatcher, closed."""
        topic = self.settings.lifecycle_topic
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(12)])
            await consumer.seek_to_beginning()
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    for m in messages:
                        kind = dict(m.headers).get("event_type", b"").decode()
                        life = self.by_id.get(m.key.decode()) if m.key else None
                        if life is None:
                            continue
                        if kind == "TicketQueuedForDispatcher":
                            life.queued.set()
                        elif kind == "DispatchClosed":
                            life.closed.set()
        finally:
            await consumer.stop()

    async def desk(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for queue in ("unrouted", "awaiting_review"):
                try:
                    await self.console.get("/v1/queues", params={"queue": queue})
                except httpx.HTTPError:
                    self.errors["desk"] += 1
            await asyncio.sleep(0.5)

    # -- one ticket's life -------------------------------------------------------------------
    async def live(self, life: Life, producer: Any) -> None:
        for key, value, headers in life.first:
            await producer.send(self.settings.lifecycle_topic, value, key=key, headers=headers)
        assigned = asyncio.ensure_future(life.assigned.wait())
        queued = asyncio.ensure_future(life.queued.wait())
        done, _ = await asyncio.wait({assigned, queued}, timeout=60,
                                     return_when=asyncio.FIRST_COMPLETED)
        queued.cancel()
        if assigned not in done:
            assigned.cancel()
            if queued not in done:
                self.errors["not_routed"] += 1
                return
            response = await self.console.post(
                f"/v1/tickets/{life.ticket_id}/assign",
                json={"unit": life.unit, "reason": "平台人工派单", "at": life.at.isoformat()})
            if response.status_code != 200:
                self.errors[f"assign:{response.status_code}"] += 1
                return
            self.dispatcher_assigned += 1
            try:
                await asyncio.wait_for(life.assigned.wait(), 60)
            except TimeoutError:
                self.errors["assignment_not_streamed"] += 1
                return
        metadata = self.unit_metadata(life.holder)
        try:
            await self.stub.SignFor(api.SignForRequest(
                ticket_id=life.ticket_id, request_id=f"{life.ticket_id}:sign",
                at=_stamp(life.at + timedelta(minutes=1))), metadata=metadata, timeout=30)
            await self.stub.Reply(api.ReplyRequest(
                ticket_id=life.ticket_id, request_id=f"{life.ticket_id}:reply",
                reply="已处理完毕，感谢您的反映。", outcome="resolved",
                at=_stamp(life.at + timedelta(minutes=2))), metadata=metadata, timeout=30)
        except grpc.aio.AioRpcError as exc:
            self.errors[f"grpc:{exc.code().name}"] += 1
            return
        for key, value, headers in life.rest:
            await producer.send(self.settings.lifecycle_topic, value, key=key, headers=headers)

    async def close(self) -> None:
        for task in self.streams:
            task.cancel()
        await self.channel.close()
        await self.console.aclose()


def threads(pid: int) -> dict[str, float]:
    """CPU seconds by thread (/proc/<pid>/task): "main" (the event loop), else its name and
    id (Python's threads are all named "python")."""
    out: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        key = "main" if task.name == str(pid) else f"{name}:{task.name}"
        out[key] += (int(fields[11]) + int(fields[12])) / TICK
    return out


def thread_names(pid: int) -> dict[str, str]:
    """Python's names of the process's threads by OS thread id (py-spy, one second of
    samples: Linux knows them all as "python"), so the CPU by thread says whose it is:
    group-commit, apply-dispatch-lifecycle (the consumer's batches), uvloop_N (the executor's
    workers: the relay's reads and position writes), MainThread (the event loop). Empty
    without py-spy."""
    exe = profile.py_spy()
    if exe is None:
        return {}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "threads.txt"
        subprocess.run([exe, "record", "--pid", str(pid), "--threads", "--idle", "--rate", "50",
                        "--duration", "1", "--nonblocking", "--format", "raw",
                        "--output", str(out)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30, check=False)
        names = {}
        for line in out.read_text(errors="replace").splitlines() if out.exists() else []:
            first = line.split(";", 1)[0]  # "thread (23423): group-commit"
            if first.startswith("thread (") and "): " in first:
                tid, name = first[len("thread ("):].split("): ", 1)
                names[tid] = name.strip()
        return names


def _consumed(settings: ServiceSettings) -> int:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        row = conn.execute(SQL("SELECT coalesce(sum(next_offset), 0) FROM {}.consumer_positions"
                               " WHERE consumer = 'dispatch-lifecycle'").format(
            Identifier(settings.schema))).fetchone()
    return int(row[0]) if row else 0


async def _end_offsets(settings: ServiceSettings) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        topic = settings.lifecycle_topic
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(12)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def _app_name(settings: ServiceSettings) -> str:
    return f"dispatch_cost_{settings.schema}"


def _backends(settings: ServiceSettings) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the dispatch process."""
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (_app_name(settings),)).fetchall()]
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:  # ended meanwhile
            pass
    return found


def _start(tree: Path, settings: ServiceSettings, http_port: int, grpc_port: int,
           log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{tree}:{tree / 'proto'}",
           "MINSHENG_ENVIRONMENT": "test", "MINSHENG_CLOCK": "event",
           "MINSHENG_PG_SCHEMA": settings.schema, "MINSHENG_TOPIC_PREFIX": settings.topic_prefix,
           "MINSHENG_HTTP_PORT": str(http_port), "MINSHENG_GRPC_PORT": str(grpc_port),
           # this checkout's development keys (another tree would make its own)
           "MINSHENG_TOKEN_PUBLIC_KEYS": str(auth.ensure_dev_keys()),
           # libpq's: names the process's PostgreSQL backends (their CPU is counted too)
           "PGAPPNAME": _app_name(settings)}
    return subprocess.Popen([sys.executable, "-m", "services.dispatch"], cwd=tree, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _spy(pid: int, out: Path, native: bool = False, rate: int = profile.RATE
         ) -> subprocess.Popen[bytes]:
    """py-spy on the thread holding the GIL, whichever it is (the loop, the group commit, the
    executor's threads): where the Python CPU goes. Sampling every busy thread instead counts
    threads waiting in psycopg's C waits as busy; the CPU by thread is in the result."""
    exe = profile.py_spy()
    if exe is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", str(rate),
                             "--format", "raw", "--gil", "--output", str(out),
                             # py-spy reads native stacks only with the process paused
                             *(["--native"] if native else ["--nonblocking"])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _spied(spying: subprocess.Popen[bytes], out: Path) -> str:
    os.kill(spying.pid, signal.SIGINT)  # py-spy writes its file on Ctrl-C
    spying.wait(60)
    lines = out.read_text(errors="replace").splitlines() if out.exists() else []
    return profile.render([profile.summarise("dispatch", lines, top=30)],
                          "# dispatch (the GIL holder)")


async def _ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"dispatch exited:\n{log.read_text()[-2000:]}")
            try:
                if (await client.get(url + "/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"dispatch not ready:\n{log.read_text()[-2000:]}")


def _rows_written(conn: Any, schema: str, tickets: int) -> dict[str, Any]:
    """Rows inserted / updated (of which HOT) per ticket in the process's tables, the whole
    run (start-up included), once its backends have exited (their statistics flushed)."""
    time.sleep(1.0)  # the process has exited; its backends flush their counts as they end
    conn.execute("SELECT pg_stat_clear_snapshot()")
    found = conn.execute(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
        " WHERE schemaname = %s AND n_tup_ins + n_tup_upd > 0 ORDER BY relname",
        (schema,)).fetchall()
    return {name: [round(i / tickets, 2), round(u / tickets, 2), round(h / tickets, 2)]
            for name, i, u, h in found}


async def measure(tree: Path, tickets: int, rate: float, spy: bool,
                  native: bool = False, spy_rate: int = profile.RATE,
                  raw: Path | None = None) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    settings = ServiceSettings(service="bench", environment="test", pg_schema=f"dc_{unique}",
                               topic_prefix=f"dc{unique}.")
    await ensure_topics(settings, {settings.lifecycle_topic: 12, settings.dead_letter_topic: 1})
    port = distinct_ports()
    http_port, grpc_port = port(), port()
    log = Path(tempfile.mkdtemp(prefix="dispatch_cost_")) / "dispatch.log"
    plan = lives(recorded(), tickets)
    units = [u["code"] for u in json.loads((ROOT / "services/dispatch/data/units.json")
                                           .read_text("utf-8"))["units"] if u["kind"] != "master"]
    proc = _start(tree, settings, http_port, grpc_port, log)
    driver = Driver(settings, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}", units)
    stop = asyncio.Event()
    producer = make_producer(settings)
    try:
        await _ready(f"http://127.0.0.1:{http_port}", proc, log)
        driver.by_id = {life.ticket_id: life for life in plan}
        driver.streams = [asyncio.create_task(driver.follow(u)) for u in units]
        for _ in range(300):
            if len(driver.connected) == len(units):
                break
            await asyncio.sleep(0.1)
        await producer.start()
        watcher = asyncio.create_task(driver.watch(stop))
        await asyncio.sleep(1.0)  # the streams' first reads and the watcher's seek are done
        spied = raw or log.parent / "spy.txt"
        spying = _spy(proc.pid, spied, native, spy_rate) if spy else None
        backends0 = await asyncio.to_thread(_backends, settings)
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        threads0 = threads(proc.pid)
        desk = asyncio.create_task(driver.desk(stop))
        running = []
        for i, life in enumerate(plan):
            due = wall0 + i / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            running.append(asyncio.create_task(driver.live(life, producer)))
        await asyncio.gather(*running)
        await producer.flush()
        live = [life for life in plan if life.assigned.is_set()]
        for life in live:
            try:
                await asyncio.wait_for(life.closed.wait(), max(1.0, 120 - (time.monotonic()
                                                                          - wall0)))
            except TimeoutError:
                driver.errors["not_closed"] += 1
        end = await _end_offsets(settings)
        while await asyncio.to_thread(_consumed, settings) < end:
            await asyncio.sleep(0.1)
            if time.monotonic() - wall0 > 300:
                raise TimeoutError("dispatch's consumer did not catch up")
        wall, cpu = time.monotonic() - wall0, cpu_seconds(proc.pid) - cpu0
        backends1 = await asyncio.to_thread(_backends, settings)
        # (a backend that ended during the run is missed: the pools keep theirs open)
        pg_cpu = sum(s - backends0.get(pid, 0.0) for pid, s in backends1.items())
        by_thread = {name: round((s - threads0.get(name, 0.0)) * 1000 / tickets, 2)
                     for name, s in threads(proc.pid).items()}
        by_thread = dict(sorted(by_thread.items(), key=lambda x: -x[1]))
        names = await asyncio.to_thread(thread_names, proc.pid)
        by_thread = {(f"{names[k.rsplit(':', 1)[1]]}:{k.rsplit(':', 1)[1]}"
                      if k != "main" and k.rsplit(":", 1)[1] in names else k): v
                     for k, v in by_thread.items()}
        stop.set()
        await asyncio.gather(desk, watcher, return_exceptions=True)
        text = _spied(spying, spied) if spying else ""
    finally:
        stop.set()
        await driver.close()
        await producer.stop()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            rows_written = _rows_written(conn, settings.schema, tickets)
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))
        await drop_topics(settings)
    return {"tree": str(tree), "tickets": tickets, "rate_tickets_per_s": rate,
            "dispatcher_assigned": driver.dispatcher_assigned, "errors": dict(driver.errors),
            "seconds": round(wall, 1), "cpu_ms_per_ticket": round(cpu * 1000 / tickets, 2),
            "pg_backends_cpu_ms_per_ticket": round(pg_cpu * 1000 / tickets, 2),
            "ms_per_ticket_by_thread": {k: v for k, v in by_thread.items() if v >= 0.05},
            "rows_per_ticket": rows_written,
            "profile": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="tickets/s")
    parser.add_argument("--tree", default=str(ROOT), help="the checkout to run dispatch from")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--native", action="store_true",
                        help="--profile with C frames too (gRPC's Cython, uvloop, libpq)")
    parser.add_argument("--spy-rate", type=int, default=profile.RATE,
                        help="--profile's samples per second")
    parser.add_argument("--raw", help="--profile: keep py-spy's collapsed stacks in this file")
    args = parser.parse_args()
    result = asyncio.run(measure(Path(args.tree).resolve(), args.tickets, args.rate,
                                 args.profile, args.native, args.spy_rate,
                                 Path(args.raw) if args.raw else None))
    text = result.pop("profile")
    print(json.dumps(result))
    if text:
        print(text)


if __name__ == "__main__":
    main()
