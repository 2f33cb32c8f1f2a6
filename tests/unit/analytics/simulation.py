"""A simulated month of tickets, generated from a seed, with its lifecycle facts.

The records are the ground truth a clerk would count from; the facts are what the KPI model
sees. Tests count from the records by plain comprehension and compare with the model.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SH = ZoneInfo("Asia/Shanghai")
DEPARTMENTS = ["市城管局", "市市场监管局", "市房产局", "市住建局", "市生态环境局", "市交通运输局",
               "市教育局", "市人社局", "市卫健委", "市水务局", "市公安局", "市自然资源局"]
COUNTIES = ["颍州区", "颍东区", "颍泉区", "界首市", "临泉县", "太和县", "阜南县", "颍上县"]
CATEGORIES = ["物业管理", "城市管理", "市场监管", "交通出行", "教育", "劳动社保", "医疗卫生", "环境保护"]
CHANNELS = ["hotline", "wechat_mini", "wechat_official", "mayor_mailbox", "media"]
POINTS = {"satisfied": 100, "basically_satisfied": 80, "dissatisfied": 0}


@dataclass
class Assignment:
    unit: str
    at: datetime
    bounced: bool = False
    sign_minutes: int | None = None
    reply: tuple[bool, int] | None = None  # (on time, handling minutes)
    closed_at: datetime | None = None
    rating: str | None = None
    callback: str | None = None
    reopened: bool = False
    reclosed: bool = False

    @property
    def finally_closed(self) -> bool:
        return self.closed_at is not None and (not self.reopened or self.reclosed)

    def verdict(self) -> float | None:
        r = POINTS.get(self.rating or "")
        c = POINTS.get(self.callback or "")
        if r is None and c is None:
            return None
        if r is None or c is None:
            return float(c if r is None else r)
        return 0.6 * c + 0.4 * r


@dataclass
class Ticket:
    id: str
    at: datetime
    channel: str
    county: str
    category: str
    accepted: bool
    assignments: list[Assignment] = field(default_factory=list)


def simulate(seed: int, n: int, month_start: datetime) -> tuple[list[Ticket], list[tuple]]:
    rng = random.Random(seed)
    tickets, facts = [], []
    for i in range(n):
        at = month_start + timedelta(minutes=rng.randrange(31 * 24 * 60))
        t = Ticket(f"T{seed}-{i:05d}", at, rng.choice(CHANNELS), rng.choice(COUNTIES),
                   rng.choice(CATEGORIES), rng.random() < 0.95)
        tickets.append(t)
        facts.append((at, t.id, "received", {"channel": t.channel, "county": t.county,
                                             "category": t.category}))
        if not t.accepted:
            continue
        facts.append((at + timedelta(minutes=5), t.id, "accepted", {}))
        units = DEPARTMENTS + COUNTIES
        first = rng.choice(units)
        when = at + timedelta(minutes=10)
        if rng.random() < 0.1:
            t.assignments.append(Assignment(first, when, bounced=True))
            facts.append((when, t.id, "assigned", {"unit": first}))
            facts.append((when + timedelta(hours=2), t.id, "bounced_back", {"unit": first}))
            first = rng.choice([u for u in units if u != first])
            when = when + timedelta(hours=3)
        a = Assignment(first, when)
        t.assignments.append(a)
        facts.append((when, t.id, "assigned", {"unit": a.unit}))
        _handle(rng, t, a, facts)
    facts.sort(key=lambda f: (f[0], f[1]))
    return tickets, facts


def _handle(rng: random.Random, t: Ticket, a: Assignment, facts: list[tuple]) -> None:
    u = {"unit": a.unit}
    a.sign_minutes = rng.randrange(1, 600)
    signed = a.at + timedelta(minutes=a.sign_minutes)
    facts.append((signed, t.id, "signed_for", {**u, "elapsed": timedelta(minutes=a.sign_minutes)}))
    if rng.random() < 0.08:
        return  # still open at month end
    handling = rng.randrange(60, 9 * 24 * 60)
    a.reply = (handling < 5 * 24 * 60, handling)
    replied = a.at + timedelta(minutes=handling)
    facts.append((replied, t.id, "replied", {**u, "on_time": a.reply[0],
                                             "handling_time": timedelta(minutes=handling)}))
    if rng.random() < 0.1:
        return  # replied, not yet closed
    a.closed_at = replied + timedelta(hours=1)
    facts.append((a.closed_at, t.id, "closed", u))
    a.rating = rng.choice(["satisfied"] * 6 + ["basically_satisfied"] * 2
                          + ["dissatisfied", "unrated"])
    facts.append((a.closed_at + timedelta(hours=2), t.id, "rated", {**u, "rating": a.rating}))
    if rng.random() < 0.5:
        a.callback = rng.choice(["satisfied", "basically_satisfied", "dissatisfied",
                                 "unreachable"])
        facts.append((a.closed_at + timedelta(days=1), t.id, "callback",
                      {**u, "outcome": a.callback}))
    if rng.random() < 0.06:
        a.reopened = True
        facts.append((a.closed_at + timedelta(days=2), t.id, "reopened", u))
        if rng.random() < 0.5:
            a.reclosed = True
            facts.append((a.closed_at + timedelta(days=4), t.id, "closed", u))


def feed(model: Any, facts: list[tuple]) -> Any:
    for at, ticket_id, kind, attrs in facts:
        getattr(model, kind)(ticket_id, at, **attrs)
    return model
