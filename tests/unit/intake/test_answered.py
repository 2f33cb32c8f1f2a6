"""已答复: the pure rule, its place among the acceptance rules, and the read-model writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import feedback_events_pb2 as fe

from backbone import events
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.application import handlers as handler_tables
from services.intake.application.answered import AnsweredTickets, NoAnsweredTickets
from services.intake.domain.answered import (
    AnsweredRule,
    AnsweredTicket,
    answered_on,
    find_answered,
    reason_text,
)
from services.intake.domain.validation import (
    Rejection,
    RejectionReason,
    Submission,
    load_acceptance_rules,
    load_city_boundary,
    review,
)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ME, YOU = "a" * 64, "b" * 64
TEXT = "清河路与人民路交叉口的路灯坏了一个星期，晚上很黑，希望尽快修好"
RULES = load_acceptance_rules()
RULE = RULES.already_answered


def answered(days_ago: float = 3, *, citizen: str | None = ME, text: str = TEXT,
             category: str | None = None, code: str = "FY-260301-00007-K") -> AnsweredTicket:
    return AnsweredTicket(code, text, NOW - timedelta(days=days_ago), category, citizen)


def match(text: str = TEXT, *, citizen: str | None = ME, hint: str | None = None,
          at: datetime = NOW, previous: list[AnsweredTicket] | None = None,
          rule: AnsweredRule = RULE) -> AnsweredTicket | None:
    return find_answered(citizen=citizen, text=text, category_hint=hint, submitted_at=at,
                         answered=[answered()] if previous is None else previous, rule=rule)


def test_the_rule_reads_its_numbers_from_acceptance_rules_json():
    assert RULE.window == timedelta(days=30) and RULE.similarity == 0.8
    assert "{answered_on}" in RULE.reason_text_zh and "{code}" in RULE.reason_text_zh


def test_the_same_citizen_repeating_an_answered_matter_is_recognised():
    assert match(TEXT + "！") == answered()


def test_an_anonymous_submission_is_never_rejected_this_way():
    assert match(citizen=None) is None
    assert match(citizen="") is None
    # even against answered tickets whose citizen is also unknown
    assert match(citizen=None, previous=[answered(citizen=None)]) is None


def test_another_citizen_or_an_unknown_one_does_not_match():
    assert match(citizen=YOU) is None
    assert match(previous=[answered(citizen=None)]) is None


@pytest.mark.parametrize("hint,previous,found", [
    (None, None, True), (None, "城市管理", True), ("城市管理", None, True),
    ("城市管理", "城市管理", True), ("城市管理", "住房保障", False),
])
def test_category_must_agree_when_both_sides_have_one(hint, previous, found):
    assert (match(hint=hint, previous=[answered(category=previous)]) is not None) is found


@pytest.mark.parametrize("days_ago,found", [
    (0, True), (29.9, True), (30, True), (30.01, False), (45, False),
    (-0.01, False),  # answered after the stated submission time: not before it
])
def test_only_answers_within_the_last_n_days_count(days_ago, found):
    assert (match(previous=[answered(days_ago)]) is not None) is found


def test_a_different_matter_of_the_same_citizen_is_accepted():
    assert match("小区楼下的餐馆油烟太大，晚上十点以后还在营业，噪音扰民") is None


def test_similarity_threshold_is_the_rule():
    near = "清河路与人民路交叉口的路灯坏了，晚上很黑"
    loose = AnsweredRule(RULE.window, 0.5, RULE.reason_text_zh)
    strict = AnsweredRule(RULE.window, 0.99, RULE.reason_text_zh)
    assert match(near, rule=loose) is not None
    assert match(near, rule=strict) is None


def test_personal_data_in_the_new_text_is_masked_before_comparing():
    # the read model holds masked text; the new request comes in clear
    previous = answered(text="王**电话138****5678，" + TEXT)
    assert match("王秀英电话13812345678，" + TEXT, previous=[previous]) == previous


def test_the_most_similar_answered_ticket_is_named():
    close = answered(code="FY-260305-00002-C", text=TEXT + "，已经两次了")
    closer = answered(code="FY-260301-00001-A", text=TEXT)
    assert match(previous=[close, closer]).code == closer.code


def test_the_reason_names_the_earlier_code_and_its_date_in_beijing_time():
    late_evening_utc = AnsweredTicket("FY-260301-00007-K", TEXT,
                                      datetime(2026, 3, 1, 17, 30, tzinfo=UTC), None, ME)
    assert answered_on(late_evening_utc.answered_at) == "2026年03月02日"
    text = reason_text(RULE, late_evening_utc)
    assert "FY-260301-00007-K" in text and "2026年03月02日" in text


def decide(text: str, **kw: Any) -> Any:
    return review(Submission(text=text, submitted_at=NOW, lat=32.89, lon=115.81, **kw),
                  rules=RULES, city=load_city_boundary())


def test_review_rejects_with_reason_code_already_answered():
    verdict = decide(TEXT, citizen=ME, previously_answered=[answered()])
    assert isinstance(verdict, Rejection)
    assert verdict.reason_code is RejectionReason.ALREADY_ANSWERED
    assert verdict.reason_code.value == "already_answered"
    assert "FY-260301-00007-K" in verdict.reason_text_zh


def test_review_accepts_the_anonymous_and_the_different_category():
    assert decide(TEXT, previously_answered=[answered()]).accepted
    assert decide(TEXT, citizen=ME, category_hint="住房保障",
                  previously_answered=[answered(category="城市管理")]).accepted


def test_an_emergency_is_still_told_to_call_119_first():
    fire = "楼下着火了快来人，" + TEXT
    verdict = decide(fire, citizen=ME, previously_answered=[answered(text=fire)])
    assert verdict.reason_code is RejectionReason.EMERGENCY


# -- the application's lookup and the lifecycle facts, without a database ---------------------


class FakeIndex:
    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows
        self.asked: list[tuple[str, datetime, datetime]] = []

    def answered_of_citizen(self, citizen: str, start: datetime, end: datetime
                            ) -> list[dict[str, Any]]:
        self.asked.append((citizen, start, end))
        return self.rows


def test_the_lookup_asks_nothing_for_an_anonymous_citizen_and_maps_rows():
    index = FakeIndex([{"code": "FY-1", "citizen": ME, "category": "城市管理",
                        "title_masked": "路灯", "text_masked": "坏了", "answered_at": NOW}])
    lookup = AnsweredTickets(index, timedelta(days=30))  # type: ignore[arg-type]
    assert lookup.of(None, NOW) == () and index.asked == []
    found = lookup.of(ME, NOW)
    assert found == (AnsweredTicket("FY-1", "路灯坏了", NOW, "城市管理", ME),)
    assert index.asked == [(ME, NOW - timedelta(days=30), NOW)]
    assert NoAnsweredTickets().of(ME, NOW) == ()


class Cursor:
    def __init__(self) -> None:
        self.params: list[list[Any]] = []

    def execute(self, sql: Any, params: list[Any]) -> None:
        self.params.append(params)


def _fact(payload: Any, at: datetime) -> events.DecodedEvent:
    env = events.make_envelope(payload=payload, event_id="e1", ticket_id="t1",
                               ticket_code="FY-1", producer="feedback", occurred_at=at)
    return events.decode(env.SerializeToString())


def test_lifecycle_records_the_answer_and_a_reopening_forgets_it():
    table = handler_tables.lifecycle(TicketIndex(None, "s"))  # type: ignore[arg-type]
    cur = Cursor()
    due = Timestamp()
    due.FromDatetime(NOW)
    table.for_type("CitizenNotified")(
        _fact(fe.CitizenNotified(unit="u1", reply_round=1, rating_due_at=due), NOW), cur, None)
    table.for_type("TicketReopened")(_fact(fe.TicketReopened(reopen_count=1), NOW), cur, None)
    notified, reopened = cur.params
    # ticket, updated_at, answered_at, the answer's masked text and its round (我的诉求)
    assert notified == ["t1", NOW, NOW, "", 1]
    assert reopened[0] == "t1" and reopened[-1] is None and "reopened" in reopened


def test_a_needs_longer_notice_is_kept_as_an_explanation_not_an_answer():
    """我的诉求 did not show a 需较长时间办理 explanation: the handler dropped the notice. It
    keeps the reason and the expected day apart from the answer; a reopening forgets it."""
    from datetime import date

    table = handler_tables.lifecycle(TicketIndex(None, "s"))  # type: ignore[arg-type]
    cur = Cursor()
    table.for_type("CitizenNotified")(_fact(fe.CitizenNotified(
        unit="u1", outcome="needs_longer", reply_masked="需协调多个部门",
        expected_by="2026-04-10"), NOW), cur, None)
    table.for_type("CitizenNotified")(_fact(fe.CitizenNotified(
        unit="u1", outcome="needs_longer", reply_masked="另需审批"), NOW), cur, None)
    table.for_type("TicketReopened")(_fact(fe.TicketReopened(reopen_count=1), NOW), cur, None)
    dated, undated, reopened = cur.params
    # ticket, updated_at, then the explanation, when it was told and the day: no answered_at
    assert dated == ["t1", NOW, "需协调多个部门", NOW, date(2026, 4, 10)]
    assert undated == ["t1", NOW, "另需审批", NOW, None]
    assert reopened[-3:] == [None, None, None]


def test_my_requests_shows_the_explanation_until_the_answer():
    from types import SimpleNamespace

    from services.intake.application.citizens import Citizens

    base = {"code": "FY-1", "status": "accepted", "channel": "web", "text_masked": "路灯坏了",
            "submitted_at": NOW, "unit": "u1", "interim_masked": "需协调多个部门",
            "interim_expected_by": datetime(2026, 4, 10).date(), "interim_at": NOW}
    rows = [base, {**base, "code": "FY-2", "answered_at": NOW, "answer_masked": "已修复"},
            {**base, "code": "FY-3", "interim_masked": None, "interim_expected_by": None,
             "interim_at": None}]
    index = SimpleNamespace(of_citizen=lambda citizen, erased: rows)
    waiting, answered, plain = Citizens.tickets_of(SimpleNamespace(index=index), ME)  # type: ignore[arg-type]
    assert (waiting["interim_masked"], waiting["interim_expected_by"], waiting["interim_at"]) \
        == ("需协调多个部门", "2026-04-10", NOW.isoformat())
    assert waiting["answered_at"] is None
    assert answered["interim_masked"] is None and answered["answer_masked"] == "已修复"
    assert plain["interim_at"] is None and plain["interim_expected_by"] is None
