"""需较长时间办理 on sla (real Kafka and PostgreSQL): a needs_longer reply, accepted as an
interim answer (ReplyReviewed interim), is the explanation given; the reply clock runs on and
the unit's final reply settles it, met or late as any reply."""

from __future__ import annotations

import uuid

import pytest
from minsheng.v1 import dispatch_events_pb2 as dispatch

from tests.integration.sla.harness import (
    Upstream,
    accepted,
    assigned,
    by_ticket,
    replied,
    sh,
    signed_for,
    types,
)

pytestmark = pytest.mark.integration


def interim(ticket: str, at, unit: str) -> Upstream:
    return Upstream(ticket, at, dispatch.ReplyReviewed(
        unit=unit, accepted=True, outcome="needs_longer", interim=True, expected_by="2024-12-20",
        reply_masked="需协调多个部门"))


async def test_needs_longer_is_an_interim_answer_and_the_final_reply_settles_the_clock(
        sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    general, complex_ = f"T-{uuid.uuid4()}", f"T-{uuid.uuid4()}"
    script = []
    for t, grade in ((general, "general"), (complex_, "complex")):
        script += [
            accepted(t, sh("2024-11-04 10:00")),                   # Monday
            assigned(t, sh("2024-11-04 10:30"), "housing", grade),
            signed_for(t, sh("2024-11-04 11:00"), "housing"),
            replied(t, sh("2024-11-05 09:00"), "housing", outcome="needs_longer"),
            interim(t, sh("2024-11-05 10:00"), "housing"),
            replied(t, sh("2024-11-08 15:00"), "housing"),         # the final reply
        ]
    await sla.publish(script)
    found = await sla.wait_for(
        lambda f: all("DeadlineMet" in types(by_ticket(f).get(x, []))
                      for x in (general, complex_)), "DeadlineMet for both")
    for t in (general, complex_):
        [met] = [d for d in by_ticket(found)[t] if d.event_type == "DeadlineMet"]
        # met by the final reply: not by the interim one, nor by its acceptance
        assert met.occurred_at == sh("2024-11-08 15:00"), t
    # the read model and GET /clocks say when the explanation was given, and that it was in
    # time (a general matter owes none; the complex one's deadline is 5 working days on)
    with sla.client("supervisor") as http:
        for t in (general, complex_):
            r = http.get(f"/v1/tickets/{t}/clocks")
            assert r.status_code == 200, r.text
            [clock] = r.json()["clocks"]
            assert clock["explained_at"] == sh("2024-11-05 09:00").isoformat(), clock
            assert clock["explained_late"] is False, clock
