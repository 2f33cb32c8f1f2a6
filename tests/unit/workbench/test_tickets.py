"""The list's row is a pure fold of the lifecycle events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import common_pb2
from minsheng.v1 import dispatch_events_pb2 as d
from minsheng.v1 import feedback_events_pb2 as f
from minsheng.v1 import intake_events_pb2 as i
from minsheng.v1 import sla_events_pb2 as s

from services.workbench.domain.tickets import FOLDS, TicketRow, fold

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at)
    return out


def play(*events: tuple[str, object]) -> TicketRow:
    row = None
    for n, (kind, payload) in enumerate(events):
        row = fold(row, ticket_id="t-1", code="FY-261127-00001-K", event_type=kind,
                   payload=payload, occurred_at=T0 + timedelta(minutes=n))
    assert row is not None
    return row


SUBMITTED = ("TicketSubmitted", i.TicketSubmitted(
    channel="hotline_12345", text_masked="阳光小区路灯不亮，电话138****5678",
    title_masked="路灯不亮", citizen_pseudonym="p-secret", contact_masked="138****5678",
    place=common_pb2.Place(county="yingzhou", address_masked="颍州区清河路**号")))
ASSIGNED = ("TicketAssigned", d.TicketAssigned(
    unit="city-lighting", category="urban", urgency="general", county="yingzhou",
    assignment_no=1, role="lead", request_type="complaint"))


def test_a_submitted_ticket_keeps_masked_text_and_never_the_pseudonym():
    row = play(SUBMITTED)
    assert row.status == "submitted" and row.channel == "hotline_12345"
    assert row.county == "yingzhou" and row.address_masked == "颍州区清河路**号"
    assert row.submitted_at == T0 and row.code == "FY-261127-00001-K"
    assert "p-secret" not in repr(row)
    assert "路灯" in row.search_grams and "灯不" in row.search_grams


def test_the_lifecycle_moves_the_status_and_the_units_that_may_see_it():
    due = T0 + timedelta(days=5)
    row = play(SUBMITTED, ("TicketAccepted", i.TicketAccepted()), ASSIGNED,
               ("DeadlineSet", s.DeadlineSet(due_at=ts(due), unit="city-lighting")),
               ("AssignmentSignedFor", d.AssignmentSignedFor(unit="city-lighting")))
    assert (row.status, row.unit, row.units, row.due_at) == (
        "signed_for", "city-lighting", ("city-lighting",), due)
    row = fold(row, ticket_id="t-1", code="", event_type="AssignmentTransferred",
               payload=d.AssignmentTransferred(from_unit="city-lighting", to_unit="yingzhou"),
               occurred_at=T0)
    assert row.status == "assigned" and row.units == ("city-lighting", "yingzhou")


def test_a_co_unit_step_does_not_move_the_lead_status():
    row = play(SUBMITTED, ASSIGNED, ("TicketAssigned", d.TicketAssigned(
        unit="water", role="co_handling", assignment_no=1)),
        ("AssignmentSignedFor", d.AssignmentSignedFor(unit="water")))
    assert row.status == "assigned" and row.co_units == ("water",)
    assert set(row.units) == {"city-lighting", "water"}


def test_overdue_rating_reopen_and_close():
    row = play(SUBMITTED, ASSIGNED,
               ("DeadlineMissed", s.DeadlineMissed(unit="city-lighting")),
               ("AssignmentReplied", d.AssignmentReplied(unit="city-lighting",
                                                         reply_masked="已修复")),
               ("CitizenNotified", f.CitizenNotified()),
               ("TicketRated", f.TicketRated(rating="dissatisfied")),
               ("TicketReopened", f.TicketReopened(reopen_count=1)))
    assert row.overdue and row.status == "reopened" and row.reopen_count == 1
    assert row.rating == "" and row.reply_masked == "已修复"
    row = fold(row, ticket_id="t-1", code="", event_type="TicketClosed",
               payload=f.TicketClosed(rating="satisfied"), occurred_at=T0)
    assert row.status == "closed" and row.rating == "satisfied"


def test_a_row_first_seen_mid_history_starts_empty():
    row = play(ASSIGNED)
    assert row.status == "assigned" and row.unit == "city-lighting"


def test_every_folded_event_type_exists_in_the_catalogue():
    from backbone.events import catalogue
    assert set(FOLDS) <= set(catalogue())


def test_a_question_answered_on_the_spot_is_the_master_platforms_and_never_assigned():
    row = play(SUBMITTED, ("TicketAnsweredOnSpot", i.TicketAnsweredOnSpot(
        answer_masked="周六上午可预约办理。", source="办事指南", source_date="2026-09-01")),
        ("CitizenNotified", f.CitizenNotified()))
    assert (row.status, row.unit, row.units) == ("notified", "city", ("city",))
    assert row.reply_masked == "周六上午可预约办理。" and row.due_at is None


def test_a_row_copy_with_changes_equals_the_dataclass_replace_and_refuses_unknown_fields():
    import dataclasses

    import pytest

    from services.workbench.domain.tickets import replace

    row = TicketRow("t1", code="FY-1", units=("a",), status="assigned")
    copied = replace(row, status="replied", reply_masked="已处理")
    assert copied == dataclasses.replace(row, status="replied", reply_masked="已处理")
    assert row.status == "assigned" and copied.units == ("a",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.status = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="statuss"):
        replace(row, statuss="x")
