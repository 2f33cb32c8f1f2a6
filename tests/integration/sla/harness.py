"""The SLA service as a real process on the real Kafka and PostgreSQL, and its upstream.

Each ``SlaProcess`` gets its own topic prefix and schema, so tests never meet each other or
the demo. Tests act as intake, dispatch and feedback by publishing their envelopes to the
lifecycle topic, and read what sla published back from the same topic.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from minsheng.v1 import dispatch_events_pb2 as dispatch
from minsheng.v1 import feedback_events_pb2 as feedback
from minsheng.v1 import intake_events_pb2 as intake
from psycopg.sql import SQL, Identifier

from backbone import auth, events
from backbone.kafka import LIFECYCLE_PARTITIONS, ensure_topics, make_producer
from backbone.settings import ServiceSettings
from services.sla.domain.calendar import SHANGHAI
from tests import janitor
from tests.waiting import patient

ROOT = Path(__file__).resolve().parents[3]
DBNAME = "test_sla"
PRODUCERS = {"TicketAccepted": "intake", "TicketReopened": "feedback", "TicketClosed": "feedback",
             "PushedToSupervision": "feedback"}


def sh(text: str) -> dt.datetime:
    """'2024-11-04 10:00' in Asia/Shanghai."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Upstream:
    """One upstream fact, as a test script writes it."""

    ticket: str
    at: dt.datetime
    payload: Any

    def envelope(self, index: int) -> Any:
        name = type(self.payload).DESCRIPTOR.name
        return events.make_envelope(
            payload=self.payload, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                          f"{self.ticket}/{index}/{name}")),
            ticket_id=self.ticket, ticket_code=f"FY{abs(hash(self.ticket)) % 10**8:08d}",
            producer=PRODUCERS.get(name, "dispatch"), occurred_at=self.at)


def accepted(ticket: str, at: dt.datetime) -> Upstream:
    return Upstream(ticket, at, intake.TicketAccepted())


def assigned(ticket: str, at: dt.datetime, unit: str, urgency: str, parent: str = "city",
             n: int = 1, role: str = "lead") -> Upstream:
    return Upstream(ticket, at, dispatch.TicketAssigned(
        unit=unit, urgency=urgency, assignment_no=n, role=role, parent_unit=parent))


def reclassified(ticket: str, at: dt.datetime, urgency: str, days: int = 0) -> Upstream:
    return Upstream(ticket, at, dispatch.TicketReclassified(
        category="urban-management", subcategory="garbage", request_type="complaint",
        urgency=urgency, working_days=days, reclassified_by="dispatcher-1"))


def signed_for(ticket: str, at: dt.datetime, unit: str, n: int = 1) -> Upstream:
    return Upstream(ticket, at, dispatch.AssignmentSignedFor(unit=unit, assignment_no=n))


def replied(ticket: str, at: dt.datetime, unit: str, outcome: str = "resolved") -> Upstream:
    return Upstream(ticket, at, dispatch.AssignmentReplied(unit=unit, outcome=outcome,
                                                           reply_masked="已处理"))


def reviewed(ticket: str, at: dt.datetime, unit: str, accepted_: bool) -> Upstream:
    return Upstream(ticket, at, dispatch.ReplyReviewed(unit=unit, accepted=accepted_,
                                                       reason="答复不完整"))


def bounced(ticket: str, at: dt.datetime, unit: str) -> Upstream:
    return Upstream(ticket, at, dispatch.AssignmentBouncedBack(unit=unit, reason="不属于本单位"))


def transferred(ticket: str, at: dt.datetime, from_unit: str, to_unit: str) -> Upstream:
    return Upstream(ticket, at, dispatch.AssignmentTransferred(
        from_unit=from_unit, to_unit=to_unit, assignment_no=2, reason="属地调整"))


def coordinated(ticket: str, at: dt.datetime, lead: str) -> Upstream:
    return Upstream(ticket, at, dispatch.CoordinationDecided(lead_unit=lead, decision="统筹"))


def extension(ticket: str, at: dt.datetime, unit: str, days: int) -> Upstream:
    return Upstream(ticket, at, dispatch.ExtensionRequested(unit=unit, working_days=days,
                                                            reason="需现场勘查"))


def withdrawn(ticket: str, at: dt.datetime, unit: str, n: int = 1) -> Upstream:
    return Upstream(ticket, at, dispatch.AssignmentWithdrawn(
        unit=unit, assignment_no=n, reason="并单：随主诉求办理", case_id=f"case-{ticket}",
        primary_ticket_id=f"primary-{ticket}"))


def reopened(ticket: str, at: dt.datetime, unit: str) -> Upstream:
    return Upstream(ticket, at, feedback.TicketReopened(reopen_count=1, reason="不满意",
                                                        unit=unit))


def pushed(ticket: str, at: dt.datetime, unit: str) -> Upstream:
    return Upstream(ticket, at, feedback.PushedToSupervision(
        follower_role="deputy", follower_id="deputy-7", reason="群众反映多次未解决", unit=unit))


def closed(ticket: str, at: dt.datetime, unit: str) -> Upstream:
    return Upstream(ticket, at, feedback.TicketClosed(unit=unit, rating="satisfied"))


class SlaProcess:
    def __init__(self, infra: ServiceSettings, *, clock: str = "event",
                 extra_env: dict[str, str] | None = None):
        self.id = janitor.claim(uuid.uuid4().hex[:10])
        self.settings = infra.model_copy(update={
            "service": "sla", "pg_dbname": DBNAME, "pg_schema": f"sla_{self.id}",
            "topic_prefix": f"tsla{self.id}.", "clock": clock})
        self.port = free_port()
        self.logs = ROOT / ".data" / "test-sla"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
                    "MINSHENG_ENVIRONMENT": "test", "MINSHENG_PG_DBNAME": DBNAME,
                    "MINSHENG_PG_SCHEMA": self.settings.schema,
                    "MINSHENG_TOPIC_PREFIX": self.settings.topic_prefix,
                    "MINSHENG_CLOCK": clock, "MINSHENG_HTTP_PORT": str(self.port),
                    "MINSHENG_TIMER_INTERVAL_MS": "100",
                    # a static member of its group: restarted, it has its partitions back at
                    # once (each SlaProcess its own name: two must never share one)
                    "MINSHENG_CONSUMER_INSTANCE": f"sla-{self.id}", **(extra_env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, role: str, unit: str = "", sub: str = "") -> httpx.Client:
        token = auth.mint(self.settings, sub=sub or unit or role, role=role,
                          unit=unit)
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"authorization": f"Bearer {token}"})

    def start(self, timeout: float = 60) -> None:
        log = open(janitor.log(self.logs / f"{self.id}.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "services.sla"], cwd=ROOT,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + patient(timeout)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sla exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sla not ready in {timeout}s:\n{self.tail()}")
            time.sleep(0.2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        path = self.logs / f"{self.id}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- Kafka ---------------------------------------------------------------------------------
    async def create_topics(self) -> None:
        await ensure_topics(self.settings, {self.settings.lifecycle_topic: LIFECYCLE_PARTITIONS})

    async def publish(self, facts: list[Upstream]) -> None:
        producer = make_producer(self.settings)
        await producer.start()
        try:
            for i, fact in enumerate(facts):
                env = fact.envelope(i)
                await producer.send_and_wait(self.settings.lifecycle_topic,
                                             env.SerializeToString(), key=fact.ticket.encode(),
                                             headers=events.kafka_headers(env))
        finally:
            await producer.stop()

    async def sla_events(self) -> list[events.DecodedEvent]:
        """Everything sla published on the lifecycle topic so far, partition by partition."""
        topic = self.settings.lifecycle_topic
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(LIFECYCLE_PARTITIONS)]
            ends = await consumer.end_offsets(tps)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            got: list[Any] = []
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend(r for r in records if r.offset < ends[TopicPartition(
                        r.topic, r.partition)])
        finally:
            await consumer.stop()
        decoded = [events.decode(r.value) for r in got]
        return [d for d in decoded if d.envelope.producer == "sla"]

    async def wait_for(self, check: Any, what: str, timeout: float = 60) -> list[Any]:
        deadline = time.monotonic() + patient(timeout)
        found: list[Any] = []
        while time.monotonic() < deadline:
            found = await self.sla_events()
            if check(found):
                return found
            await asyncio.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; sla published "
                             f"{[(d.event_type, d.ticket_id) for d in found]}\n{self.tail()}")

    # -- PostgreSQL ----------------------------------------------------------------------------
    def quiet(self) -> bool:
        """Everything consumed, nothing due left unfired, every stored event published."""
        s = Identifier(self.settings.schema)
        with psycopg.connect(self.settings.pg_conninfo()) as conn:
            due = conn.execute(SQL(
                "SELECT count(*) FROM {}.sla_clocks c, (SELECT max(event_time) m FROM"
                " {}.sla_partition_times) w WHERE c.next_due_at <= w.m").format(s, s)).fetchone()
            orders = conn.execute(SQL(
                "SELECT count(*) FROM {}.sla_orders o, (SELECT max(event_time) m FROM"
                " {}.sla_partition_times) w WHERE o.next_due_at <= w.m").format(s, s)).fetchone()
            stored = conn.execute(SQL("SELECT coalesce(max(notification_id), 0) FROM"
                                      " {}.sla_events").format(s)).fetchone()
            relayed = conn.execute(SQL("SELECT coalesce(max(last_notification_id), 0) FROM"
                                       " {}.relay_positions").format(s)).fetchone()
        return due[0] == 0 and orders[0] == 0 and stored[0] == relayed[0]


def by_ticket(found: list[events.DecodedEvent]) -> dict[str, list[events.DecodedEvent]]:
    """Each ticket's events, once each: after a kill -9 the relay may publish a copy (same
    event id) of what it sent just before dying; consumers drop copies, and so do we."""
    out: dict[str, list[events.DecodedEvent]] = {}
    seen: set[str] = set()
    for d in found:
        if d.event_id not in seen:
            seen.add(d.event_id)
            out.setdefault(d.ticket_id, []).append(d)
    return out


def types(found: list[events.DecodedEvent]) -> list[str]:
    return [d.event_type for d in found]
