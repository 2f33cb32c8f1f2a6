"""Feedback's public side: the rating links citizens get (on ``citizen.notices``, which the
channel adapters consume) and the staff's callback API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from minsheng.v1 import feedback_notices_pb2

from tools.simulator.drive.http import Clients, call
from tools.simulator.drive.settings import Endpoints
from tools.simulator.drive.waiting import LatestByTicket

log = logging.getLogger(__name__)
CALLBACK_STAFF = "sim-callback-staff"


@dataclass(frozen=True)
class Notice:
    ticket_id: str
    rating_token: str
    link: str
    reply_round: int
    pseudonym: str


class NoticeBoard:
    """The channel adapters' view of ``citizen.notices``: the latest rating link per ticket."""

    def __init__(self, endpoints: Endpoints):
        self.endpoints = endpoints
        self.topic = endpoints.topic("citizen.notices")
        self.notices: LatestByTicket[Notice] = LatestByTicket()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the topic from its current end (notices for this run come after this)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.endpoints.kafka_bootstrap,
                                    enable_auto_commit=False)
        await consumer.start()
        partitions = None
        for _ in range(20):
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            await consumer.topics()  # refresh metadata: the topic may be created any moment
            await asyncio.sleep(0.25)
        if not partitions:
            # Nobody has created it yet: follow partition 0..5 as created (backbone makes 6).
            partitions = set(range(6))
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def _follow(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:  # what is fetched a batch at a time, not one awaited getone a record
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                for message in messages:
                    self._note(message.value)

    def _note(self, value: bytes) -> None:
        try:
            notice = feedback_notices_pb2.CitizenNotice.FromString(value)
        except Exception:
            return
        if not notice.rating_token:
            return
        known = self.notices.get(notice.ticket_id)
        if known is None or notice.reply_round >= known.reply_round:
            self.notices.put(notice.ticket_id, Notice(
                notice.ticket_id, notice.rating_token, notice.link, notice.reply_round,
                notice.citizen_pseudonym))

    async def wait_for(self, ticket_id: str, *, timeout: float,
                       reply_round: int = 1) -> Notice | None:
        """The ticket's latest notice, once one of ``reply_round`` or later has arrived (a
        reopened ticket's new reply comes with a new link; the old one is stale)."""
        return await self.notices.wait_for(ticket_id, lambda known: known.reply_round >= reply_round,
                                           timeout)


class Feedback:
    def __init__(self, endpoints: Endpoints, *, timeout: float = 30.0):
        self.endpoints = endpoints
        self.client = Clients(base_url=endpoints.feedback, timeout=timeout)

    async def close(self) -> None:
        await self.client.aclose()

    @staticmethod
    def _at(at: datetime | None) -> dict[str, Any]:
        return {"occurred_at": at.isoformat()} if at is not None else {}

    async def rate_by_link(self, notice: Notice, rating: str, comment: str | None, *,
                           at: datetime | None) -> Any:
        """The citizen follows the one-time link: the token in it is the credential."""
        body = {"token": notice.rating_token, "rating": rating} | (
            {"comment": comment} if comment else {}) | self._at(at)
        response = await call(self.client, "feedback", "POST", "/v1/ratings/link", json=body)
        return response.json()

    async def record_callback(self, code: str, *, reached: bool, rating: str | None,
                              at: datetime | None, request_id: str,
                              resolved: bool | None = None) -> Any:
        """Staff phone the citizen back (电话回访) and record what they heard. The request id
        makes a retry after a lost answer safe: feedback answers it as the first call."""
        body: dict[str, Any] = {"reached": reached, "request_id": request_id} | self._at(at)
        if reached and rating:
            # What the citizen says on the phone; unless the plan says otherwise, dissatisfied
            # means not resolved for them.
            body |= {"satisfaction": rating,
                     "resolved": rating != "dissatisfied" if resolved is None else resolved}
        response = await call(self.client, "feedback", "POST", f"/v1/tickets/{code}/callbacks",
                              json=body, headers=self.endpoints.bearer("dispatcher", sub=CALLBACK_STAFF))
        return response.json()
