"""The janitor removes what a test made on the shared broker and server, and nothing else."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from psycopg.sql import SQL, Identifier

from tests import janitor


async def _make_kafka(bootstrap: str, rid: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"t{rid}.tickets.events", 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    await producer.send_and_wait(f"t{rid}.tickets.events", b"x")
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"minsheng.t{rid}.probe",
                                enable_auto_commit=False)
    await consumer.start()
    consumer.assign([TopicPartition(f"t{rid}.tickets.events", 0)])
    try:
        await consumer.commit({TopicPartition(f"t{rid}.tickets.events", 0): OffsetAndMetadata(1, "")})
    finally:
        await consumer.stop()


async def _kafka_names(bootstrap: str) -> tuple[set[str], set[str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics()), {g[0] for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()


def _pg_names(infra) -> tuple[set[str], set[str]]:
    with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    return schemas, dbs


def test_a_swept_id_leaves_no_topic_group_schema_or_database(infra):
    mine, other = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    for rid in (mine, other):
        asyncio.run(_make_kafka(infra.kafka_bootstrap, rid))
        with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(f"it_{rid}")))
            conn.execute(SQL("CREATE DATABASE {}").format(Identifier(f"e2e_{rid}")))
    try:
        gone = janitor.sweep({janitor.claim(mine)}, infra)
        assert gone == {"topics": 1, "groups": 1, "schemas": 1, "databases": 1}, gone
        topics, groups = asyncio.run(_kafka_names(infra.kafka_bootstrap))
        schemas, dbs = _pg_names(infra)
        assert not any(mine in n for n in topics | groups | schemas | dbs)
        # what another run made, with names of the same shape, is untouched
        assert f"t{other}.tickets.events" in topics and f"minsheng.t{other}.probe" in groups
        assert f"it_{other}" in schemas and f"e2e_{other}" in dbs
        assert mine not in janitor.claimed()
    finally:
        janitor.sweep({other}, infra)


def test_swept_logs_go_and_nothing_else_does(tmp_path, monkeypatch):
    # a set of its own: the run's other harnesses' logs stay marked for the run's end (a
    # sweep here would delete them while their platforms may still write there)
    monkeypatch.setattr(janitor, "_logs", set())
    folder, file, other = tmp_path / "e2e-run", tmp_path / "sla.log", tmp_path / "mine.log"
    folder.mkdir()
    (folder / "intake.log").write_text("x")
    for path in (file, other):
        path.write_text("x")
    assert janitor.log(folder) == folder and janitor.log(file) == file
    assert janitor.sweep_logs() == 2
    assert not folder.exists() and not file.exists() and other.exists()
    assert janitor.sweep_logs() == 0  # each is swept once
