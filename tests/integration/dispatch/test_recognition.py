"""Where and what, measured where users see it: 62 hand-written requests (not generated, not in
the phrase banks) through the web channel's events into a running dispatch on the real Kafka
and PostgreSQL. Figures (docs/recognition.md) are printed; the assertions sit under them."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from services.dispatch.domain.routing import load_routing_table
from tests.integration.dispatch.data.handwritten_requests import REQUESTS

pytestmark = pytest.mark.integration

OUTCOMES = ("TicketAssigned", "TicketQueuedForDispatcher")


async def test_handwritten_requests_find_their_county_and_matter(dispatch):
    submitted = []
    for title, body, address, county, category, sub in REQUESTS:
        ticket_id, _ = await dispatch.submit_web(title, body, address)
        submitted.append((ticket_id, county, category, sub))
    outcomes = await asyncio.gather(
        *(dispatch.wait_for_any(t, OUTCOMES) for t, *_ in submitted))
    placed = [(o, county) for o, (_, county, _, _) in zip(outcomes, submitted, strict=True)
              if county]
    county_right = sum(o.payload.county == county for o, county in placed)
    category_right = sum(o.payload.category == cat
                         for o, (_, _, cat, _) in zip(outcomes, submitted, strict=True))
    sub_right = sum(o.payload.subcategory == sub
                    for o, (_, _, _, sub) in zip(outcomes, submitted, strict=True))
    routed = [(o, s) for o, s in zip(outcomes, submitted, strict=True)
              if o.event_type == "TicketAssigned"]
    routed_right = sum(_right_unit(o, county, sub) for o, (_, county, _, sub) in routed)
    departmental_with_county = [o for o, (_, county, _, _) in routed
                                if county and o.payload.unit_kind == "department"]
    figures = {
        "requests": len(REQUESTS), "with_place": len(placed), "county_right": county_right,
        "category_right": category_right, "subcategory_right": sub_right,
        "routed": len(routed), "routed_right": routed_right,
        "unrouted": len(REQUESTS) - len(routed),
        "department_tickets_with_county": sum(bool(o.payload.county)
                                              for o in departmental_with_county),
        "department_tickets": len(departmental_with_county),
        "misses": [
            {"expected": [county, sub], "got": [o.payload.county, o.payload.subcategory],
             "outcome": o.event_type}
            for o, (_, county, _, sub) in zip(outcomes, submitted, strict=True)
            if o.payload.subcategory != sub or (county and o.payload.county != county)],
    }
    print("\nRECOGNITION", json.dumps(figures, ensure_ascii=False, indent=1))
    if os.environ.get("MINSHENG_RECOGNITION_FIGURES"):
        with open(os.environ["MINSHENG_RECOGNITION_FIGURES"], "w", encoding="utf-8") as f:
            json.dump(figures, f, ensure_ascii=False, indent=1)
    assert county_right >= 0.9 * len(placed)
    assert category_right >= 0.7 * len(REQUESTS)
    assert routed_right >= 0.9 * len(routed)
    assert len(routed) >= 0.5 * len(REQUESTS)
    # A city department's ticket records the county it was found in.
    assert figures["department_tickets_with_county"] == figures["department_tickets"]


def _right_unit(assigned, county: str, sub: str) -> bool:
    """Right unit: the department of the matter, or the county of the place."""
    rule = load_routing_table(2).rules[sub]
    return assigned.payload.unit == (county if rule.territorial else rule.unit)
