from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.application import Application

from services.dispatch.domain.errors import (
    BounceBackNotAllowedError,
    BounceBackWindowClosedError,
    IllegalTransitionError,
    InvalidCoordinationError,
    NaiveTimeError,
    NotAssignedToUnitError,
    ReasonRequiredError,
    TransferPendingError,
)
from services.dispatch.domain.lifecycle import DispatchState
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)

H = timedelta(hours=1)


def assigned(unit: str = "urban-mgmt") -> TicketDispatch:
    ticket = TicketDispatch.open(ticket_id="t-1", ticket_code="FY20240304000001", at=T0)
    ticket.assign(unit=unit, by="dispatcher-1", at=T0, reason="路由表v1")
    return ticket


def test_happy_path_to_closed_and_the_owner_at_each_step():
    t = assigned()
    assert (t.state, t.owner) == (DispatchState.ASSIGNED, "urban-mgmt")
    t.sign_for(unit="urban-mgmt", at=T0 + H)
    assert t.first_receiver == "urban-mgmt"
    t.note_progress(unit="urban-mgmt", note="已派执法队员到现场", at=T0 + 2 * H)
    assert t.state is DispatchState.IN_PROGRESS
    t.reply(unit="urban-mgmt", reply="已清理完毕", at=T0 + 3 * H)
    assert (t.state, t.owner) == (DispatchState.REPLIED, "urban-mgmt")
    t.accept_reply(by="dispatcher-1", at=T0 + 4 * H)
    t.close(by="dispatcher-1", at=T0 + 4 * H)
    assert (t.state, t.owner) == (DispatchState.CLOSED, "city")


def test_the_fuyang_case_bounce_back_then_coordination():
    """Urban management: "not our cleaning area"; the platform names 清河街道 as lead."""
    t = assigned("urban-mgmt")
    t.bounce_back(unit="urban-mgmt", reason="不在我局保洁范围", at=T0 + H)
    assert (t.state, t.owner, t.assignee) == (
        DispatchState.AWAITING_PLATFORM_DECISION,
        "city",
        None,
    )
    t.coordinate(
        by="dispatcher-1",
        lead_unit="yingzhou.qinghe",
        co_units=["urban-mgmt", "chengnan"],
        decision="由清河街道组织小区物业公司清理，城管、城南新区配合",
        at=T0 + 2 * H,
    )
    assert (t.owner, t.lead_unit, t.platform_decisions) == ("yingzhou.qinghe", "yingzhou.qinghe", 1)
    for unit in ("yingzhou.qinghe", "urban-mgmt", "chengnan"):
        with pytest.raises(BounceBackNotAllowedError):
            t.bounce_back(unit=unit, reason="不归我们管", at=T0 + 3 * H)
    t.note_progress(unit="chengnan", note="已协调保洁公司", at=T0 + 3 * H)  # a co-handling unit
    t.sign_for(unit="yingzhou.qinghe", at=T0 + 3 * H)
    with pytest.raises(NotAssignedToUnitError):
        t.reply(unit="urban-mgmt", reply="已处理", at=T0 + 4 * H)  # only the lead replies
    t.reply(unit="yingzhou.qinghe", reply="物业公司已清理", at=T0 + 4 * H)


def test_a_unit_acts_on_its_own_assignment_only():
    t = assigned("urban-mgmt")
    for act in (
        lambda: t.sign_for(unit="market-reg", at=T0),
        lambda: t.bounce_back(unit="market-reg", reason="x", at=T0),
        lambda: t.note_progress(unit="market-reg", note="x", at=T0),
        lambda: t.reply(unit="market-reg", reply="x", at=T0),
        lambda: t.request_transfer(unit="market-reg", to_unit="housing", reason="x", at=T0),
    ):
        with pytest.raises(NotAssignedToUnitError):
            act()


def test_bounce_back_only_within_the_window():
    t = assigned()
    with pytest.raises(BounceBackWindowClosedError):
        t.bounce_back(unit="urban-mgmt", reason="不归我们管", at=T0 + 25 * H)
    t.bounce_back(unit="urban-mgmt", reason="不归我们管", at=T0 + 24 * H)


def test_after_sign_for_the_first_receiver_keeps_it():
    t = assigned()
    t.sign_for(unit="urban-mgmt", at=T0 + H)
    with pytest.raises(BounceBackNotAllowedError, match="首接首办"):
        t.bounce_back(unit="urban-mgmt", reason="不归我们管", at=T0 + 2 * H)
    t.request_transfer(unit="urban-mgmt", to_unit="housing", reason="属住建职能", at=T0 + 2 * H)
    with pytest.raises(TransferPendingError):
        t.request_transfer(unit="urban-mgmt", to_unit="ecology", reason="x", at=T0 + 2 * H)
    t.reject_transfer(by="dispatcher-1", reason="仍属城管职责", at=T0 + 3 * H)
    assert (t.owner, t.first_receiver) == ("urban-mgmt", "urban-mgmt")
    t.request_transfer(unit="urban-mgmt", to_unit="housing", reason="属住建职能", at=T0 + 4 * H)
    t.approve_transfer(by="dispatcher-1", at=T0 + 5 * H)
    assert (t.state, t.owner, t.first_receiver) == (DispatchState.ASSIGNED, "housing", None)
    with pytest.raises(BounceBackNotAllowedError):  # chosen by the platform: no pushing back
        t.bounce_back(unit="housing", reason="x", at=T0 + 5 * H)


def test_reassigning_to_the_unit_that_bounced_back_overrules_it():
    t = assigned()
    t.bounce_back(unit="urban-mgmt", reason="不归我们管", at=T0 + H)
    t.assign(unit="urban-mgmt", by="dispatcher-1", at=T0 + 2 * H, reason="经核实属城管职责")
    with pytest.raises(BounceBackNotAllowedError):
        t.bounce_back(unit="urban-mgmt", reason="还是不归我们管", at=T0 + 3 * H)


def test_platform_transfer_and_send_back_and_reopen_keep_history():
    t = assigned()
    t.transfer(by="dispatcher-1", to_unit="housing", reason="错派", at=T0 + H)
    t.sign_for(unit="housing", at=T0 + 2 * H)
    t.reply(unit="housing", reply="已答复", at=T0 + 3 * H)
    t.send_back(by="dispatcher-1", reason="答复未回应诉求", at=T0 + 4 * H)
    assert (t.state, t.owner) == (DispatchState.IN_PROGRESS, "housing")
    t.reply(unit="housing", reply="已现场处理", at=T0 + 5 * H)
    t.accept_reply(by="dispatcher-1", at=T0 + 6 * H)
    t.close(by="dispatcher-1", at=T0 + 6 * H)
    t.reopen(by="feedback", reason="群众不满意", at=T0 + 48 * H)
    assert (t.state, t.owner, t.reopen_count) == (DispatchState.AWAITING_DISPATCH, "city", 1)
    t.assign(unit="housing", by="dispatcher-1", at=T0 + 49 * H, reason="重办")
    assert t.owner == "housing"


def test_late_sign_for_is_recorded_not_refused():
    t = assigned()
    t.sign_for(unit="urban-mgmt", at=T0 + 3 * H)
    assert t.collect_events()[-1].late is True


@pytest.mark.parametrize(
    ("act", "error"),
    [
        (lambda t: t.accept_reply(by="d", at=T0), IllegalTransitionError),
        (lambda t: t.close(by="d", at=T0), IllegalTransitionError),
        (lambda t: t.reopen(by="d", reason="x", at=T0), IllegalTransitionError),
        (lambda t: t.assign(unit="housing", by="d", at=T0, reason="x"), IllegalTransitionError),
        (lambda t: t.approve_transfer(by="d", at=T0), IllegalTransitionError),
        (lambda t: t.bounce_back(unit="urban-mgmt", reason=" ", at=T0), ReasonRequiredError),
        (
            lambda t: t.transfer(by="d", to_unit="urban-mgmt", reason="x", at=T0),
            IllegalTransitionError,
        ),
        (
            lambda t: t.coordinate(by="d", lead_unit="a", co_units=["a"], decision="x", at=T0),
            InvalidCoordinationError,
        ),
        (
            lambda t: t.coordinate(by="d", lead_unit="a", co_units=[], decision="", at=T0),
            InvalidCoordinationError,
        ),
        (lambda t: t.sign_for(unit="urban-mgmt", at=datetime(2024, 3, 4, 9)), NaiveTimeError),
    ],
)
def test_illegal_steps_are_refused_with_a_reason(act, error):
    t = assigned()
    with pytest.raises(error) as info:
        act(t)
    assert info.value.reason


def test_every_event_survives_the_json_transcoder_and_replays_to_the_same_state():
    app = Application()
    t = TicketDispatch.open(ticket_id="t-9", ticket_code="FY9", at=T0)
    t.classify(
        by="auto",
        category="urban-management",
        subcategory="garbage",
        request_type="complaint",
        urgency="general",
        confidence=0.91,
        source="auto",
    )
    t.assign(unit="urban-mgmt", by="d", at=T0, reason="路由")
    t.bounce_back(unit="urban-mgmt", reason="非我单位", at=T0 + H)
    t.coordinate(
        by="d", lead_unit="yingzhou.qinghe", co_units=["urban-mgmt"], decision="统筹", at=T0 + H
    )
    t.sign_for(unit="yingzhou.qinghe", at=T0 + H)
    t.request_transfer(unit="yingzhou.qinghe", to_unit="yingzhou", reason="x", at=T0 + H)
    t.reject_transfer(by="d", reason="不同意", at=T0 + H)
    t.note_progress(unit="yingzhou.qinghe", note="进展", at=T0 + H)
    t.reply(unit="yingzhou.qinghe", reply="答复", at=T0 + H)
    t.send_back(by="d", reason="不完整", at=T0 + H)
    t.request_transfer(unit="yingzhou.qinghe", to_unit="yingzhou", reason="x", at=T0 + H)
    t.approve_transfer(by="d", at=T0 + H)
    t.transfer(by="d", to_unit="yingzhou.wenfeng", reason="属地调整", at=T0 + H)
    t.sign_for(unit="yingzhou.wenfeng", at=T0 + H)
    t.reply(unit="yingzhou.wenfeng", reply="答复", at=T0 + H)
    t.accept_reply(by="d", at=T0 + H)
    t.close(by="d", at=T0 + H)
    t.reopen(by="feedback", reason="不满意", at=T0 + H)
    app.save(t)
    copy = app.repository.get(TicketDispatch.create_id("t-9"))
    assert copy.__dict__ == t.__dict__
    names = {type(e).__name__ for e in app.repository.event_store.get(t.id)}
    assert names == {
        "DispatchOpened",
        "Classified",
        "Assigned",
        "BouncedBack",
        "Coordinated",
        "SignedFor",
        "TransferRequested",
        "TransferRejected",
        "ProgressNoted",
        "Replied",
        "ReplySentBack",
        "Transferred",
        "ReplyAccepted",
        "Closed",
        "Reopened",
    }
