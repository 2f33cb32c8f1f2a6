"""Every read of clear personal data is in intake's access log, hash-chained: who, role, what,
which ticket, when and why; a row changed or deleted behind the service's back is found."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

pytestmark = pytest.mark.integration


async def _ticket_with_photo(intake) -> tuple[str, str]:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + uuid.uuid4().bytes + b"\x00" * 16
    async with intake.client() as adapter:
        ref = (await adapter.post("/v1/attachments", files={"file": ("p.png", png)})).json()
        answer = (await adapter.post("/v1/requests", json={
            "channel": "wechat_mini", "request_id": uuid.uuid4().hex,
            "text": "公园长椅损坏，有钉子露出来", "location": {"lat": 32.95, "lon": 115.72},
            "contact": {"name": "王秀英", "phone": f"136{uuid.uuid4().int % 10**8:08d}"},
            "pictures": [{"sha256": ref["sha256"], "kind": "image"}]})).json()
    assert answer["status"] == "accepted", answer
    return answer["code"], ref["sha256"]


async def test_contact_and_photo_reads_are_logged_chained_and_verifiable(intake):
    code, sha = await _ticket_with_photo(intake)
    dispatcher = f"dispatcher-{uuid.uuid4().hex[:6]}"
    async with intake.client("dispatcher", sub=dispatcher) as staff:
        contact = await staff.get(f"/v1/tickets/{code}/contact",
                                  params={"why": "回访，电话13912345678"})
        assert contact.status_code == 200
        assert (await staff.get(f"/v1/attachments/{sha}")).status_code == 200
        assert (await staff.get("/v1/access-log")).status_code == 403  # not for dispatchers
    async with intake.client("auditor") as auditor:
        reads = (await auditor.get("/v1/access-log", params={"ticket": code})).json()["reads"]
        report = (await auditor.get("/v1/access-log/verify")).json()
    mine = [r for r in reads if r["sub"] == dispatcher]
    assert len(mine) == 2 and all(len(r["entry_hash"]) == 64 for r in mine)
    assert [(r["action"], r["target"], r["role"]) for r in mine] == [
        ("contact", code, "dispatcher"), (f"attachment:{sha}", code, "dispatcher")]
    assert mine[0]["why"].startswith("回访") and "13912345678" not in mine[0]["why"]  # masked
    assert report["ok"] and report["entries"] >= 2 and not report["findings"], report


async def test_a_tampered_or_deleted_row_is_found(intake):
    code, _ = await _ticket_with_photo(intake)
    async with intake.client("supervisor") as staff:
        for why in ("核实一", "核实二", "核实三"):
            assert (await staff.get(f"/v1/tickets/{code}/contact",
                                    params={"why": why})).status_code == 200
    s = Identifier(intake.settings.schema)
    with psycopg.connect(intake.settings.pg_conninfo(), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(SQL("SELECT id FROM {}.access_log WHERE target = %s"
                                              " ORDER BY id").format(s), (code,)).fetchall()]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # append-only to everyone
            conn.execute(SQL("UPDATE {}.access_log SET sub = 'x' WHERE id = %s").format(s),
                         (ids[0],))
        # a superuser switches the triggers off: only the chain is left to tell
        conn.execute(SQL("ALTER TABLE {}.access_log DISABLE TRIGGER USER").format(s))
        try:
            conn.execute(SQL("UPDATE {}.access_log SET why = 'routine' WHERE id = %s")
                         .format(s), (ids[0],))
            conn.execute(SQL("DELETE FROM {}.access_log WHERE id = %s").format(s), (ids[1],))
        finally:
            conn.execute(SQL("ALTER TABLE {}.access_log ENABLE TRIGGER USER").format(s))
    async with intake.client("auditor") as auditor:
        report = (await auditor.get("/v1/access-log/verify")).json()
    assert not report["ok"]
    found = {(f["id"], f["problem"].split(":")[0].split(" (")[0]) for f in report["findings"]}
    assert (ids[0], "the row does not hash to its entry_hash") in found, report
    assert (ids[2], "broken link") in found, report  # the row after the deleted one


def test_two_replicas_and_concurrent_reads_keep_one_chain(infra, unique):
    """backbone.access_log: each writer remembers the head it wrote last and appends on it in
    one pipelined round trip; another replica's row in between is seen under the lock and the
    row chained on it; concurrent reads share a commit and each gets its own row."""
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    from psycopg_pool import ConnectionPool

    from backbone.access_log import AccessLog
    from backbone.auth import Principal
    from backbone.store import ensure_database
    from services.intake.settings import IntakeSettings

    settings = IntakeSettings(environment="test", pg_dbname="intake_it", pg_schema=f"al_{unique}")
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=6) as pool:
        with pool.connection() as conn:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(settings.schema)))
        one, other = AccessLog(pool, settings.schema), AccessLog(pool, settings.schema)
        one.create()
        who = Principal(sub="dispatcher-1", role="dispatcher")
        mine = [log.record(who, action="contact", target=f"r-{i}", via="http", why="回访")
                for i, log in enumerate([one, other, one, one, other, one])]
        with ThreadPoolExecutor(8) as threads:
            mine += list(threads.map(lambda i: (one if i % 3 else other).record(
                who, action="attachment", target=f"c-{i}", via="http"), range(30)))
        rows = one.listing(after=0, limit=1000)
        assert len(rows) == len(mine) == len(set(mine)) == 36
        assert {bytes.fromhex(r["entry_hash"]) for r in rows} == set(mine)
        assert all(b["prev_hash"] == a["entry_hash"] for a, b in itertools.pairwise(rows))
        assert one.verify()["ok"]


def test_reads_recorded_together_are_one_commit_in_their_order(infra, unique):
    """AccessLog.record_many (the contact reads that arrive together): each read its own row,
    as `record` makes it (why masked), chained in the order given, in one transaction, while
    other writers' rows go before or after them, never between; the chain verifies."""
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    from psycopg_pool import ConnectionPool

    from backbone.access_log import AccessLog
    from backbone.auth import Principal
    from backbone.store import ensure_database
    from services.intake.settings import IntakeSettings

    settings = IntakeSettings(environment="test", pg_dbname="intake_it", pg_schema=f"am_{unique}")
    ensure_database(settings)
    s = Identifier(settings.schema)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=6) as pool:
        with pool.connection() as conn:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        try:
            one, other = AccessLog(pool, settings.schema), AccessLog(pool, settings.schema)
            one.create()
            who = Principal(sub="notifier", role="system")
            staff = Principal(sub="dispatcher-2", role="dispatcher", unit="u-1")
            assert one.record_many([]) == []
            first = one.record_many([(who, "contact", f"a-{i}", "http", "短信通知")
                                     for i in range(3)])  # on the stored head (none yet)

            def together(n: int) -> list[bytes]:
                log = one if n % 2 else other
                if n % 3:
                    return [log.record(staff, action="contact", target=f"x-{n}", via="http")]
                return log.record_many([(staff if i % 2 else who, "contact", f"b-{n}-{i}",
                                         "http", "回访，电话13912345678") for i in range(4)])

            with ThreadPoolExecutor(6) as threads:
                written = list(threads.map(together, range(24)))
            with pool.connection() as conn:
                stored = conn.execute(SQL("SELECT target, xmin::text, entry_hash, sub, role,"
                                          " unit, why FROM {}.access_log ORDER BY id")
                                      .format(s)).fetchall()
            report = one.verify()
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA {} CASCADE").format(s))
    targets = [r[0] for r in stored]
    assert targets[:3] == ["a-0", "a-1", "a-2"] and len({r[1] for r in stored[:3]}) == 1
    assert [bytes(r[2]) for r in stored[:3]] == first
    for n, digests in enumerate(written):
        if n % 3:
            continue
        at = targets.index(f"b-{n}-0")
        rows = stored[at:at + 4]
        assert [r[0] for r in rows] == [f"b-{n}-{i}" for i in range(4)]  # together, in order
        assert len({r[1] for r in rows}) == 1  # one transaction
        assert [bytes(r[2]) for r in rows] == digests
        assert [r[3:6] for r in rows] == [("notifier", "system", ""),
                                          ("dispatcher-2", "dispatcher", "u-1")] * 2
        assert all("13912345678" not in r[6] and r[6].startswith("回访") for r in rows)
    assert len(stored) == 3 + sum(len(w) for w in written) == 3 + 8 * 4 + 16
    assert len({bytes(r[2]) for r in stored}) == len(stored)
    assert all(a[0] != b[0] for a, b in itertools.pairwise(stored))
    assert report["ok"] and report["entries"] == len(stored), report
