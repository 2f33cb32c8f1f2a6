"""A command on a dispatch this process holds as last committed saves without a read
(commands.Commands._on_held); whenever the held state might not be the store's (the act is
refused, the save loses a race or meets a request key, the unit holds no assignment in it),
the command reads and decides as it always did."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from backbone.store import EventContext, Statement
from services.dispatch.adapters.loop_reads import Loaded
from services.dispatch.application.commands import Commands, TicketNotFoundError, TicketRef
from services.dispatch.domain.lifecycle import DispatchPolicy
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
CTX = EventContext(actor_role="unit", actor_id="oa", actor_unit="urban-mgmt")


def assigned(code: str = "FY20261206000001") -> TicketDispatch:
    d = TicketDispatch.open(ticket_id="t-" + code, ticket_code=code, at=T0)
    d.assign(unit="urban-mgmt", by="router", at=T0, reason="路由表v2")
    d.collect_events()
    return d


class Reads:
    """LoopReads' part the commands use: what is held, and the reads made."""

    def __init__(self, held: TicketDispatch | None, stored: TicketDispatch | None) -> None:
        self.held = held
        self.stored = stored  # what a read finds
        self.loads = 0
        self.kept: list[TicketDispatch] = []

    def take(self, *, code: str, ticket_id: str) -> TicketDispatch | None:
        held, self.held = self.held, None
        return held

    def keep(self, d: TicketDispatch) -> None:
        self.kept.append(d)

    async def load(self, **_: Any) -> Loaded:
        self.loads += 1
        return Loaded(dispatch=self.stored, key=None)

    def key_statement(self, key_id: uuid.UUID, key: Any) -> Statement:
        return Statement(b"key", (key_id,))


class Committer:
    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse  # this many saves lose a race first
        self.saved: list[tuple[TicketDispatch, int, list[Statement]]] = []

    async def save_async(self, d: TicketDispatch, *, context: EventContext,
                         sql: list[Statement] | None = None) -> None:
        if self.refuse:
            self.refuse -= 1
            d.collect_events()
            raise IntegrityError("version taken")
        self.saved.append((d, d.version, list(sql or ())))
        d.collect_events()


class App:
    def __init__(self) -> None:
        self.commanded: set[uuid.UUID] = set()


def commands(reads: Reads, committer: Committer) -> Commands:
    return Commands(app=App(), committer=committer, readmodel=None, reads=reads,  # type: ignore[arg-type]
                    units=None, router=None, policy=DispatchPolicy(),  # type: ignore[arg-type]
                    auto_accept_replies=True)


def sign_for(c: Commands, unit: str = "urban-mgmt", request_id: str = "r-1") -> Any:
    return asyncio.run(c.sign_for(unit, TicketRef(code="FY20261206000001"),
                                  at=T0 + timedelta(minutes=5), ctx=CTX, request_id=request_id))


def test_a_held_dispatch_is_acted_on_and_saved_without_a_read():
    held = assigned()
    reads, committer = Reads(held, stored=None), Committer()
    ack = sign_for(commands(reads, committer))
    assert reads.loads == 0 and (ack.status, ack.replayed) == ("signed_for", False)
    [(saved, version, sql)] = committer.saved
    assert saved is held and version == 3 and len(sql) == 1  # the request key, same save
    assert reads.kept == [held]


def test_a_save_that_loses_a_race_reads_and_acts_on_the_stores_state():
    stored = assigned()
    stored.sign_for(unit="urban-mgmt", at=T0 + timedelta(minutes=1))  # another replica's
    stored.collect_events()
    stored.note_progress(unit="urban-mgmt", note="已到现场", at=T0 + timedelta(minutes=2))
    stored.collect_events()
    held = assigned()  # this process's copy, from before the other replica's note
    held.sign_for(unit="urban-mgmt", at=T0 + timedelta(minutes=1))
    held.collect_events()
    reads, committer = Reads(held, stored=stored), Committer(refuse=1)
    c = commands(reads, committer)
    ack = asyncio.run(c.add_note("urban-mgmt", TicketRef(code="FY20261206000001"),
                                 note="再次到场", at=T0 + timedelta(minutes=5), ctx=CTX))
    assert reads.loads == 1 and ack.status == "in_progress"
    [(saved, version, _)] = committer.saved
    assert saved is stored and version == 5 and len(stored.notes) == 2


def test_a_refused_act_on_a_held_dispatch_is_decided_again_on_a_read():
    held = assigned()
    held.sign_for(unit="urban-mgmt", at=T0 + timedelta(minutes=1))
    held.collect_events()
    stored = assigned()  # the store says otherwise: the read decides
    reads, committer = Reads(held, stored=stored), Committer()
    ack = sign_for(commands(reads, committer))
    assert reads.loads == 1 and ack.status == "signed_for"
    assert [s for s, _, _ in committer.saved] == [stored]


def test_a_unit_that_holds_nothing_in_the_held_state_is_answered_from_a_read():
    held = assigned()
    reads, committer = Reads(held, stored=None), Committer()
    with pytest.raises(TicketNotFoundError):
        sign_for(commands(reads, committer), unit="yingzhou")
    assert reads.loads == 1 and committer.saved == [] and reads.kept == [held]
