"""Recognition as users see it on a RUNNING platform (after `make up`): how many tickets
analytics counts under county "未知", and how many a dispatcher had to route by hand.

    python -m tools.recognition demo-figures [--analytics URL] [--audit URL] [--json]

County: analytics' own figures (`/v1/months`, then `/v1/kpis?dimension=county` for each
month), summed over the months: what the dashboard's county ranking covers.
Dispatcher: the audit ledger (`/v1/ledger/entries`, paged), ticket by ticket: a ticket
dispatch queued for a dispatcher (TicketQueuedForDispatcher, queue "unrouted") before its
first TicketAssigned needed a person; one whose first TicketAssigned came from the routing
table ("路由表v…") was routed automatically. Tokens are minted locally (observer, auditor),
as `python -m tools.demo where` does: development platforms only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx

UNKNOWN_COUNTY = "未知"  # services/analytics/domain/fold.py
ROUTER_RULE = "路由表v"  # services/dispatch/application/upstream.py: what the router writes


def county_figures(pages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Received tickets per county over the months' `/v1/kpis?dimension=county` answers."""
    received: dict[str, int] = {}
    for page in pages:
        for row in page.get("rows", ()):
            received[row["value"]] = received.get(row["value"], 0) + int(row.get("received") or 0)
    total = sum(received.values())
    unknown = received.get(UNKNOWN_COUNTY, 0)
    return {"tickets": total, "county_unknown": unknown,
            "county_unknown_share": round(unknown / total, 4) if total else None,
            "by_county": dict(sorted(received.items(), key=lambda kv: -kv[1]))}


def dispatch_figures(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Who routed each ticket first, from ledger entries in ledger order."""
    first: dict[str, str] = {}  # ticket -> "auto" | "dispatcher" | "waiting"
    accepted: set[str] = set()
    for e in entries:
        ticket, kind = e.get("ticket_id") or "", e.get("event_type") or ""
        payload = e.get("payload") or {}
        if kind == "TicketAccepted":
            accepted.add(ticket)
        elif kind == "TicketQueuedForDispatcher" and ticket not in first:
            if (payload.get("queue") or "unrouted") == "unrouted":
                first[ticket] = "waiting"
        elif kind == "TicketAssigned":
            seen = first.get(ticket)
            if seen is None:
                by_router = str(payload.get("rule") or "").startswith(ROUTER_RULE)
                first[ticket] = "auto" if by_router else "dispatcher"
            elif seen == "waiting":
                first[ticket] = "dispatcher"
    counts = {k: sum(1 for t, v in first.items() if v == k and t in accepted)
              for k in ("auto", "dispatcher", "waiting")}
    decided = sum(counts.values())
    needed = counts["dispatcher"] + counts["waiting"]
    return {"accepted": len(accepted), "routed_automatically": counts["auto"],
            "routed_by_dispatcher": counts["dispatcher"],
            "waiting_for_dispatcher": counts["waiting"],
            "dispatcher_share": round(needed / decided, 4) if decided else None}


def _pages(client: httpx.Client, token: str) -> Iterator[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    months = client.get("/v1/months", headers=headers)
    months.raise_for_status()
    for m in months.json().get("months", ()):
        page = client.get("/v1/kpis", params={"dimension": "county", "period": "month",
                                              "at": m["month"]}, headers=headers)
        page.raise_for_status()
        yield page.json()


def _entries(client: httpx.Client, token: str, page_size: int = 1000
             ) -> Iterator[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    after = 0
    while True:
        page = client.get("/v1/ledger/entries", params={"after": after, "limit": page_size},
                          headers=headers)
        page.raise_for_status()
        body = page.json()
        yield from body.get("entries", ())
        if not body.get("entries") or body.get("next_after", after) == after:
            return
        after = body["next_after"]


def demo_figures(*, analytics: httpx.Client, audit: httpx.Client, observer_token: str,
                 auditor_token: str) -> dict[str, Any]:
    return {"county": county_figures(_pages(analytics, observer_token)),
            "dispatch": dispatch_figures(_entries(audit, auditor_token))}


def run(analytics_url: str | None = None, audit_url: str | None = None) -> dict[str, Any]:
    """Against the local platform (`make up`'s ports, plus DEMO_PORT_OFFSET)."""
    import os

    from backbone import auth
    from backbone.settings import ServiceSettings
    from tools.simulator.drive.settings import Endpoints

    settings = ServiceSettings()
    offset = int(os.environ.get("DEMO_PORT_OFFSET") or 0)
    endpoints = Endpoints.local(settings=settings, port_offset=offset)
    with httpx.Client(base_url=analytics_url or endpoints.analytics, timeout=60) as a, \
            httpx.Client(base_url=audit_url or endpoints.audit, timeout=60) as b:
        return demo_figures(
            analytics=a, audit=b,
            observer_token=auth.mint(settings, sub="demo-figures", role="observer"),
            auditor_token=auth.mint(settings, sub="demo-figures", role="auditor"))


def render(figures: Mapping[str, Any]) -> str:
    c, d = figures["county"], figures["dispatch"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    return "\n".join([
        f"tickets in analytics: {c['tickets']}; county 未知: {c['county_unknown']} "
        f"({pct(c['county_unknown_share'])})",
        f"accepted: {d['accepted']}; routed automatically {d['routed_automatically']}, "
        f"by a dispatcher {d['routed_by_dispatcher']}, still waiting "
        f"{d['waiting_for_dispatcher']}: needed a dispatcher {pct(d['dispatcher_share'])}",
    ])
