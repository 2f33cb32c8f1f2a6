"""sla's official holiday schedules, followed from the compacted topic `calendar.schedules`.

Every dispatch replica reads the whole topic from its start (no consumer group: every replica
needs every year; a compacted topic is a table, the latest message of a year its schedule) and
keeps following it, loading each schedule into the sign-for rule's calendar
(application/sign_for.py), over the files sla ships. So a schedule a supervisor loads into sla
(`PUT /v1/calendar/official/{year}`) reaches the deadlines dispatch tells units without a
release or a restart. `ready` turns true once the topic is read up to the end it had at start:
dispatch is not ready before (a restart would otherwise tell deadlines from the shipped files
for a moment). A message that does not decode or whose schedule fails sla's validation is
logged (year, offset, reason; no personal data) and skipped; a broker that does not answer is
retried, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import DecodeError
from minsheng.v1 import sla_calendar_pb2 as cal

from backbone.consumer import IDLE_POLL_S
from backbone.kafka import client_options, poll_or_stop, quiet_options
from backbone.privacy import mask_personal_data
from backbone.settings import ServiceSettings
from services.dispatch.application.sign_for import SignForRule
from services.sla.application.schedules import CALENDAR_PARTITIONS, calendar_topic, schedule_of
from services.sla.domain.calendar import OfficialSchedule, ScheduleInvalidError

log = logging.getLogger(__name__)

RETRY_S = 2.0  # after a failure to read the topic (Kafka down), the next try
OUTAGE_LOG_EVERY = 30  # one warning line per this many failed tries after the first


class ScheduleFeed:
    def __init__(self, settings: ServiceSettings, rule: SignForRule, producer: Any = None,
                 retry_s: float = RETRY_S):
        """`producer`: one whose `partitions_for` waits for the topic's metadata (the
        service's); without it the topic is taken to have CALENDAR_PARTITIONS."""
        self.settings = settings
        self.rule = rule
        self.producer = producer
        self.retry_s = retry_s
        self.topic = calendar_topic(settings)
        self.ready = False  # the topic read up to the end offsets it had at start
        self.loaded: dict[int, int] = {}  # year -> load number of the schedule in the rule
        self.skipped = 0  # messages that were not a valid schedule

    # -- one message ---------------------------------------------------------------------------
    def apply(self, key: bytes | None, value: bytes | None, where: str = "") -> bool:
        """Loads the schedule a message carries into the rule; False (logged) if it is none."""
        try:
            if value is None:
                raise ScheduleInvalidError("a tombstone (no value): no year is ever unloaded")
            message = cal.OfficialScheduleLoaded.FromString(value)
            schedule = schedule_of(message)
            if key is not None and key != str(schedule.year).encode():
                raise ScheduleInvalidError(f"the key is not the schedule's year {schedule.year}")
        except (DecodeError, ScheduleInvalidError) as exc:
            self.skipped += 1
            reason = mask_personal_data(" ".join(str(exc).split()))[:300]
            log.warning("%s%s: not a valid official schedule, skipped (%s: %s)", self.topic,
                        where, type(exc).__name__, reason)
            return False
        self._load(schedule, message.load_no)
        return True

    def _load(self, schedule: OfficialSchedule, load_no: int) -> None:
        self.rule.load(schedule)
        self.loaded[schedule.year] = load_no
        if self.ready:  # (at start, one line when the topic is read)
            log.info("official schedule of %d loaded into the sign-for rule (load %d%s)",
                     schedule.year, load_no, ", provisional" if schedule.provisional else "")

    # -- the topic -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                await self._follow(stop)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka unreachable, metadata missing: try again
                failures += 1
                if failures == 1:
                    log.warning("reading %s failed; retrying every %.0f s", self.topic,
                                self.retry_s, exc_info=exc)
                elif failures % OUTAGE_LOG_EVERY == 0:
                    log.warning("reading %s still fails (%d tries): %s: %s", self.topic,
                                failures, type(exc).__name__, exc)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.retry_s)
                except TimeoutError:
                    pass

    async def _partitions(self) -> list[TopicPartition]:
        if self.producer is None:
            return [TopicPartition(self.topic, p) for p in range(CALENDAR_PARTITIONS)]
        partitions = await self.producer.partitions_for(self.topic)  # waits for the metadata
        return [TopicPartition(self.topic, p) for p in sorted(partitions)]

    async def _follow(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),  # type: ignore[arg-type]
            group_id=None, client_id=f"minsheng-{self.settings.service}-calendar",
            enable_auto_commit=False, auto_offset_reset="earliest",
            **quiet_options(self.settings))
        await consumer.start()
        try:
            tps = await self._partitions()
            consumer.assign(tps)
            for tp in tps:  # the whole table, every time (a few messages a year)
                consumer.seek(tp, 0)
            ends = await consumer.end_offsets(tps)
            while not stop.is_set():
                if not self.ready and await self._read_to(consumer, ends):
                    self.ready = True
                    log.info("%s read: official schedules of %s loaded into the sign-for "
                             "rule (%d skipped)", self.topic, sorted(self.loaded), self.skipped)
                # read to the ends: 2 s polls (the last offsets may be transaction markers,
                # which only a poll's end shows read); then one poll a IDLE_POLL_S
                batch = await poll_or_stop(consumer, stop, IDLE_POLL_S if self.ready else 2.0,
                                           max_records=500)
                for tp, records in batch.items():
                    for record in records:
                        self.apply(record.key, record.value,
                                   f"[{tp.partition}]@{record.offset}")
        finally:
            await consumer.stop()

    @staticmethod
    async def _read_to(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return False
        return True
