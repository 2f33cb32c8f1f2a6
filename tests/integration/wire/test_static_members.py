"""Static members of a consumer group (backbone.consumer.static_member_id) after an upgrade that
reads one more topic: every partition of every topic the group reads is given to a member.

Under a plain `group.instance.id` (the process's name), each replica that came back from the
upgrade was handed its old assignment at once, with no rebalance, and the new topic's
partitions went to no one (on the local broker, 60 s after the last replica came back). The id
now carries a digest of the topics, so an upgraded replica joins as a new member. On the real
broker; members are stopped as a killed process leaves (a static member sends no LeaveGroup)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from backbone.consumer import static_member_id
from backbone.kafka import client_options, drop_topics, ensure_topics
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration

PARTITIONS = 4


class _Member:
    """One replica's consumer: its assignment as the group last gave it."""

    def __init__(self, settings, group: str, name: str, topics: list[str]):
        self.assigned: set[TopicPartition] = set()
        member = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked):
                member.assigned = set()

            async def on_partitions_assigned(self, assigned):
                member.assigned = set(assigned)

        self.consumer = AIOKafkaConsumer(
            **client_options(settings), group_id=group, enable_auto_commit=False,
            group_instance_id=static_member_id(name, topics),
            # the broker's least (group.min.session.timeout.ms): the old ids expire sooner
            session_timeout_ms=6_000, heartbeat_interval_ms=2_000,
            metadata_max_age_ms=5_000)
        self.consumer.subscribe(topics, listener=Listener())
        self.polling: asyncio.Task | None = None

    async def start(self) -> _Member:
        await self.consumer.start()
        self.polling = asyncio.create_task(self._poll())
        return self

    async def _poll(self) -> None:
        while True:
            await self.consumer.getmany(timeout_ms=200)

    async def stop(self) -> None:
        assert self.polling is not None
        self.polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.polling
        await self.consumer.stop()  # static: no LeaveGroup, as a killed process


def _given_out(members: list[_Member], topics: list[str]) -> bool:
    wanted = {TopicPartition(t, p) for t in topics for p in range(PARTITIONS)}
    held = [tp for m in members for tp in m.assigned]
    return set(held) == wanted and len(held) == len(wanted)


async def test_an_upgrade_that_reads_a_new_topic_gets_its_partitions_read(infra, unique):
    settings = infra.model_copy(update={"topic_prefix": f"t{unique}."})
    old, new = settings.topic("static.one"), settings.topic("static.two")
    await ensure_topics(settings, {old: PARTITIONS, new: PARTITIONS})
    group = f"t{unique}.static-members"
    members: dict[str, _Member] = {}
    try:
        for name in ("svc.1", "svc.2"):
            members[name] = await _Member(settings, group, name, [old]).start()
        await eventually_async(lambda: _given_out(list(members.values()), [old]), timeout=30,
                               what="both replicas reading the old topic")
        for name in ("svc.2", "svc.1"):  # a rolling upgrade, one replica at a time
            await members[name].stop()
            members[name] = await _Member(settings, group, name, [old, new]).start()
        await eventually_async(lambda: _given_out(list(members.values()), [old, new]),
                               timeout=40, what="every partition of both topics given out")
    finally:
        for m in members.values():
            with contextlib.suppress(Exception):
                await m.stop()
        await drop_topics(settings)


def test_a_restart_keeps_the_id_and_another_subscription_changes_it():
    assert static_member_id("", ["a"]) is None
    same = static_member_id("dispatch.2", ["b", "a"])
    assert same == static_member_id("dispatch.2", ["a", "b", "a"])
    assert same is not None and same.startswith("dispatch.2.")
    assert static_member_id("dispatch.2", ["a", "b", "c"]) != same
    assert static_member_id("dispatch.1", ["a", "b"]) != same
