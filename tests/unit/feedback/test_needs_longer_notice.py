"""需较长时间办理: the notice of an interim answer says why and by when, in every channel, and
asks for no rating (no link, token or deadline); the record keeps awaiting the final reply."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.feedback.domain.answer import (
    AcceptedReply,
    Channel,
    compose_answer,
    load_answer_templates,
    parse_answer_templates,
)
from services.feedback.domain.errors import NotAwaitingRatingError, TemplateError
from services.feedback.domain.policy import FeedbackPolicy, load_data_file
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_channel_tells_why_and_by_when_without_a_rating_link(channel: str) -> None:
    interim = AcceptedReply(
        ticket_id="T-1", ticket_code="FY-240301-00001-A", citizen_ref="cz-1", channel=channel,
        unit_name="市住房和城乡建设局", outcome="needs_longer", reply_text="需协调多个部门",
        explanation="需协调多个部门", expected_by=date(2024, 4, 1))
    notices = compose_answer(interim, templates=load_answer_templates(), rating_token="tok",
                             rating_url_base="https://12345.example", rating_deadline=T0,
                             composed_at=T0, rating_ref="ref", interim=True)
    assert notices
    for n in notices:
        assert "2024年4月1日" in n.body + n.fields.get("status_notes", "")
        assert not n.rating_token and not n.link and "/rate" not in n.body
        assert "评价：" not in n.body
        if channel == Channel.OPEN311.value:
            assert n.fields["status"] == "open" and n.fields["expected_datetime"] == "2024-04-01"


def test_an_interim_template_may_not_carry_a_rating_placeholder() -> None:
    raw = load_data_file("answer_templates.json")
    raw = {**raw, "interim_channels": {**raw["interim_channels"], "web": [
        {"kind": "web_notice", "subject": "", "body": "{outcome_text}请评价：{rating_url}"}]}}
    with pytest.raises(TemplateError):
        parse_answer_templates(raw)


def test_the_record_is_told_but_awaits_the_final_reply() -> None:
    record = TicketFeedback.open(ticket_id="T-1", ticket_code="FY-1", citizen_ids=["cz-1"],
                                 channel="web", category="", policy=FeedbackPolicy(), at=T0)
    record.explain_delay(unit_code="housing", delivered_at=T0 + timedelta(days=1),
                         reply_text="需协调多个部门", expected_by=T0 + timedelta(days=30))
    assert (record.status, record.reply_round) == (FeedbackStatus.AWAITING_REPLY, 0)
    with pytest.raises(NotAwaitingRatingError):
        record.rate(citizen_id="cz-1", rating="satisfied", at=T0 + timedelta(days=2))
    record.deliver_reply(unit_code="housing", reply_outcome="resolved",
                         delivered_at=T0 + timedelta(days=9), reply_text="已办结")
    record.rate(citizen_id="cz-1", rating="satisfied", at=T0 + timedelta(days=10))
    assert record.reply_round == 1


def test_the_published_notice_of_an_interim_answer_says_by_when() -> None:
    """CitizenNotified(needs_longer) carried the explanation but not the date, so intake's
    我的诉求 could not tell the citizen by when (the notice itself said it)."""
    from services.feedback.application.publishing import _delivered
    from services.feedback.application.upstream import expected_day

    record = TicketFeedback.open(ticket_id="T-1", ticket_code="FY-1", citizen_ids=["cz-1"],
                                 channel="web", category="", policy=FeedbackPolicy(), at=T0)
    record.explain_delay(unit_code="housing", delivered_at=T0 + timedelta(days=1),
                         reply_text="需协调多个部门", expected_by=expected_day("2024-04-01"))
    record.deliver_reply(unit_code="housing", reply_outcome="resolved",
                         delivered_at=T0 + timedelta(days=9), reply_text="已办结")
    explained, delivered = [e for e in record.collect_events()
                            if type(e).__name__ in ("DelayExplained", "ReplyDelivered")]
    notice = _delivered(explained, record, 1)
    assert (notice.outcome, notice.expected_by) == ("needs_longer", "2024-04-01")
    assert notice.reply_masked == "需协调多个部门" and not notice.HasField("rating_due_at")
    assert _delivered(delivered, record, 1).expected_by == ""  # a final reply names no date
