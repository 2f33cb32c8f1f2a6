"""The desk's poll served in front of FastAPI (entrypoints/fast_queues.py): which requests it
vouches for (everything else goes to the framework's route, which answers as before), and
that its answer is the route's dict serialised as FastAPI serialises `dict[str, Any]`.
The integration test (test_console.py) compares the two paths' bytes on a running service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter

from backbone import auth
from backbone.fast_routes import first_headers
from services.dispatch.entrypoints.fast_queues import (
    FastQueues,
    _arguments,
    queues_answer,
)
from services.dispatch.settings import DispatchSettings


@pytest.mark.parametrize(("query", "expected"), [
    (b"", (None, 200)),
    (b"queue=unrouted", ("unrouted", 200)),
    (b"queue=awaiting_review&limit=5", ("awaiting_review", 5)),
    (b"limit=1000", (None, 1000)),
    (b"limit=1", (None, 1)),
    (b"%71ueue=disputed", ("disputed", 200)),  # decoded as Starlette decodes it
])
def test_the_requests_it_serves(query: bytes, expected: tuple[str | None, int]) -> None:
    assert _arguments(query) == expected


@pytest.mark.parametrize("query", [
    b"queue=lost", b"queue=", b"limit=0", b"limit=1001", b"limit=01", b"limit=%2B5",
    b"limit=5.0", b"limit=", b"limit=%EF%BC%95", b"queue=unrouted&queue=disputed",
    b"limit=5&limit=6", b"other=1", b"queue=unrouted&framework=1",
])
def test_everything_else_goes_to_the_framework(query: bytes) -> None:
    assert _arguments(query) is None


class Reads:
    def __init__(self) -> None:
        self.asked: list[tuple[str | None, int]] = []

    async def queue(self, queue: str | None, *, limit: int) -> tuple[dict[str, int],
                                                                      list[dict[str, Any]]]:
        self.asked.append((queue, limit))
        return {"unrouted": 1}, [{"ticket_code": "FY-1", "confidence": 0.4123456789,
                                  "queued_at": datetime(2026, 12, 6, 9, 0, 1, 5, tzinfo=UTC),
                                  "co_units": [], "text_masked": "路灯不亮", "case_id": None}]


def _app(settings: Any) -> Any:
    return SimpleNamespace(state=SimpleNamespace(verifier=auth.verifier_for(settings)))


def _scope(query: bytes, token: str | None) -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return {"type": "http", "method": "GET", "path": "/v1/queues", "query_string": query,
            "headers": headers}


def test_only_a_readers_token_is_served_and_the_answer_is_the_routes() -> None:
    settings = DispatchSettings(environment="test")
    reads = Reads()
    fast = FastQueues(_app(settings), reads)  # type: ignore[arg-type]

    def serve(scope: dict[str, Any], _: Any, body: bytes, trace: str) -> Any:
        return fast(scope, first_headers(scope), body, trace)  # as HotRoute calls it

    token = {role: auth.mint(settings, sub=f"s-{role}", role=role, unit="housing"
                             if role == "unit" else "")
             for role in ("dispatcher", "supervisor", "unit")}
    assert serve(_scope(b"", None), {}, b"", "t") is None  # the route's 401
    assert serve(_scope(b"", "not-a-token"), {}, b"", "t") is None
    assert serve(_scope(b"", token["unit"]), {}, b"", "t") is None  # the route's 403
    assert serve(_scope(b"queue=lost", token["dispatcher"]), {}, b"", "t") is None  # its 400
    for role in ("dispatcher", "supervisor"):
        work = serve(_scope(b"queue=unrouted&limit=7", token[role]), {}, b"", "t")
        assert work is not None
        status, content = asyncio.run(work)  # type: ignore[arg-type]
        expected = queues_answer(*asyncio.run(Reads().queue("unrouted", limit=7)))
        assert status == 200
        assert orjson.dumps(content) == TypeAdapter(dict[str, Any]).dump_json(expected)
        assert expected["counts"] == {"unrouted": 1, "bounced_back": 0, "disputed": 0,
                                      "awaiting_review": 0}
    assert reads.asked == [("unrouted", 7), ("unrouted", 7)]


def test_a_header_sent_twice_reads_as_its_first_as_the_routes_read_it() -> None:
    scope = _scope(b"", "first")
    scope["headers"].append((b"authorization", b"Bearer second"))
    assert first_headers(scope)[b"authorization"] == b"Bearer first"
