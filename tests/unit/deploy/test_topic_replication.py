"""Topics take their replication from configuration (issue 14): 1/1 on one broker, 3/2 on a
cluster; never hard-coded."""

from backbone.kafka import new_topic
from backbone.settings import ServiceSettings


def test_one_broker_by_default():
    topic = new_topic(ServiceSettings(), "t.tickets.events", 12)
    assert (topic.num_partitions, topic.replication_factor) == (12, 1)
    assert topic.topic_configs == {"min.insync.replicas": "1"}


def test_cluster_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("MINSHENG_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("MINSHENG_KAFKA_MIN_INSYNC_REPLICAS", "2")
    topic = new_topic(ServiceSettings(), "t.tickets.events", 12)
    assert topic.replication_factor == 3
    assert topic.topic_configs == {"min.insync.replicas": "2"}
