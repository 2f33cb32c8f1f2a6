"""Deadlines that fall while the SLA service is down fire when it is back, exactly once."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.sla.harness import accepted, assigned, by_ticket, sh, types

pytestmark = pytest.mark.integration

OWED_WHILE_DOWN = [
    "DeadlineWarned",              # sign_for_overdue, 2024-11-06 00:00
    "DeadlineWarned",              # half_time, 11-08 00:00
    "DeadlineWarned",              # one_day_left, 11-11 00:00
    "DeadlineMissed",              # 11-12 00:00
    "SupervisionOrderIssued",      # automatic, kind overdue
    "SupervisionOrderEscalated",   # unanswered: to the parent and 督查室
    "SupervisionOrderEscalated",   # and once more (the policy's cap is 2)
]


async def test_kill_restart_fires_what_fell_due_while_down_once(sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    a = f"A-{uuid.uuid4()}"
    await sla.publish([accepted(a, sh("2024-11-04 10:00")),
                       assigned(a, sh("2024-11-04 10:30"), "yingzhou", "general")])
    await sla.wait_for(lambda f: "SignForDeadlineSet" in types(f), "the sign-for deadline")
    sla.kill()

    # While sla is down, another ticket moves event time past A's deadline and past the
    # answer windows of the supervision order that deadline will bring.
    await sla.publish([accepted(f"B-{uuid.uuid4()}", sh("2024-11-20 09:00"))])
    sla.start()
    found = await sla.wait_for(
        lambda f: types(by_ticket(f).get(a, [])).count("SupervisionOrderEscalated") == 2,
        "two escalations of A's overdue order")
    mine = by_ticket(found)[a]
    assert types(mine) == ["DeadlineSet", "DeadlineSet", "SignForDeadlineSet", *OWED_WHILE_DOWN]
    owed = mine[3:]
    assert [d.occurred_at for d in owed[:5]] == [
        sh("2024-11-06 00:00"), sh("2024-11-08 00:00"), sh("2024-11-11 00:00"),
        sh("2024-11-12 00:00"), sh("2024-11-12 00:00")]
    assert [w.payload.kind for w in owed[:3]] == ["sign_for_overdue", "half_time", "one_day_left"]
    issued, first, second = owed[4], owed[5], owed[6]
    assert issued.payload.kind == "overdue" and issued.payload.unit == "yingzhou"
    assert issued.payload.clock_no == 1
    assert first.payload.level == 1 and list(first.payload.to_units) == ["city", "督查室"]
    assert first.occurred_at == sh("2024-11-14 00:00")  # answer was due by end of 11-13
    assert second.payload.level == 2 and second.occurred_at == sh("2024-11-16 00:00")

    # Down and up again, with event time moving on: nothing A owed fires a second time.
    sla.kill()
    c = f"C-{uuid.uuid4()}"
    await sla.publish([accepted(c, sh("2024-11-25 09:00"))])
    sla.start()
    found = await sla.wait_for(lambda f: c in by_ticket(f), "C's deadline")
    await sla.wait_for(lambda f: sla.quiet(), "sla to be quiet")
    again = by_ticket(await sla.sla_events())[a]
    assert [d.event_id for d in again] == [d.event_id for d in mine]
