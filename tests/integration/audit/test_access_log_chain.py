"""Audit's access log is hash-chained like the ledger: verify finds a changed or deleted row
even when a superuser switched the append-only triggers off."""

from __future__ import annotations

import itertools
import uuid

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from backbone.auth import Principal
from tests import janitor
from tests.integration.audit.stored_ledger import build_ledger

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ledger(infra, tmp_path_factory):
    stored = build_ledger(infra, janitor.claim(uuid.uuid4().hex[:10]),
                          tmp_path_factory.mktemp("key"), tickets=1, checkpoint_at=(5,))
    yield stored
    stored.close()


def test_reads_chain_up_and_a_tampered_row_is_found(ledger):
    access = ledger.parts.access
    auditor = Principal(sub="auditor-1", role="auditor")
    hashes = [access.record(auditor, action="history", target=f"ticket-{i}", via="http",
                            why="季度抽查") for i in range(4)]
    rows = access.listing(after=0, limit=100)
    assert [r["entry_hash"] for r in rows] == [h.hex() for h in hashes]
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in itertools.pairwise(rows))
    clean = access.verify()
    assert clean["ok"] and clean["entries"] == 4 and clean["head"] == hashes[-1].hex()

    s = Identifier(ledger.settings.schema)
    with psycopg.connect(ledger.settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("ALTER TABLE {}.access_log DISABLE TRIGGER USER").format(s))
        try:
            conn.execute(SQL("UPDATE {}.access_log SET sub = 'someone-else' WHERE id = %s")
                         .format(s), (rows[0]["id"],))
            conn.execute(SQL("DELETE FROM {}.access_log WHERE id = %s").format(s),
                         (rows[2]["id"],))
        finally:
            conn.execute(SQL("ALTER TABLE {}.access_log ENABLE TRIGGER USER").format(s))
    report = access.verify()
    assert not report["ok"]
    problems = {(f["id"], f["problem"].split(" (")[0].split(":")[0]) for f in report["findings"]}
    assert (rows[0]["id"], "the row does not hash to its entry_hash") in problems, report
    assert (rows[3]["id"], "broken link") in problems, report


def test_two_replicas_and_concurrent_reads_keep_one_chain(ledger):
    """Each replica remembers the head it wrote last and inserts on it in one round trip; a
    row of the other replica in between is seen under the lock and the row is chained on it.
    Concurrent reads share commits (group commit) and every one of them gets its own row."""
    from concurrent.futures import ThreadPoolExecutor

    from services.audit.adapters.access_log import AccessLog

    one = ledger.parts.access
    other = AccessLog(ledger.parts.pool, ledger.settings.schema)
    before = len(one.listing(after=0, limit=10_000))
    auditor = Principal(sub="auditor-2", role="auditor")
    mine = [log.record(auditor, action="history", target=f"r-{i}", via="http")
            for i, log in enumerate([one, other, one, one, other, one])]
    with ThreadPoolExecutor(8) as pool:
        mine += list(pool.map(lambda i: (one if i % 3 else other).record(
            auditor, action="history+proofs", target=f"c-{i}", via="grpc"), range(40)))
        mine += [f.result() for f in [one.record_soon(auditor, action="state", target=f"s-{i}",
                                                      via="http") for i in range(10)]]
    rows = one.listing(after=0, limit=10_000)[before:]
    assert len(rows) == len(mine) == len(set(mine)) == 56
    assert {bytes.fromhex(r["entry_hash"]) for r in rows} == set(mine)
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in itertools.pairwise(rows))
