"""One intake service, in-process, on the real Kafka and PostgreSQL, for this package's tests.

Isolated: its own schema, topic prefix and port. Tests act as the channel adapters (HTTP and
bus) and read what intake publishes from the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from backbone import auth, events
from backbone.kafka import make_producer
from backbone.runtime import serve
from services.intake.bootstrap import build
from services.intake.settings import IntakeSettings
from tests import janitor
from tests.waiting import eventually_async, patient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Intake:
    def __init__(self, settings: IntakeSettings):
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.http_port}"

    def token(self, role: str = "channel_adapter", sub: str = "") -> str:
        return auth.mint(self.settings, sub=sub or f"{role}-{uuid.uuid4().hex[:6]}",
                         role=role, unit="u1" if role == "unit" else "")

    def client(self, role: str | None = "channel_adapter", sub: str = "") -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {self.token(role, sub)}"} if role else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def read(self, topic: str, until: Callable[[list[Any]], bool],
                   timeout: float = 60) -> list[Any]:
        """Every record on the topic from the beginning, once `until(records)` holds."""
        consumer = AIOKafkaConsumer(self.settings.topic(topic),
                                    bootstrap_servers=self.settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        got: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patient(timeout)
        try:
            while loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    got.extend(records)
                if until(got):
                    return got
        finally:
            await consumer.stop()
        return got

    async def lifecycle(self, until: Callable[[list[events.DecodedEvent]], bool],
                        timeout: float = 60) -> list[events.DecodedEvent]:
        records = await self.read("tickets.events",
                                  lambda rs: until([events.decode(r.value) for r in rs]), timeout)
        return [events.decode(r.value) for r in records]

    async def events_of(self, ticket_id: str, types: set[str],
                        timeout: float = 60) -> list[events.DecodedEvent]:
        """The lifecycle events of one ticket, once every type in `types` has appeared."""

        def mine(decoded: list[events.DecodedEvent]) -> list[events.DecodedEvent]:
            return [d for d in decoded if d.ticket_id == ticket_id]

        found = await self.lifecycle(lambda ds: types <= {d.event_type for d in mine(ds)},
                                     timeout)
        return mine(found)

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        producer = make_producer(self.settings)
        await producer.start()
        try:
            await producer.send_and_wait(self.settings.topic(topic), value, key=key.encode())
        finally:
            await producer.stop()


@contextlib.asynccontextmanager
async def running_intake(settings: IntakeSettings) -> AsyncIterator[Intake]:
    """Intake built and served in this process until the block ends, once it is ready."""
    service = await build(settings)
    task = asyncio.create_task(serve(service))
    here = Intake(settings)
    async with httpx.AsyncClient(base_url=here.url) as client:
        async def ready() -> bool:
            if task.done():  # it failed to start: say why now, not at the deadline
                await task
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get("/readyz")).status_code == 200
            return False
        await eventually_async(ready, timeout=20, interval=0.1, what="intake ready")
    here.service = service  # type: ignore[attr-defined]
    try:
        yield here
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 30)


@pytest.fixture(scope="package")
async def intake(infra) -> Any:
    unique = janitor.claim(uuid.uuid4().hex[:10])
    settings = IntakeSettings(
        environment="test", http_port=_free_port(), pg_dbname="intake_it",
        pg_schema=f"it_{unique}", topic_prefix=f"it{unique}.", adapter_burst=60,
        adapter_rate_per_s=0.5, relay_interval_ms=20)
    async with running_intake(settings) as here:
        yield here
