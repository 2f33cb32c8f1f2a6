"""The service's pure parts: grading and send-back, firing order, watermark, publications."""

import datetime as dt
import uuid

import pytest
from eventsourcing.application import Application

from backbone import events
from backbone.consumer import UnitOfWork
from backbone.relay import Publication
from backbone.store import EventContext
from services.sla.adapters.watermark import could_fire, watermark
from services.sla.application.app import Rules, in_time_order
from services.sla.application.firing import TicketBook, fire_ticket
from services.sla.domain.clock import ClockNotRunningError, TicketClock
from services.sla.domain.supervision import SupervisionOrder
from services.sla.entrypoints.publications import Facts, translate_for, units_of
from services.sla.settings import SlaSettings

EOD = dt.time(23, 59, 59, 999999)


def clock_at(policy, calendar, sh, **kw):
    return TicketClock.start(policy, calendar, ticket_id="T-9", clock_number=1,
                             grade="general", accepted_at=sh("2024-11-04 10:00"), **kw)


def test_first_grading_recounts_from_acceptance_and_may_shorten(policy, calendar, sh):
    clock = clock_at(policy, calendar, sh, graded=False)
    assert not clock.graded and clock.due_at.date() == dt.date(2024, 11, 11)
    clock.grade_as(policy, calendar, grade="urgent", at=sh("2024-11-04 11:00"))
    assert clock.graded and clock.grade == "urgent" and clock.working_days == 2
    assert clock.due_at == dt.datetime.combine(dt.date(2024, 11, 6), EOD, tzinfo=clock.due_at.tzinfo)
    clock.grade_as(policy, calendar, grade="complex", at=sh("2024-11-04 12:00"))
    assert clock.explanation_due_at is not None and not clock.explained


def test_a_reply_sent_back_runs_on_and_a_late_one_stays_overdue(policy, calendar, sh):
    clock = clock_at(policy, calendar, sh)
    clock.record_reply(at=sh("2024-11-05 10:00"))
    clock.send_back(reason="答复不完整", at=sh("2024-11-05 11:00"))
    assert clock.status == "running"
    with pytest.raises(ClockNotRunningError):
        clock.send_back(reason="again", at=sh("2024-11-05 12:00"))
    clock.refuse_outright(reason="over the cap", refused_by="auto", at=sh("2024-11-05 12:00"))
    assert clock.pending_extension is None


def test_fire_ticket_merges_clock_and_order_items_by_instant(policy, calendar, sh):
    app = Application()
    clock = clock_at(policy, calendar, sh)
    clock.assign(policy, calendar, unit="yingzhou", at=sh("2024-11-04 10:30"),
                 parent_unit="yingzhou-parent")
    order = SupervisionOrder.issue(policy, calendar, ticket_id="T-9", order_key="manual:1",
                                   unit="yingzhou", kind="manual", issued_by="s",
                                   reason="催办", at=sh("2024-11-04 11:00"))
    app.save(clock, order)
    uow = UnitOfWork(app)
    rules = Rules(policy, calendar)
    book = TicketBook(uow, [order.id])
    fired = fire_ticket(rules, book, "T-9", sh("2024-11-20 09:00"))
    saved = [type(e).__qualname__ for e in in_time_order(list(uow.aggregates.values()))]
    # order escalates at 11-06 00:00 (answer was due end of 11-05), sign-for overdue too
    assert saved[:3] == ["TicketClock.Warned", "SupervisionOrder.Escalated",
                         "TicketClock.Warned"]
    assert "TicketClock.Missed" in saved and saved.count("SupervisionOrder.Issued") == 1
    escalated = uow.get(order.id)
    assert escalated.level == 2 and escalated.addressees == ["yingzhou", "yingzhou-parent", "督查室"]
    assert fired == len(saved)
    assert fire_ticket(rules, TicketBook(uow, [order.id]), "T-9", sh("2024-11-20 09:00")) == 0


def test_watermark_is_the_slowest_partition_with_unread_facts():
    t = dt.datetime(2024, 11, 4, tzinfo=dt.UTC)
    times = {("x", 0): t, ("x", 1): t + dt.timedelta(days=3), ("x", 2): t + dt.timedelta(days=9)}
    assert watermark(times, {("x", 1), ("x", 2)}) == t + dt.timedelta(days=3)
    assert watermark(times, set()) == t + dt.timedelta(days=9)  # all read: the latest
    assert watermark(times, {("x", 7)}) == t + dt.timedelta(days=9)  # unseen partitions: no clocks
    assert watermark({}, set()) is None


def test_the_broker_is_asked_for_the_ends_only_when_a_timer_could_fire():
    t = dt.datetime(2024, 11, 4, tzinfo=dt.UTC)
    times = {("x", 0): t, ("x", 1): t + dt.timedelta(days=3), ("x", 2): t + dt.timedelta(days=9)}
    # with the ends asked for earlier, ("x", 1) was behind: it still is (ends only grow), and
    # ("x", 2), caught up then, may be behind now: the watermark now is at most day 3
    bound = watermark(times, {("x", 1)})
    assert watermark(times, {("x", 1), ("x", 2)}) <= bound == t + dt.timedelta(days=3)
    assert not could_fire(bound, t + dt.timedelta(days=3, seconds=1))
    assert could_fire(bound, t + dt.timedelta(days=3))
    assert could_fire(bound, t)
    assert not could_fire(bound, None) and not could_fire(None, t)


class FakeFacts(Facts):
    def __init__(self):
        super().__init__(None, "sla")  # no pool: every fact is answered below

    def clock_no(self, clock_id):
        return 1

    def order_unit(self, order_id):
        return "yingzhou"


def test_every_public_sla_event_translates_and_round_trips(policy, calendar, sh):
    clock = clock_at(policy, calendar, sh)
    clock.assign(policy, calendar, unit="yingzhou", at=sh("2024-11-04 10:30"))
    clock.request_extension(policy, working_days=2, reason="r", requested_by="yingzhou",
                            at=sh("2024-11-04 11:00"))
    clock.approve_extension(policy, calendar, approved_by="s", at=sh("2024-11-04 11:10"))
    clock.record_reply(at=sh("2024-11-05 10:00"))
    clock.send_back(reason="不完整 13812345678", at=sh("2024-11-05 11:00"))
    order = SupervisionOrder.issue(policy, calendar, ticket_id="T-9", order_key="manual:1",
                                   unit="yingzhou", kind="manual", issued_by="s",
                                   reason="催办", at=sh("2024-11-05 12:00"))
    order.answer_order(unit="yingzhou", text="电话13812345678", at=sh("2024-11-05 13:00"))
    translate = translate_for(SlaSettings(), FakeFacts(), "v1", unit_topics=True)
    ctx = EventContext(ticket_id="T-9", ticket_code="FY1", trace_id="ab" * 16)
    published = []
    for n, e in enumerate(clock.collect_events() + order.collect_events()):
        published.extend(translate(Publication(e, n + 1, ctx, "sla")))
    names = [o.envelope.event_type for o in published if o.topic == "tickets.events"]
    assert names == ["DeadlineSet", "SignForDeadlineSet", "DeadlineExtended", "DeadlineMet",
                     "DeadlineReopened", "SupervisionOrderIssued", "SupervisionOrderAnswered"]
    for o in published:
        decoded = events.decode(o.envelope.SerializeToString())
        assert decoded.envelope.producer == "sla" and decoded.ticket_id == "T-9"
        assert "13812345678" not in str(decoded.payload)
    assert {o.topic for o in published} == {"tickets.events", "assignments.yingzhou"}


def test_units_of_skips_codes_that_name_no_topic():
    from minsheng.v1 import sla_events_pb2 as pb
    msg = pb.SupervisionOrderEscalated(order_id=str(uuid.uuid4()), unit="taihe",
                                       to_units=["city", "督查室"])
    assert units_of(msg) == ["city", "taihe"]


def test_the_lifecycle_consumer_gathers_256_kb_or_the_settings_ms():
    """At 50 tickets/s 64 KB ended every gather after ~150 ms (session 16)."""
    from types import SimpleNamespace

    from backbone.consumer import Handlers
    from services.sla.entrypoints.lifecycle import build_consumer

    settings = SlaSettings(environment="development", sla_gather_ms=300)
    consumer = build_consumer(settings=settings, infra=SimpleNamespace(pool=None, producer=None),
                              app=None, handlers=Handlers({}), lock=None)
    try:
        assert consumer.gather == (256 * 1024, 300)
    finally:
        consumer._worker.close()
