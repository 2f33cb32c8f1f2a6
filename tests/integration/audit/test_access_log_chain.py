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


def test_a_write_sent_from_the_readers_thread_is_committed_by_its_result(ledger):
    """record_soon with the head known sends the write from the caller's thread and its
    result() reads the COMMIT back: the row is in the table (another connection sees it) once
    result() returns; meanwhile another thread's record waits its turn and goes after it; the
    same thread's next record finishes it first; a row of another replica written while it was
    in flight moves the head, and the next write chains on the stored head."""
    import threading

    from services.audit.adapters.access_log import AccessLog

    one = ledger.parts.access
    other = AccessLog(ledger.parts.pool, ledger.settings.schema)
    auditor = Principal(sub="auditor-3", role="auditor")
    before = len(one.listing(after=0, limit=10_000))
    first = one.record(auditor, action="history", target="t-0", via="http")  # head known
    sent = one.record_soon(auditor, action="history+proofs", target="t-1", via="http")
    assert type(sent).__name__ == "_Recording"  # from this thread, not a writer thread's
    waited: list[bytes] = []
    behind = threading.Thread(target=lambda: waited.append(
        one.record(auditor, action="state", target="t-2", via="grpc")))
    behind.start()
    behind.join(0.2)
    assert behind.is_alive()  # one write at a time: it waits for the one in flight
    digest = sent.result()
    behind.join(5)
    with psycopg.connect(ledger.settings.pg_conninfo(), autocommit=True) as conn:
        assert conn.execute(SQL("SELECT count(*) FROM {}.access_log WHERE entry_hash = %s")
                            .format(Identifier(ledger.settings.schema)), (digest,)).fetchone()[0] == 1
    again = one.record_soon(auditor, action="history", target="t-3", via="http")
    nested = one.record(auditor, action="history", target="t-4", via="http")  # finishes `again`
    elsewhere = other.record(auditor, action="history", target="t-5", via="http")
    moved = one.record_soon(auditor, action="history", target="t-6", via="http")
    mine = [first, digest, *waited, again.result(), nested, elsewhere, moved.result()]
    assert again.result() == mine[3]  # result() again: the same answer
    rows = one.listing(after=0, limit=10_000)[before:]
    assert [bytes.fromhex(r["entry_hash"]) for r in rows] == mine
    assert [r["target"] for r in rows] == [f"t-{i}" for i in range(7)]
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in itertools.pairwise(rows))
    ids = {r["id"] for r in rows}  # (the first test left rows of its own tampered)
    assert not [f for f in one.verify()["findings"] if f["id"] in ids]


def test_a_failed_write_sent_from_the_readers_thread_is_raised_by_its_result(ledger):
    """A write that fails in PostgreSQL (here: its INSERT names a table that is not there) is
    raised by result(), nothing of it is kept, the writer's turn is free again and the next
    record chains on the stored head."""
    from services.audit.adapters.access_log import AccessLog

    log = AccessLog(ledger.parts.pool, ledger.settings.schema)
    auditor = Principal(sub="auditor-4", role="auditor")
    before = len(log.listing(after=0, limit=10_000))
    first = log.record(auditor, action="history", target="f-0", via="http")
    good = log._on_known_head()
    log._known_head_sql = good.replace(b'"access_log"', b'"no_such_table"', 1)
    sent = log.record_soon(auditor, action="history", target="f-1", via="http")
    with pytest.raises(psycopg.errors.UndefinedTable):
        sent.result()
    log._known_head_sql = good
    after = log.record(auditor, action="history", target="f-2", via="http")  # turn free
    rows = log.listing(after=0, limit=10_000)[before:]
    assert [r["target"] for r in rows] == ["f-0", "f-2"]
    assert rows[1]["prev_hash"] == first.hex() and rows[1]["entry_hash"] == after.hex()
