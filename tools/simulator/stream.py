"""The request stream: one seeded context that turns (moment, choices) into a submitted ticket."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate

from tools.simulator.behaviour import Timeline
from tools.simulator.city import City, Estate, Territory
from tools.simulator.model import SUBMIT, TicketTruth
from tools.simulator.people import Citizen, CitizenPool
from tools.simulator.texts import (
    CHANNEL_WEIGHTS,
    CHANNELS,
    Slots,
    Subcategory,
    load_taxonomy,
    render,
)

ANONYMOUS_SHARE = 0.10
ENTERPRISE_SHARE = 0.04
# A report pin lands within ~300 m of the estate it names.
PIN_JITTER = 0.003


@dataclass
class Submitted:
    truth: TicketTruth
    citizen: Citizen
    line: Timeline


@dataclass
class StreamContext:
    """Everything a generator needs, all hanging off one ``random.Random``."""

    rng: random.Random
    city: City
    seed: int
    ref_prefix: str = ""  # default SIM<seed>; a live stream uses its own so ids never repeat
    pool: CitizenPool = field(init=False)
    count: int = 0

    def __post_init__(self) -> None:
        self.pool = CitizenPool(self.rng)
        # Cumulative weights once, not per draw: random.choices would re-add them 90k times.
        self.level1, level1_weights, subs = load_taxonomy()
        self.level1_cum = list(accumulate(level1_weights))
        self.subs = {name: (items, list(accumulate(weights))) for name, (items, weights) in subs.items()}
        self.territory_cum = list(accumulate(t.weight for t in self.city.territories))
        self.channel_cum = list(accumulate(CHANNEL_WEIGHTS))
        self.subdistrict_codes = {(t.code, s.name): s.code for t in self.city.territories for s in t.subdistricts}

    def next_ref(self) -> str:
        self.count += 1
        return f"{self.ref_prefix or f'SIM{self.seed}'}-{self.count:07d}"

    def pick_territory(self) -> Territory:
        return self.rng.choices(self.city.territories, cum_weights=self.territory_cum)[0]

    def pick_subcategory(self, level1: str | None = None) -> Subcategory:
        level1 = level1 or self.rng.choices(self.level1, cum_weights=self.level1_cum)[0]
        subs, cum_weights = self.subs[level1]
        return self.rng.choices(subs, cum_weights=cum_weights)[0]

    def find_subcategory(self, level1: str, level2: str) -> Subcategory:
        return next(s for s in self.subs[level1][0] if s.level2 == level2)

    def pick_citizen(self, territory: Territory, estate: Estate, sub: Subcategory) -> Citizen:
        roll = self.rng.random()
        if sub.level1 == "营商环境" or roll < ENTERPRISE_SHARE:
            return self.pool.enterprise(territory)
        if roll < ENTERPRISE_SHARE + ANONYMOUS_SHARE and sub.request_type in ("complaint", "report"):
            return self.pool.anonymous()
        return self.pool.person(territory, estate)

    def submit(self, at: datetime, *, territory: Territory | None = None, sub: Subcategory | None = None,
               estate: Estate | None = None, channel: str | None = None, citizen: Citizen | None = None,
               episode: str | None = None, handling_unit: str | None = None,
               slots_extra: dict[str, str] | None = None) -> Submitted:
        """Generate one request at ``at``; any choice not given is drawn from the stream's mix."""
        rng = self.rng
        territory = territory or self.pick_territory()
        sub = sub or self.pick_subcategory()
        estate = estate or rng.choice(territory.estates)
        channel = channel or rng.choices(CHANNELS, cum_weights=self.channel_cum)[0]
        citizen = citizen or self.pick_citizen(territory, estate, sub)
        ref = self.next_ref()
        lon = round(estate.lon + rng.uniform(-PIN_JITTER, PIN_JITTER), 6)
        lat = round(estate.lat + rng.uniform(-PIN_JITTER, PIN_JITTER), 6)
        slots = Slots(rng, self.city, territory, estate, citizen.company)
        slots.update(slots_extra or {})
        payload, pii = render(rng, channel, ref=ref, at=at, sub=sub, slots=slots, citizen=citizen, lon=lon, lat=lat)
        unit = handling_unit or (territory.code if sub.route == "territory" else sub.route)
        truth = TicketTruth(ref, channel, at, citizen.ref, citizen.kind, sub.level1, sub.level2,
                            sub.request_type, sub.urgency, territory.code,
                            self.subdistrict_codes[(territory.code, estate.subdistrict)],
                            unit, lon, lat, estate.name, pii, episode)
        line = Timeline(ref)
        # The request id doubles as the adapter's idempotency key in phase 2.
        line.add(at, SUBMIT, f"adapter:{channel}", {"channel": channel, "request_id": ref, "request": payload})
        return Submitted(truth, citizen, line)
