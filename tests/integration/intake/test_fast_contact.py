"""GET /v1/tickets/{code}/contact in front of the framework (entrypoints/fast_contact.py)
answers every request as the FastAPI route does: the same status, body and content type, and
the same reads in the access log."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.intake.entrypoints.fast_contact import code_in
from tests.waiting import patient

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def framework_only(intake: Any) -> Iterator[None]:
    """The app without the contact's hot route (its other hot routes kept) while the block
    runs: every contact read then goes through the FastAPI route."""
    http = intake.service.http
    kept = http.hot_where
    http.hot_where = ()  # exact paths only
    try:
        yield
    finally:
        http.hot_where = kept


async def _submit(intake: Any, contact: dict[str, str] | None) -> str:
    body: dict[str, Any] = {"channel": "wechat_mini", "request_id": uuid.uuid4().hex,
                            "text": "小区门口路灯不亮，晚上很黑", "location": {"lat": 32.95,
                                                                   "lon": 115.72}}
    if contact is not None:
        body["contact"] = contact
    async with intake.client() as adapter:
        answer = (await adapter.post("/v1/requests", json=body)).json()
    assert answer["status"] == "accepted", answer
    return str(answer["code"])


def _reads(intake: Any, code: str) -> list[tuple[str, str, str, str]]:
    s = Identifier(intake.settings.schema)
    with psycopg.connect(intake.settings.pg_conninfo(), autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(
            SQL("SELECT action, target, role, why FROM {}.access_log WHERE target = %s"
                " ORDER BY id").format(s), (code,)).fetchall()]


async def _ask(intake: Any, role: str | None, path: str, params: Any) -> tuple[Any, ...]:
    async with intake.client(role, sub="reader-fast-contact") as client:
        r = await client.get(path, params=params)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") \
        else r.text
    return r.status_code, r.headers.get("content-type"), body, \
        r.content if r.status_code == 200 else None, r.headers.get("cache-control")


def test_the_path_is_the_routes():
    assert code_in("/v1/tickets/SZ-20250303-0001/contact") == "SZ-20250303-0001"
    for other in ("/v1/tickets//contact", "/v1/tickets/a/b/contact", "/v1/tickets/a/contact/",
                  "/v1/tickets/a", "/v2/tickets/a/contact", "/v1/tickets/contact"):
        assert code_in(other) is None, other


async def test_every_answer_is_the_routes(intake):
    named = await _submit(intake, {"name": "李建国", "phone": "13800138000",
                                   "address": "颍州区清河路8号"})
    anonymous = await _submit(intake, None)
    http = intake.service.http
    assert http.hot_route_for("GET", f"/v1/tickets/{named}/contact") is not None
    asks: list[tuple[str | None, str, Any]] = [
        ("system", named, {"why": "短信通知"}),
        ("dispatcher", named, None),
        ("supervisor", named, {"why": ""}),
        ("dispatcher", named, {"why": "回访，电话13912345678"}),  # masked in the log
        ("dispatcher", named, [("why", "一"), ("why", "二")]),  # the route takes the last
        ("dispatcher", named, {"why": "长" * 301}),  # 422
        ("dispatcher", named, {"why": "长" * 300}),
        ("dispatcher", named, {"why": "x", "other": "ignored"}),
        ("channel_adapter", named, None),  # 403
        ("unit", named, None),  # 403
        (None, named, None),  # 401
        ("dispatcher", "NOT-A-CODE", None),  # 400, the reason
        ("dispatcher", named[:-1] + ("0" if named[-1] != "0" else "1"), None),  # mistyped
        ("dispatcher", anonymous, None),  # 404: submitted anonymously
    ]
    for role, code, params in asks:
        path = f"/v1/tickets/{code}/contact"
        before_named, before_anon = len(_reads(intake, named)), len(_reads(intake, anonymous))
        fast = await _ask(intake, role, path, params)
        fast_reads = _reads(intake, named)[before_named:], _reads(intake, anonymous)[before_anon:]
        with framework_only(intake):
            assert intake.service.http.hot_route_for("GET", path) is None
            before_named, before_anon = len(_reads(intake, named)), len(_reads(intake, anonymous))
            slow = await _ask(intake, role, path, params)
            slow_reads = (_reads(intake, named)[before_named:],
                          _reads(intake, anonymous)[before_anon:])
        assert fast == slow, (role, code, params, fast, slow)
        assert fast_reads == slow_reads, (role, code, params)
    assert fast[0] == 404
    first = await _ask(intake, "system", f"/v1/tickets/{named}/contact", {"why": "短信通知"})
    assert first[0] == 200 and (first[2]["name"], first[2]["phone"]) == ("李建国", "13800138000")
    assert first[4] == "private, no-store"  # personal data: no cache keeps it, on either path
    assert ("contact", named, "system", "短信通知") in _reads(intake, named)


async def test_reads_arriving_together_are_read_and_logged_together(intake):
    """Reads that arrive while a batch is in the worker thread go as the next batch
    (fast_contact.Batches): one SELECT of their contacts, their access-log rows in one commit,
    in arrival order; each answer (200, 400, 404) is still its own read's, as the route's."""
    import asyncio
    import threading

    named = [await _submit(intake, {"name": f"张{n}", "phone": f"1380013800{n}"})
             for n in range(4)]
    anonymous = await _submit(intake, None)
    mistyped = named[0][:-1] + ("0" if named[0][-1] != "0" else "1")  # its check fails: 400
    codes = [*named, anonymous, "NOT-A-CODE", mistyped, *named, named[1], named[2]]
    (_, _, route), = [h for h in intake.service.http.hot_where
                      if h[1](f"/v1/tickets/{named[0]}/contact")]
    batches = route.serve.batches
    read_many, sizes, first = batches.read_many, [], threading.Event()
    arrived: list[tuple[str, str]] = []  # (code, why) in the order the batches took them

    def held_read_many(reads: list[Any]) -> list[Any]:
        sizes.append(len(reads))
        arrived.extend((code, why) for _, code, why in reads)
        if len(sizes) == 1:  # hold the first batch until every other read waits behind it
            deadline = time.monotonic() + patient(10)
            while (len(batches._waiting) != len(codes) - len(reads)
                   and time.monotonic() < deadline):
                first.wait(0.01)
        return read_many(reads)

    schema = Identifier(intake.settings.schema)
    with psycopg.connect(intake.settings.pg_conninfo(), autocommit=True) as conn:
        last = conn.execute(SQL("SELECT coalesce(max(id), 0) FROM {}.access_log")
                            .format(schema)).fetchone()[0]
    batches.read_many = held_read_many
    try:
        async with intake.client("system", sub="reader-fast-contact") as client:
            together = await asyncio.gather(*(client.get(
                f"/v1/tickets/{code}/contact", params={"why": f"第{i}条"})
                for i, code in enumerate(codes)))
    finally:
        batches.read_many = read_many
    assert sum(sizes) == len(codes) and max(sizes) > 1, sizes
    for i, (code, answer) in enumerate(zip(codes, together, strict=True)):
        with framework_only(intake):
            alone = await _ask(intake, "system", f"/v1/tickets/{code}/contact",
                               {"why": f"第{i}条"})
        assert (answer.status_code, answer.json()) == alone[:1] + alone[2:3], (code, alone)
        assert answer.headers.get("cache-control") == alone[4]
    assert [a.status_code for a in together] == [200] * 4 + [404, 400, 400] + [200] * 6
    with psycopg.connect(intake.settings.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute(SQL("SELECT target, why, sub, role, xmin::text FROM {}.access_log"
                                " WHERE id > %s AND sub = 'reader-fast-contact' AND why LIKE"
                                " '第%%' ORDER BY id").format(schema), (last,)).fetchall()
    # one row per contact given, in the order the batches took the reads, each with its
    # read's why (the route's own reads above come after them); a batch's rows in one commit
    status = {(code, f"第{i}条"): a.status_code for i, (code, a) in enumerate(zip(
        codes, together, strict=True))}
    given = [read for read in arrived if status[read] == 200]
    assert [r[:2] for r in rows[:len(given)]] == given
    assert all(r[2:4] == ("reader-fast-contact", "system") for r in rows)
    start, commits = 0, []
    for size in sizes:
        batch = arrived[start:start + size]
        start += size
        commits.append({r[4] for r, read in zip(rows, given, strict=False)
                        if read in batch})  # the transactions its rows were written in
    assert all(len(c) <= 1 for c in commits) and len(set().union(*commits)) == len(
        [c for c in commits if c]), (sizes, rows)
    # chained as every row is (the whole table's verify is test_access_log's: a test there
    # tampers with this schema's rows on purpose)
    import itertools

    from psycopg.rows import dict_row

    from backbone.access_log import entry_hash
    with psycopg.connect(intake.settings.pg_conninfo(), autocommit=True) as conn:
        chain = conn.cursor(row_factory=dict_row).execute(SQL(
            "SELECT * FROM {}.access_log WHERE id >= %s ORDER BY id").format(schema),
            (last,)).fetchall()
    for before, row in itertools.pairwise(chain):
        assert bytes(row["prev_hash"]) == bytes(before["entry_hash"])
        assert entry_hash(bytes(row["prev_hash"]), row) == bytes(row["entry_hash"])
