import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backbone import auth
from services.feedback.domain.answer import (
    AcceptedReply,
    Channel,
    compose_answer,
    load_answer_templates,
    parse_answer_templates,
)
from services.feedback.domain.errors import (
    MissingExplanationError,
    TemplateError,
    UnknownChannelError,
    UnknownReplyOutcomeError,
)
from services.feedback.domain.policy import load_data_file
from services.feedback.domain.tokens import issue_rating_token, short_form

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
TOKEN = "eyJ2IjoxfQ.c2lnbmF0dXJl"


def reply(channel: str, outcome: str = "resolved", **extra: object) -> AcceptedReply:
    values: dict[str, object] = {
        "ticket_id": "T-1",
        "ticket_code": "FY20240301000001",
        "citizen_ref": "cz-7f3a",
        "channel": channel,
        "unit_name": "颍州区城市管理局",
        "outcome": outcome,
        "reply_text": "经现场核查，已安排环卫人员于3月1日清运该处堆放的建筑垃圾，并加强日常巡查。",
    }
    values.update(extra)
    return AcceptedReply(**values)  # type: ignore[arg-type]


def compose(r: AcceptedReply) -> list:
    return compose_answer(
        r,
        templates=load_answer_templates(),
        rating_token=TOKEN,
        rating_url_base="https://12345.example.gov.cn/",
        rating_deadline=T0 + timedelta(days=7),
        composed_at=T0,
    )


@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_channel_gets_a_complete_notice_with_the_rating_token(channel: str) -> None:
    notices = compose(reply(channel))
    assert notices
    for n in notices:
        assert n.channel == channel and n.citizen_ref == "cz-7f3a"
        assert n.rating_token == TOKEN
        assert "FY20240301000001" in n.body + n.subject or n.kind == "open311_status"
        assert not re.search(r"\{[a-z_]+\}", n.subject + n.body + n.link), "placeholder left"
    # Somewhere the citizen is told how to rate (the staff script asks aloud instead).
    assert any(TOKEN in n.body + n.link for n in notices)


def test_needs_longer_explains_why_and_when() -> None:
    r = reply(
        "web",
        "needs_longer",
        explanation="该路段改造需纳入年度计划并完成招标",
        expected_by=date(2024, 6, 30),
    )
    body = compose(r)[0].body
    assert "需要较长时间办理" in body and "纳入年度计划" in body and "2024年6月30日" in body


def test_not_allowed_by_policy_explains_and_cites_the_basis() -> None:
    r = reply(
        "mayor_mailbox",
        "not_allowed_by_policy",
        explanation="该小区不在老旧小区改造范围内",
        policy_basis="《阜阳市老旧小区改造实施方案》",
    )
    body = compose(r)[0].body
    assert "暂不符合相关政策规定" in body and "老旧小区改造实施方案" in body
    assert body.startswith("尊敬的来信人")


@pytest.mark.parametrize("outcome", ["needs_longer", "not_allowed_by_policy"])
def test_an_explanation_is_owed(outcome: str) -> None:
    with pytest.raises(MissingExplanationError):
        compose(reply("web", outcome, expected_by=date(2024, 6, 30)))


def test_needs_longer_must_say_when() -> None:
    with pytest.raises(MissingExplanationError, match="when"):
        compose(reply("web", "needs_longer", explanation="需协调多个部门"))


def test_unknown_channel_and_outcome_are_refused() -> None:
    with pytest.raises(UnknownChannelError):
        compose(reply("fax"))
    with pytest.raises(UnknownReplyOutcomeError):
        compose(reply("web", "ignored"))


def test_sms_is_kept_short_by_shortening_the_reply_never_the_link() -> None:
    long_reply = "经核查，" + "已协调物业公司对小区内堆放杂物进行清理。" * 30
    notices = compose(reply("hotline_12345", reply_text=long_reply))
    sms = next(n for n in notices if n.kind == "sms")
    assert len(sms.body) <= 268
    assert sms.body.endswith(f"https://12345.example.gov.cn/rate?t={TOKEN}")
    assert "…" in sms.body
    script = next(n for n in notices if n.kind == "callback_script")
    assert long_reply in script.body  # staff read the full reply


def test_open311_gives_georeport_fields() -> None:
    n = compose(
        reply("open311", "needs_longer", explanation="需排期", expected_by=date(2024, 4, 1))
    )[0]
    assert n.fields["service_request_id"] == "FY20240301000001"
    assert n.fields["status"] == "open" and n.fields["expected_datetime"] == "2024-04-01"
    assert compose(reply("open311"))[0].fields["status"] == "closed"


def test_templates_missing_a_channel_or_naming_unknown_fields_are_refused() -> None:
    raw = load_data_file("answer_templates.json")
    incomplete = {**raw, "channels": {k: v for k, v in raw["channels"].items() if k != "web"}}
    with pytest.raises(TemplateError, match="web"):
        parse_answer_templates(incomplete)
    bad = {**raw, "channels": {**raw["channels"], "web": [{"kind": "x", "body": "{phone}"}]}}
    with pytest.raises(TemplateError, match="phone"):
        parse_answer_templates(bad)


def test_sms_with_a_real_link_and_a_long_explanation_fits_four_segments() -> None:
    token = issue_rating_token(
        auth.Issuer(kid="rating-link-test", key=Ed25519PrivateKey.generate()),
        ticket_id=str(uuid.uuid4()), ticket_code="FY-240301-00001-K", issued_at=T0,
        expires_at=T0 + timedelta(days=7), reply_round=3, token_id=uuid.uuid4().hex[:16])
    r = reply(
        "hotline_12345",
        "needs_longer",
        reply_text="经核查，" + "雨水管网需整体改造。" * 20,
        explanation="管网改造需纳入年度城建计划并完成招标",
        expected_by=date(2024, 6, 30),
    )
    notices = compose_answer(
        r,
        templates=load_answer_templates(),
        rating_token=token,
        rating_ref=short_form(token, ticket_code="FY-240301-00001-K", reply_round=3),
        rating_url_base="https://12345.fy.gov.cn",
        rating_deadline=T0,
        composed_at=T0,
    )
    sms = next(n for n in notices if n.kind == "sms")
    assert len(sms.body) <= 268
    short = short_form(token, ticket_code="FY-240301-00001-K", reply_round=3)
    assert sms.body.endswith(f"/rate?t={short}") and "2024年6月30日" in sms.body
    assert sms.rating_token == token  # the whole token rides along for apps and adapters


def test_an_explained_reply_needs_no_separate_explanation() -> None:
    [notice] = compose(reply("web", "explained"))
    assert "解释说明" in notice.body


def test_needs_longer_without_a_date_is_told_a_date_will_follow_only_when_said_so() -> None:
    with pytest.raises(MissingExplanationError):
        compose(reply("web", "needs_longer", explanation="需协调多个部门"))
    [notice] = compose(reply("web", "needs_longer", explanation="需协调多个部门",
                             expected_by_unknown=True))
    assert "需协调多个部门" in notice.body and "办结时间确定后" in notice.body


ONE_SENTENCE = "该路段燃气管网改造需纳入年度城建计划并完成招标"
SEVERAL = ONE_SENTENCE + "。我局已将其列入明年第一季度计划，施工前将张贴公告。"


@pytest.mark.parametrize("interim", [False, True])
@pytest.mark.parametrize("outcome,extra", [
    ("needs_longer", {"expected_by": date(2024, 6, 30)}),
    ("needs_longer", {"expected_by_unknown": True}),
    ("not_allowed_by_policy", {"policy_basis": "《阜阳市城镇燃气管理办法》"}),
])
@pytest.mark.parametrize("reply_text", [ONE_SENTENCE, ONE_SENTENCE + "。", SEVERAL])
@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_notice_says_the_reason_once(channel, reply_text, outcome, extra, interim):
    """The explanation is the reply's first sentence (application/answers.explanation_of): a
    one-sentence reply was told twice, "原因是：X。…说明：X" (SMS: "答复：X需较长时间办理（X）…"),
    in every channel, final and interim templates alike."""
    from services.feedback.application.answers import explanation_of

    if interim and outcome != "needs_longer":
        return  # only a needs_longer reply is an interim answer
    r = reply(channel, outcome, reply_text=reply_text, explanation=explanation_of(reply_text),
              **extra)
    notices = compose_answer(r, templates=load_answer_templates(), rating_token=TOKEN,
                             rating_url_base="https://12345.example.gov.cn/",
                             rating_deadline=T0 + timedelta(days=7), composed_at=T0,
                             interim=interim)
    assert notices
    for n in notices:
        assert n.body.count(ONE_SENTENCE) == 1, (n.kind, n.body)
        assert "原因是" not in n.body and "（" + ONE_SENTENCE not in n.body
        if n.kind != "sms":
            assert "我局已将其列入明年第一季度计划" in n.body or reply_text != SEVERAL
        if outcome == "needs_longer":
            assert "较长时间办理" in n.body
            assert ("2024年6月30日" in n.body) == ("expected_by" in extra)
        else:
            assert "暂不符合" in n.body and ("城镇燃气管理办法" in n.body or n.kind == "sms")


def test_an_explanation_the_reply_does_not_begin_with_is_still_told() -> None:
    r = reply("hotline_12345", "needs_longer", explanation="需协调多个部门",
              expected_by=date(2024, 6, 30))
    for n in compose(r):
        assert "需协调多个部门" in n.body and n.body.count("需协调多个部门") == 1


def test_a_reason_in_reply_text_may_not_repeat_the_explanation() -> None:
    raw = load_data_file("answer_templates.json")
    bad = {**raw, "reason_in_reply_texts": {"needs_longer": "原因是：{explanation}。"}}
    with pytest.raises(TemplateError):
        parse_answer_templates(bad)


def test_a_reply_without_a_full_stop_does_not_run_into_the_outcome() -> None:
    """SMS: "…办理：需协调燃气公司改造管网需较长时间办理，预计…" read as one clause."""
    r = reply("hotline_12345", "needs_longer", reply_text="需协调燃气公司改造管网",
              explanation="需协调燃气公司改造管网", expected_by=date(2024, 6, 30))
    sms = compose(r)[0]
    assert "需协调燃气公司改造管网。需较长时间办理" in sms.body
    done = compose(reply("web", reply_text="已清运完毕！"))[0]
    assert "已清运完毕！\n" in done.body and "！。" not in done.body
