"""Which tickets a replica answers for: those in the partitions its consumer holds.

N replicas of a service share the lifecycle topic's partitions through one consumer group.
Timers (SLA warnings and deadlines, feedback's rating window, audit checkpoints) must fire
once, from one replica: the one whose consumer holds the ticket's partition, the same one that
applies that ticket's events. When a replica dies or joins, the group rebalances and the
partitions move, and the timers with them: ownership is read at every round, never cached.

What keeps events single is still each aggregate's version (optimistic concurrency): for a
moment around a rebalance (a paused replica that has not yet noticed it lost its partitions)
two replicas may both try, and the second one's save fails. Ownership makes that a rare race
instead of every round, and spreads the timers' work over the replicas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiokafka.partitioner import murmur2

from backbone.kafka import LIFECYCLE_PARTITIONS


@functools.lru_cache(maxsize=65536)
def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner puts `key` in (murmur2, as the Java client
    and aiokafka do); every producer keys lifecycle events by ticket id."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class PartitionOwnership:
    """The partitions of `topic` that one consumer holds now.

    `consumer_of` returns the service's running aiokafka consumer (None while it is down: then
    this replica owns nothing, and fires nothing, until it is back in the group)."""

    def __init__(self, consumer_of: Callable[[], Any], topic: str,
                 partitions: int = LIFECYCLE_PARTITIONS):
        self.consumer_of = consumer_of
        self.topic = topic
        self.default_partitions = partitions

    @classmethod
    def of(cls, idempotent_consumer: Any, topic: str) -> PartitionOwnership:
        """Ownership as a backbone.consumer.IdempotentConsumer's Kafka consumer sees it."""
        return cls(lambda: idempotent_consumer.consumer
                   if getattr(idempotent_consumer, "ready", True) else None, topic)

    def owned(self) -> frozenset[int]:
        consumer = self.consumer_of()
        if consumer is None:
            return frozenset()
        try:
            assigned = consumer.assignment()
        except Exception:  # a consumer between stop and restart: it holds nothing
            return frozenset()
        return frozenset(tp.partition for tp in assigned if tp.topic == self.topic)

    def partitions(self) -> int:
        consumer = self.consumer_of()
        known = consumer.partitions_for_topic(self.topic) if consumer is not None else None
        return len(known) if known else self.default_partitions

    def filter(self, owned: frozenset[int] | None = None) -> Callable[[str], bool]:
        """A snapshot for one timer round: ticket id -> does this replica own it now.
        `owned`: the partitions as the caller read them (`owned()`), so that the round's
        other uses of ownership see the same snapshot; None: read now."""
        if owned is None:
            owned = self.owned()
        n = self.partitions()
        return lambda ticket_id: partition_of(str(ticket_id), n) in owned

    def owns_partition(self, partition: int) -> bool:
        return partition in self.owned()
