"""已答复: a citizen submitting again a matter the platform already answered.

The platform answered (feedback's CitizenNotified) and the citizen may rate the answer or ask
for it to be redone (重办) under the ORIGINAL code; a second ticket would start the matter from
zero at another unit and hide the dissatisfaction from the ratings. So a new submission is
rejected, with the earlier code and date, when all of these hold:

* the same citizen (pseudonym); an anonymous submission cannot be recognised and is never
  rejected this way;
* the same category, or no category on either side (a hint is optional);
* the text says the same thing: character-bigram cosine (the duplicate detector's measure) at
  or above the threshold, on masked text on both sides;
* answered at most N days before the stated submission time (event time). A reopened ticket is
  not answered any more: the read model forgets its answer when the reopening arrives.

Pure: the caller gives the citizen's answered tickets; nothing here reads a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from backbone.privacy import mask_personal_data
from services.intake.domain.duplicates import text_similarity

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class AnsweredTicket:
    """A ticket the platform answered (from intake's read model: masked text, pseudonym)."""

    code: str
    text: str
    answered_at: datetime
    category: str | None = None
    citizen: str | None = None  # pseudonym; None: not known, never matches anyone


@dataclass(frozen=True, slots=True)
class AnsweredRule:
    window: timedelta
    similarity: float
    reason_text_zh: str  # with {answered_on} and {code}


def _same_category(hint: str | None, previous: str | None) -> bool:
    return not hint or not previous or hint == previous


def find_answered(*, citizen: str | None, text: str, category_hint: str | None,
                  submitted_at: datetime, answered: Sequence[AnsweredTicket],
                  rule: AnsweredRule) -> AnsweredTicket | None:
    """The earlier answered ticket this submission repeats (the most similar), or None."""
    if not citizen or not answered:  # (most citizens: masking the text would be for nothing)
        return None
    masked = mask_personal_data(text)
    best: tuple[float, AnsweredTicket] | None = None
    for previous in answered:
        age = submitted_at - previous.answered_at
        if previous.citizen != citizen or not timedelta(0) <= age <= rule.window:
            continue
        if not _same_category(category_hint, previous.category):
            continue
        score = text_similarity(masked, previous.text)
        if score >= rule.similarity and (best is None or score > best[0]):
            best = (score, previous)
    return best[1] if best else None


def answered_on(at: datetime) -> str:
    """The date the citizen was answered, as the citizen reads it (Beijing time)."""
    local = at.astimezone(SHANGHAI) if at.tzinfo is not None else at
    return f"{local:%Y年%m月%d日}"


def reason_text(rule: AnsweredRule, previous: AnsweredTicket) -> str:
    return rule.reason_text_zh.format(answered_on=answered_on(previous.answered_at),
                                      code=previous.code)
