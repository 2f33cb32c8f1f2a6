"""One ticket through all six services, driven the way their real users drive them."""

from __future__ import annotations

import pytest

from tests.e2e.actors import (
    DepartmentSystem,
    citizen_notice,
    event_types,
    history,
    payload_of,
    replay_over_grpc,
    submit,
    wait_for_event,
)
from tests.e2e.platform_harness import eventually

pytestmark = pytest.mark.e2e


def test_a_ticket_travels_from_the_channel_to_the_ledger(platform):
    # a channel adapter submits; the code comes back
    ticket = submit(platform, text="颍州区清河路128号的小区门口路灯坏了三天了，晚上很黑，"
                                   "老人出门不安全，请尽快修。我叫王秀英，电话13912345678。",
                    contact={"name": "王秀英", "phone": "13912345678"})
    code = ticket["code"]
    assert ticket["status"] == "accepted"

    # dispatch classifies and routes; the unit's system sees its assignment
    entries = wait_for_event(platform, code, "TicketAssigned")
    unit = payload_of(entries, "TicketAssigned")["unit"]
    department = DepartmentSystem(platform, unit)
    try:
        department.sign_for(code)
        department.reply(code, "已安排维修人员更换灯泡，路灯已恢复照明。")
    finally:
        department.close()
    wait_for_event(platform, code, "DeadlineMet")

    # the citizen is told through their channel and rates through the one-time link
    notice = citizen_notice(platform, code)
    with platform.client("feedback", "citizen", sub="nobody") as c:
        r = c.post("/v1/ratings/link", json={"token": notice.rating_token,
                                              "rating": "satisfied"})
    assert r.status_code == 201, r.text
    entries = wait_for_event(platform, code, "TicketClosed")

    # the ledger holds the whole story in causal order, once each
    types = event_types(entries)
    order = ["TicketSubmitted", "TicketAccepted", "TicketAssigned", "DeadlineSet",
             "AssignmentSignedFor", "AssignmentReplied", "DeadlineMet", "TicketRated",
             "TicketClosed"]
    positions = [types.index(t) for t in order]
    assert positions[:3] == sorted(positions[:3]) and positions[4:] == sorted(positions[4:])
    ids = [e["envelope"]["event_id"] for e in entries]
    assert len(ids) == len(set(ids))
    for t in ("TicketSubmitted", "TicketAccepted", "TicketAssigned", "TicketRated",
              "TicketClosed"):
        assert types.count(t) == 1, (t, types)
    # no personal data anywhere in the history
    text = str(entries)
    assert "13912345678" not in text and "王秀英" not in text and "128号" not in text

    # the same history over gRPC streaming
    streamed = replay_over_grpc(platform, code)
    assert [e.envelope.event_type for e in streamed] == types

    # analytics counted it for the unit
    with platform.client("analytics", "supervisor") as c:
        def counted():
            r = c.get("/v1/counts/units")
            assert r.status_code == 200, r.text
            rows = r.json()
            rows = rows.get("units", rows) if isinstance(rows, dict) else rows
            row = next((x for x in rows if x.get("unit") == unit), None)
            return row if row and row.get("closed", 0) >= 1 and row.get("rated", 0) >= 1 \
                else None
        eventually(counted, timeout=60, what="analytics counts for the unit")
    assert history(platform, code)  # still readable
