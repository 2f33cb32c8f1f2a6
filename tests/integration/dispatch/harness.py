"""A running dispatch service (subprocess) on the real Kafka and PostgreSQL, isolated by a
random topic prefix and schema, and the tools to act as its upstream services and its units."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import common_pb2, dispatch_api_pb2_grpc, feedback_events_pb2, intake_events_pb2

from backbone import auth, events
from backbone.kafka import make_producer
from backbone.settings import ServiceSettings
from tests import janitor
from tests.waiting import patient

ROOT = Path(__file__).resolve().parents[3]

# Texts of the labelled set that route confidently (a territorial and a departmental matter)
# and one that no model can place.
TERRITORIAL = ("我是颍东区插花镇前进村的居民，小区门禁坏了两个月，物业一直推脱不修，"
               "外来人员随便进出很不安全。", "颍东区插花镇前进村")
DEPARTMENTAL = ("颍泉区中市街道幸福里小区，附近工地渣土车不盖篷布，沿路撒落泥土，车辆经过尘土飞扬。",
                "颍泉区中市街道幸福里小区")
VAGUE = ("你好，我想问一下那个事情怎么办", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DispatchUnderTest:
    def __init__(self, infra: ServiceSettings, **env: str) -> None:
        self.id = janitor.claim(uuid.uuid4().hex[:10])
        self.http_port, self.grpc_port = free_port(), free_port()
        self.settings = infra.model_copy(update={
            "service": "dispatch", "topic_prefix": f"itd{self.id}.",
            "pg_dbname": "it_dispatch", "pg_schema": f"dispatch_{self.id}"})
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
                    "MINSHENG_ENVIRONMENT": "test", "MINSHENG_HTTP_PORT": str(self.http_port),
                    "MINSHENG_GRPC_PORT": str(self.grpc_port),
                    "MINSHENG_TOPIC_PREFIX": self.settings.topic_prefix,
                    "MINSHENG_PG_DBNAME": self.settings.pg_dbname,
                    "MINSHENG_PG_SCHEMA": self.settings.pg_schema, **env}
        self.log = ROOT / ".data" / "it" / f"dispatch-{self.id}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.producer: Any = None
        self.seen: list[events.DecodedEvent] = []
        self._reader: asyncio.Task[None] | None = None

    # --- process ---
    def start(self, timeout: float = 90) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "services.dispatch"], cwd=ROOT,
                                     env=self.env, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + patient(timeout)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dispatch exited:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"dispatch not ready:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # --- acting as intake and feedback ---
    async def open_kafka(self) -> None:
        self.producer = make_producer(self.settings)
        await self.producer.start()
        self._reader = asyncio.create_task(self._read(self.settings.lifecycle_topic, self.seen))

    async def close_kafka(self) -> None:
        if self._reader:
            self._reader.cancel()
        if self.producer:
            await self.producer.stop()

    async def publish(self, ticket_id: str, code: str, payload: Any, *, producer: str = "intake",
                      event_id: str | None = None, at: datetime | None = None) -> str:
        env = events.make_envelope(
            payload=payload, event_id=event_id or str(uuid.uuid4()), ticket_id=ticket_id,
            ticket_code=code, producer=producer, occurred_at=at or events.utcnow(),
            actor=events.actor("system", producer))
        await self.producer.send_and_wait(self.settings.lifecycle_topic, env.SerializeToString(),
                                          key=ticket_id.encode())
        return env.event_id

    async def submit(self, text_and_address: tuple[str, str], *, accept: bool = True,
                     at: datetime | None = None) -> tuple[str, str]:
        """A new ticket as intake would announce it; returns (ticket_id, code)."""
        text, address = text_and_address
        ticket_id, code = str(uuid.uuid4()), f"FY-IT-{uuid.uuid4().hex[:8].upper()}"
        place = common_pb2.Place(address_masked=address)
        await self.publish(ticket_id, code, intake_events_pb2.TicketSubmitted(
            channel="wechat_mini", text_masked=text, title_masked="", place=place), at=at)
        if accept:
            await self.publish(ticket_id, code, intake_events_pb2.TicketAccepted(), at=at)
        return ticket_id, code

    async def submit_web(self, title: str, body: str, address: str = "") -> tuple[str, str]:
        """A request from the web form, as intake announces it (masked title, body, address)."""
        ticket_id, code = str(uuid.uuid4()), f"FY-IT-{uuid.uuid4().hex[:8].upper()}"
        await self.publish(ticket_id, code, intake_events_pb2.TicketSubmitted(
            channel="web", title_masked=title, text_masked=body,
            place=common_pb2.Place(address_masked=address)))
        await self.publish(ticket_id, code, intake_events_pb2.TicketAccepted())
        return ticket_id, code

    async def reopen(self, ticket_id: str, code: str, reason: str = "不满意") -> None:
        await self.publish(ticket_id, code, feedback_events_pb2.TicketReopened(
            reopen_count=1, reason=reason), producer="feedback")

    # --- watching what dispatch publishes ---
    async def _read(self, topic: str, into: list[events.DecodedEvent]) -> None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    into.extend(events.decode(r.value) for r in records)
        finally:
            await consumer.stop()

    def of(self, ticket_id: str, event_type: str | None = None) -> list[events.DecodedEvent]:
        return [e for e in self.seen if e.ticket_id == ticket_id and e.envelope.producer ==
                "dispatch" and (event_type is None or e.event_type == event_type)]

    async def wait_for(self, ticket_id: str, event_type: str, count: int = 1,
                       timeout: float = 30) -> list[events.DecodedEvent]:
        deadline = asyncio.get_running_loop().time() + patient(timeout)
        while asyncio.get_running_loop().time() < deadline:
            found = self.of(ticket_id, event_type)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        got = [e.event_type for e in self.of(ticket_id)]
        raise AssertionError(f"no {count}x {event_type} for {ticket_id} in"
                             f" {patient(timeout):.0f} s; got {got}"
                             f"\n{self.tail(15)}")

    async def wait_for_any(self, ticket_id: str, event_types: tuple[str, ...],
                           timeout: float = 30) -> events.DecodedEvent:
        deadline = asyncio.get_running_loop().time() + patient(timeout)
        while asyncio.get_running_loop().time() < deadline:
            found = [e for e in self.of(ticket_id) if e.event_type in event_types]
            if found:
                return found[0]
            await asyncio.sleep(0.1)
        raise AssertionError(f"none of {event_types} for {ticket_id} in {patient(timeout):.0f} s")

    def queue(self, http: httpx.Client, name: str) -> list[str]:
        r = http.get("/v1/queues", params={"queue": name})
        assert r.status_code == 200, r.text
        return [t["ticket_code"] for t in r.json()["tickets"]]

    async def read_topic(self, topic: str, ticket_id: str, count: int,
                         timeout: float = 20) -> list[events.DecodedEvent]:
        got: list[events.DecodedEvent] = []
        task = asyncio.create_task(self._read(topic, got))
        try:
            deadline = asyncio.get_running_loop().time() + patient(timeout)
            while asyncio.get_running_loop().time() < deadline:
                mine = [e for e in got if e.ticket_id == ticket_id]
                if len(mine) >= count:
                    return mine
                await asyncio.sleep(0.1)
            return [e for e in got if e.ticket_id == ticket_id]
        finally:
            task.cancel()

    # --- acting as units and dispatchers ---
    def token(self, role: str, unit: str = "", sub: str = "") -> str:
        return auth.mint(self.settings, sub=sub or unit or role, role=role,
                         unit=unit)

    def department(self) -> tuple[grpc.aio.Channel, Any]:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        return channel, dispatch_api_pb2_grpc.DepartmentServiceStub(channel)

    def unit_md(self, unit: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token('unit', unit)}")]

    def http(self, role: str = "dispatcher", unit: str = "", sub: str = "") -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"authorization": f"Bearer {self.token(role, unit, sub)}"})
