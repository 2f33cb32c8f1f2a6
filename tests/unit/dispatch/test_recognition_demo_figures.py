"""`python -m tools.recognition demo-figures` on recorded answers of analytics and audit."""

from __future__ import annotations

from typing import Any

import httpx
from google.protobuf.json_format import MessageToDict
from minsheng.v1 import dispatch_events_pb2 as pb
from minsheng.v1 import intake_events_pb2

from tools.recognition.demo_figures import (
    county_figures,
    demo_figures,
    dispatch_figures,
    render,
)


def entry(ticket: str, message: Any) -> dict[str, Any]:
    """A ledger entry as audit's /v1/ledger/entries shows it (payload decoded)."""
    return {"ticket_id": ticket, "event_type": type(message).DESCRIPTOR.name,
            "payload": MessageToDict(message, preserving_proto_field_name=True)}


LEDGER = [
    entry("a", intake_events_pb2.TicketAccepted()),
    entry("a", pb.TicketAssigned(unit="funan", rule="路由表v2：分类property（置信度0.97）")),
    entry("b", intake_events_pb2.TicketAccepted()),
    entry("b", pb.TicketQueuedForDispatcher(queue="unrouted", county="taihe")),
    entry("b", pb.TicketAssigned(unit="taihe", rule="平台人工派单")),
    entry("c", intake_events_pb2.TicketAccepted()),
    entry("c", pb.TicketQueuedForDispatcher(queue="unrouted")),  # still waiting
    entry("d", intake_events_pb2.TicketAccepted()),
    entry("d", pb.TicketAssigned(unit="housing", rule="路由表v2：…")),
    # reopened later: queued again for a dispatcher, but it was routed automatically first
    entry("d", pb.TicketQueuedForDispatcher(queue="reopened")),
    entry("d", pb.TicketAssigned(unit="housing", rule="重办", assignment_no=2)),
    entry("e", pb.TicketAssigned(unit="x", rule="路由表v2")),  # never accepted: not counted
]


def test_who_routed_each_ticket_first():
    figures = dispatch_figures(LEDGER)
    assert figures == {"accepted": 4, "routed_automatically": 2, "routed_by_dispatcher": 1,
                       "waiting_for_dispatcher": 1, "dispatcher_share": 0.5}


def test_unknown_county_share_over_the_months():
    pages = [{"rows": [{"value": "funan", "received": 6}, {"value": "未知", "received": 2}]},
             {"rows": [{"value": "funan", "received": 1}, {"value": "taihe", "received": 1}]}]
    figures = county_figures(pages)
    assert figures["tickets"] == 10 and figures["county_unknown"] == 2
    assert figures["county_unknown_share"] == 0.2
    assert list(figures["by_county"]) == ["funan", "未知", "taihe"]
    assert county_figures([])["county_unknown_share"] is None


def test_reads_the_running_platforms_apis_with_their_tokens():
    seen: list[str] = []

    def analytics(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer OBS"
        seen.append(str(request.url.params))
        if request.url.path == "/v1/months":
            return httpx.Response(200, json={"months": [{"month": "2026-11"},
                                                        {"month": "2026-12"}]})
        rows = {"2026-11": [{"value": "linquan", "received": 3},
                            {"value": "未知", "received": 1}],
                "2026-12": [{"value": "linquan", "received": 4}]}[request.url.params["at"]]
        return httpx.Response(200, json={"rows": rows})

    def audit(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer AUD"
        after = int(request.url.params["after"])
        page = LEDGER[after:after + 5]
        return httpx.Response(200, json={"entries": page, "next_after": after + len(page)})

    with httpx.Client(base_url="http://analytics", transport=httpx.MockTransport(analytics)) as a, \
            httpx.Client(base_url="http://audit", transport=httpx.MockTransport(audit)) as b:
        found = demo_figures(analytics=a, audit=b, observer_token="OBS", auditor_token="AUD")
    assert found["county"]["county_unknown_share"] == 0.125
    assert found["dispatch"]["dispatcher_share"] == 0.5
    assert any("dimension=county" in s and "at=2026-12" in s for s in seen)
    text = render(found)
    assert "county 未知: 1 (12.5 %)" in text and "needed a dispatcher 50.0 %" in text
