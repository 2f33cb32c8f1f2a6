"""In event time every consumer of feedback moves the service clock, not only the hall's: the
decisions consumer delivers a reply and a citizen may rate it at once, before the hall has
fetched it (on a slow machine the hall's group may not have joined yet). Were the watermark
unmoved, a command stating no time would fall back to the wall clock, months after the reply,
and the rating window would already be closed (409)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from backbone.clock import Clock
from services.feedback.application import handlers


class _Upstream:
    def __init__(self) -> None:
        self.applied: list[str] = []

    def __getattr__(self, name: str):
        return lambda d, uow: self.applied.append(name)


def test_the_decisions_consumer_moves_the_event_clock_before_it_applies():
    clock, upstream = Clock("event"), _Upstream()
    table = handlers.decisions(upstream, clock.observe)  # type: ignore[arg-type]
    reviewed_at = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    table.for_type("ReplyReviewed")(SimpleNamespace(occurred_at=reviewed_at), None)
    assert upstream.applied == ["reply_reviewed"]
    assert clock.now() == reviewed_at
    assert clock.command_time(None) == reviewed_at  # a rating stating no time: the reply's
    earlier = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    table.for_type("TicketSubmitted")(SimpleNamespace(occurred_at=earlier), None)
    assert clock.now() == reviewed_at  # a watermark never goes back
    assert upstream.applied == ["reply_reviewed", "ticket_submitted"]


def test_without_a_clock_the_table_is_the_upstream_methods_themselves():
    upstream = _Upstream()
    table = handlers.decisions(upstream)  # type: ignore[arg-type]
    assert set(table.table) == {"TicketSubmitted", "TicketMergedIntoCase",
                                "TicketUnmergedFromCase", "CaseMergeTaken",
                                "CaseMergeRefused", "ReplyReviewed", "TicketAnsweredOnSpot"}
