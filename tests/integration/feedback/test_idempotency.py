"""Staff and followers may retry: a command sent again with the same `request_id` answers as
the first did and changes nothing; the same id with another body is refused (409). Real Kafka
and PostgreSQL; what feedback published is read back from the lifecycle topic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_feedback_service import answered, new_ticket
from upstream import T0

from backbone import auth
from backbone.store import application_env
from services.feedback.application.app import FeedbackApplication
from services.feedback.application.receipts import prior_answer
from services.feedback.entrypoints.deps import request_key
from services.feedback.entrypoints.http_judging import CallbackOutcomeBody

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CALLBACK = {"reached": True, "resolved": False, "satisfaction": "dissatisfied",
            "note": "群众表示问题仍未解决", "request_id": "cb-7f3a"}


async def _follow(service, observer, ticket) -> None:
    async def followed() -> bool:
        r = await observer.post("/v1/follows", json={"kind": "ticket", "target": ticket.code,
                                                     "request_id": f"follow-{ticket.code}"})
        return r.status_code == 201

    await service.until(followed, "following the ticket once the hall knows it")


async def test_a_retried_callback_answers_the_same_and_records_once(service):
    ticket = new_ticket()
    await answered(service, ticket, citizen="citizen-retry")
    async with service.client("citizen", sub="citizen-retry") as citizen, \
            service.client("dispatcher", sub="staff-retry") as staff, \
            service.client("observer", sub="observer-retry") as observer:
        rated = await citizen.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "dissatisfied"})
        assert rated.status_code == 201, rated.text
        first = await staff.post(f"/v1/tickets/{ticket.code}/callbacks", json=CALLBACK)
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "awaiting_reply" and first.json()["reopen_count"] == 1
        # The staff client lost the answer and sends the very same command again (twice).
        for _ in range(2):
            retry = await staff.post(f"/v1/tickets/{ticket.code}/callbacks", json=CALLBACK)
            assert retry.status_code == 201, retry.text
            assert retry.json() == first.json()
        # Without the key the same body is a second command: refused here by the domain
        # (nothing to ask about until the next reply), never silently recorded.
        unkeyed = {k: v for k, v in CALLBACK.items() if k != "request_id"}
        assert (await staff.post(f"/v1/tickets/{ticket.code}/callbacks",
                                 json=unkeyed)).status_code == 409
        # A sentinel after the retries: a remark on the same ticket, so the same partition.
        await _follow(service, observer, ticket)
        remark = await observer.post(f"/v1/tickets/{ticket.code}/remarks",
                                     json={"text": "请跟进", "request_id": "remark-1"})
        assert remark.status_code == 201, remark.text
    await service.until(lambda: service.of(ticket, "RemarkAdded"), "the sentinel RemarkAdded")
    assert len(service.of(ticket, "CallbackRecorded")) == 1
    assert len(service.of(ticket, "TicketReopened")) == 1


async def test_the_same_request_id_with_another_body_or_command_is_refused(service):
    ticket = new_ticket()
    await answered(service, ticket, citizen="citizen-reuse")
    async with service.client("citizen", sub="citizen-reuse") as citizen, \
            service.client("dispatcher", sub="staff-reuse") as staff, \
            service.client("dispatcher", sub="staff-other") as colleague:
        await citizen.post(f"/v1/tickets/{ticket.code}/rating", json={"rating": "dissatisfied"})
        not_reached = {"reached": False, "request_id": "cb-reuse"}
        first = await staff.post(f"/v1/tickets/{ticket.code}/callbacks", json=not_reached)
        assert first.status_code == 201, first.text
        other_body = {**not_reached, "note": "第二次拨打无人接听"}
        clash = await staff.post(f"/v1/tickets/{ticket.code}/callbacks", json=other_body)
        assert clash.status_code == 409, clash.text
        assert clash.json()["error"] == "request_id_reused"
        assert "cb-reuse" in clash.json()["detail"] and "different body" in clash.json()["detail"]
        other_command = await staff.post(f"/v1/tickets/{ticket.code}/close",
                                         json={"request_id": "cb-reuse"})
        assert other_command.status_code == 409
        assert "another command" in other_command.json()["detail"]
        # Request ids are each caller's own: a colleague's "cb-reuse" is a new command.
        theirs = await colleague.post(f"/v1/tickets/{ticket.code}/callbacks", json=other_body)
        assert theirs.status_code == 201, theirs.text
        bad = await staff.post(f"/v1/tickets/{ticket.code}/callbacks",
                               json={"reached": False, "request_id": "has space"})
        assert bad.status_code == 422
        # The sentinel: a keyed close after the callbacks.
        closed = await staff.post(f"/v1/tickets/{ticket.code}/reopen",
                                  json={"reason": "现场核实仍未解决", "request_id": "reopen-1"})
        assert closed.status_code == 201, closed.text
    await service.until(lambda: service.of(ticket, "TicketReopened"), "TicketReopened")
    assert len(service.of(ticket, "CallbackRecorded")) == 2


async def test_receipts_are_stored_with_the_command_and_outlive_the_process(service):
    ticket = new_ticket()
    await answered(service, ticket, citizen="citizen-durable")
    body = {"reached": False, "request_id": "cb-durable"}
    async with service.client("dispatcher", sub="staff-durable") as staff:
        first = await staff.post(f"/v1/tickets/{ticket.code}/callbacks", json=body)
        assert first.status_code == 201, first.text
    # A fresh application on the same schema (as after a restart) finds the receipt.
    app = FeedbackApplication(env=application_env(service.settings))
    try:
        principal = auth.Principal(sub="staff-durable", role="dispatcher")
        key = request_key(principal, "record_callback", ticket.code,
                          CallbackOutcomeBody(**body))
        stored = prior_answer(app, key)
        answer = first.json()
        assert stored == {"ticket_code": answer.pop("code"), **answer}
    finally:
        app.close()


async def test_followers_retries_follow_remark_push_once(service):
    ticket = new_ticket()
    await service.publish(ticket, ticket.submitted(T0, text="夜市油烟扰民"), ticket.accepted(T0),
                          ticket.assigned(T0 + timedelta(minutes=1)))
    async with service.client("deputy", sub="deputy-retry") as deputy:
        await _follow(service, deputy, ticket)
        again = await deputy.post("/v1/follows", json={"kind": "ticket", "target": ticket.code,
                                                       "request_id": f"follow-{ticket.code}"})
        assert again.status_code == 201 and again.json()["following"] is True  # not 409
        for _ in range(2):
            r = await deputy.post(f"/v1/tickets/{ticket.code}/remarks",
                                  json={"text": "请尽快处理", "request_id": "rm-1"})
            assert r.status_code == 201, r.text
        for _ in range(2):
            r = await deputy.post(f"/v1/tickets/{ticket.code}/supervision",
                                  json={"reason": "久拖不决", "request_id": "push-1"})
            assert r.status_code == 201, r.text
        # Sentinel: a second, new remark after all the retries.
        r = await deputy.post(f"/v1/tickets/{ticket.code}/remarks",
                              json={"text": "再次催办", "request_id": "rm-2"})
        assert r.status_code == 201, r.text
    await service.until(lambda: len(service.of(ticket, "RemarkAdded")) >= 2, "the sentinel")
    assert [r.payload.remark_masked for r in service.of(ticket, "RemarkAdded")] == \
        ["请尽快处理", "再次催办"]
    assert len(service.of(ticket, "PushedToSupervision")) == 1
