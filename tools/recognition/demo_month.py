"""Recognition on the simulator's demo month (texts it never trained on, written by another tool).

    python -m tools.recognition demo-month

Each submission of `tools.simulator`'s plan (seed 7, 30 days, the demo's rate) is read the way
intake maps channels (title/subject, text/summary/body, address or the pin's label, the pin as
GCJ-02 for the WeChat channels), then located and classified by dispatch's own code, and
compared with the simulator's ground truth (its county; its matters have a taxonomy of their
own; "routed right" compares the unit routed to with the simulator's handling unit mapped onto
the registry as its driver maps it, `tools/simulator/drive/units.py`). A rough stand-in for "the share of tickets with
unknown county in analytics" before the lead's e2e run measures it on the platform.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_TEXT = {"wechat_mini": "text", "wechat_official": "text", "hotline_12345": "summary",
         "mayor_mailbox": "body", "media_hotline": "summary", "web": "body",
         "open311": "description"}
_TITLE = {"mayor_mailbox": "subject", "web": "title"}


def simulator_landmarks(seed: int = 7) -> dict[str, Any]:
    """The simulated city's estates and roads as an operator's landmark file
    (MINSHENG_DISPATCH_PLACES_EXTRA): what a real city would load from its own address lists.
    The estates are drawn by the simulator's seed, so the file belongs to that seed."""
    import random

    from tools.simulator.city import build_city

    city = build_city(random.Random(seed))
    landmarks = []
    for t in city.territories:
        county = t.code.split(".", 1)[-1]
        landmarks += [{"name": e.name, "county": county, "kind": "estate"} for e in t.estates]
        landmarks += [{"name": r, "county": county, "kind": "road"} for r in t.roads]
    return {"note": f"tools.simulator city, seed {seed}", "landmarks": landmarks}


def demo_month(seed: int = 7, days: int = 30, with_city: bool = False,
               with_list: bool = True) -> dict[str, Any]:
    from services.dispatch.domain.linear import LinearClassifier, load_linear_model
    from services.dispatch.domain.places import Place, load_gazetteer
    from services.dispatch.domain.responsibilities import load_responsibilities
    from services.dispatch.domain.routing import load_routing_table, route
    from services.dispatch.domain.taxonomy import load_taxonomy
    from services.dispatch.domain.units import load_unit_registry
    from tools.simulator.drive.units import UnitMap, load_registry
    from tools.simulator.plan import build_plan

    plan = build_plan(seed=seed, days=days)
    # the unit the simulated city means, as the driver maps it (a ticket routed elsewhere is
    # re-planned there: make up's "routing_miss")
    units = UnitMap(plan.unit_names, load_registry())
    gazetteer = load_gazetteer([simulator_landmarks(seed)] if with_city else [])
    clf = LinearClassifier(load_taxonomy(), load_linear_model(), gazetteer.without_places,
                           duties=load_responsibilities() if with_list else None)
    table = load_routing_table(2).calibrated_to(clf.threshold)
    registry = load_unit_registry()
    tally: Counter[str] = Counter()
    for action in plan.actions:
        if action.kind != "submit":
            continue
        truth = plan.truths[action.ticket]
        channel = action.payload.get("channel", "")
        p = action.payload.get("request", action.payload)
        title = p.get(_TITLE.get(channel, ""), "") or ""
        text = p.get(_TEXT.get(channel, "text"), "") or ""
        pin = p.get("location") or {}
        address = p.get("address") or p.get("address_string") or pin.get("label") or ""
        lon, lat = pin.get("lon", p.get("long")), pin.get("lat", p.get("lat"))
        place = Place(address=address, lon=lon, lat=lat, text=f"{title}\n{text}",
                      datum=gazetteer.datum_of(channel))
        territory = gazetteer.locate(place)
        c = clf.classify(f"{title}\n{text}", address=address)
        decision = route(c, territory, table=table, gazetteer=gazetteer, registry=registry)
        tally["tickets"] += 1
        tally["county_found"] += territory.county is not None
        # The simulator names units "county.linquan", "zone.chengnan", "dept.housing" and has a
        # taxonomy of its own: the county compares exactly, the matter only by where it went.
        county = truth.territory.split(".", 1)[-1]
        tally["county_right"] += territory.county == county
        tally["county_sure"] += territory.confidence >= (table.min_territory_confidence or 0)
        routed = getattr(decision, "unit_code", None)
        tally["routed"] += routed is not None
        expected = units.registry_code(truth.handling_unit)
        tally["routed_right"] += routed is not None and routed == expected
        # a dispatcher routes these by hand on the demo platform: the simulated desk
        tally["unmapped_truth"] += expected is None
        tally["routed_to_county"] += routed is not None and routed == county
    n = tally["tickets"]
    return {**tally, "county_unknown_share": round(1 - tally["county_found"] / n, 4),
            "county_right_share": round(tally["county_right"] / n, 4),
            "unrouted_share": round(1 - tally["routed"] / n, 4),
            "routed_right_share": round(tally["routed_right"] / max(1, tally["routed"]), 4)}
