"""Audit's bulk export, its streaming alone (the ledger read faked, chunks made tiny): every
entry once, in order, from `after`, `limit` of them, and the end frame naming the cursor;
filtered by type (`types`), the entries of those types of the positions covered, the mark
frames, and what the reader detects when a filtered stream comes short."""

from __future__ import annotations

import httpx
import pytest

from backbone import auth
from backbone.http import create_app
from services.analytics.adapters.ledger import (
    FRAME,
    MARKS_HEADER,
    LedgerError,
    Marks,
    split_frames,
    split_marked,
)
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


# -- filtered by type (`types`): gaps in ledger_seq, mark frames, positions covered ----------
KINDS = ("TicketAccepted", "DeadlineSet", "TicketClosed")
TYPED = [(seq, KINDS[seq * 7 % 11 % 3], bytes([seq]) * (seq % 5 + 1)) for seq in range(37)]


@pytest.fixture
def typed(app, monkeypatch):
    from services.audit.adapters import ledger_export as adapter
    monkeypatch.setattr(adapter, "ledger_end", lambda pool, schema: len(TYPED))
    monkeypatch.setattr(adapter, "read_range", lambda pool, schema, lo, hi, types: [
        r for r in TYPED[lo:hi] if r[1] in types])
    return app


async def get(app, token=None, **params) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://audit") as client:
        return await client.get("/v1/ledger/export", params=params,
                                headers={"authorization": f"Bearer {token or app.state.token}"})


def read_marked(body: bytes, after: int) -> tuple[list[tuple[str, bytes]], int | None]:
    marks = Marks(after)
    entries, used, end = split_marked(body, 0, marks, {})
    assert used == len(body)
    return entries, end


@pytest.mark.parametrize(("after", "limit"), [(0, None), (0, 1), (0, 2), (0, 7), (3, 7),
                                              (3, 12), (5, 30), (20, None), (36, 5),
                                              (37, None), (40, 3)])
@pytest.mark.parametrize("types", ["TicketAccepted", "TicketAccepted,TicketClosed",
                                   "DeadlineSet,TicketAccepted,TicketClosed"])
async def test_a_filtered_export_sends_the_types_asked_of_the_positions_covered(
        typed, after, limit, types):
    params = {"after": after, "types": types} | ({"limit": limit} if limit else {})
    response = await get(typed, **params)
    assert response.status_code == 200 and response.headers[MARKS_HEADER] == "1"
    entries, end = read_marked(response.content, after)
    until = min(len(TYPED), after + limit) if limit else len(TYPED)
    until = max(until, after)  # `limit` counts positions, whatever their type
    assert entries == [(t, e) for _, t, e in TYPED[after:until] if t in types.split(",")]
    assert end == until
    wanted = ",".join(sorted(types.split(",")))
    assert typed.state.access.reads == [
        ("export", f"ledger[{after}:+{limit or 'all'}] types={wanted}")]


async def test_a_type_the_ledger_does_not_hold_is_not_found(typed):
    response = await get(typed, types="NoSuchEvent")
    assert response.status_code == 200
    assert read_marked(response.content, 0) == ([], len(TYPED))


@pytest.mark.parametrize("types", ["", ",", "TicketAccepted,", "Ticket Accepted", "1Ticket",
                                   "Ticket;DROP", "T" * 101, "Tické", "a,b\n",
                                   ",".join(f"T{i}" for i in range(201))])
async def test_bad_types_are_refused_with_a_reason(typed, types):
    response = await get(typed, types=types)
    assert response.status_code == 422 and response.json()["detail"]
    assert typed.state.access.reads == []  # refused before anything was read or recorded


async def test_only_auditors_export_filtered(typed):
    token = auth.mint(AuditSettings(environment="test"), sub="s", role="supervisor")
    assert (await get(typed, token, types="TicketAccepted")).status_code == 403
    assert typed.state.access.reads == []


async def test_the_reader_detects_what_a_filtered_stream_lost(typed):
    """Each way a filtered stream can come short: an entry, a range with its mark, the end,
    an entry out of order or past its range's mark, a mark that does not move on."""
    body = (await get(typed, types="TicketAccepted,TicketClosed")).content
    frames = []  # (start, end, seq, type_len) of each frame
    pos = 0
    while pos < len(body):
        seq, tl, el = FRAME.unpack_from(body, pos)
        frames.append((pos, pos + FRAME.size + tl + el, seq, tl))
        pos = frames[-1][1]
    entries = [f for f in frames if f[3]]
    marks = [f for f in frames if not f[3]][:-1]
    assert len(marks) >= 3 and read_marked(body, 0)[1] == len(TYPED)

    def without(*cut: tuple[int, int, int, int]) -> bytes:
        return b"".join(body[a:b] for a, b, _, _ in frames if (a, b) not in {c[:2] for c in cut})

    second = [e for e in entries if marks[0][2] <= e[2] < marks[1][2]]
    broken = {
        "an entry": without(entries[3]),
        "a range and its mark": without(*second, marks[1]),
        "the end": body[:frames[-1][0]],
        "an entry twice": body[:entries[2][1]] + body[entries[2][0]:],
        "a mark twice": body[:marks[1][1]] + body[marks[1][0]:],
    }
    lost_end = split_marked(broken.pop("the end"), 0, Marks(0), {})
    assert lost_end[2] is None  # no end frame: ledger_export raises "stopped before its end"
    for what, doctored in broken.items():
        with pytest.raises(LedgerError):
            read_marked(doctored, 0)
            pytest.fail(f"{what} lost unnoticed")
    # an entry past its range's mark: the entries of the first range moved after its mark
    first = [e for e in entries if e[2] < marks[0][2]]
    moved = (body[:first[0][0]] + body[marks[0][0]:marks[0][1]]
             + b"".join(body[a:b] for a, b, _, _ in first) + body[marks[0][1]:])
    with pytest.raises(LedgerError):
        read_marked(moved, 0)


def test_an_unfiltered_reader_asks_nothing_and_gets_positions(monkeypatch):
    """ledger_export's `positions`: the end cursor less `after`, filtered or not."""
    import services.analytics.adapters.ledger as ledger
    export = ledger.ledger_export("http://audit", "t", after=3, types=["B", "A", "A"])
    assert export.types == ["A", "B"] and export.positions is None
