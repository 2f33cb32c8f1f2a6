"""Orders and times an outside supervisor could get wrong (session 17's probes), on the running
service: an order to a unit that is not in the registry was issued (201) and its events held
the relay, so no SLA event of any ticket reached Kafka; an order for a ticket sla never saw was
issued too; `at` of 9999-12-31 was a 500; a ticket named by its code (as every page and notice
shows it) was "no SLA clock" (404)."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.sla.harness import accepted, assigned, by_ticket, sh, types

pytestmark = pytest.mark.integration


async def test_orders_name_a_known_ticket_and_a_registered_unit(sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t1, t2 = (f"{n}-{uuid.uuid4()}" for n in ("T1", "T2"))
    await sla.publish([accepted(t1, sh("2026-11-02 10:00")),
                       assigned(t1, sh("2026-11-02 10:30"), "yingzhou", "general")])
    await sla.wait_for(lambda f: "SignForDeadlineSet" in types(by_ticket(f).get(t1, [])),
                       "t1's sign-for deadline")
    supervisor = sla.client("supervisor", sub="duchashi-1")
    order = {"ticket_id": t1, "reason": "群众多次来电催办", "at": "2026-11-02T11:00:00+08:00"}

    nope = supervisor.post("/v1/supervision-orders", json={**order, "unit": "nope"})
    assert nope.status_code == 400 and "registry" in nope.json()["detail"]
    unknown = supervisor.post("/v1/supervision-orders",
                              json={**order, "ticket_id": f"never-seen-{uuid.uuid4()}",
                                    "unit": "yingzhou"})
    assert unknown.status_code == 404
    too_late = supervisor.post("/v1/supervision-orders",
                               json={**order, "at": "9999-12-31T23:59:59+00:00"})
    assert too_late.status_code == 400 and too_late.json()["error"] == "bad_time"
    before_year_1 = supervisor.post(f"/v1/tickets/{t1}/pause", json={
        "reason": "等待补充材料", "at": "0001-01-01T00:00:00+14:00"})
    assert before_year_1.status_code == 403  # a supervisor may not pause: roles first
    dispatcher = sla.client("dispatcher", sub="disp-1")
    before_year_1 = dispatcher.post(f"/v1/tickets/{t1}/pause", json={
        "reason": "等待补充材料", "at": "0001-01-01T00:00:00+14:00"})
    assert before_year_1.status_code == 400 and before_year_1.json()["error"] == "bad_time"

    # the ticket by its code, as the pages show it: the same clocks, and commands on them
    code = supervisor.get(f"/v1/tickets/{t1}/clocks").json()["clocks"][0]["ticket_code"]
    by_code = supervisor.get(f"/v1/tickets/{code}/clocks")
    assert by_code.status_code == 200 and by_code.json()["ticket_id"] == t1
    assert dispatcher.post(f"/v1/tickets/{code}/pause", json={
        "reason": "等待补充材料", "at": "2026-11-02T11:10:00+08:00"}).status_code == 200
    assert dispatcher.post(f"/v1/tickets/{code}/resume", json={
        "at": "2026-11-02T11:20:00+08:00"}).status_code == 200
    assert supervisor.get("/v1/tickets/FY00000000/clocks").status_code == 404

    # a good order after them is issued and published, to the unit's topic too
    issued = supervisor.post("/v1/supervision-orders", json={
        **order, "unit": "yingquan", "request_id": "r-1", "at": "2026-11-02T11:30:00+08:00"})
    assert issued.status_code == 201
    again = supervisor.post("/v1/supervision-orders", json={
        **order, "ticket_id": code, "unit": "yingquan", "request_id": "r-1",
        "at": "2026-11-02T11:30:00+08:00"})
    assert again.json() == issued.json()  # the same ticket, the same retry key: one order
    listed = supervisor.get("/v1/supervision-orders", params={"ticket_id": code}).json()
    assert [o["order_id"] for o in listed["items"]] == [issued.json()["order_id"]]
    await sla.publish([accepted(t2, sh("2026-11-02 11:05"))])
    found = await sla.wait_for(
        lambda f: "SupervisionOrderIssued" in types(by_ticket(f).get(t1, []))
        and "DeadlineSet" in types(by_ticket(f).get(t2, [])), "the order and t2's deadline")
    orders = [d for d in by_ticket(found)[t1] if d.event_type == "SupervisionOrderIssued"]
    assert [o.payload.unit for o in orders] == ["yingquan"]
    assert "unexpected error" not in sla.tail(400)
