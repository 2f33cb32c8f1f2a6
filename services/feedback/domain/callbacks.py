"""The staff callback worklist (回访清单), built by rules kept as data.

Rules: every dissatisfied ticket; every reopened ticket; a deterministic sample of the rest
(hash of ticket id + salt, so every replica and every re-run picks the same tickets, and the
units cannot guess which will be called). Each item says why it is on the list. Outcomes go
back into the `TicketFeedback` aggregate through `record_outcome`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from services.feedback.domain.errors import CallbackOutcomeError
from services.feedback.domain.policy import load_data_file
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback
from services.feedback.domain.satisfaction import Verdict


class CallbackReason(StrEnum):
    DISSATISFIED = "dissatisfied"  # 不满意必回访
    REOPENED = "reopened"  # 重办件必回访
    UNRATED = "unrated"  # only when call_all_unrated is set
    SAMPLED = "sampled"  # 抽样回访


REASON_LABELS_ZH = {
    "dissatisfied": "不满意件，逐件回访",
    "reopened": "重办件，逐件回访",
    "unrated": "未评价件，逐件回访",
    "sampled": "按比例抽样回访",
}

# A call that did not reach the citizen (未接通) does not end the round's callback: the ticket
# stays on the worklist for another try, at another time, until a call reaches them or this
# many calls have not (the usual 12345 rule: three tries before it is recorded as unreachable).
UNREACHED_TRIES = 3


def calling_done(callbacks: Iterable[dict[str, object]]) -> bool:
    """Whether a reply round's callbacks are finished: one reached the citizen, or
    `UNREACHED_TRIES` did not."""
    tries = 0
    for call in callbacks:
        if call["reached"]:
            return True
        tries += 1
    return tries >= UNREACHED_TRIES

# Lower sorts first on the worklist: the citizens most let down are called first.
_PRIORITY = {
    CallbackReason.DISSATISFIED: 0,
    CallbackReason.REOPENED: 1,
    CallbackReason.UNRATED: 2,
    CallbackReason.SAMPLED: 3,
}


@dataclass(frozen=True)
class CallbackRules:
    sample_per_mille: int
    salt: str
    call_all_unrated: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.sample_per_mille <= 1000:
            raise ValueError("sample_per_mille must be between 0 and 1000")


def load_callback_rules(data_dir: Path | None = None) -> CallbackRules:
    raw = load_data_file("callback_rules.json", data_dir)
    return CallbackRules(
        sample_per_mille=int(raw["sample_per_mille"]),
        salt=str(raw["salt"]),
        call_all_unrated=bool(raw.get("call_all_unrated", False)),
    )


@dataclass(frozen=True)
class CallbackCandidate:
    """What the worklist needs to know of a ticket whose reply is being judged."""

    ticket_id: str
    ticket_code: str
    unit_code: str
    reply_round: int
    verdict: str | None  # effective verdict so far; None while the window is open
    reopen_count: int
    already_called: bool  # this reply round's calling is done (see `calling_done`)

    @classmethod
    def of(cls, feedback: TicketFeedback) -> CallbackCandidate:
        return cls(
            ticket_id=feedback.ticket_id,
            ticket_code=feedback.ticket_code,
            unit_code=feedback.unit_code,
            reply_round=feedback.reply_round,
            verdict=feedback.verdict.value if feedback.verdict else None,
            reopen_count=feedback.reopen_count,
            already_called=calling_done(feedback.current_callbacks),
        )


@dataclass(frozen=True)
class CallbackItem:
    ticket_id: str
    ticket_code: str
    unit_code: str
    reply_round: int
    reasons: tuple[str, ...]

    @property
    def reason_text(self) -> str:
        return "；".join(REASON_LABELS_ZH[r] for r in self.reasons)


def is_sampled(ticket_id: str, rules: CallbackRules) -> bool:
    """Deterministic draw: the same ticket id and salt always give the same answer."""
    digest = hashlib.sha256(f"{rules.salt}:{ticket_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 1000 < rules.sample_per_mille


def reasons_for(candidate: CallbackCandidate, rules: CallbackRules) -> tuple[str, ...]:
    reasons: list[CallbackReason] = []
    if candidate.verdict == Verdict.DISSATISFIED.value:
        reasons.append(CallbackReason.DISSATISFIED)
    if candidate.reopen_count > 0:
        reasons.append(CallbackReason.REOPENED)
    if rules.call_all_unrated and candidate.verdict == Verdict.UNRATED.value:
        reasons.append(CallbackReason.UNRATED)
    if not reasons and is_sampled(candidate.ticket_id, rules):
        reasons.append(CallbackReason.SAMPLED)
    return tuple(r.value for r in reasons)


def build_worklist(
    candidates: Iterable[CallbackCandidate], rules: CallbackRules
) -> list[CallbackItem]:
    """The callback worklist: tickets to call, each with its reasons, most urgent first.

    A ticket whose calling is done for its current reply round (a call reached the citizen,
    or `UNREACHED_TRIES` calls did not) is left off; a ticket still in
    its rating window (no verdict yet) waits, except when it was reopened (always called)."""
    items = []
    for c in candidates:
        if c.already_called or (c.verdict is None and c.reopen_count == 0):
            continue
        reasons = reasons_for(c, rules)
        if reasons:
            items.append(
                CallbackItem(
                    ticket_id=c.ticket_id,
                    ticket_code=c.ticket_code,
                    unit_code=c.unit_code,
                    reply_round=c.reply_round,
                    reasons=reasons,
                )
            )
    items.sort(key=lambda i: (min(_PRIORITY[CallbackReason(r)] for r in i.reasons), i.ticket_code))
    return items


def worklist_from_feedback(
    feedbacks: Iterable[TicketFeedback], rules: CallbackRules
) -> list[CallbackItem]:
    """Convenience: the worklist straight from aggregates whose reply is being judged."""
    judged = (FeedbackStatus.AWAITING_RATING, FeedbackStatus.RATED, FeedbackStatus.UNRATED)
    return build_worklist((CallbackCandidate.of(f) for f in feedbacks if f.status in judged), rules)


@dataclass(frozen=True)
class CallbackOutcome:
    staff_id: str
    reached: bool
    resolved: bool | None = None
    satisfaction: str | None = None
    note: str = ""


def record_outcome(
    feedback: TicketFeedback, item: CallbackItem, outcome: CallbackOutcome, *, at: datetime
) -> None:
    """Feed a call's outcome back into the ticket's feedback aggregate."""
    if item.ticket_id != feedback.ticket_id or item.reply_round != feedback.reply_round:
        raise CallbackOutcomeError(
            "this worklist item is for another ticket or an earlier reply; rebuild the worklist"
        )
    feedback.record_callback(
        staff_id=outcome.staff_id,
        reached=outcome.reached,
        resolved=outcome.resolved,
        satisfaction=outcome.satisfaction,
        note=outcome.note,
        at=at,
    )
