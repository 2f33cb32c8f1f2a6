"""Timers fire from the replica whose consumer holds the ticket's partition."""

import uuid

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from backbone.ownership import PartitionOwnership, partition_of


class FakeConsumer:
    def __init__(self, topic: str, partitions: set[int], total: int = 12):
        self.topic, self.held, self.total = topic, partitions, total

    def assignment(self):
        return {TopicPartition(self.topic, p) for p in self.held} | {TopicPartition("other", 0)}

    def partitions_for_topic(self, topic):
        return set(range(self.total)) if topic == self.topic else None


def test_partition_is_the_producers():
    keys = [str(uuid.uuid4()) for _ in range(500)]
    for key in keys:
        assert partition_of(key, 12) == DefaultPartitioner()(key.encode(), list(range(12)), [])


def test_two_replicas_split_every_ticket_exactly_once_and_follow_a_rebalance():
    a, b = FakeConsumer("t.events", set(range(0, 6))), FakeConsumer("t.events", set(range(6, 12)))
    owner_a, owner_b = PartitionOwnership(lambda: a, "t.events"), PartitionOwnership(lambda: b, "t.events")
    tickets = [str(uuid.uuid4()) for _ in range(300)]
    owns_a, owns_b = owner_a.filter(), owner_b.filter()
    assert all(owns_a(t) != owns_b(t) for t in tickets)
    assert 0 < sum(map(owns_a, tickets)) < len(tickets)
    b.held = set()  # b dies: the group gives a everything
    a.held = set(range(12))
    owns_a, owns_b = owner_a.filter(), owner_b.filter()
    assert all(owns_a(t) and not owns_b(t) for t in tickets)
    assert owner_a.owns_partition(0) and not owner_b.owns_partition(0)


def test_a_consumer_that_is_down_owns_nothing():
    owner = PartitionOwnership(lambda: None, "t.events")
    assert not owner.filter()(str(uuid.uuid4()))
    assert owner.owned() == frozenset()
