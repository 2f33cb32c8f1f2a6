"""A feedback service in-process against the real Kafka and PostgreSQL, isolated per module
(fresh topic prefix and schema), with a reader that collects what it publishes."""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import feedback_notices_pb2

from backbone import auth, events
from backbone.kafka import make_producer
from backbone.runtime import serve
from services.feedback.bootstrap import build
from services.feedback.settings import FeedbackSettings
from tests import janitor
from tests.waiting import patient

sys.path.insert(0, str(Path(__file__).parent))
from upstream import Ticket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """The service under test, its published output, and ways to drive it."""

    def __init__(self, settings: FeedbackSettings):
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.http_port}"
        self.published: list[events.DecodedEvent] = []
        self.notices: list[feedback_notices_pb2.CitizenNotice] = []
        self.producer = make_producer(settings)

    def client(self, role: str | None = None, sub: str = "", unit: str = "") -> httpx.AsyncClient:
        headers = {}
        if role:
            token = auth.mint(self.settings, sub=sub or role, role=role, unit=unit)
            headers["authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def publish(self, ticket: Ticket, *raws: bytes) -> None:
        for raw in raws:
            await self.producer.send_and_wait(self.settings.lifecycle_topic, raw,
                                              key=ticket.id.encode())

    def of(self, ticket: Ticket, event_type: str) -> list[Any]:
        return [d for d in self.published
                if d.ticket_id == ticket.id and d.event_type == event_type and
                d.envelope.producer == "feedback"]

    def notices_of(self, ticket: Ticket) -> list[feedback_notices_pb2.CitizenNotice]:
        return [n for n in self.notices if n.ticket_id == ticket.id]

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Poll until `check()` is truthy; fail with `what` if it never is."""
        deadline = asyncio.get_running_loop().time() + patient(timeout)
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    async def read(self, stop: asyncio.Event) -> None:
        notices_topic = self.settings.topic("citizen.notices")
        consumer = AIOKafkaConsumer(self.settings.lifecycle_topic, notices_topic,
                                    bootstrap_servers=self.settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None,
                                    metadata_max_age_ms=1000)
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        if r.topic == notices_topic:
                            notice = feedback_notices_pb2.CitizenNotice()
                            notice.ParseFromString(r.value)
                            self.notices.append(notice)
                        else:
                            self.published.append(events.decode(r.value))
        finally:
            await consumer.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(infra, request):
    unique = janitor.claim(uuid.uuid4().hex[:10])
    port = free_port()
    settings = FeedbackSettings(
        environment="test", topic_prefix=f"tfb{unique}.", pg_schema=f"fb_{unique}",
        http_port=port, clock="event", unrated_check_interval_s=0.3,
        rating_url_base=f"http://127.0.0.1:{port}",
        # the module's tests share one client address; test_public_rate_limits.py tests limits
        hall_requests_per_minute=1e6, rating_link_requests_per_minute=1e6,
        **getattr(request.module, "FEEDBACK_SETTINGS", {}))  # a module's own settings
    built = await build(settings)
    server = asyncio.create_task(serve(built))
    running = Running(settings)
    await running.producer.start()
    stop = asyncio.Event()
    reader = asyncio.create_task(running.read(stop))
    async with running.client() as http:
        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        deadline = asyncio.get_running_loop().time() + patient(60)
        while not await ready():
            assert asyncio.get_running_loop().time() < deadline, "feedback never became ready"
            await asyncio.sleep(0.2)
    yield running
    stop.set()
    await reader
    await running.producer.stop()
    server.cancel()
    try:
        await server
    except asyncio.CancelledError:
        pass
