"""Audit's bulk export, its streaming alone (the ledger read faked, chunks made tiny): every
entry once, in order, from `after`, `limit` of them, and the end frame naming the cursor."""

from __future__ import annotations

import httpx
import pytest

from backbone import auth
from backbone.http import create_app
from services.analytics.adapters.ledger import split_frames
from services.audit.entrypoints import ledger_export
from services.audit.settings import AuditSettings

LEDGER = [(seq, "TicketAccepted" if seq % 3 else "DeadlineSet", bytes([seq]) * (seq % 5))
          for seq in range(23)]


class Access:
    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []

    def record(self, who: auth.Principal, *, action: str, target: str, via: str) -> None:
        self.reads.append((action, target))


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(ledger_export, "CHUNK", 5)
    monkeypatch.setattr(ledger_export, "FIRST_CHUNK", 2)
    monkeypatch.setattr(ledger_export, "read_chunk",
                        lambda pool, schema, after, limit: LEDGER[after:after + limit])
    settings = AuditSettings(environment="test")
    app = create_app(settings=settings, title="t", description="t", readiness=[])
    app.state.access = Access()
    app.include_router(ledger_export.router(pool=None, schema="s", access=app.state.access))
    app.state.token = auth.mint(settings, sub="auditor-1", role="auditor")
    return app


async def export(app, **params) -> tuple[list[tuple[str, bytes]], int | None]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://audit") as client:
        response = await client.get("/v1/ledger/export", params=params,
                                    headers={"authorization": f"Bearer {app.state.token}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == ledger_export.MEDIA_TYPE
    entries, used, _, end = split_frames(response.content, 0, params.get("after", 0), {})
    assert used == len(response.content)
    return entries, end


@pytest.mark.parametrize(("after", "limit"), [(0, None), (0, 2), (0, 7), (3, 7), (3, 12),
                                              (20, None), (22, 5), (23, None), (40, 3)])
async def test_every_entry_once_in_order_and_the_cursor_at_the_end(app, after, limit):
    params = {"after": after} | ({"limit": limit} if limit else {})
    entries, end = await export(app, **params)
    wanted = LEDGER[after:after + limit] if limit else LEDGER[after:]
    assert entries == [(t, e) for _, t, e in wanted]
    assert end == (wanted[-1][0] + 1 if wanted else after)
    assert app.state.access.reads == [("export", f"ledger[{after}:+{limit or 'all'}]")]


@pytest.mark.parametrize("params", [{"after": -1}, {"after": 2**63}, {"limit": 0},
                                    {"limit": 2**63}, {"after": "x"}])
async def test_a_cursor_out_of_range_is_refused_with_a_reason(app, params):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://audit") as client:
        response = await client.get("/v1/ledger/export", params=params,
                                    headers={"authorization": f"Bearer {app.state.token}"})
    assert response.status_code == 422 and response.json()["detail"]
    assert app.state.access.reads == []  # refused before anything was read or recorded
