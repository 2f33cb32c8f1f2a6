"""The SLA service on the real Kafka and PostgreSQL: upstream facts in, SLA events out."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.sla.harness import (
    accepted,
    assigned,
    by_ticket,
    replied,
    sh,
    signed_for,
    types,
)

pytestmark = pytest.mark.integration


def ts(d, field="due_at"):
    return getattr(d.payload, field).ToDatetime().isoformat()


async def test_accept_assign_reply_sets_regrades_and_meets_the_deadline(sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t = f"T-{uuid.uuid4()}"
    await sla.publish([
        accepted(t, sh("2024-11-04 10:00")),                       # Monday
        assigned(t, sh("2024-11-04 10:30"), "yingzhou", "urgent"),
        signed_for(t, sh("2024-11-04 11:00"), "yingzhou"),
        replied(t, sh("2024-11-05 16:00"), "yingzhou"),
    ])
    found = await sla.wait_for(lambda f: "DeadlineMet" in types(f), "DeadlineMet")
    mine = by_ticket(found)[t]
    assert types(mine) == ["DeadlineSet", "DeadlineSet", "SignForDeadlineSet", "DeadlineMet"]
    general, urgent, sign_for, met = mine
    assert general.payload.grade == "general" and ts(general) == "2024-11-11T15:59:59.999999"
    assert urgent.payload.grade == "urgent" and ts(urgent) == "2024-11-06T15:59:59.999999"
    assert urgent.payload.clock_no == general.payload.clock_no == 1
    assert sign_for.payload.unit == "yingzhou"
    assert ts(sign_for, "sign_for_due_at") == "2024-11-04T04:30:00"  # 2 calendar hours
    assert met.payload.unit == "yingzhou" and met.payload.clock_no == 1
    assert met.occurred_at == sh("2024-11-05 16:00")
    assert all(d.envelope.ticket_code.startswith("FY") for d in mine)
