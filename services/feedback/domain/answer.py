"""Answering the citizen (答复): once the platform accepts a unit's reply, compose the notices
each channel adapter sends, with the one-time rating link in them.

The texts are data (`data/answer_templates.json`). Notices address the citizen by pseudonym
only; the channel adapter asks intake for the contact, so no notice (and no Kafka event built
from one) carries a name, phone number or address.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from services.feedback.domain.errors import (
    MissingExplanationError,
    TemplateError,
    UnknownChannelError,
    UnknownReplyOutcomeError,
)
from services.feedback.domain.policy import load_data_file


class Channel(StrEnum):
    WECHAT_MINI = "wechat_mini"
    WECHAT_OFFICIAL = "wechat_official"
    HOTLINE_12345 = "hotline_12345"
    MAYOR_MAILBOX = "mayor_mailbox"
    MEDIA_HOTLINE = "media_hotline"
    WEB = "web"
    OPEN311 = "open311"


class ReplyOutcome(StrEnum):
    RESOLVED = "resolved"  # 已办结
    EXPLAINED = "explained"  # 解释说明 (a consultation answered, a matter explained)
    NEEDS_LONGER = "needs_longer"  # 需较长时间办理: explanation and expected date owed
    NOT_ALLOWED_BY_POLICY = "not_allowed_by_policy"  # 政策不允许: explanation owed


PLACEHOLDERS = frozenset(
    {
        "ticket_code",
        "unit_name",
        "reply_text",
        "outcome_text",
        "rating_url",
        "rating_token",
        "rating_deadline",
    }
)
RATING_PLACEHOLDERS = frozenset({"rating_url", "rating_token", "rating_deadline"})
OUTCOME_PLACEHOLDERS = frozenset({"explanation", "expected_by", "policy_basis"})
# Used instead of needs_longer when the reply says it needs longer but no date is known yet
# (the AcceptedReply says so explicitly: a missing date is never silently accepted).
NEEDS_LONGER_UNDATED = "needs_longer_undated"


@dataclass(frozen=True)
class NoticeTemplate:
    kind: str
    subject: str
    body: str
    link: str
    max_chars: int | None = None
    short_outcome: bool = False  # SMS: use the short outcome text, to leave room for the link


@dataclass(frozen=True)
class AnswerTemplates:
    outcome_texts: Mapping[str, str]
    short_outcome_texts: Mapping[str, str]
    channels: Mapping[str, tuple[NoticeTemplate, ...]]
    # needs_longer accepted as an interim answer: told without a rating link
    interim_channels: Mapping[str, tuple[NoticeTemplate, ...]] = field(default_factory=dict)
    # the outcome texts without the explanation, for a notice whose reply already says it
    reason_in_reply_texts: Mapping[str, str] = field(default_factory=dict)
    short_reason_in_reply_texts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AcceptedReply:
    """A unit's reply as the platform accepted it (after review)."""

    ticket_id: str
    ticket_code: str
    citizen_ref: str  # pseudonym; intake resolves it to a contact
    channel: str
    unit_name: str
    outcome: str
    reply_text: str
    explanation: str = ""
    expected_by: date | None = None
    policy_basis: str = ""
    expected_by_unknown: bool = False  # needs_longer, and nobody could name a date yet


@dataclass(frozen=True)
class CitizenNotice:
    """One outbound message for a channel adapter (an outbound event payload)."""

    ticket_id: str
    ticket_code: str
    citizen_ref: str
    channel: str
    kind: str
    subject: str
    body: str
    link: str
    rating_token: str
    fields: Mapping[str, str] = field(default_factory=dict)


def _fields_of(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        raise TemplateError(f"template {template[:30]!r}… is malformed: {exc}") from None


def _render(template: str, values: Mapping[str, str]) -> str:
    missing = _fields_of(template) - set(values)
    if missing:
        raise TemplateError(f"template needs fields nobody supplies: {sorted(missing)}")
    return template.format_map(values)


def parse_answer_templates(raw: Mapping[str, Any]) -> AnswerTemplates:
    """Build and check templates: every channel and outcome covered, no unknown placeholder."""
    outcome_texts = dict(raw["outcome_texts"])
    short_outcome_texts = dict(raw["short_outcome_texts"])
    for texts in (outcome_texts, short_outcome_texts):
        for outcome in ReplyOutcome:
            if outcome.value not in texts:
                raise TemplateError(f"no outcome text for {outcome.value}")
            unknown = _fields_of(texts[outcome.value]) - OUTCOME_PLACEHOLDERS
            if unknown:
                raise TemplateError(f"outcome text {outcome.value} has unknown fields {unknown}")
        if _fields_of(texts.get(NEEDS_LONGER_UNDATED, "")) - OUTCOME_PLACEHOLDERS:
            raise TemplateError(f"outcome text {NEEDS_LONGER_UNDATED} has unknown fields")
    in_reply = dict(raw.get("reason_in_reply_texts", {}))
    short_in_reply = dict(raw.get("short_reason_in_reply_texts", {}))
    for texts in (in_reply, short_in_reply):
        for key, text in texts.items():
            if _fields_of(text) - (OUTCOME_PLACEHOLDERS - {"explanation"}):
                raise TemplateError(f"reason-in-reply text {key} may name only "
                                    "{expected_by} and {policy_basis}: the reply says why")
    channels = _channel_templates(raw["channels"], PLACEHOLDERS)
    interim = raw.get("interim_channels")
    return AnswerTemplates(
        outcome_texts=outcome_texts, short_outcome_texts=short_outcome_texts, channels=channels,
        reason_in_reply_texts=in_reply, short_reason_in_reply_texts=short_in_reply,
        # a needs_longer notice asks for no rating: no link, token or deadline in it
        interim_channels=_channel_templates(interim, PLACEHOLDERS - RATING_PLACEHOLDERS)
        if interim is not None else {},
    )


def _channel_templates(raw: Mapping[str, Any], allowed: frozenset[str]
                       ) -> dict[str, tuple[NoticeTemplate, ...]]:
    channels: dict[str, tuple[NoticeTemplate, ...]] = {}
    for channel in Channel:
        entries = raw.get(channel.value)
        if not entries:
            raise TemplateError(f"no answer template for channel {channel.value}")
        templates = tuple(
            NoticeTemplate(
                kind=e["kind"],
                subject=e.get("subject", ""),
                body=e["body"],
                link=e.get("link", ""),
                max_chars=e.get("max_chars"),
                short_outcome=bool(e.get("short_outcome", False)),
            )
            for e in entries
        )
        for t in templates:
            unknown = (
                _fields_of(t.subject) | _fields_of(t.body) | _fields_of(t.link)
            ) - allowed
            if unknown:
                raise TemplateError(f"{channel.value}/{t.kind} has unknown fields {unknown}")
        channels[channel.value] = templates
    return channels


def load_answer_templates(data_dir: Path | None = None) -> AnswerTemplates:
    return parse_answer_templates(load_data_file("answer_templates.json", data_dir))


def _zh_date(moment: date) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _reason_in_reply(reply: AcceptedReply) -> bool:
    """The explanation is how the unit's reply begins (feedback takes the reply's first
    sentence): a notice that shows the reply says why already."""
    said = reply.explanation.strip().rstrip("。")
    return bool(said) and reply.reply_text.strip().startswith(said)


def outcome_text(reply: AcceptedReply, templates: AnswerTemplates, *, short: bool = False,
                 reason_in_reply: bool = False) -> str:
    """The sentence telling the citizen what the reply means, with the explanation owed.
    `reason_in_reply`: the notice shows the reply, which begins with the explanation: the
    sentence leaves it out (reason_in_reply_texts), so the reason is said once."""
    try:
        outcome = ReplyOutcome(reply.outcome)
    except ValueError:
        raise UnknownReplyOutcomeError(f"reply outcome {reply.outcome!r} is unknown") from None
    explained = outcome in (ReplyOutcome.RESOLVED, ReplyOutcome.EXPLAINED)
    if not explained and not reply.explanation.strip():
        raise MissingExplanationError(
            f"a '{outcome.value}' reply must explain why to the citizen (fact 6)"
        )
    key = outcome.value
    if outcome is ReplyOutcome.NEEDS_LONGER and reply.expected_by is None:
        if not reply.expected_by_unknown:
            raise MissingExplanationError(
                "a 'needs_longer' reply must say when it is expected done")
        key = NEEDS_LONGER_UNDATED
    values = {
        "explanation": reply.explanation.strip().rstrip("。"),
        "expected_by": _zh_date(reply.expected_by) if reply.expected_by else "",
        "policy_basis": reply.policy_basis.strip() or "相关法律法规及政策规定",
    }
    texts = templates.short_outcome_texts if short else templates.outcome_texts
    if reason_in_reply and _reason_in_reply(reply):
        without = (templates.short_reason_in_reply_texts if short
                   else templates.reason_in_reply_texts)
        texts = without if key in without else texts
    if key not in texts:
        raise TemplateError(f"no outcome text for {key}")
    return _render(texts[key], values)


def _fit(template: NoticeTemplate, values: dict[str, str]) -> str:
    """Render the body; over max_chars (SMS), shorten the reply text, never the link."""
    body = _render(template.body, values)
    if template.max_chars is None or len(body) <= template.max_chars:
        return body
    reply = values["reply_text"]
    low, high = 0, len(reply)
    while low < high:  # longest prefix of the reply that fits
        mid = (low + high + 1) // 2
        if (
            len(_render(template.body, {**values, "reply_text": reply[:mid] + "…"}))
            <= template.max_chars
        ):
            low = mid
        else:
            high = mid - 1
    return _render(template.body, {**values, "reply_text": reply[:low] + "…" if low else ""})


_SENTENCE_ENDS = frozenset("。！？!?.…；;）)」』”\"'")


def _sentence(text: str) -> str:
    """The reply as a sentence: a full stop where the unit left none, so the outcome text an
    SMS puts right after it does not run on ("…改造管网需较长时间办理")."""
    return text + "。" if text and text[-1] not in _SENTENCE_ENDS else text


def _open311_fields(reply: AcceptedReply, body: str, updated_at: datetime) -> dict[str, str]:
    # GeoReport v2 service request fields the Open311 adapter returns on GET requests.
    closed = reply.outcome != ReplyOutcome.NEEDS_LONGER.value
    fields = {
        "service_request_id": reply.ticket_code,
        "status": "closed" if closed else "open",
        "status_notes": body,
        "agency_responsible": reply.unit_name,
        "updated_datetime": updated_at.isoformat(),
    }
    if reply.expected_by is not None and not closed:
        fields["expected_datetime"] = reply.expected_by.isoformat()
    return fields


def compose_answer(
    reply: AcceptedReply,
    *,
    templates: AnswerTemplates,
    rating_token: str,
    rating_url_base: str,
    rating_deadline: datetime,
    composed_at: datetime,
    rating_ref: str = "",
    interim: bool = False,
) -> list[CitizenNotice]:
    """The notices to send for an accepted reply, through the channel the ticket came from.
    `rating_url` carries `rating_ref` (the link's short form, which fits an SMS) when given,
    else the token itself; `rating_token` is the whole token, for apps and adapters.
    `interim`: a needs_longer reply accepted as an interim answer: its own templates, no
    rating link or token (the final reply asks for the rating)."""
    chosen = templates.interim_channels if interim else templates.channels
    if reply.channel not in chosen:
        raise UnknownChannelError(f"no answer templates for channel {reply.channel!r}")
    if interim:
        rating_token = rating_ref = ""
    rating_url = (f"{rating_url_base.rstrip('/')}/rate?t={rating_ref or rating_token}"
                  if rating_token else "")
    values = {
        "ticket_code": reply.ticket_code,
        "unit_name": reply.unit_name,
        "reply_text": _sentence(reply.reply_text.strip()),
        "outcome_text": outcome_text(reply, templates),
        "rating_url": rating_url,
        "rating_token": rating_token,
        "rating_deadline": _zh_date(rating_deadline.date()),
    }
    notices = []
    for template in chosen[reply.channel]:
        # a body that shows the reply need not repeat the explanation the reply begins with
        said = "reply_text" in _fields_of(template.body)
        body = _fit(template, {**values, "outcome_text": outcome_text(
            reply, templates, short=template.short_outcome, reason_in_reply=said)})
        notices.append(
            CitizenNotice(
                ticket_id=reply.ticket_id,
                ticket_code=reply.ticket_code,
                citizen_ref=reply.citizen_ref,
                channel=reply.channel,
                kind=template.kind,
                subject=_render(template.subject, values),
                body=body,
                link=_render(template.link, values),
                rating_token=rating_token,
                fields=_open311_fields(reply, body, composed_at)
                if reply.channel == Channel.OPEN311.value
                else {},
            )
        )
    return notices
