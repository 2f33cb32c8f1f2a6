"""How units and citizens behave: profiles, and one ticket's life after it is submitted.

Profiles are fixed per unit (not drawn from the seed) so rankings have a known answer: quick
units should top the monthly ranking, often-late and slow ones sit at the bottom.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tools.simulator.model import (
    ASK_EXTENSION,
    BASICALLY_SATISFIED,
    BOUNCE_BACK,
    CALLBACK,
    DECIDE,
    DISSATISFIED,
    NOTE,
    RATE,
    REPLY,
    SATISFIED,
    SIGN_FOR,
    SimAction,
    TicketTruth,
)
from tools.simulator.people import ANONYMOUS, Citizen
from tools.simulator.rhythm import add_office_hours, add_working_days

# Working days to reply, by urgency (MISSION fact 6); complex matters may ask for more.
DEADLINE_DAYS = {"urgent": 2, "simple": 2, "general": 5, "complex": 5}
EXTENSION_DAYS = 5


@dataclass(frozen=True, slots=True)
class UnitProfile:
    name: str
    sign_hours: tuple[float, float]      # office hours from assignment to sign-for
    reply_share: tuple[float, float]     # share of the deadline used when on time
    late_prob: float
    bounce_prob: float
    quality: float                       # base chance that a rating is "satisfied"


PROFILES = {
    "quick": UnitProfile("quick", (0.1, 1.0), (0.10, 0.45), 0.02, 0.02, 0.93),
    "steady": UnitProfile("steady", (0.5, 3.0), (0.30, 0.75), 0.06, 0.04, 0.88),
    "slow": UnitProfile("slow", (3.0, 8.5), (0.60, 0.85), 0.12, 0.05, 0.80),
    "bouncy": UnitProfile("bouncy", (0.5, 4.0), (0.30, 0.80), 0.08, 0.22, 0.82),
    "often_late": UnitProfile("often_late", (1.0, 6.0), (0.55, 0.85), 0.35, 0.06, 0.72),
}

UNIT_PROFILES = {
    "county.yingzhou": "quick", "county.yingdong": "steady", "county.yingquan": "steady",
    "county.jieshou": "quick", "county.linquan": "slow", "county.taihe": "often_late",
    "county.funan": "steady", "county.yingshang": "slow", "zone.chengnan": "bouncy",
    "dept.urban_management": "bouncy", "dept.market_supervision": "quick", "dept.housing": "slow",
    "dept.transport": "steady", "dept.ecology": "steady", "dept.hrss": "often_late",
    "dept.education": "steady", "dept.health": "steady", "dept.water": "quick", "dept.power": "quick",
    "dept.gas": "steady", "dept.gov_services": "quick", "dept.development": "steady",
}

BOUNCE_REASONS = ("该事项不属于我单位职责范围", "该地点不在我单位辖区", "诉求地址不详，无法核实",
                  "该事项应由行业主管部门办理")
REPLY_TEXTS = {
    "complaint": "经核实，反映情况属实，已责令相关方整改，目前问题已处理完毕。",
    "report": "接到反映后已安排人员现场核查并依法处置，后续将加强巡查。",
    "help": "已联系相关单位协调解决，问题已处理，如有疑问可来电咨询。",
    "consultation": "您好，相关政策及办理流程如下：请携带身份证及相关材料到政务服务中心窗口办理。",
    "suggestion": "感谢您的建议，已纳入研究，将结合实际逐步推进。",
    "praise": "感谢您对我们工作的肯定，我们将继续努力。",
}
REOPEN_REPLY_TEXT = "重办：经再次现场核查，已督促责任方彻底整改，问题已解决，后续将跟踪回访。"
NEVER_RATE_SHARE = 0.30
CALLBACK_SAMPLE_SHARE = 0.20
# 重办 (reopen): feedback sends a ticket back when a reached callback confirms it unresolved;
# it escalates after more than 2 reopens, so a ticket's plan stops at 2 reopen rounds (round 3
# is the last reply). Each round's actions are numbered from ROUND_STEP * round (200+, 300+).
MAX_REOPEN_ROUNDS = 2
ROUND_STEP = 100
REOPEN_QUALITY_GAIN = 0.10  # a reopened matter gets the unit's attention: better, mostly
# Dispatch accepts a bounce-back only within 24 hours of the assignment (its
# MINSHENG_BOUNCE_BACK_WITHIN_HOURS); a unit whose first office hours fall later (a
# Friday evening's request, a holiday) must handle the matter. The margin keeps a slow machine,
# where the platform's assignment lands a little after the plan's submission, on the right side.
BOUNCE_WITHIN = timedelta(hours=20)


def profile_of(unit: str) -> UnitProfile:
    return PROFILES[UNIT_PROFILES.get(unit, "steady")]


def draw_rating(rng: random.Random, profile: UnitProfile, *, late: bool, bounced: bool) -> str:
    """Satisfaction depends on the unit's quality, lateness and being pushed around."""
    satisfied = profile.quality - (0.25 if late else 0.0) - (0.12 if bounced else 0.0)
    dissatisfied = (1 - profile.quality) * 0.5 + (0.2 if late else 0.0) + (0.08 if bounced else 0.0)
    roll = rng.random()
    if roll < satisfied:
        return SATISFIED
    return DISSATISFIED if roll < satisfied + dissatisfied else BASICALLY_SATISFIED


class Timeline:
    """A ticket's actions in causal order; each strictly after the one before it."""

    def __init__(self, ticket: str) -> None:
        self.ticket = ticket
        self.actions: list[SimAction] = []
        self.last: datetime | None = None
        self.next_step = 0

    def add(self, at: datetime, kind: str, actor: str, payload: dict[str, Any]) -> datetime:
        if self.last is not None and at <= self.last:
            at = self.last + timedelta(minutes=1)
        self.actions.append(SimAction(at, self.ticket, self.next_step, kind, actor, payload))
        self.next_step += 1
        self.last = at
        return at

    def start_round(self, reply_round: int) -> None:
        """The actions of reply round ``reply_round`` (2, 3: after a reopen) number from
        ROUND_STEP * round, so a step says which round it belongs to (``round_of``)."""
        self.next_step = max(self.next_step, ROUND_STEP * reply_round)


def round_of(step: int) -> int:
    """The reply round a plan step belongs to: 1, or 2.. for the rounds after reopens."""
    return max(1, (step % (ROUND_STEP * 10)) // ROUND_STEP)


def handle(rng: random.Random, line: Timeline, truth: TicketTruth, citizen: Citizen) -> None:
    """Plan everything after submission: sign-for or bounce-back, notes, reply, rating, callback."""
    unit = truth.handling_unit
    profile = profile_of(unit)
    start = truth.submitted_at
    if truth.urgency == "urgent":
        signed = start + timedelta(minutes=rng.randint(10, 60))
    else:
        signed = add_office_hours(start, rng.uniform(*profile.sign_hours))
    if rng.random() < profile.bounce_prob and signed - start <= BOUNCE_WITHIN:
        signed = _bounce(rng, line, truth, signed)
    line.add(signed, SIGN_FOR, f"unit:{unit}", {"unit": unit})
    deadline = DEADLINE_DAYS[truth.urgency]
    if truth.urgency == "complex" and rng.random() < 0.4:
        line.add(add_working_days(start, deadline * 0.6), ASK_EXTENSION, f"unit:{unit}",
                 {"unit": unit, "days": EXTENSION_DAYS, "reason": "涉及多个部门，需协调后答复"})
        truth.extension = True
        deadline += EXTENSION_DAYS
    if truth.urgency in ("general", "complex") and rng.random() < 0.3:
        line.add(add_office_hours(signed, rng.uniform(1, 9)), NOTE, f"unit:{unit}",
                 {"unit": unit, "text": "已安排工作人员现场核实，正在协调处理。"})
    truth.late = rng.random() < profile.late_prob
    # Margins keep "late" unambiguous whatever exact deadline convention the SLA service uses.
    days = deadline + rng.uniform(0.3, 3.0) if truth.late else deadline * rng.uniform(*profile.reply_share)
    replied = line.add(max(add_working_days(start, days), add_office_hours(signed, 0.2)), REPLY,
                       f"unit:{unit}", {"unit": unit, "text": REPLY_TEXTS[truth.request_type],
                                        "outcome": "explained" if truth.request_type == "consultation" else "resolved"})
    reopened = _rate_and_call_back(rng, line, truth, citizen, profile, replied, reply_round=1)
    _reopen_rounds(line, truth, citizen, profile, reopened)


def plan_reopened(truth: TicketTruth, actions: list[SimAction]) -> list[SimAction]:
    """A ticket's plan rewritten as "dissatisfied, and a callback confirms it unresolved" after
    its first reply, then reopened once, handled again and rated satisfied: the reopen story
    on demand (the e2e test plants it on a few tickets). The actions up to the first reply
    are kept; the citizen must be reachable by phone."""
    keep = actions[: next(i for i, a in enumerate(actions) if a.kind == REPLY) + 1]
    line = Timeline(truth.ticket)
    line.actions, line.last, line.next_step = list(keep), keep[-1].at, keep[-1].step + 1
    line.add(keep[-1].at + timedelta(hours=2), RATE, f"citizen:{truth.citizen}",
             {"rating": DISSATISFIED, "comment": "问题根本没解决，敷衍了事"})
    called = line.add(add_office_hours(line.last or keep[-1].at, 2), CALLBACK, "staff:callback",
                      {"reached": True, "rating": DISSATISFIED, "resolved": False})
    truth.rating, truth.reopens = DISSATISFIED, 0
    citizen = Citizen(truth.citizen, truth.citizen_kind, phone="on file")
    _reopen_rounds(line, truth, citizen, profile_of(truth.handling_unit), called,
                   last_rating=SATISFIED)
    return line.actions


def _reopen_rounds(line: Timeline, truth: TicketTruth, citizen: Citizen, profile: UnitProfile,
                   reopened: datetime | None, last_rating: str | None = None) -> None:
    """重办: the same unit handles a reopened ticket again (dispatch hands it back under the same
    code), the citizen rates the new reply, staff call back every reopened ticket. A stream of
    its own (seeded by the ticket's reference), so planning reopens draws nothing from the
    city's stream and leaves every other ticket as it was."""
    rng = random.Random(f"reopen:{line.ticket}")
    better = replace(profile, quality=min(0.97, profile.quality + REOPEN_QUALITY_GAIN))
    unit = truth.handling_unit
    reply_round = 1
    while reopened is not None and reply_round <= MAX_REOPEN_ROUNDS:
        reply_round += 1
        truth.reopens += 1
        line.start_round(reply_round)
        signed = line.add(add_office_hours(reopened, rng.uniform(*better.sign_hours)), SIGN_FOR,
                          f"unit:{unit}", {"unit": unit})
        if rng.random() < 0.5:
            line.add(add_office_hours(signed, rng.uniform(1, 6)), NOTE, f"unit:{unit}",
                     {"unit": unit, "text": "重办件：已再次安排人员现场核实，正在督促整改。"})
        days = DEADLINE_DAYS[truth.urgency] * rng.uniform(*better.reply_share)
        replied = line.add(max(add_working_days(reopened, days), add_office_hours(signed, 0.2)),
                           REPLY, f"unit:{unit}",
                           {"unit": unit, "text": REOPEN_REPLY_TEXT, "outcome": "resolved"})
        if last_rating is not None:  # told how the citizen judges it: rated, and done
            line.add(replied + timedelta(hours=1), RATE, f"citizen:{truth.citizen}",
                     {"rating": last_rating, "comment": _comment(rng, last_rating)})
            return
        reopened = _rate_and_call_back(rng, line, truth, citizen, better, replied,
                                       reply_round=reply_round)


def _bounce(rng: random.Random, line: Timeline, truth: TicketTruth, at: datetime) -> datetime:
    unit = truth.handling_unit
    truth.bounced = True
    bounced = line.add(at, BOUNCE_BACK, f"unit:{unit}", {"unit": unit, "reason": rng.choice(BOUNCE_REASONS)})
    decided_at = add_office_hours(bounced, rng.uniform(0.5, 3.0))
    if rng.random() < 0.25:
        helper = "dept.urban_management" if unit.startswith(("county.", "zone.")) else truth.territory
        decision: dict[str, Any] = {"decision": "coordinate", "lead": unit, "co_handling": [helper],
                                    "text": "经平台统筹协调，由原单位主办、相关单位协办，不得再次退单。"}
    else:
        decision = {"decision": "reassign", "unit": unit, "text": "经核实属于贵单位职责范围，退单不予支持，请按时办理。"}
    decided = line.add(decided_at, DECIDE, "dispatcher", decision)
    return add_office_hours(decided, rng.uniform(0.2, 2.0))


def _rate_and_call_back(rng: random.Random, line: Timeline, truth: TicketTruth, citizen: Citizen,
                        profile: UnitProfile, replied: datetime, *, reply_round: int) -> datetime | None:
    """The citizen's rating and the staff callback of one reply round; returns when the
    callback reopens the ticket (reached, and the citizen says it is not resolved), or None.
    In the last round a dissatisfied citizen is heard but the matter is recorded resolved."""
    late = truth.late and reply_round == 1
    rating = None
    can_rate = citizen.kind != ANONYMOUS or truth.channel.startswith("wechat")
    if can_rate and rng.random() >= NEVER_RATE_SHARE:
        rating = draw_rating(rng, profile, late=late, bounced=truth.bounced)
        if reply_round == 1:
            truth.rating = rating
        line.add(replied + timedelta(minutes=rng.randint(5, 72 * 60)), RATE, f"citizen:{truth.citizen}",
                 {"rating": rating, "comment": _comment(rng, rating)})
    if citizen.phone is None:
        return None
    if reply_round > 1 or rating == DISSATISFIED or rng.random() < CALLBACK_SAMPLE_SHARE:
        reached = rng.random() < 0.85
        heard = (rating if rating and rng.random() < 0.85
                 else draw_rating(rng, profile, late=late, bounced=truth.bounced))
        unresolved = reached and heard == DISSATISFIED and reply_round <= MAX_REOPEN_ROUNDS
        called = line.add(add_office_hours(line.last or replied, rng.uniform(1, 16)), CALLBACK,
                          "staff:callback", {"reached": reached, "rating": heard if reached else None,
                                             "resolved": (not unresolved) if reached else None})
        return called if unresolved else None
    return None


def _comment(rng: random.Random, rating: str) -> str | None:
    if rng.random() < 0.6:
        return None
    return {SATISFIED: "处理及时，态度很好", BASICALLY_SATISFIED: "问题解决了，就是有点慢",
            DISSATISFIED: "问题根本没解决，敷衍了事"}[rating]
