"""Feedback killed with -9: every effect happens exactly once.

1. Under the city simulator's load, on a whole platform: ratings, callbacks and reopenings in
   flight while feedback is down; every acknowledged rating and callback is in the ledger once.
2. Feedback as its own process (wall clock): answered, killed mid-life, restarted, re-sent a
   copy of the reply (what an upstream relay does after a crash; no public interface sends a
   copy, so this part publishes it itself), rated through its link.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import feedback_notices_pb2

from backbone import events
from backbone.kafka import make_producer
from tests.e2e.platform_harness import Platform, eventually
from tests.e2e.test_crash_safety import check_exactly_once, run_with_kills

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "feedback"))
from upstream import Ticket, fake_code

pytestmark = pytest.mark.e2e


class FeedbackAlone(Platform):
    """Only feedback, on a free port: the shared e2e ports may be taken by a whole platform."""

    def __init__(self) -> None:
        super().__init__(names=["feedback"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    def http_port(self, name: str) -> int:
        return self.port


@pytest.fixture(scope="module")
def feedback(infra):
    platform = FeedbackAlone()
    platform.start("feedback")
    platform.wait_ready(["feedback"])
    yield platform
    platform.stop_all()


@pytest.fixture(scope="module")
def city(infra):
    platform = Platform()
    platform.start_all()
    yield platform
    platform.stop_all()


def test_killing_feedback_under_the_city_load_changes_nothing_twice(city: Platform):
    # follow-ups at two simulated days a second: replies, ratings and callbacks meet the kill
    record = run_with_kills(city, ["feedback"], seed=44, speed=172_800.0)
    found = check_exactly_once(city, record)
    rated = sum(c["rated"] for c in record.acted.values())
    assert rated > 0, record.summary
    for code in record.codes:
        types = [d.event_type for d in found[code]]
        # one notice per reply at most (a ticket merged into a case hears its primary's reply),
        # one close per round
        replies = types.count("AssignmentReplied") or int("TicketMergedIntoCase" in types)
        assert types.count("CitizenNotified") <= replies, (code, types)
        assert types.count("TicketClosed") <= 1 + types.count("TicketReopened"), (code, types)
        assert types.count("TicketRated") <= max(1, types.count("CitizenNotified")), (code, types)


def publish(platform: Platform, ticket: Ticket, *raws: bytes) -> None:
    async def send() -> None:
        producer = make_producer(platform.settings)
        await producer.start()
        try:
            for raw in raws:
                await producer.send_and_wait(platform.topic("tickets.events"), raw,
                                             key=ticket.id.encode())
        finally:
            await producer.stop()

    asyncio.run(send())


def published(platform: Platform, ticket: Ticket) -> tuple[list, list]:
    """Everything feedback published about `ticket` so far: (events, notices)."""

    async def read() -> tuple[list, list]:
        consumer = AIOKafkaConsumer(platform.topic("tickets.events"),
                                    platform.topic("citizen.notices"),
                                    bootstrap_servers=platform.settings.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        found: list = []
        notices: list = []
        try:
            for _ in range(8):
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    for r in records:
                        if r.key != ticket.id.encode():
                            continue
                        if r.topic.endswith("citizen.notices"):
                            notice = feedback_notices_pb2.CitizenNotice()
                            notice.ParseFromString(r.value)
                            notices.append(notice)
                        else:
                            d = events.decode(r.value)
                            if d.envelope.producer == "feedback":
                                found.append(d)
        finally:
            await consumer.stop()
        return found, notices

    return asyncio.run(read())


def test_kill_9_restart_and_redelivery_change_nothing_twice(feedback: Platform):
    now = datetime.now(UTC)
    ticket = Ticket(fake_code())
    review = ticket.reviewed(now - timedelta(minutes=5), reply="已清理路面垃圾。")
    publish(feedback, ticket, ticket.submitted(now - timedelta(hours=2), text="路面垃圾无人清理"),
            ticket.accepted(now - timedelta(hours=2)), ticket.assigned(now - timedelta(hours=1)),
            review)
    staff = feedback.client("feedback", "dispatcher", sub="staff-1")
    eventually(lambda: staff.get(f"/v1/tickets/{ticket.code}/feedback").json()
               .get("status") == "awaiting_rating", what="the reply delivered")
    feedback.kill("feedback")
    feedback.restart("feedback")
    publish(feedback, ticket, review)  # the relay upstream published it twice
    _, notices = eventually(lambda: (lambda r: r if r[1] else None)(published(feedback, ticket)),
                            what="the notice")
    public = httpx.Client(base_url=feedback.url("feedback"), timeout=30)
    rated = public.post("/v1/ratings/link", json={"token": notices[0].rating_token,
                                                  "rating": "satisfied"})
    assert rated.status_code == 201, rated.text
    assert public.post("/v1/ratings/link", json={"token": notices[0].rating_token,
                                                  "rating": "satisfied"}).status_code == 409

    def closed() -> list | None:
        found, _ = published(feedback, ticket)
        return found if any(d.event_type == "TicketClosed" for d in found) else None

    found = eventually(closed, what="TicketClosed")
    # The relay publishes at least once (a kill -9 between send and position re-sends);
    # a copy keeps its event id, so "once" means once per event id.
    kinds = sorted({d.event_id: d.event_type for d in found}.values())
    assert kinds == ["CitizenNotified", "TicketClosed", "TicketRated"]
    assert len({n.notice_id for n in published(feedback, ticket)[1]}) == 1
