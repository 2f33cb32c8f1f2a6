"""kill -9 the audit service while the lifecycle topic is filling: after a restart every
message is in the ledger exactly once, each ticket's chain intact, and it verifies."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid

import pytest

from backbone.kafka import make_producer
from tests import janitor
from tests.integration.audit.conftest import ROOT, AuditProcess, audit_settings, eventually
from tests.integration.audit.lifecycle import new_ticket, ticket_lifecycle

pytestmark = pytest.mark.integration

TICKETS = 40


def ledger_size(audit: AuditProcess) -> int:
    with audit.client() as c:
        body = c.get("/v1/ledger/entries", params={"after": 0, "limit": 5000}).json()
    return len(body["entries"])


async def test_kill_9_during_consumption_loses_and_duplicates_nothing(infra, tmp_path):
    audit = AuditProcess(audit_settings(infra, janitor.claim(uuid.uuid4().hex[:10]), tmp_path,
                                        consumer_batch=15), tmp_path / "audit.log")
    audit.start()
    producer = make_producer(audit.settings)
    await producer.start()
    envs = [e for _ in range(TICKETS) for e in ticket_lifecycle(*new_ticket())]
    try:
        sends = [await producer.send(audit.settings.lifecycle_topic, e.SerializeToString(),
                                     key=e.ticket_id.encode()) for e in envs]
        await asyncio.gather(*sends)
        eventually(lambda: ledger_size(audit) > 0, what="the first entries")
        audit.kill(signal.SIGKILL)
        audit.start()
        eventually(lambda: ledger_size(audit) >= len(envs), timeout=60, what="the whole ledger")
        with audit.client() as c:
            entries = c.get("/v1/ledger/entries", params={"limit": 5000}).json()["entries"]
    finally:
        await producer.stop()
    ids = [e["event_id"] for e in entries]
    assert sorted(ids) == sorted(e.event_id for e in envs)
    done = subprocess.run([sys.executable, "-m", "services.audit", "verify"], cwd=ROOT,
                          env=audit.env(), capture_output=True, text=True, timeout=120)
    audit.kill(signal.SIGTERM)
    assert done.returncode == 0, done.stdout + done.stderr
