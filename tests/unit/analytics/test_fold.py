"""From facts to KPIs, one ticket at a time: order-insensitive, idempotent, hand-checked."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from minsheng.v1 import (
    analytics_events_pb2,
    dispatch_events_pb2,
    feedback_events_pb2,
    intake_events_pb2,
    sla_events_pb2,
)

from backbone import events
from backbone.relay import Publication
from backbone.store import EventContext
from services.analytics.application.normalise import NORMALISERS, UnusableFactError, fact_of
from services.analytics.application.reports import MonthlyReport
from services.analytics.domain.facts import Fact, FactError
from services.analytics.domain.figures import figures
from services.analytics.domain.fold import LiveKpis, fold_ticket
from services.analytics.entrypoints.publications import translate_for
from tests.unit.analytics.simulation import SH

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=SH)


class Facts:
    def __init__(self) -> None:
        self.items: list[Fact] = []

    def add(self, ticket: str, kind: str, minutes: float, **attrs: object) -> None:
        self.items.append(Fact(f"{ticket}-{len(self.items)}", ticket, kind,
                               T0 + timedelta(minutes=minutes), dict(attrs)))


def worked_example() -> list[Fact]:
    """docs/kpis.md, 'Worked example', told as the events the services publish."""
    f = Facts()
    for t, unit in (("A0", "yingzhou"), ("A1", "yingzhou"), ("A2", "yingdong")):
        f.add(t, "submitted", 0, channel="hotline_12345", text="路灯不亮")
        f.add(t, "accepted", 1)
        f.add(t, "assigned", 2, unit=unit, unit_kind="county", county=unit,
              category="urban-management", assignment_no=1)
    f.add("A0", "signed_for", 32, unit="yingzhou")
    f.add("A0", "replied", 2 + 20 * 60, unit="yingzhou")
    f.add("A0", "deadline_met", 2 + 20 * 60, unit="yingzhou", clock_no=1)
    f.add("A0", "closed", 21 * 60, unit="yingzhou")
    f.add("A0", "rated", 22 * 60, unit="yingzhou", rating="satisfied")
    f.add("A1", "signed_for", 92, unit="yingzhou")
    f.add("A1", "deadline_missed", 5 * 24 * 60, unit="yingzhou", clock_no=1)
    f.add("A1", "replied", 2 + 6 * 24 * 60, unit="yingzhou")
    f.add("A1", "closed", 6 * 24 * 60 + 60, unit="yingzhou")
    f.add("A1", "rated", 6 * 24 * 60 + 90, unit="", rating="dissatisfied")  # no unit: holder
    f.add("A1", "callback", 7 * 24 * 60, unit="yingzhou", reached=True,
          satisfaction="basically_satisfied")
    f.add("A1", "reopened", 8 * 24 * 60, unit="yingzhou")
    f.add("A2", "bounced_back", 60, unit="yingdong")
    return f.items


def test_worked_example_by_hand():
    live = LiveKpis()
    live.apply(worked_example())
    city = figures(live.model, "all", "全市", "month", "2024-03")
    assert (city.received, city.accepted, city.closed) == (3, 3, 1)
    assert city.completion_rate == pytest.approx(1 / 3)
    assert city.on_time_rate == pytest.approx(1 / 2)
    assert city.satisfaction == pytest.approx(0.74)
    assert city.reopen_rate == pytest.approx(1 / 2)
    assert city.bounce_back_rate == pytest.approx(1 / 3)
    assert city.sign_for_median_minutes == 60
    assert city.handling_median_minutes == (20 * 60 + 6 * 24 * 60) / 2
    yingdong = figures(live.model, "unit", "yingdong", "month", "2024-03")
    assert (yingdong.received, yingdong.handled, yingdong.completion_rate) == (1, 0, None)
    assert live.unit_kinds == {"yingzhou": "county", "yingdong": "county"}


def test_any_order_any_chunks_and_copies_give_the_same_state():
    facts = worked_example()
    expected = LiveKpis()
    expected.apply(facts)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = facts + rng.sample(facts, 5)
        rng.shuffle(shuffled)
        live = LiveKpis()
        i = 0
        while i < len(shuffled):
            n = rng.randint(1, 6)
            live.apply(shuffled[i:i + n])
            i += n
        assert live.snapshot() == expected.snapshot()
        assert live.fact_count == len(facts)


def test_county_told_late_moves_the_ticket_out_of_unknown():
    f = Facts()
    f.add("B", "submitted", 0, channel="web", text="噪音扰民")
    live = LiveKpis()
    live.apply(f.items)
    assert figures(live.model, "county", "未知", "month", "2024-03").received == 1
    f.add("B", "assigned", 5, unit="funan", county="funan", category="environment")
    live.apply(f.items[-1:])
    assert figures(live.model, "county", "funan", "month", "2024-03").received == 1
    assert "未知" not in live.model.values("county", "month", "2024-03")
    assert figures(live.model, "category", "environment", "month", "2024-03").received == 1


def test_a_ticket_waiting_for_a_dispatcher_is_counted_in_the_county_dispatch_found():
    f = Facts()
    f.add("Q", "submitted", 0, channel="web", text="小区门口占道")
    f.add("Q", "queued", 1, county="taihe", category="urban-management", queue="unrouted")
    live = LiveKpis()
    live.apply(f.items)
    assert figures(live.model, "county", "taihe", "month", "2024-03").received == 1
    assert "未知" not in live.model.values("county", "month", "2024-03")
    # the category stays unclassified until someone decides it (the queue's is a guess)
    assert figures(live.model, "category", "未分类", "month", "2024-03").received == 1
    # a dispatcher's assignment (its county) wins over the queue's
    f.add("Q", "assigned", 30, unit="jieshou", county="jieshou", category="urban-management")
    live.apply(f.items[-1:])
    assert figures(live.model, "county", "jieshou", "month", "2024-03").received == 1
    assert "taihe" not in live.model.values("county", "month", "2024-03")


def test_a_queue_that_found_no_county_leaves_the_submissions_county():
    f = Facts()
    f.add("R", "submitted", 0, channel="web", county="funan")
    f.add("R", "queued", 1, county="", queue="unrouted")
    assert fold_ticket(f.items).tickets["R"]["dims"]["county"] == "funan"


def test_sent_back_reply_is_not_counted_and_reopened_clock_is_the_second():
    f = Facts()
    f.add("C", "submitted", 0, channel="web")
    f.add("C", "accepted", 1)
    f.add("C", "assigned", 2, unit="housing", assignment_no=1)
    f.add("C", "replied", 60, unit="housing")
    f.add("C", "reply_reviewed", 61, unit="housing", accepted=False)
    f.add("C", "replied", 120, unit="housing")
    f.add("C", "reply_reviewed", 121, unit="housing", accepted=True)
    f.add("C", "deadline_met", 120, unit="housing", clock_no=1)
    f.add("C", "closed", 180, unit="housing")
    f.add("C", "reopened", 240, unit="housing")
    f.add("C", "replied", 300, unit="housing")  # clock 2: never met
    model = fold_ticket(f.items)
    b = model.bucket("unit", "housing", "month", "2024-03")
    assert (b["replied"], b["replied_on_time"]) == (2, 1)
    assert b["handling_minutes"] == {"118": 1, "298": 1}


def test_a_fact_needs_a_known_kind_and_an_aware_time():
    with pytest.raises(FactError):
        Fact("e", "t", "teleported", T0)
    with pytest.raises(FactError):
        Fact("e", "t", "accepted", T0.replace(tzinfo=None))


PAYLOADS = {
    "TicketSubmitted": intake_events_pb2.TicketSubmitted(channel="web", text_masked="x"),
    "TicketAccepted": intake_events_pb2.TicketAccepted(),
    "TicketRejected": intake_events_pb2.TicketRejected(reason_code="empty"),
    "TicketAssigned": dispatch_events_pb2.TicketAssigned(unit="funan", county="funan"),
    "TicketQueuedForDispatcher": dispatch_events_pb2.TicketQueuedForDispatcher(county="taihe"),
    "AssignmentTransferred": dispatch_events_pb2.AssignmentTransferred(to_unit="taihe"),
    "CoordinationDecided": dispatch_events_pb2.CoordinationDecided(lead_unit="a",
                                                                   co_units=["b"]),
    "AssignmentSignedFor": dispatch_events_pb2.AssignmentSignedFor(unit="funan"),
    "AssignmentBouncedBack": dispatch_events_pb2.AssignmentBouncedBack(unit="funan"),
    "AssignmentWithdrawn": dispatch_events_pb2.AssignmentWithdrawn(unit="funan"),
    "TicketAnsweredOnSpot": intake_events_pb2.TicketAnsweredOnSpot(answer_masked="x"),
    "AssignmentReplied": dispatch_events_pb2.AssignmentReplied(unit="funan"),
    "ReplyReviewed": dispatch_events_pb2.ReplyReviewed(unit="funan", accepted=True),
    "DeadlineMet": sla_events_pb2.DeadlineMet(clock_no=1),
    "DeadlineMissed": sla_events_pb2.DeadlineMissed(clock_no=1),
    "TicketRated": feedback_events_pb2.TicketRated(rating="satisfied"),
    "TicketMarkedUnrated": feedback_events_pb2.TicketMarkedUnrated(),
    "CallbackRecorded": feedback_events_pb2.CallbackRecorded(reached=False),
    "TicketReopened": feedback_events_pb2.TicketReopened(reopen_count=1),
    "TicketClosed": feedback_events_pb2.TicketClosed(rating="unrated"),
}


def decoded(payload: object) -> events.DecodedEvent:
    owner = events.owner_of(type(payload).DESCRIPTOR.name)
    env = events.make_envelope(payload=payload, event_id=events.event_id_for("t", 1),
                               ticket_id="t", ticket_code="FY1", producer=owner, occurred_at=T0)
    return events.decode(env.SerializeToString())


def test_every_counted_event_type_becomes_a_fact():
    assert set(PAYLOADS) == set(NORMALISERS)
    for name, payload in PAYLOADS.items():
        fact = fact_of(decoded(payload))
        assert fact is not None and fact.at == T0, name
    assert fact_of(decoded(feedback_events_pb2.RemarkAdded())) is None


def test_unknown_ratings_are_refused_with_the_reason():
    with pytest.raises(UnusableFactError, match="excellent"):
        fact_of(decoded(feedback_events_pb2.TicketRated(rating="excellent")))
    with pytest.raises(UnusableFactError):
        fact_of(decoded(feedback_events_pb2.CallbackRecorded(reached=True, satisfaction="meh")))


def test_a_published_report_becomes_one_rectification_event_per_flag():
    flags = [{"unit": u, "kind": "county", "month": "2024-03", "previous_month": "2024-02",
              "reason": f"{u} 连续两个月后三名"} for u in ("funan", "taihe")]
    report = MonthlyReport(month="2024-03", report={"rectification": flags}, published_by="s",
                           timestamp=T0)
    event = report.collect_events()[0]
    out = translate_for("tickets.events")(Publication(event, 1, EventContext(), "analytics"))
    assert [o.key for o in out] == ["unit:funan:2024-03", "unit:taihe:2024-03"]
    first = events.decode(out[0].envelope.SerializeToString())
    assert isinstance(first.payload, analytics_events_pb2.RectificationFlagged)
    assert first.payload.previous_month == "2024-02" and first.ticket_id == "unit:funan:2024-03"
    assert len({o.envelope.event_id for o in out}) == 2


class Table:
    """The facts table as the live state's tail reads it: rows in seq order (an event id
    once), each read returns the rows after the last one read, and the facts read before of
    the tickets the reader let go (FactTail.read's `earlier`)."""

    def __init__(self) -> None:
        self.rows: list[Fact] = []
        self.ids: set[str] = set()
        self.high = 0  # rows read
        self.earlier_reads = 0  # reads that asked for earlier facts

    def insert(self, facts: list[Fact]) -> None:
        for f in facts:
            if f.event_id not in self.ids:
                self.ids.add(f.event_id)
                self.rows.append(f)

    def read(self, away, copies: list[Fact] = ()) -> tuple[list[Fact], dict[str, list[Fact]]]:
        """The new rows (and copies of rows read before: redeliveries for the fold to drop),
        and the earlier facts of their tickets that `away` names."""
        before, self.high = self.high, len(self.rows)
        got = self.rows[before:] + list(copies)
        wanted = set(away(dict.fromkeys(f.ticket_id for f in got)))
        earlier: dict[str, list[Fact]] = {}
        if wanted:
            self.earlier_reads += 1
            for f in self.rows[:before]:
                if f.ticket_id in wanted:
                    earlier.setdefault(f.ticket_id, []).append(f)
        return got, earlier


def month_facts() -> list[Fact]:
    from tests.integration.analytics.month import simulate

    return [f for f in (fact_of(events.decode(e.SerializeToString()))
                        for e in simulate(seed=11, per_unit=3).envelopes) if f is not None]


@pytest.mark.parametrize("tickets_kept", [None, 0, 1, 3])
@pytest.mark.parametrize("kept", [0, 3, LiveKpis.PARTS_KEPT])
def test_a_month_applied_in_chunks_equals_its_tickets_folded_once(kept, tickets_kept,
                                                                  monkeypatch):
    """The live fold pours each refold's difference from the ticket's last part (kept for the
    tickets refolded last, else folded again), and keeps the facts of the `tickets_kept`
    tickets refolded last only (a ticket let go comes back with its facts read before, from
    the table): whatever is kept, a month's facts applied in random chunks and with copies
    give what folding each ticket once gives."""
    facts = month_facts()
    by_ticket: dict[str, dict[str, Fact]] = {}
    for f in facts:
        by_ticket.setdefault(f.ticket_id, {})[f.event_id] = f
    expected = LiveKpis.of_tickets(by_ticket)
    monkeypatch.setattr(LiveKpis, "PARTS_KEPT", kept)
    rng = random.Random(kept * 10 + (tickets_kept or 0))
    arriving = sorted(facts, key=lambda f: f.at)
    table, live, i = Table(), LiveKpis(tickets_kept=tickets_kept), 0
    while i < len(arriving):
        n = rng.randint(1, 40)
        table.insert(arriving[i:i + n])
        i += n
        copies = rng.sample(table.rows, min(len(table.rows), rng.randint(0, 3)))
        got, earlier = table.read(live.away, copies)
        live.apply(got, earlier)
        if tickets_kept is not None:
            assert len(live.facts) <= tickets_kept and len(live._parts) <= tickets_kept
    assert len(by_ticket) > 50 and live.fact_count == len(facts)
    assert live.snapshot() == expected.snapshot()
    assert live.model.buckets == expected.model.buckets
    assert live.model.tickets == {} and live.model.ticket_count == len(by_ticket)
    assert (live.latest, live.unit_kinds) == (expected.latest, expected.unit_kinds)
    assert (table.earlier_reads == 0) == (tickets_kept is None)


def test_a_late_fact_of_a_ticket_let_go_refolds_it_from_its_facts_read_back():
    """A reopening after the ticket's facts left memory: its old contribution comes from the
    facts read back, the total ends as if it had been kept; a copy of a fact read back
    changes nothing."""
    f = Facts()
    for t in ("A", "B"):
        f.add(t, "submitted", 0, channel="web", text="路灯不亮")
        f.add(t, "assigned", 1, unit="funan", county="funan", category="urban", assignment_no=1)
        f.add(t, "closed", 60, unit="funan")
    f.add("A", "reopened", 600, unit="funan")
    table, live = Table(), LiveKpis(tickets_kept=1)
    table.insert(f.items[:6])
    live.apply(*table.read(live.away))
    assert list(live.facts) == ["B"]  # A was let go: its contribution stays in the total
    assert figures(live.model, "all", "全市", "month", "2024-03").closed == 2
    table.insert(f.items[6:])
    live.apply(*table.read(live.away, copies=f.items[:1]))
    city = figures(live.model, "all", "全市", "month", "2024-03")
    assert (city.received, city.closed, live.fact_count) == (2, 1, 7)
    assert live.snapshot() == LiveKpis.of_tickets(
        {t: {x.event_id: x for x in f.items if x.ticket_id == t} for t in "AB"}).snapshot()


def _unit_month(facts: list[Fact], unit: str) -> tuple[int, int, float | None]:
    f = figures(fold_ticket(facts), "unit", unit, "month", "2024-03")
    return f.handled, f.closed, f.completion_rate


def _handled_by(unit: str) -> Facts:
    f = Facts()
    f.add("T", "submitted", 0, channel="hotline_12345", text="路灯不亮")
    f.add("T", "accepted", 1)
    f.add("T", "assigned", 2, unit=unit, unit_kind="county", county=unit, assignment_no=1)
    return f


def test_a_reopened_ticket_closed_again_is_one_closed_ticket_of_its_unit():
    # as the demo month tells it (FY-261110-00019-M): dispatch assigns the reopened ticket to
    # the same unit again (assignment 2); it counted as two tickets handled, one closed (50 %)
    f = _handled_by("yingzhou")
    f.add("T", "replied", 60, unit="yingzhou", assignment_no=1)
    f.add("T", "closed", 120, unit="yingzhou")
    f.add("T", "reopened", 180, unit="yingzhou", reopen_count=1)
    f.add("T", "assigned", 180, unit="yingzhou", unit_kind="county", assignment_no=2)
    assert _unit_month(f.items, "yingzhou") == (1, 0, 0.0)
    f.add("T", "replied", 240, unit="yingzhou", assignment_no=2)
    f.add("T", "closed", 300, unit="yingzhou")
    assert _unit_month(f.items, "yingzhou") == (1, 1, 1.0)
    assert figures(fold_ticket(f.items), "unit", "yingzhou", "month", "2024-03").received == 2


def test_a_unit_no_longer_handles_a_ticket_transferred_away_or_merged_into_a_case():
    moved = _handled_by("urban-mgmt")  # 转办 to yingzhou, which closes it
    moved.add("T", "transferred", 60, unit="yingzhou", from_unit="urban-mgmt", assignment_no=2)
    moved.add("T", "assigned", 60, unit="yingzhou", unit_kind="county", assignment_no=2)
    moved.add("T", "closed", 300, unit="yingzhou")
    assert _unit_month(moved.items, "urban-mgmt") == (0, 0, None)
    assert _unit_month(moved.items, "yingzhou") == (1, 1, 1.0)
    merged = _handled_by("water-affairs")  # 并单: answered with a case another unit handles
    merged.add("T", "withdrawn", 60, unit="water-affairs", assignment_no=1)
    merged.add("T", "closed", 300, unit="ecology")
    assert _unit_month(merged.items, "water-affairs") == (0, 0, None)
    same = _handled_by("taihe")  # merged into a case of its own unit, which answers it
    same.add("T", "withdrawn", 60, unit="taihe", assignment_no=1)
    same.add("T", "closed", 300, unit="taihe")
    assert _unit_month(same.items, "taihe") == (1, 1, 1.0)


def test_a_coordinated_ticket_closed_by_its_lead_is_closed_for_its_co_handling_units():
    f = _handled_by("urban-mgmt")
    f.add("T", "bounced_back", 30, unit="urban-mgmt", assignment_no=1)
    f.add("T", "coordinated", 60, lead_unit="yingzhou.qinghe",
          co_units=["urban-mgmt", "chengnan"], assignment_no=2)
    for unit in ("urban-mgmt", "chengnan", "yingzhou.qinghe"):
        f.add("T", "assigned", 60, unit=unit, assignment_no=2)
    f.add("T", "closed", 300, unit="yingzhou.qinghe")
    for unit in ("urban-mgmt", "chengnan", "yingzhou.qinghe"):
        assert _unit_month(f.items, unit) == (1, 1, 1.0), unit
    f.add("T", "reopened", 400, unit="yingzhou.qinghe")
    for unit in ("urban-mgmt", "chengnan", "yingzhou.qinghe"):
        assert _unit_month(f.items, unit) == (1, 0, 0.0), unit
    assert figures(fold_ticket(f.items), "unit", "chengnan", "month", "2024-03").reopen_rate == 1


def test_a_question_answered_on_the_spot_is_handled_where_it_counts_closed():
    # 解惑: TicketAnsweredOnSpot instead of TicketAccepted, then rated and closed by feedback;
    # it counted closed but not handled: completion over 100 % with others beside it
    env = events.make_envelope(
        payload=intake_events_pb2.TicketAnsweredOnSpot(answer_masked="可在政务服务网办理"),
        event_id=events.event_id_for("Q", 2), ticket_id="Q", ticket_code="FY2",
        producer="intake", occurred_at=T0 + timedelta(minutes=1))
    answered = fact_of(events.decode(env.SerializeToString()))
    assert answered is not None
    f = Facts()
    f.add("Q", "submitted", 0, channel="hotline_12345", text="怎么办居住证")
    f.items.append(answered)
    f.add("Q", "rated", 30, unit="city", rating="satisfied")
    f.add("Q", "closed", 30, unit="city")
    city = figures(fold_ticket(f.items), "all", "全市", "month", "2024-03")
    assert (city.accepted, city.handled, city.closed, city.completion_rate) == (1, 1, 1, 1.0)
