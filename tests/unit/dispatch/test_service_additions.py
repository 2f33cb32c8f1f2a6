"""Phase-2 additions to the dispatch domain and its read model and publications (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.dispatch.application.projection import change_for, queue_of
from services.dispatch.domain.errors import (
    FollowingCaseError,
    IllegalTransitionError,
    InvalidExtensionError,
    InvalidReplyOutcomeError,
    NotAssignedToUnitError,
)
from services.dispatch.domain.lifecycle import DispatchState
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def opened() -> TicketDispatch:
    d = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-1", at=T0)
    d.note_request(channel="web", title_masked="", text_masked="路灯不亮", category_hint="",
                   place={"address_masked": "颍州区清河路", "county": "yingzhou"}, at=T0)
    return d


def test_each_hand_over_numbers_the_assignment():
    d = opened()
    d.assign(unit="urban-mgmt", by="router", at=T0, reason="路由表v1")
    assert d.assignment_no == 1
    d.bounce_back(unit="urban-mgmt", reason="不归我们", at=T0 + H)
    assert d.assignment_no == 1
    d.coordinate(by="d", lead_unit="yingzhou", co_units=["urban-mgmt"], decision="决定", at=T0)
    assert d.assignment_no == 2
    d.transfer(by="d", to_unit="power", reason="供电", at=T0 + 2 * H)
    assert (d.assignment_no, d.assignee) == (3, "power")


def test_the_submission_is_noted_once():
    d = opened()
    d.note_request(channel="hotline_12345", title_masked="x", text_masked="y", category_hint="",
                   place={}, at=T0)
    assert d.request["channel"] == "web"


def test_a_reply_names_a_known_outcome_and_an_extension_a_sensible_length():
    d = opened()
    d.assign(unit="power", by="router", at=T0, reason="r")
    with pytest.raises(NotAssignedToUnitError):
        d.request_extension(unit="water", working_days=2, reason="x", at=T0)
    with pytest.raises(InvalidExtensionError):
        d.request_extension(unit="power", working_days=0, reason="x", at=T0)
    d.request_extension(unit="power", working_days=3, reason="等配件", at=T0)
    d.sign_for(unit="power", at=T0)
    with pytest.raises(InvalidReplyOutcomeError):
        d.reply(unit="power", reply="好", outcome="whatever", at=T0)
    d.reply(unit="power", reply="需要更长时间", outcome="needs_longer", at=T0,
            expected_by=date(2026, 12, 31))
    assert (d.replied_by, d.reply_outcome, len(d.extensions)) == ("power", "needs_longer", 1)
    with pytest.raises(IllegalTransitionError):
        d.request_extension(unit="power", working_days=3, reason="x", at=T0)


def test_a_merged_duplicate_leaves_its_unit_and_cannot_be_dispatched_until_unmerged():
    d = opened()
    d.assign(unit="power", by="router", at=T0, reason="r")
    d.sign_for(unit="power", at=T0)
    d.merge_into_case(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0", at=T0)
    assert (d.state, d.owner, d.withdrawn_from) == (DispatchState.AWAITING_DISPATCH, "city",
                                                     "power")
    assert queue_of(d) is None and not d.needs_routing
    with pytest.raises(FollowingCaseError):
        d.assign(unit="power", by="d", at=T0, reason="r")
    with pytest.raises(IllegalTransitionError):
        d.unmerge_from_case(case_id="c-2", reason="x", at=T0)
    d.unmerge_from_case(case_id="c-1", reason="不是同一件事", at=T0)
    assert d.needs_routing and queue_of(d) == "unrouted"


def test_a_merge_of_a_replied_ticket_is_refused_once_and_only_for_its_own_state():
    d = opened()
    d.assign(unit="power", by="router", at=T0, reason="r")
    d.sign_for(unit="power", at=T0)
    # before the reply the merge is taken: nothing to refuse
    assert not d.refuse_merge(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0",
                              merge_event_id="m-0", at=T0)
    d.reply(unit="power", reply="已修好", outcome="resolved", at=T0 + H)
    with pytest.raises(IllegalTransitionError):
        d.merge_into_case(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0", at=T0)
    assert d.refuse_merge(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0",
                          merge_event_id="m-1", at=T0 + 2 * H)
    [refused] = [e for e in d.collect_events() if type(e).__name__ == "CaseMergeRefused"]
    assert (refused.case_id, refused.primary_code, refused.merge_event_id) == (
        "c-1", "FY-0", "m-1")
    assert "power" in refused.reason and "FY-0" in refused.reason
    # the same merge fact again (a copy): not refused twice; another merge fact: refused
    assert not d.refuse_merge(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0",
                              merge_event_id="m-1", at=T0 + 3 * H)
    assert d.refuse_merge(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0",
                          merge_event_id="m-2", at=T0 + 3 * H)
    # into its own case: no refusal
    assert not d.refuse_merge(case_id="c-9", primary_ticket_id="t-1", primary_code="FY-1",
                              merge_event_id="m-3", at=T0)


def test_a_merge_of_a_ticket_following_a_case_is_not_refused_as_a_fact():
    d = opened()
    d.merge_into_case(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0", at=T0)
    # the dispatcher's confirmation of the same case, or (a missing unmerge) another case
    for case_id in ("c-1", "c-2"):
        with pytest.raises(IllegalTransitionError):
            d.merge_into_case(case_id=case_id, primary_ticket_id="t-0", primary_code="FY-0",
                              at=T0)
        assert not d.refuse_merge(case_id=case_id, primary_ticket_id="t-0",
                                  primary_code="FY-0", merge_event_id=f"m-{case_id}", at=T0)


def test_the_queues_a_person_must_look_at():
    d = opened()
    d.queue_for_dispatcher(reason="置信度低", suggested_unit="power", confidence=0.4, at=T0)
    assert queue_of(d) == "unrouted" and not d.needs_routing
    d.assign(unit="power", by="d", at=T0, reason="r")
    assert queue_of(d) is None
    d.bounce_back(unit="power", reason="不归我们", at=T0)
    assert queue_of(d) == "bounced_back"
    d.assign(unit="water-supply", by="d", at=T0, reason="r")
    d.bounce_back(unit="water-supply", reason="也不归我们", at=T0)
    assert queue_of(d) == "disputed"


def test_the_read_model_change_releases_units_that_lost_the_ticket():
    d = opened()
    d.assign(unit="power", by="router", at=T0, reason="r")
    d.collect_events()
    d.bounce_back(unit="power", reason="不归我们", at=T0 + H)
    d.coordinate(by="d", lead_unit="yingzhou", co_units=["power"], decision="决定", at=T0 + H)
    change = change_for(d, list(d.pending_events))
    assert change.release_open_as == "reassigned"
    assert change.unit_statuses == [{"unit": "power", "status": "bounced_back"}]
    assert [(r["unit"], r["role"], r["status"]) for r in change.unit_rows] == [
        ("yingzhou", "lead", "assigned"), ("power", "co_handling", "co_handling")]
    assert change.ticket["assignment_no"] == 2 and change.ticket["updated_at"] == T0 + H
    d.collect_events()
    d.classify(by="dispatcher-1", category="utilities", subcategory="power-supply",
               request_type="complaint", urgency="general", confidence=1.0, source="dispatcher")
    [label] = change_for(d, list(d.pending_events)).labels
    assert (label["subcategory"], label["text_masked"]) == ("power-supply", "路灯不亮")


def test_a_unit_chosen_by_a_dispatcher_is_kept_as_a_routing_label():
    d = opened()
    d.assign(unit="power", by="router", at=T0, reason="r")
    assert change_for(d, list(d.pending_events)).routing_labels == []  # the router's own
    d.collect_events()
    d.bounce_back(unit="power", reason="不归我们", at=T0 + H)
    d.assign(unit="urban-mgmt", by="dispatcher-7", at=T0 + H, reason="路灯归城管")
    [routed] = change_for(d, list(d.pending_events)).routing_labels
    assert (routed["unit"], routed["by"], routed["text_masked"]) == (
        "urban-mgmt", "dispatcher-7", "路灯不亮")
    d.collect_events()
    d.transfer(by="dispatcher-7", to_unit="yingzhou", reason="属地", at=T0 + 2 * H)
    assert [r["unit"] for r in change_for(d, list(d.pending_events)).routing_labels] == [
        "yingzhou"]
