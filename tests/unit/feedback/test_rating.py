import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.application import Application

from services.feedback.domain import policy as policy_module
from services.feedback.domain.errors import (
    AlreadyRatedError,
    CallbackOutcomeError,
    CallbackPendingError,
    FeedbackClosedError,
    NotAwaitingRatingError,
    NotDissatisfiedError,
    NotTheTicketsCitizenError,
    RatingWindowClosedError,
    RatingWindowOpenError,
    ReplyRoundError,
    UnknownRatingError,
    UnresolvedNotConfirmedError,
)
from services.feedback.domain.policy import FeedbackPolicy, load_feedback_policy
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback
from services.feedback.domain.satisfaction import Verdict, counts_as_satisfied

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
POLICY = FeedbackPolicy(rating_window_days=7, max_reopens=2)


def replied(ticket_id: str = "T-1", citizens: tuple[str, ...] = ("c-1",)) -> TicketFeedback:
    fb = TicketFeedback.open(
        ticket_id=ticket_id,
        ticket_code="FY20240301000001",
        citizen_ids=list(citizens),
        channel="wechat_mini",
        category="城市管理/垃圾清运",
        policy=POLICY,
    )
    fb.deliver_reply(unit_code="YZ-CG", reply_outcome="resolved", delivered_at=T0)
    return fb


def test_policy_file_loads() -> None:
    policy = load_feedback_policy()
    raw = json.loads((Path(policy_module.__file__).parents[1] / "data" / "feedback_policy.json")
                     .read_text(encoding="utf-8"))
    assert (policy.rating_window_days, policy.max_reopens, policy.comment_max_chars,
            policy.remark_max_chars) == (raw["rating_window_days"], raw["max_reopens"],
                                         raw["comment_max_chars"], raw["remark_max_chars"])
    assert policy.rating_window_days >= 1 and policy.max_reopens >= 0


def test_id_is_deterministic_from_ticket_id() -> None:
    assert replied("T-9").id == TicketFeedback.create_id("T-9")
    assert replied("T-9").id != replied("T-8").id


def test_a_citizen_rates_once_only() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="satisfied", comment="很快", at=T0 + timedelta(hours=2))
    assert fb.status is FeedbackStatus.RATED
    with pytest.raises(AlreadyRatedError, match="already rated"):
        fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0 + timedelta(hours=3))
    assert fb.verdict is Verdict.SATISFIED


def test_only_the_tickets_citizen_rates_and_ratings_are_validated() -> None:
    fb = replied()
    with pytest.raises(NotTheTicketsCitizenError):
        fb.rate(citizen_id="someone-else", rating="satisfied", at=T0)
    with pytest.raises(UnknownRatingError, match="not one of"):
        fb.rate(citizen_id="c-1", rating="great", at=T0)


def test_several_citizens_each_rate_once_and_the_worst_counts() -> None:
    fb = replied(citizens=("c-1", "c-2"))
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    fb.rate(citizen_id="c-2", rating="basically_satisfied", at=T0)
    assert fb.verdict is Verdict.BASICALLY_SATISFIED


def test_no_rating_before_a_reply() -> None:
    fb = TicketFeedback.open(
        ticket_id="T-2",
        ticket_code="C",
        citizen_ids=["c-1"],
        channel="web",
        category="x",
        policy=POLICY,
    )
    with pytest.raises(NotAwaitingRatingError):
        fb.rate(citizen_id="c-1", rating="satisfied", at=T0)


def test_unrated_after_the_window_never_satisfied() -> None:
    fb = replied()
    with pytest.raises(RatingWindowOpenError):
        fb.mark_unrated(at=T0 + timedelta(days=6))
    assert not fb.is_rating_overdue(T0 + timedelta(days=7))
    assert fb.is_rating_overdue(T0 + timedelta(days=7, seconds=1))
    fb.mark_unrated(at=T0 + timedelta(days=8))
    assert fb.status is FeedbackStatus.UNRATED
    assert fb.verdict is Verdict.UNRATED
    assert counts_as_satisfied(fb.verdict) is None
    with pytest.raises(RatingWindowClosedError):
        fb.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=8))
    fb.close(at=T0 + timedelta(days=8))
    assert fb.closed_verdict == "unrated"


def test_late_rating_is_refused_even_before_the_scheduler_marks_it() -> None:
    fb = replied()
    with pytest.raises(RatingWindowClosedError):
        fb.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=7, minutes=1))


def test_a_rated_ticket_cannot_be_marked_unrated() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    with pytest.raises(NotAwaitingRatingError):
        fb.mark_unrated(at=T0 + timedelta(days=30))


def test_reached_callback_overrides_the_rating() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0)
    fb.record_callback(staff_id="s-1", reached=False, at=T0 + timedelta(days=1))
    assert fb.verdict is Verdict.DISSATISFIED  # not reached: the rating stands
    fb.record_callback(
        staff_id="s-1",
        reached=True,
        resolved=True,
        satisfaction="basically_satisfied",
        at=T0 + timedelta(days=2),
    )
    assert fb.verdict is Verdict.BASICALLY_SATISFIED


def test_callback_outcome_must_be_consistent() -> None:
    fb = replied()
    with pytest.raises(CallbackOutcomeError, match="not reached"):
        fb.record_callback(staff_id="s-1", reached=False, resolved=True, at=T0)
    with pytest.raises(CallbackOutcomeError, match="staff"):
        fb.record_callback(staff_id="", reached=True, at=T0)


def test_reopen_needs_dissatisfaction_and_confirmation() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    with pytest.raises(NotDissatisfiedError):
        fb.reopen(confirmed_by="staff", staff_id="s-1", reason="复查", at=T0)

    fb = replied()
    fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0)
    with pytest.raises(UnresolvedNotConfirmedError, match="callback"):
        fb.reopen(confirmed_by="callback", staff_id="s-1", reason="未解决", at=T0)
    fb.record_callback(staff_id="s-1", reached=True, resolved=True, at=T0)
    with pytest.raises(UnresolvedNotConfirmedError):
        fb.reopen(confirmed_by="callback", staff_id="s-1", reason="未解决", at=T0)


def _reopen_once(fb: TicketFeedback, at: datetime) -> None:
    fb.rate(citizen_id="c-1", rating="dissatisfied", comment="垃圾还在", at=at)
    fb.record_callback(
        staff_id="s-1", reached=True, resolved=False, satisfaction="dissatisfied", at=at
    )
    fb.reopen(confirmed_by="callback", staff_id="s-1", reason="回访确认未解决", at=at)


def closed_after_reopens(reopens: int) -> TicketFeedback:
    """A record reopened `reopens` times, each answered again, then rated satisfied and
    closed: a long history (the relay's and the transcoders' tests read it back)."""
    fb = replied()
    for n in range(1, reopens + 1):
        _reopen_once(fb, T0 + timedelta(days=n))
        fb.deliver_reply(unit_code="YZ-QHJD", reply_outcome="resolved",
                         delivered_at=T0 + timedelta(days=n))
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=5))
    fb.close(at=T0 + timedelta(days=5))
    return fb


def test_reopen_path_new_round_and_escalation_after_too_many() -> None:
    fb = replied()
    for n in range(1, 4):
        at = T0 + timedelta(days=n)
        _reopen_once(fb, at)
        assert fb.status is FeedbackStatus.AWAITING_REPLY
        assert fb.reopen_count == n
        assert fb.escalated is (n > POLICY.max_reopens)
        with pytest.raises(NotAwaitingRatingError):
            fb.rate(citizen_id="c-1", rating="satisfied", at=at)
        fb.deliver_reply(unit_code="YZ-QHJD", reply_outcome="resolved", delivered_at=at)
        assert fb.reply_round == n + 1
    names = [type(e).__name__ for e in fb.collect_events()]
    assert names.count("TicketReopened") == 3
    assert names.count("EscalatedToSupervision") == 1  # once, not per further reopen
    # The new round is rated afresh: the citizen who rated round 1 may rate round 4.
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=5))
    fb.close(at=T0 + timedelta(days=5))
    assert [v["verdict"] for v in fb.round_verdicts] == ["dissatisfied"] * 3 + ["satisfied"]


def test_staff_can_confirm_unresolved_without_a_callback() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0)
    fb.reopen(confirmed_by="staff", staff_id="s-2", reason="现场核查仍有积水", at=T0)
    assert fb.reopen_count == 1


def test_a_new_reply_needs_a_reopen_first() -> None:
    fb = replied()
    with pytest.raises(ReplyRoundError):
        fb.deliver_reply(unit_code="U", reply_outcome="resolved", delivered_at=T0)


def test_dissatisfied_is_called_back_before_closing_and_closed_is_final() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0)
    with pytest.raises(CallbackPendingError):
        fb.close(at=T0)
    fb.record_callback(staff_id="s-1", reached=False, at=T0)
    fb.close(at=T0)
    assert fb.status is FeedbackStatus.CLOSED and fb.closed_verdict == "dissatisfied"
    with pytest.raises(FeedbackClosedError):
        fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    with pytest.raises(FeedbackClosedError):
        fb.reopen(confirmed_by="staff", staff_id="s-1", reason="再看看", at=T0)


def test_a_sampled_callback_after_closing_counts_and_can_reopen() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    fb.close(at=T0)
    # the sampled survey call: the citizen now says it is not solved
    fb.record_callback(staff_id="s-2", reached=True, resolved=False,
                       satisfaction="dissatisfied", at=T0 + timedelta(days=1))
    assert fb.status is FeedbackStatus.CLOSED and fb.verdict is Verdict.DISSATISFIED
    fb.reopen(confirmed_by="callback", staff_id="s-2", reason="回访确认未解决",
              at=T0 + timedelta(days=1))
    assert fb.status is not FeedbackStatus.CLOSED and fb.reopen_count == 1


def test_an_open_window_cannot_close() -> None:
    with pytest.raises(NotAwaitingRatingError):
        replied().close(at=T0)


def test_every_event_round_trips_through_the_default_transcoder() -> None:
    fb = replied()
    _reopen_once(fb, T0)
    fb.deliver_reply(unit_code="U2", reply_outcome="resolved", delivered_at=T0)
    fb.rate(citizen_id="c-1", rating="satisfied", via="link", token_id="tok-1", at=T0)
    fb.close(at=T0 + timedelta(hours=1))
    app: Application = Application()
    app.save(fb)
    again = app.repository.get(fb.id)
    assert again.status is FeedbackStatus.CLOSED
    assert again.reopen_count == 1 and again.used_token_ids == ["tok-1"]
    assert again.round_verdicts == fb.round_verdicts
    stored = [type(e).__name__ for e in app.events.get(fb.id)]  # type: ignore[attr-defined]
    assert stored == [
        "FeedbackOpened",
        "ReplyDelivered",
        "TicketRated",
        "CallbackRecorded",
        "TicketReopened",
        "ReplyDelivered",
        "TicketRated",
        "TicketClosed",
    ]
