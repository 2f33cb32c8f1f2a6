"""Deadlines by grade, as data (``data/policy_v1.json``), and the one counting rule.

The counting rule (docs/sla.md, "Counting rule"): a deadline of N working days is due at
23:59:59.999999 Asia/Shanghai of the N-th working day strictly after the calendar day (in
Asia/Shanghai) of the starting moment. The starting day itself is never counted, so a ticket
accepted on a Saturday counts its first working day on Monday, the same as one accepted on
the Friday before. A reply is in time when replied_at <= due_at.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from services.sla.domain.calendar import SHANGHAI, WorkingCalendar, local_day

END_OF_DAY = dt.time(23, 59, 59, 999999)


class Grade(enum.StrEnum):
    """The platform's grading of a ticket (分级分类)."""

    URGENT = "urgent"
    SIMPLE = "simple"
    GENERAL = "general"
    COMPLEX = "complex"
    NOT_ALLOWED = "not_allowed"  # the request is not allowed by policy: explain, don't do


class PolicyError(Exception):
    """The SLA policy data, or a value asked of it, is out of bounds."""


@dataclass(frozen=True)
class Deadline:
    """A computed deadline: when, on how many working days, and whether it rests on a guess."""

    due_at: dt.datetime
    working_days: int
    provisional: bool


@dataclass(frozen=True)
class WarningPoint:
    """A configurable warning: by share of the time used, or by working days left."""

    kind: str
    used_fraction: float | None = None
    working_days_left: int | None = None


@dataclass(frozen=True)
class SlaPolicy:
    version: str
    reply_working_days: dict[str, int]
    long_grades: frozenset[str]
    explanation_working_days: int
    long_default_working_days: int
    long_max_working_days: int
    sign_for: dict[str, dict[str, int]]
    warnings: tuple[WarningPoint, ...]
    max_extensions: int
    max_extension_working_days: int
    coordination_min_working_days: int
    supervision_answer_working_days: int
    supervision_max_escalations: int
    supervision_office: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlaPolicy:
        try:
            long = data["long_handling"]
            sup = data["supervision"]
            policy = cls(
                version=str(data["version"]),
                reply_working_days={k: int(v) for k, v in data["reply_working_days"].items()},
                long_grades=frozenset(long["grades"]),
                explanation_working_days=int(long["explanation_working_days"]),
                long_default_working_days=int(long["default_working_days"]),
                long_max_working_days=int(long["max_working_days"]),
                sign_for={k: dict(v) for k, v in data["sign_for"].items()},
                warnings=tuple(WarningPoint(**w) for w in data["warnings"]),
                max_extensions=int(data["extensions"]["max_approved"]),
                max_extension_working_days=int(data["extensions"]["max_total_working_days"]),
                coordination_min_working_days=int(
                    data["coordination"]["min_working_days_after_decision"]
                ),
                supervision_answer_working_days=int(sup["answer_working_days"]),
                supervision_max_escalations=int(sup["max_escalations"]),
                supervision_office=str(sup["supervision_office"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"SLA policy data is malformed: {exc!r}") from exc
        missing = {g.value for g in Grade} - set(policy.reply_working_days) - policy.long_grades
        if missing:
            raise PolicyError(f"SLA policy gives no deadline for grade(s) {sorted(missing)}")
        return policy

    def is_long_handling(self, grade: str) -> bool:
        return grade in self.long_grades


def load_policy(name: str = "policy_v1.json") -> SlaPolicy:
    """Reads a policy file from ``services/sla/data`` (called at startup, never at import)."""
    text = resources.files("services.sla").joinpath("data", name).read_text(encoding="utf-8")
    return SlaPolicy.from_dict(json.loads(text))


def end_of_day(day: dt.date) -> dt.datetime:
    """The last representable instant of a calendar day in Asia/Shanghai."""
    return dt.datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI)


def due_after(calendar: WorkingCalendar, start: dt.datetime, working_days: int) -> Deadline:
    """The counting rule: end of the N-th working day strictly after start's local day."""
    reckoned = calendar.add_working_days(local_day(start), working_days)
    return Deadline(end_of_day(reckoned.value), working_days, reckoned.provisional)


def reply_deadline(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    *,
    grade: str,
    accepted_at: dt.datetime,
    platform_working_days: int | None = None,
) -> tuple[Deadline, Deadline | None]:
    """The reply deadline and, for complex / not-allowed grades, the explanation deadline.

    For those grades the platform sets the reply deadline (``platform_working_days``, default
    from the policy, capped); for the others ``platform_working_days`` must not be given.
    """
    if policy.is_long_handling(grade):
        days = policy.long_default_working_days if platform_working_days is None else (
            platform_working_days
        )
        if not policy.explanation_working_days <= days <= policy.long_max_working_days:
            raise PolicyError(
                f"a {grade} ticket's deadline must be {policy.explanation_working_days}.."
                f"{policy.long_max_working_days} working days, not {days}"
            )
        explanation = due_after(calendar, accepted_at, policy.explanation_working_days)
        return due_after(calendar, accepted_at, days), explanation
    if grade not in policy.reply_working_days:
        raise PolicyError(f"unknown grade {grade!r}")
    if platform_working_days is not None:
        raise PolicyError(f"the platform sets no own deadline for a {grade} ticket")
    return due_after(calendar, accepted_at, policy.reply_working_days[grade]), None


def sign_for_deadline(
    policy: SlaPolicy, calendar: WorkingCalendar, *, grade: str, assigned_at: dt.datetime
) -> Deadline:
    """When a unit must sign for (签收) an assignment.

    Urgent assignments count calendar hours, round the clock, because an urgent matter (a
    burst main, a gas smell) cannot wait for Monday and units keep duty staff (值班). Others
    count working days with the same rule as replies.
    """
    rule = policy.sign_for.get(grade, policy.sign_for["default"])
    if "calendar_hours" in rule:
        due = assigned_at.astimezone(SHANGHAI) + dt.timedelta(hours=rule["calendar_hours"])
        return Deadline(due, 0, False)
    return due_after(calendar, assigned_at, rule["working_days"])
