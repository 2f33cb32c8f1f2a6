"""Two simulated months (Feb and Mar 2024) as the envelopes the other services would publish,
with the ground truth a clerk would count from. Some units are made plainly bad, so the
ranking's bottom 3 is known; 40 property-fee complaints are planted at one estate in one week.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from minsheng.v1 import (
    common_pb2,
    dispatch_events_pb2,
    feedback_events_pb2,
    intake_events_pb2,
    sla_events_pb2,
)

from backbone import events

SH = ZoneInfo("Asia/Shanghai")
COUNTIES = ["yingzhou", "yingdong", "yingquan", "jieshou", "linquan", "taihe", "funan",
            "yingshang"]
# rough county seats (lon, lat): where the simulated tickets with a location are
SEATS = {"yingzhou": (115.81, 32.89), "yingdong": (115.95, 32.95), "yingquan": (115.78, 33.0),
         "jieshou": (115.37, 33.26), "linquan": (115.26, 33.06), "taihe": (115.62, 33.16),
         "funan": (115.59, 32.64), "yingshang": (116.26, 32.63)}
DEPARTMENTS = ["urban-mgmt", "market-reg", "housing", "property", "transport"]
BAD = {"linquan", "taihe", "funan", "transport"}
CATEGORIES = ["urban-construction", "urban-management", "transport", "market", "labour"]
CHANNELS = ["hotline_12345", "wechat_mini", "wechat_official", "mayor_mailbox"]
POINTS = {"satisfied": 100, "basically_satisfied": 80, "dissatisfied": 0}
HOT_ESTATE = "锦绣华庭小区"
HOT_WEEK = datetime(2024, 3, 11, tzinfo=SH)  # Monday of ISO week 2024-W11
ESTATES = ["阳光花园", "清河家园", "金色家园", "翡翠华庭", "幸福小区", "文峰小区", "颍河新村",
           "东方公寓", "泉北小区", "和谐家园", "书香华庭", "兴业小区", "青年公寓", "桃源小区"]
FEE_TEXTS = [
    "{p}物业费今年突然上涨，物业公司没有公示就涨价，业主不认可",
    "{p}物业乱收费，物业费比合同多收了一倍，联系电话138****5678",
    "{p}物业公司催缴物业费态度强硬，收费标准不透明",
    "{p}物业费收费标准没有经过业主大会，涨价不合理",
    "{p}物业收取公摊电费，费用明细不公开，物业费过高",
]
PROPERTY_NOISE = [
    "{p}电梯坏了一个月没人修，老人上下楼困难", "{p}楼道灯损坏，晚上出行不安全",
    "{p}保安不在岗，陌生人随意进出，存在安全隐患", "{p}维修资金使用不公示，账目不清楚",
    "{p}车位被外来车辆占用，停车难", "{p}垃圾清运不及时，异味很大",
    "{p}物业管家服务态度差，报修推诿拖延", "{p}物业费收费不合理，希望核查",
]
OTHER_NOISE = ["人民路路灯不亮，晚上很黑", "清河路占道经营，摊贩很多", "公交车班次太少，等车时间长",
               "一家超市销售过期食品", "附近工地夜间施工噪音扰民", "公司拖欠工资三个月未发",
               "医院挂号难，排队时间太长", "社保转移手续办理太慢"]


@dataclass
class TruthTicket:
    id: str
    at: datetime
    county: str
    unit: str  # the unit that kept it (after a bounce-back, the second one)
    accepted: bool
    bounced_from: str | None = None
    replied: bool = False
    on_time: bool = False
    closed: bool = False  # finally closed
    rating: str | None = None
    callback: str | None = None

    def verdict(self) -> float | None:
        r, c = POINTS.get(self.rating or ""), POINTS.get(self.callback or "")
        if r is None and c is None:
            return None
        if r is None or c is None:
            return float(c if r is None else r)
        return 0.6 * c + 0.4 * r


@dataclass
class Month:
    envelopes: list[Any] = field(default_factory=list)  # envelope_pb2.Envelope, in order
    tickets: list[TruthTicket] = field(default_factory=list)


def kind_of(unit: str) -> str:
    return "county" if unit in COUNTIES else "department"


class Simulator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.data = Month()
        self.n = 0

    def emit(self, ticket: str, n: int, producer: str, payload: Any, at: datetime) -> None:
        self.data.envelopes.append(events.make_envelope(
            payload=payload, event_id=events.event_id_for(f"{ticket}:{producer}", n),
            ticket_id=ticket, ticket_code=f"FY{ticket[-6:]}", producer=producer,
            occurred_at=at))

    def ticket(self, at: datetime, unit: str, text: str, county: str | None = None) -> None:
        rng, self.n = self.rng, self.n + 1
        tid = f"00000000-0000-4000-8000-{self.n:012d}"
        county = county or (unit if unit in COUNTIES else rng.choice(COUNTIES))
        category, channel = rng.choice(CATEGORIES), rng.choice(CHANNELS)
        t = TruthTicket(tid, at, county, unit, accepted=rng.random() > 0.05)
        self.data.tickets.append(t)
        self.emit(tid, 1, "intake", intake_events_pb2.TicketSubmitted(
            channel=channel, text_masked=text, place=self.place(county)), at)
        if not t.accepted:
            self.emit(tid, 2, "intake", intake_events_pb2.TicketRejected(
                reason_code="out_of_scope"), at + timedelta(minutes=1))
            return
        self.emit(tid, 2, "intake", intake_events_pb2.TicketAccepted(), at + timedelta(minutes=1))
        when, no = at + timedelta(minutes=5), 1
        if rng.random() < 0.06:
            first = rng.choice([u for u in (COUNTIES + DEPARTMENTS) if u != unit])
            t.bounced_from = first
            self._assign(tid, first, county, category, channel, no, when, text)
            self.emit(tid, 110 + no, "dispatch", dispatch_events_pb2.AssignmentBouncedBack(
                unit=first, assignment_no=no, reason="不属于本单位"), when + timedelta(hours=1))
            when, no = when + timedelta(hours=2), 2
        self._assign(tid, unit, county, category, channel, no, when, text)
        self._handle(t, no, when)

    def place(self, county: str) -> Any:
        """Two tickets in three carry a point near their county seat (own generator: the
        figures the other tests count stay as they were)."""
        rng = random.Random(self.n)
        if rng.random() < 1 / 3:
            return common_pb2.Place()
        lon, lat = SEATS[county]
        point = common_pb2.GeoPoint(lon=lon + rng.uniform(-0.05, 0.05),
                                    lat=lat + rng.uniform(-0.05, 0.05))
        return common_pb2.Place(point=point, has_point=True)

    def _assign(self, tid: str, unit: str, county: str, category: str, channel: str, no: int,
                at: datetime, text: str) -> None:
        subcategory = "property" if "物业" in text or "小区" in text else "street-lighting"
        self.emit(tid, 100 + no, "dispatch", dispatch_events_pb2.TicketAssigned(
            unit=unit, unit_kind=kind_of(unit), category=category, subcategory=subcategory,
            county=county, urgency="general", assignment_no=no, channel=channel,
            parent_unit="city", role="lead"), at)

    def _handle(self, t: TruthTicket, no: int, assigned: datetime) -> None:
        rng, bad = self.rng, t.unit in BAD
        tid, unit = t.id, t.unit
        self.emit(tid, 30, "dispatch", dispatch_events_pb2.AssignmentSignedFor(
            unit=unit, assignment_no=no), assigned + timedelta(minutes=rng.randrange(5, 300)))
        if rng.random() < (0.55 if bad else 0.05):
            return  # never replied
        t.replied, t.on_time = True, rng.random() < (0.2 if bad else 0.9)
        replied = assigned + timedelta(hours=rng.randrange(2, 100))
        if not t.on_time:
            self.emit(tid, 31, "sla", sla_events_pb2.DeadlineMissed(clock_no=1, unit=unit),
                      replied - timedelta(minutes=30))
        self.emit(tid, 32, "dispatch", dispatch_events_pb2.AssignmentReplied(
            unit=unit, assignment_no=no, outcome="resolved"), replied)
        self.emit(tid, 33, "dispatch", dispatch_events_pb2.ReplyReviewed(
            unit=unit, assignment_no=no, accepted=True, reviewed_by="auto"), replied)
        if t.on_time:
            self.emit(tid, 34, "sla", sla_events_pb2.DeadlineMet(clock_no=1, unit=unit), replied)
        if rng.random() < 0.1:
            return  # replied, not closed
        closed = replied + timedelta(hours=1)
        t.closed = True
        rating = rng.choice(["dissatisfied"] * 6 + ["basically_satisfied", "unrated"] if bad
                            else ["satisfied"] * 6 + ["basically_satisfied"] * 2
                            + ["dissatisfied", "unrated"])
        self.emit(tid, 40, "feedback", feedback_events_pb2.TicketClosed(unit=unit, rating=rating),
                  closed)
        if rating == "unrated":
            self.emit(tid, 41, "feedback", feedback_events_pb2.TicketMarkedUnrated(unit=unit),
                      closed + timedelta(hours=2))
        else:
            t.rating = rating
            self.emit(tid, 41, "feedback", feedback_events_pb2.TicketRated(
                rating=rating, via="channel", unit=unit), closed + timedelta(hours=2))
        if rng.random() < 0.3:
            reached = rng.random() < 0.8
            outcome = rng.choice(["satisfied", "basically_satisfied", "dissatisfied"])
            if reached:
                t.callback = outcome
            self.emit(tid, 42, "feedback", feedback_events_pb2.CallbackRecorded(
                reached=reached, satisfaction=outcome if reached else "", unit=unit),
                closed + timedelta(days=1))
        if rng.random() < 0.05:
            self.emit(tid, 43, "feedback", feedback_events_pb2.TicketReopened(
                reopen_count=1, reason="不满意", unit=unit), closed + timedelta(days=2))
            t.closed = rng.random() < 0.5
            if t.closed:
                self.emit(tid, 44, "feedback", feedback_events_pb2.TicketClosed(
                    unit=unit, rating=rating), closed + timedelta(days=4))


def simulate(seed: int = 2024, per_unit: int = 16) -> Month:
    sim = Simulator(seed)
    units = COUNTIES + DEPARTMENTS
    for month_start in (datetime(2024, 2, 1, tzinfo=SH), datetime(2024, 3, 1, tzinfo=SH)):
        days = 29 if month_start.month == 2 else 31
        for unit in units:
            for _ in range(per_unit):
                at = month_start + timedelta(minutes=sim.rng.randrange((days - 1) * 24 * 60))
                sim.ticket(at, unit, _noise_text(sim.rng))
    for i in range(40):  # the planted hot spot: fees at one estate in one week
        at = HOT_WEEK + timedelta(minutes=sim.rng.randrange(7 * 24 * 60))
        sim.ticket(at, "property", FEE_TEXTS[i % len(FEE_TEXTS)].format(p=HOT_ESTATE),
                   county="yingzhou")
    sim.data.envelopes.sort(key=lambda e: (e.occurred_at.ToDatetime(), e.ticket_id))
    return sim.data


def _noise_text(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(PROPERTY_NOISE).format(p=rng.choice(ESTATES))
    return rng.choice(OTHER_NOISE)


def month_of(at: datetime) -> str:
    return at.astimezone(SH).strftime("%Y-%m")


def city_truth(tickets: list[TruthTicket], month: str) -> dict[str, Any]:
    """What a clerk counts for the city in `month` (tickets received in it)."""
    mine = [t for t in tickets if month_of(t.at) == month]
    accepted = [t for t in mine if t.accepted]
    replied = [t for t in accepted if t.replied]
    verdicts = [v for t in accepted if (v := t.verdict()) is not None]
    return {
        "received": len(mine), "accepted": len(accepted),
        "closed": sum(t.closed for t in accepted),
        "completion_rate": sum(t.closed for t in accepted) / len(accepted),
        "on_time_rate": sum(t.on_time for t in replied) / len(replied),
        "satisfaction": sum(verdicts) / (100 * len(verdicts)), "rated": len(verdicts),
    }


def unit_truth(tickets: list[TruthTicket], unit: str, month: str) -> dict[str, Any]:
    """What a clerk counts for one unit: assignments to it, what it kept, what it closed."""
    mine = [t for t in tickets if month_of(t.at) == month and t.accepted]
    kept = [t for t in mine if t.unit == unit]
    bounced = [t for t in mine if t.bounced_from == unit]
    return {"received": len(kept) + len(bounced), "handled": len(kept),
            "closed": sum(t.closed for t in kept)}
