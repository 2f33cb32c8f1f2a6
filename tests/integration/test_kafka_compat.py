"""Evidence for the Kafka version we pin (docs/kafka-version.md): faust-streaming and aiokafka
against the broker `make infra` starts: topic creation, consumer groups, a changelog-backed
table, and transactions (faust's exactly_once guarantee uses Kafka transactions)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from backbone.kafka import ensure_topics
from tests.waiting import patient

pytestmark = pytest.mark.integration
APP = Path(__file__).parent / "compat" / "faust_probe_app.py"


async def test_faust_agent_table_and_transactions_work_on_our_broker(infra, unique, tmp_path):
    prefix = f"faust{unique}"
    await ensure_topics(infra, {f"{prefix}.src": 3, f"{prefix}.out": 1})
    env = {**os.environ, "PROBE_PREFIX": prefix, "PROBE_BROKER": infra.kafka_bootstrap,
           "PYTHONPATH": str(APP.parent)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "faust", "-A", "faust_probe_app", "--datadir", str(tmp_path),
         "worker", "-l", "warn"], cwd=APP.parent, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    got: list[bytes] = []
    try:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        for i in range(30):
            await producer.send_and_wait(f"{prefix}.src", b"v", key=f"k{i % 3}".encode())
        await producer.stop()
        consumer = AIOKafkaConsumer(f"{prefix}.out", bootstrap_servers=infra.kafka_bootstrap,
                                    auto_offset_reset="earliest",
                                    isolation_level="read_committed")
        await consumer.start()
        deadline = time.monotonic() + patient(60)
        while len(got) < 30 and worker.poll() is None and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got += [r.value for rs in batch.values() for r in rs]
        await consumer.stop()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        out = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert len(got) == 30, f"faust produced {len(got)} of 30; worker output:\n{out[-3000:]}"
    assert {b"k0=10", b"k1=10", b"k2=10"} <= set(got)  # the table counted every message once
