"""What an outside caller (session 17's probes) could send that the service did not expect:
an order addressed to a unit that is not in the registry, whose events held back every SLA
event behind them (the relay waited for the partition leaders of `assignments.nope` for
good), and a stated time at datetime's limits (a 500 from the calendar's arithmetic)."""

import datetime as dt
import uuid

import pytest
from minsheng.v1 import sla_events_pb2 as pb

from backbone.clock import Clock, ClockTimeError
from backbone.relay import Publication
from backbone.store import EventContext
from services.dispatch.domain.units import load_unit_registry
from services.sla.domain.supervision import SupervisionOrder
from services.sla.entrypoints.publications import Facts, translate_for, units_of
from services.sla.settings import SlaSettings

REGISTRY = frozenset(u.code for u in load_unit_registry())


class OrderFacts(Facts):
    def __init__(self, unit):
        super().__init__(None, "sla")  # no pool: every fact is answered below
        self.unit = unit

    def clock_no(self, clock_id):
        return 1

    def order_unit(self, order_id):
        return self.unit


def test_unit_topics_only_for_the_registrys_units():
    msg = pb.SupervisionOrderEscalated(order_id=str(uuid.uuid4()), unit="nope",
                                       to_units=["yingzhou", "督查室", "also-nope"])
    assert units_of(msg) == ["also-nope", "nope", "yingzhou"]  # without the registry: as before
    assert units_of(msg, REGISTRY) == ["yingzhou"]


def test_an_order_to_an_unknown_unit_goes_to_the_lifecycle_topic_only(policy, calendar, sh):
    order = SupervisionOrder.issue(policy, calendar, ticket_id="T-9", order_key="manual:1",
                                   unit="nope", kind="manual", issued_by="s", reason="催办",
                                   at=sh("2024-11-05 12:00"))
    translate = translate_for(SlaSettings(), OrderFacts("nope"), "v1", units=REGISTRY)
    ctx = EventContext(ticket_id="T-9", ticket_code="FY1", trace_id="ab" * 16)
    out = [o for n, e in enumerate(order.collect_events())
           for o in translate(Publication(e, n + 1, ctx, "sla"))]
    assert [o.topic for o in out] == ["tickets.events"]


@pytest.mark.parametrize("stated", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
                                    "0001-01-02T00:00:00+00:00", "9999-06-01T00:00:00+08:00"])
def test_a_time_deadlines_cannot_be_counted_from_is_a_bad_time(stated):
    with pytest.raises(ClockTimeError, match="outside the times"):
        Clock("event").command_time(dt.datetime.fromisoformat(stated))


def test_ordinary_times_pass_and_naive_ones_are_refused_with_their_reason():
    when = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
    assert Clock("event").command_time(when) == when
    with pytest.raises(ClockTimeError, match="time zone"):
        Clock("event").command_time(dt.datetime(2026, 12, 7, 9, 30))


def test_an_order_id_or_unit_typed_as_a_name_or_phone_is_not_repeated():
    """A name or phone number typed for an order id or a unit came back in the 400/404
    (helper-120: "'张三丰340102199001011234' is not a supervision order id")."""
    from backbone.http import ClientError
    from services.sla.application.desk import Desk
    from services.sla.entrypoints.http_api import _order_id

    for typed in ("张三丰", "13912345678", "张三丰340102199001011234"):
        with pytest.raises(ClientError) as by_route:
            _order_id(typed)
        with pytest.raises(ClientError) as by_desk:
            Desk._order(None, typed)  # type: ignore[arg-type]  # refused before any read
        for refused in (by_route.value, by_desk.value):
            assert "张三丰" not in refused.detail and "13912345678" not in refused.detail
            assert "not a supervision order id" in refused.detail
    with pytest.raises(ClientError) as plain:
        _order_id("order-7")
    assert plain.value.detail == "'order-7' is not a supervision order id"
