"""The SLA service on the real Kafka and PostgreSQL: upstream facts in, SLA events out."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.sla.harness import (
    accepted,
    assigned,
    by_ticket,
    reclassified,
    replied,
    reviewed,
    sh,
    signed_for,
    types,
    withdrawn,
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


async def test_a_re_assignment_that_corrects_the_grade_recounts_the_limit(sla_process):
    """A dispatcher re-assigns a general matter as urgent (or back): the reply limit is the
    new grade's, counted from acceptance; a re-assignment at the same grade changes nothing."""
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t = f"T-{uuid.uuid4()}"
    await sla.publish([
        accepted(t, sh("2024-11-04 10:00")),                       # Monday
        assigned(t, sh("2024-11-04 10:30"), "yingzhou", "general"),
        assigned(t, sh("2024-11-04 14:00"), "yingdong", "general", n=2),
        assigned(t, sh("2024-11-05 09:00"), "yingdong", "urgent", n=3),
        signed_for(t, sh("2024-11-05 09:30"), "yingdong", n=3),
        replied(t, sh("2024-11-05 16:00"), "yingdong"),
    ])
    found = await sla.wait_for(lambda f: "DeadlineMet" in types(by_ticket(f).get(t, [])),
                               "DeadlineMet")
    sets = [d for d in by_ticket(found)[t] if d.event_type == "DeadlineSet"]
    assert [d.payload.grade for d in sets] == ["general", "general", "urgent"]
    assert ts(sets[1]) == "2024-11-11T15:59:59.999999"
    assert ts(sets[2]) == "2024-11-06T15:59:59.999999"  # 2 working days from Monday's acceptance


async def test_a_dispatchers_reclassification_recounts_the_limit_it_sets(sla_process):
    """TicketReclassified on a ticket a unit holds: a new grade is recounted from acceptance;
    a complex matter's limit set by the platform is taken; the same grade changes nothing."""
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t = f"T-{uuid.uuid4()}"
    await sla.publish([
        accepted(t, sh("2024-11-04 10:00")),                       # Monday
        assigned(t, sh("2024-11-04 10:30"), "yingzhou", "general"),
        reclassified(t, sh("2024-11-04 11:00"), "general"),
        reclassified(t, sh("2024-11-04 12:00"), "complex", days=20),
        signed_for(t, sh("2024-11-04 13:00"), "yingzhou"),
        replied(t, sh("2024-11-05 16:00"), "yingzhou"),
    ])
    found = await sla.wait_for(lambda f: "DeadlineMet" in types(by_ticket(f).get(t, [])),
                               "DeadlineMet")
    sets = [d for d in by_ticket(found)[t] if d.event_type == "DeadlineSet"]
    assert [d.payload.grade for d in sets] == ["general", "general", "complex"]
    assert ts(sets[2]) == "2024-12-02T15:59:59.999999"  # 20 working days from Monday the 4th


async def test_a_merged_ticket_stops_its_clock_and_an_unmerged_one_gets_a_new_clock(sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    merged, other, stray = (f"T-{uuid.uuid4()}" for _ in range(3))
    await sla.publish([
        accepted(merged, sh("2024-11-04 10:00")),
        assigned(merged, sh("2024-11-04 10:30"), "yingzhou", "general"),
        withdrawn(merged, sh("2024-11-04 11:00"), "yingzhou"),
        # the merge undone on Thursday: dispatched on its own again
        assigned(merged, sh("2024-11-07 09:00"), "yingdong", "urgent", n=2),
        # a withdrawal from a unit that no longer holds the ticket changes nothing
        accepted(stray, sh("2024-11-04 10:00")),
        assigned(stray, sh("2024-11-04 10:30"), "yingquan", "general"),
        withdrawn(stray, sh("2024-11-04 11:00"), "yingzhou"),
        accepted(other, sh("2024-11-04 10:00")),
    ])
    found = await sla.wait_for(
        lambda f: len([d for d in by_ticket(f).get(merged, [])
                       if d.event_type == "SignForDeadlineSet"]) == 2
        and "SignForDeadlineSet" in types(by_ticket(f).get(stray, [])), "the second clock")
    mine = by_ticket(found)[merged]
    assert types(mine) == ["DeadlineSet", "DeadlineSet", "SignForDeadlineSet", "ClockStopped",
                           "DeadlineSet", "SignForDeadlineSet"]
    stopped, second = mine[3], mine[4]
    assert stopped.payload.reason == "merged" and stopped.payload.clock_no == 1
    assert stopped.occurred_at == sh("2024-11-04 11:00")
    assert second.payload.clock_no == 2 and second.payload.grade == "urgent"
    assert ts(second) == "2024-11-11T15:59:59.999999"  # 2 working days after Thu the 7th
    assert "ClockStopped" not in types(by_ticket(found)[stray])


async def test_an_explanation_closed_as_the_answer_meets_the_deadline(sla_process):
    """A complex matter: the unit explains in time (explained) and the platform accepts that
    reply as the answer (dispatch closes the ticket; a needs_longer one would be interim:
    tests/integration/sla/test_needs_longer.py). Its clock is met at the acceptance; it
    was left running, only stopped at the close, and analytics counted the reply late."""
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t, held = f"T-{uuid.uuid4()}", f"T-{uuid.uuid4()}"
    await sla.publish([
        accepted(t, sh("2024-11-04 10:00")),                       # Monday
        assigned(t, sh("2024-11-04 10:30"), "natural-resources", "complex"),
        signed_for(t, sh("2024-11-04 11:00"), "natural-resources"),
        replied(t, sh("2024-11-06 16:00"), "natural-resources", outcome="explained"),
        reviewed(t, sh("2024-11-06 16:00"), "natural-resources", accepted_=True),
        # sent back instead: the explanation stands, the clock runs on for the reply
        accepted(held, sh("2024-11-04 10:00")),
        assigned(held, sh("2024-11-04 10:30"), "natural-resources", "complex"),
        replied(held, sh("2024-11-06 16:00"), "natural-resources", outcome="needs_longer"),
        reviewed(held, sh("2024-11-06 17:00"), "natural-resources", accepted_=False),
        replied(held, sh("2024-11-07 09:00"), "natural-resources"),
    ])
    found = await sla.wait_for(
        lambda f: all("DeadlineMet" in types(by_ticket(f).get(x, [])) for x in (t, held)),
        "DeadlineMet for both")
    met = next(d for d in by_ticket(found)[t] if d.event_type == "DeadlineMet")
    assert met.occurred_at == sh("2024-11-06 16:00") and met.payload.unit == "natural-resources"
    assert met.payload.clock_no == 1
    again = next(d for d in by_ticket(found)[held] if d.event_type == "DeadlineMet")
    assert again.occurred_at == sh("2024-11-07 09:00")
