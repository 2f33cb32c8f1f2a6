"""The consumer's committed dispatches handed to the department API's reads (LoopReads.offer):
held as copies that share no mutable container with the consumer's, never older than what a
command kept, and nothing held before an event loop is known."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.dispatch.adapters.loop_reads import LoopReads
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def committed(code: str = "FY20261205000001") -> TicketDispatch:
    d = TicketDispatch.open(ticket_id="t-" + code, ticket_code=code, at=T0)
    d.assign(unit="urban-mgmt", by="router", at=T0, reason="路由表v2")
    d.collect_events()
    return d


def reads() -> LoopReads:
    return LoopReads(pool=None, schema="s", events_table="dispatch_events",  # type: ignore[arg-type]
                     mapper=None)  # type: ignore[arg-type]


def test_an_offered_dispatch_is_held_as_an_independent_copy():
    async def run() -> None:
        r = reads()
        d = committed()
        await asyncio.to_thread(r.offer, [d])  # from the consumer's thread
        await asyncio.sleep(0)  # the loop takes the hand-over
        held = r._take(d.ticket_code, "")
        assert held is not None and held is not d
        assert (held.id, held.version, held.state, held.assignee) == (
            d.id, d.version, d.state, d.assignee)
        held.sign_for(unit="urban-mgmt", at=T0 + timedelta(hours=1))
        held.note_progress(unit="urban-mgmt", note="已到现场", at=T0 + timedelta(hours=2))
        assert d.version == 2 and d.notes == [] and d.pending_events == []
        assert held.notes and held.version == 4

    asyncio.run(run())


def test_an_offer_never_replaces_a_newer_dispatch_a_command_kept():
    async def run() -> None:
        r = reads()
        old = committed()
        newer = committed()
        newer.sign_for(unit="urban-mgmt", at=T0 + timedelta(hours=1))
        newer.collect_events()
        r.keep(newer)
        r.offer([old])
        await asyncio.sleep(0)
        assert r._take("", newer.ticket_id) is newer

    asyncio.run(run())


def test_nothing_is_held_before_a_loop_is_known():
    r = reads()
    r.offer([committed()])
    assert r._held == {}


def test_an_offer_wakes_nothing_and_the_next_command_finds_it():
    async def run() -> None:
        r = reads()
        loop = asyncio.get_running_loop()
        woken = []
        original = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *a, **k: woken.append(a) or original(*a, **k)  # type: ignore[method-assign]
        try:
            first, second = committed("FY20261205000001"), committed("FY20261205000002")
            await asyncio.to_thread(r.offer, [first])
            r.offer([second])
            offers = [a for a in woken if getattr(a[0], "__name__", "") == "_keep_offered"]
            assert offers == []  # no callback handed to the loop per batch
            assert r._take(second.ticket_code, "").id == second.id  # filed when looked for
            assert r._take("", first.ticket_id).id == first.id
        finally:
            loop.call_soon_threadsafe = original  # type: ignore[method-assign]

    asyncio.run(run())
