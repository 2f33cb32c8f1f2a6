from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.feedback.domain.callbacks import (
    UNREACHED_TRIES,
    CallbackCandidate,
    CallbackOutcome,
    CallbackRules,
    build_worklist,
    is_sampled,
    load_callback_rules,
    record_outcome,
    worklist_from_feedback,
)
from services.feedback.domain.errors import CallbackOutcomeError
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.rating import TicketFeedback

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
RULES = CallbackRules(sample_per_mille=100, salt="test-salt")


def cand(
    tid: str, verdict: str | None = "satisfied", reopens: int = 0, called: bool = False
) -> CallbackCandidate:
    return CallbackCandidate(
        ticket_id=tid,
        ticket_code=f"C-{tid}",
        unit_code="U",
        reply_round=1,
        verdict=verdict,
        reopen_count=reopens,
        already_called=called,
    )


def test_rules_file_loads() -> None:
    rules = load_callback_rules()
    assert 0 <= rules.sample_per_mille <= 1000 and rules.salt


def test_every_dissatisfied_and_every_reopened_ticket_is_called_with_reasons() -> None:
    never_sampled = CallbackRules(sample_per_mille=0, salt="x")
    items = build_worklist(
        [
            cand("a", "dissatisfied"),
            cand("b", "satisfied", reopens=1),
            cand("c", "dissatisfied", reopens=2),
            cand("d", "satisfied"),
            cand("e", "unrated"),
        ],
        never_sampled,
    )
    by_id = {i.ticket_id: i.reasons for i in items}
    assert by_id == {"a": ("dissatisfied",), "b": ("reopened",), "c": ("dissatisfied", "reopened")}
    assert [i.ticket_id for i in items] == ["a", "c", "b"]  # dissatisfied first
    assert "不满意" in items[0].reason_text


def test_already_called_and_still_open_tickets_wait() -> None:
    items = build_worklist(
        [cand("a", "dissatisfied", called=True), cand("b", None)],
        CallbackRules(sample_per_mille=1000, salt="x"),
    )
    assert items == []


def test_unrated_can_all_be_called_by_rule() -> None:
    rules = CallbackRules(sample_per_mille=0, salt="x", call_all_unrated=True)
    assert build_worklist([cand("e", "unrated")], rules)[0].reasons == ("unrated",)


@given(st.text(min_size=1, max_size=40))
def test_sampling_is_deterministic(ticket_id: str) -> None:
    assert is_sampled(ticket_id, RULES) == is_sampled(ticket_id, RULES)


def test_the_draw_is_the_same_in_every_process_and_replica() -> None:
    """Pinned: a draw that changed between processes (Python's salted hash()) or versions
    would pass the test above yet let two replicas disagree about which tickets are called."""
    assert [t for t in (f"T-{n}" for n in range(60)) if is_sampled(t, RULES)] == [
        "T-6", "T-7", "T-30"]


def test_sample_is_about_the_configured_share_and_salt_changes_it() -> None:
    ids = [f"T-{n}" for n in range(20_000)]
    picked = [i for i in ids if is_sampled(i, RULES)]
    assert 0.09 < len(picked) / len(ids) < 0.11
    other = {i for i in ids if is_sampled(i, CallbackRules(sample_per_mille=100, salt="other"))}
    assert len(other & set(picked)) < len(picked) / 2
    assert not any(is_sampled(i, CallbackRules(sample_per_mille=0, salt="x")) for i in ids[:500])


def _feedback(tid: str) -> TicketFeedback:
    fb = TicketFeedback.open(
        ticket_id=tid,
        ticket_code=f"C-{tid}",
        citizen_ids=["c"],
        channel="web",
        category="x",
        policy=FeedbackPolicy(),
    )
    fb.deliver_reply(unit_code="U", reply_outcome="resolved", delivered_at=T0)
    return fb


def test_outcomes_feed_back_into_the_aggregate_and_leave_the_list() -> None:
    fb = _feedback("T-1")
    fb.rate(citizen_id="c", rating="dissatisfied", at=T0)
    [item] = worklist_from_feedback([fb], RULES)
    record_outcome(
        fb,
        item,
        CallbackOutcome(staff_id="s-1", reached=True, resolved=True, satisfaction="satisfied"),
        at=T0,
    )
    assert fb.verdict is not None and fb.verdict.value == "satisfied"
    assert worklist_from_feedback([fb], RULES) == []


def test_an_item_for_another_ticket_is_refused() -> None:
    fb, other = _feedback("T-1"), _feedback("T-2")
    other.rate(citizen_id="c", rating="dissatisfied", at=T0)
    [item] = worklist_from_feedback([other], RULES)
    with pytest.raises(CallbackOutcomeError):
        record_outcome(fb, item, CallbackOutcome(staff_id="s", reached=False), at=T0)


def test_a_call_that_did_not_reach_the_citizen_keeps_the_ticket_on_the_list() -> None:
    """未接通 is a try, not a callback: the ticket is called again until a call reaches the
    citizen or UNREACHED_TRIES calls have not."""
    fb = _feedback("T-1")
    fb.rate(citizen_id="c", rating="dissatisfied", at=T0)
    for _ in range(UNREACHED_TRIES - 1):
        [item] = worklist_from_feedback([fb], RULES)
        record_outcome(fb, item, CallbackOutcome(staff_id="s-1", reached=False), at=T0)
    [item] = worklist_from_feedback([fb], RULES)  # still to call after the unreached tries
    record_outcome(fb, item, CallbackOutcome(staff_id="s-1", reached=False), at=T0)
    assert worklist_from_feedback([fb], RULES) == []  # the last try: recorded as unreachable
    reached = _feedback("T-2")
    reached.rate(citizen_id="c", rating="dissatisfied", at=T0)
    [item] = worklist_from_feedback([reached], RULES)
    record_outcome(reached, item, CallbackOutcome(staff_id="s-1", reached=False), at=T0)
    [item] = worklist_from_feedback([reached], RULES)
    record_outcome(reached, item, CallbackOutcome(staff_id="s-1", reached=True, resolved=False,
                                                  satisfaction="dissatisfied"), at=T0)
    assert worklist_from_feedback([reached], RULES) == []
