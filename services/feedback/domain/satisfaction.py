"""Ratings (好差评) and the rule that turns a ratings + callbacks into one verdict per ticket.

The effective-satisfaction rule (also in docs/feedback.md), applied to the latest reply round:
1. The latest callback in which staff REACHED the citizen and got a satisfaction answer wins:
   a spoken answer to a person is the most deliberate judgement we get, and it is how
   dissatisfied online ratings get confirmed or withdrawn.
2. Otherwise the citizens' own ratings; with several citizens on one ticket (merged
   duplicates) the WORST rating counts, so a ticket is never reported better than any of
   the people it served judged it.
3. Otherwise `unrated` once the rating window has passed, or None while it is still open.
A ticket is never satisfied by default: no rating and no reached callback is `unrated`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from services.feedback.domain.errors import UnknownRatingError


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class Verdict(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    UNRATED = "unrated"  # 未评价: recorded after the window, never counted as satisfied


class RatingVia(StrEnum):
    CHANNEL = "channel"  # inside the channel the ticket came from (mini-program, SMS reply...)
    LINK = "link"  # the one-time signed rating link


RATING_LABELS_ZH: Mapping[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "unrated": "未评价",
}

# Worst first: used to pick the worst of several citizens' ratings.
_SEVERITY = {Rating.DISSATISFIED: 0, Rating.BASICALLY_SATISFIED: 1, Rating.SATISFIED: 2}


def parse_rating(value: str) -> Rating:
    try:
        return Rating(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Rating)
        raise UnknownRatingError(f"rating {value!r} is not one of: {allowed}") from None


def worst_rating(ratings: Iterable[str]) -> Rating | None:
    parsed = [parse_rating(r) for r in ratings]
    return min(parsed, key=_SEVERITY.__getitem__) if parsed else None


def effective_verdict(
    *,
    ratings: Iterable[str],
    reached_callback_satisfaction: str | None,
    marked_unrated: bool,
) -> Verdict | None:
    """The one verdict of a reply round (rule in the module docstring); None = still open."""
    if reached_callback_satisfaction is not None:
        return Verdict(parse_rating(reached_callback_satisfaction).value)
    worst = worst_rating(ratings)
    if worst is not None:
        return Verdict(worst.value)
    if marked_unrated:
        return Verdict.UNRATED
    return None


def counts_as_satisfied(verdict: Verdict | str | None) -> bool | None:
    """For the satisfaction rate (满意率): satisfied and basically satisfied count as
    satisfied, dissatisfied does not, and unrated/open tickets stay OUT of the denominator
    (None) rather than being counted either way."""
    if verdict is None or Verdict(verdict) is Verdict.UNRATED:
        return None
    return Verdict(verdict) is not Verdict.DISSATISFIED
