"""The notifier's three loops: take notices from `citizen.notices`, attempt due deliveries,
publish the outbox of outcome events to `tickets.events`.

Under MINSHENG_CLOCK=event (a simulated month, backbone/clock.py) a notice is delivered at its
own business time (`composed_at`: when the reply reached the citizen's channel), not at the
wall clock: NoticeDelivered goes to the lifecycle topic, whose event times are every
service's watermark, and a receipt stamped "today" in a month replayed in minutes moved
feedback's and sla's clocks weeks ahead (every open rating window closed unrated, every
deadline missed at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import DecodeError
from minsheng.v1 import feedback_notices_pb2

from backbone import events
from backbone.kafka import client_options, pace_fetches, quiet_options
from backbone.wakeup import Nudge
from services.notifier.adapters.store import Store
from services.notifier.application.deliveries import Deliverer
from services.notifier.domain.delivery import RetryPolicy, route_of

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


async def pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Wakeups:
    """Push, not poll: taking notices wakes the deliverer, a delivery round that settled
    something wakes the outbox; each loop also wakes at its own next due time (a retry's) or,
    at the latest, after `fallback_s` (another replica's work, a resend through the API).

    What one loop committed is handed to the next in memory instead of being read back: the
    notices the take claimed (`claimed`: rows already marked sending, attempt 1) and the
    outcome events a round put in the outbox (`settled`: seq, ticket id, envelope). A thread
    hop and a round trip less each; what a crash loses here is in PostgreSQL (a claimed row
    goes stale and is claimed again, an unpublished outbox row is read at the next start)."""

    def __init__(self) -> None:
        self.due = Nudge()
        self.outbox = Nudge()
        self.claimed: list[dict[str, Any]] = []
        self.settled: list[tuple[int, str, bytes]] = []


def notice_row(raw: bytes) -> dict[str, Any] | None:
    """A notice the notifier delivers, as a row (`composed_at`: its business time, or None);
    None for others' kinds and for garbage."""
    notice = feedback_notices_pb2.CitizenNotice()
    try:
        notice.ParseFromString(raw)
    except DecodeError:
        log.warning("citizen.notices: skipped a message that is not a CitizenNotice")
        return None
    route = route_of(notice.kind)
    if route is None or not notice.notice_id or not notice.ticket_id:
        return None
    return {"notice_id": notice.notice_id, "ticket_id": notice.ticket_id,
            "ticket_code": notice.ticket_code, "channel": notice.channel, "kind": notice.kind,
            "route": route, "citizen": notice.citizen_pseudonym, "subject": notice.subject,
            "body": notice.body, "link": notice.link, "reply_round": notice.reply_round,
            "composed_at": (notice.composed_at.ToDatetime(tzinfo=UTC)
                            if notice.HasField("composed_at") else None)}


def take_notices(settings: Any, store: Store, producer: Any, wakeups: Wakeups | None = None
                 ) -> Callable[[asyncio.Event], Awaitable[None]]:
    """Read notices; each batch's rows and the offsets after it commit together in PG, and the
    consumer starts where PG says: a notice is taken exactly once whatever crashes."""
    topic = settings.topic("citizen.notices")
    event_time = settings.clock == "event"
    concurrency = getattr(settings, "notifier_concurrency", 0)
    ms = getattr(settings, "notifier_gather_ms", 0)
    gather = (64 * 1024, ms) if ms > 0 else None

    async def run(stop: asyncio.Event) -> None:
        gathering = False  # a new consumer starts quiet
        consumer = AIOKafkaConsumer(**client_options(settings), group_id=settings.group(
            "notifier"), client_id="minsheng-notifier", enable_auto_commit=False,
            auto_offset_reset="earliest",
            **quiet_options(settings))  # idle: one long poll per 5 s, not 2 a second
        await consumer.start()
        try:
            partitions = await producer.partitions_for(topic)  # waits for the metadata
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)  # partitions by hand: PG holds the offsets, not the group
            stored = await asyncio.to_thread(store.offsets, topic)
            for tp in tps:  # never taken: from 0 (auto_offset_reset moves it to the oldest
                # kept); an awaited seek_to_beginning waits out a long poll per partition
                consumer.seek(tp, stored.get(tp.partition, 0))
            offsets: dict[int, int] = {}  # read past, not yet stored
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=2000, max_records=500)
                gathering = pace_fetches(consumer, gather, bool(batch), gathering,
                                  settings.consumer_fetch_max_wait_ms)
                rows = []
                for tp, records in batch.items():
                    rows += [r for rec in records if (r := notice_row(rec.value))]
                    offsets[tp.partition] = records[-1].offset + 1
                if not rows and (batch or not offsets):
                    # only others' notices (letters, callback scripts...): their offsets
                    # are stored with the next notices taken, or once the topic is quiet
                    # (a crash before then reads them again, and skips them again)
                    continue
                room = max(0, concurrency - len(wakeups.claimed)) if wakeups else 0
                claimed = await asyncio.to_thread(store.take_notices, rows, topic, offsets,
                                                  now(), event_time, room)
                offsets = {}
                if rows and wakeups:
                    wakeups.claimed += claimed
                    wakeups.due.set()
        finally:
            await consumer.stop()

    return run


def attempt_time(row: dict[str, Any], event_time: bool) -> datetime:
    """When an attempt happens: now, or under an event clock the attempt's due time (the
    notice's business time, or the retry's, which the retry policy counted from it)."""
    return row["next_at"] if event_time else now()


def deliver_due(store: Store, deliverer: Deliverer, policy: RetryPolicy, fallback_s: float,
                concurrency: int, event_time: bool = False, wakeups: Wakeups | None = None
                ) -> Callable[[asyncio.Event], Awaitable[None]]:
    wakeups = wakeups or Wakeups()

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            t = now()
            try:
                rows = wakeups.claimed[:concurrency]  # claimed by the take, in memory
                del wakeups.claimed[:len(rows)]
                if not rows:
                    rows = await asyncio.to_thread(store.claim_due, t, t - policy.stale_after,
                                                   concurrency)
                if rows:
                    done = await deliverer.attempt_all(rows, [attempt_time(r, event_time)
                                                              for r in rows])
                    wakeups.settled += done.written
                    wakeups.outbox.set()
                    if len(rows) == concurrency or wakeups.claimed:  # maybe more due now
                        continue
                    due = done.next_due
                else:
                    due = await asyncio.to_thread(store.next_due, policy.stale_after)
            except Exception:
                log.exception("delivery round failed; will retry")
                await pause(stop, min(fallback_s, 1.0))
                continue
            wait = fallback_s if due is None else (due - now()).total_seconds()
            await wakeups.due.wait(stop, min(fallback_s, max(wait, 0.0)))

    return run


def publish_outbox(settings: Any, store: Store, producer: Any, fallback_s: float,
                   wakeups: Wakeups | None = None
                   ) -> Callable[[asyncio.Event], Awaitable[None]]:
    wakeups = wakeups or Wakeups()

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            # a round's events as it wrote them; else (a start, another replica's resend, a
            # crash's leftovers) from the table. A row read here just before its round hands
            # it over is sent twice: at least once, the same event id (consumers dedupe)
            rows = wakeups.settled[:500]
            del wakeups.settled[:len(rows)]
            if not rows:
                rows = await asyncio.to_thread(store.unpublished, 500)
            if rows:
                try:
                    futures = []
                    for _, ticket_id, raw in rows:
                        env = events.decode(bytes(raw)).envelope
                        futures.append(await producer.send(
                            settings.lifecycle_topic, bytes(raw), key=ticket_id.encode(),
                            headers=events.kafka_headers(env)))
                    await asyncio.gather(*futures)
                    await asyncio.to_thread(store.mark_published, [r[0] for r in rows])
                    if len(rows) == 500 or wakeups.settled:  # more; else a settle wakes us
                        continue
                except Exception:
                    log.exception("publishing outcome events failed; will retry")
                    await pause(stop, min(fallback_s, 1.0))
                    continue
            await wakeups.outbox.wait(stop, fallback_s)

    return run
