from datetime import UTC, datetime

import pytest
from eventsourcing.application import Application

from services.feedback.domain.errors import (
    AlreadyFollowingError,
    AlreadyPushedError,
    EmptyRemarkError,
    NotADeputyError,
    NotFollowingError,
    UnknownFollowerRoleError,
    UnknownFollowTargetError,
)
from services.feedback.domain.followers import (
    DEPUTY_CHANNEL,
    Follower,
    FollowIndex,
    TicketFacts,
    who_follows,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
TICKET = TicketFacts(
    ticket_id="T-1", ticket_code="FY1", unit_codes=("YZ-CG", "YZ-QHJD"), category="物业管理"
)


def test_roles_are_checked_and_ids_are_deterministic() -> None:
    with pytest.raises(UnknownFollowerRoleError, match="not one of"):
        Follower.register(follower_id="f-1", role="journalist")
    assert Follower.register(follower_id="f-1", role="observer").id == Follower.create_id("f-1")


def test_who_follows_matches_ticket_unit_and_category() -> None:
    by_ticket = Follower.register(follower_id="obs-1", role="observer")
    by_ticket.follow(kind="ticket", target_id="T-1", at=T0)
    by_unit = Follower.register(follower_id="ybe-1", role="business_environment_officer")
    by_unit.follow(kind="unit", target_id="YZ-QHJD", at=T0)  # a co-handling unit
    by_category = Follower.register(follower_id="dep-1", role="deputy")
    by_category.follow(kind="category", target_id="物业管理", at=T0)
    elsewhere = Follower.register(follower_id="obs-2", role="observer")
    elsewhere.follow(kind="unit", target_id="JS-SJ", at=T0)
    index = FollowIndex.from_followers([by_ticket, by_unit, by_category, elsewhere])
    assert who_follows(TICKET, index) == {"obs-1", "ybe-1", "dep-1"}
    assert who_follows(TicketFacts(ticket_id="T-2"), index) == set()
    index.remove("obs-1", "ticket", "T-1")
    assert "obs-1" not in who_follows(TICKET, index)


def test_follow_twice_unfollow_unknown_and_bad_targets_are_refused() -> None:
    f = Follower.register(follower_id="obs-1", role="observer")
    f.follow(kind="unit", target_id="YZ-CG", at=T0)
    with pytest.raises(AlreadyFollowingError):
        f.follow(kind="unit", target_id="YZ-CG", at=T0)
    f.unfollow(kind="unit", target_id="YZ-CG", at=T0)
    with pytest.raises(NotFollowingError):
        f.unfollow(kind="unit", target_id="YZ-CG", at=T0)
    with pytest.raises(UnknownFollowTargetError):
        f.follow(kind="street", target_id="x", at=T0)
    with pytest.raises(UnknownFollowTargetError):
        f.follow(kind="ticket", target_id="  ", at=T0)


def test_remarks_go_to_the_units_of_followed_tickets_only() -> None:
    f = Follower.register(follower_id="obs-1", role="observer")
    with pytest.raises(NotFollowingError):
        f.add_remark(ticket=TICKET, text="请尽快处理", at=T0)
    f.follow(kind="category", target_id="物业管理", at=T0)
    with pytest.raises(EmptyRemarkError):
        f.add_remark(ticket=TICKET, text="  ", at=T0)
    f.add_remark(ticket=TICKET, text="建议协调物业公司限期整改", at=T0)
    remark = f.collect_events()[-1]
    assert type(remark).__name__ == "RemarkAdded"
    assert remark.unit_codes == ["YZ-CG", "YZ-QHJD"]  # type: ignore[attr-defined]


def test_only_deputies_push_to_supervision_once_per_ticket() -> None:
    observer = Follower.register(follower_id="obs-1", role="observer")
    observer.follow(kind="ticket", target_id="T-1", at=T0)
    with pytest.raises(NotADeputyError):
        observer.push_to_supervision(ticket=TICKET, reason="久拖未决", at=T0)
    deputy = Follower.register(follower_id="dep-1", role="deputy")
    with pytest.raises(NotFollowingError):
        deputy.push_to_supervision(ticket=TICKET, reason="久拖未决", at=T0)
    deputy.follow(kind="ticket", target_id="T-1", at=T0)
    with pytest.raises(EmptyRemarkError):
        deputy.push_to_supervision(ticket=TICKET, reason="", at=T0)
    deputy.push_to_supervision(ticket=TICKET, reason="三次重办仍未解决，群众反映强烈", at=T0)
    pushed = deputy.collect_events()[-1]
    assert type(pushed).__name__ == "PushedToSupervision"
    assert pushed.channel == DEPUTY_CHANNEL  # type: ignore[attr-defined]
    with pytest.raises(AlreadyPushedError):
        deputy.push_to_supervision(ticket=TICKET, reason="再次督办", at=T0)


def test_follower_events_round_trip() -> None:
    deputy = Follower.register(follower_id="dep-1", role="deputy")
    deputy.follow(kind="ticket", target_id="T-1", at=T0)
    deputy.add_remark(ticket=TICKET, text="关注进展", at=T0)
    deputy.push_to_supervision(ticket=TICKET, reason="久拖未决", at=T0)
    deputy.unfollow(kind="ticket", target_id="T-1", at=T0)
    app: Application = Application()
    app.save(deputy)
    again = app.repository.get(deputy.id)
    assert again.following == [] and again.pushed_ticket_ids == ["T-1"]
    assert again.role.value == "deputy"
