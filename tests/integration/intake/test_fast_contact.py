"""GET /v1/tickets/{code}/contact in front of the framework (entrypoints/fast_contact.py)
answers every request as the FastAPI route does: the same status, body and content type, and
the same reads in the access log."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.intake.entrypoints.fast_contact import code_in

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
