"""Planted episodes with known answers, returned with the stream as ground truth.

- a run of property-fee complaints at one estate in one week (a hot topic analytics must find);
- a jurisdiction dispute between two units, modelled on Fuyang's rubbish-on-the-road case
  (urban management: not our cleaning area; the new district: not in the tender; the platform
  coordinates and the 清河街道 sub-district leads);
- a burst of duplicate reports of one burst water main (what intake's merging must link).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from tools.simulator.behaviour import handle
from tools.simulator.model import (
    BOUNCE_BACK,
    DECIDE,
    NOTE,
    RATE,
    REPLY,
    SATISFIED,
    SIGN_FOR,
    Episode,
)
from tools.simulator.rhythm import add_office_hours, arrival_times, is_workday
from tools.simulator.stream import StreamContext, Submitted
from tools.simulator.texts import Subcategory

FEE_RUN_SIZE = 40
FEE_RISE = "{estate}物业今年把物业费从每平方米0.{fee_old}元涨到了1.{fee_new}元，没有开业主大会，也没有公示"
# People at the scene of one matter report it mostly from their phones, pin and photo included
# (an estate's owners rally in their WeChat group and send each other the mini-program).
EPISODE_CHANNELS = ("wechat_mini", "hotline_12345", "wechat_official", "web")
EPISODE_CHANNEL_WEIGHTS = (0.70, 0.20, 0.06, 0.04)
DUPLICATE_BURST_SIZE = 12
DISPUTE_ZONE = "zone.chengnan"
DISPUTE_LEAD_NAME = "清河街道"
FIRST_UNIT = "dept.urban_management"
DISPUTE = "episode.jurisdiction_dispute"


def dispute_reasons(year: int) -> dict[str, str]:
    """What each disputing unit says when it bounces the rubbish back (the Fuyang case)."""
    return {FIRST_UNIT: "该路段不在我单位保洁范围内",
            DISPUTE_ZONE: f"该路段未纳入{year}年市政道路保洁招标计划"}


def property_fee_run(ctx: StreamContext, start: date, days: int, size: int = FEE_RUN_SIZE
                     ) -> tuple[Episode, list[Submitted]]:
    """``size`` 物业收费 complaints at one estate, all inside one week (the second, if there is one)."""
    rng = ctx.rng
    territory = rng.choice([t for t in ctx.city.territories if t.kind == "county"])
    estate = rng.choice(territory.estates)
    first = start + timedelta(days=7 if days >= 14 else 0)
    span = min(7, (start + timedelta(days=days) - first).days)
    # One matter: the estate's fee rise, with the same figures, told by many owners.
    sub = replace(ctx.find_subcategory("物业管理", "物业收费"), issues=(FEE_RISE,), exclusive=True)
    facts = {"fee_old": str(rng.randint(5, 8)), "fee_new": str(rng.randint(0, 5))}
    moments = _spread(rng, first, span, size)
    episode_id = "episode.property_fee_run"
    submitted = []
    for at in moments:
        item = ctx.submit(at, territory=territory, sub=sub, estate=estate,
                          citizen=ctx.pool.person(territory, estate, fresh=True), episode=episode_id,
                          channel=rng.choices(EPISODE_CHANNELS, EPISODE_CHANNEL_WEIGHTS)[0],
                          slots_extra=facts)
        handle(rng, item.line, item.truth, item.citizen)
        submitted.append(item)
    answer = {"category": "物业管理", "subcategory": "物业收费", "estate": estate.name,
              "territory": territory.code, "subdistrict": estate.subdistrict, "count": size,
              "week_start": first.isoformat(), "week_end": (first + timedelta(days=span - 1)).isoformat(),
              # one matter: reports within the duplicate window should be merged into cases
              "same_matter": True}
    description = f"{territory.name}{estate.name}一周内{size}件物业收费投诉"
    return Episode(episode_id, "hot_topic", description, [s.truth.ticket for s in submitted], answer), submitted


def _a_working_day(start: date, offset: int) -> date:
    """The working day nearest ``start + offset`` days, not before ``start`` (it falls back
    to the first working day after when none lies between)."""
    for back in range(offset + 1):
        if is_workday(start + timedelta(days=offset - back)):
            return start + timedelta(days=offset - back)
    day = start + timedelta(days=offset)
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def jurisdiction_dispute(ctx: StreamContext, start: date, days: int) -> tuple[Episode, list[Submitted]]:
    """Rubbish on a road between two estates in 城南新区: two bounce-backs, then coordination."""
    rng = ctx.rng
    zone = ctx.city.territory(DISPUTE_ZONE)
    estate_a, estate_b = rng.sample(zone.estates, 2)
    lead = next(s for s in zone.subdistricts if s.name == DISPUTE_LEAD_NAME)
    sub = Subcategory("市容环境", "垃圾清运", "territory", "complaint", "simple",
                      titles=("{estate}与{estate_b}之间道路无人清扫",),
                      issues=("{estate}与{estate_b}大门口之间的道路垃圾太多，没有人清扫",),
                      asks=("请相关部门尽快安排清扫", "希望有人管一管"), exclusive=True, plain=True)
    day = _a_working_day(start, min(10, days - 1))
    at = datetime.combine(day, time(9, rng.randint(0, 59)))
    item = ctx.submit(at, territory=zone, sub=sub, estate=estate_a, channel="wechat_mini",
                      citizen=ctx.pool.person(zone, estate_a, fresh=True), episode=DISPUTE,
                      handling_unit=lead.code, slots_extra={"estate_b": estate_b.name})
    line, truth = item.line, item.truth
    truth.bounced = True
    reasons = dispute_reasons(day.year)
    t = line.add(add_office_hours(at, 2.0), BOUNCE_BACK, f"unit:{FIRST_UNIT}",
                 {"unit": FIRST_UNIT, "reason": reasons[FIRST_UNIT]})
    t = line.add(add_office_hours(t, 1.0), DECIDE, "dispatcher",
                 {"decision": "reassign", "unit": DISPUTE_ZONE, "text": "请城南新区核实辖区保洁责任"})
    # Both bounce-backs the same working day: dispatch accepts one only within 24 hours of its
    # assignment, so a Friday's second bounce on Monday would be (rightly) refused.
    t = line.add(add_office_hours(t, 3.0), BOUNCE_BACK, f"unit:{DISPUTE_ZONE}",
                 {"unit": DISPUTE_ZONE, "reason": reasons[DISPUTE_ZONE]})
    decision = {"decision": "coordinate", "lead": lead.code, "co_handling": [FIRST_UNIT, DISPUTE_ZONE],
                "text": f"经平台统筹协调，在保洁养护单位进场前，由城南新区{lead.name}负责组织协调小区物业打扫，不得再次退单。"}
    t = line.add(add_office_hours(t, 3.0), DECIDE, "dispatcher", decision)
    t = line.add(add_office_hours(t, 0.5), SIGN_FOR, f"unit:{lead.code}", {"unit": lead.code})
    t = line.add(add_office_hours(t, 2.0), NOTE, f"unit:{lead.code}",
                 {"unit": lead.code, "text": "已联系两小区物业，明日组织人员清扫。"})
    t = line.add(add_office_hours(t, 6.0), REPLY, f"unit:{lead.code}",
                 {"unit": lead.code, "outcome": "resolved", "text": "已组织小区物业完成道路清扫，并建立日常保洁机制。"})
    truth.rating = SATISFIED
    line.add(t + timedelta(hours=3), RATE, f"citizen:{truth.citizen}", {"rating": SATISFIED, "comment": "处理及时，谢谢"})
    answer = {"disputing_units": [FIRST_UNIT, DISPUTE_ZONE], "lead": lead.code, "lead_name": lead.name,
              "co_handling": [FIRST_UNIT, DISPUTE_ZONE], "bounce_backs": 2, "place": f"{estate_a.name}与{estate_b.name}之间道路"}
    episode = Episode(DISPUTE, "jurisdiction_dispute",
                      "道路垃圾无人清扫：城管与城南新区相互退单，平台统筹由清河街道牵头", [truth.ticket], answer)
    return episode, [item]


def duplicate_burst(ctx: StreamContext, start: date, days: int, size: int = DUPLICATE_BURST_SIZE
                    ) -> tuple[Episode, list[Submitted]]:
    """One burst water main reported ``size`` times within two hours; only the first is handled."""
    rng = ctx.rng
    territory = rng.choice([t for t in ctx.city.territories if t.kind == "county"])
    estate = rng.choice(territory.estates)
    base = ctx.find_subcategory("供水", "管道爆裂")
    sub = replace(base, issues=(rng.choice(base.issues),), exclusive=True)
    day = start + timedelta(days=min(3, days - 1))
    begin = datetime.combine(day, time(7, rng.randint(0, 50)))
    moments = sorted(begin + timedelta(seconds=rng.randrange(7200)) for _ in range(size))
    submitted = [ctx.submit(at, territory=territory, sub=sub, estate=estate,
                            citizen=ctx.pool.person(territory, estate, fresh=True),
                            channel=rng.choices(EPISODE_CHANNELS, EPISODE_CHANNEL_WEIGHTS)[0],
                            episode="episode.duplicate_burst") for at in moments]
    # The platform should merge these into one case: one unit handles the first; the others get its answer.
    handle(rng, submitted[0].line, submitted[0].truth, submitted[0].citizen)
    tickets = [s.truth.ticket for s in submitted]
    answer = {"case_of": tickets[0], "duplicates": tickets[1:], "category": "供水", "subcategory": "管道爆裂",
              "estate": estate.name, "road": estate.road, "territory": territory.code}
    episode = Episode("episode.duplicate_burst", "duplicates", f"{territory.name}{estate.road}水管爆裂，{size}人重复反映",
                      tickets, answer)
    return episode, submitted


def _spread(rng: random.Random, first: date, span: int, size: int) -> list[datetime]:
    per_day = [size // span + (1 if i < size % span else 0) for i in range(span)]
    moments: list[datetime] = []
    for i, count in enumerate(per_day):
        moments += arrival_times(rng, first + timedelta(days=i), count)
    return moments
