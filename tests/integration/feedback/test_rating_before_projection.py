"""A citizen may rate the instant their notice arrives: `feedback_state` (which maps a ticket's
code to its record) is written in the transaction that answers the record, the one the notice
is published from, so the lookup by code never finds it missing (it was a projection that
trailed the store by half a second, and a rating by code right after the notice got 404)."""

from __future__ import annotations

from test_feedback_service import answered, new_ticket


async def test_a_rating_by_code_right_after_the_notice_is_taken(service):
    ticket = new_ticket()
    await answered(service, ticket, citizen="citizen-quick")
    async with service.client("channel_adapter", sub="wechat-adapter") as adapter:
        rated = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "satisfied", "citizen": "citizen-quick"})
        assert rated.status_code == 201, rated.text
        assert rated.json()["verdict"] == "satisfied"
        unknown = await adapter.post("/v1/tickets/FY-991231-99999-X/rating",
                                     json={"rating": "satisfied", "citizen": "citizen-quick"})
        assert unknown.status_code in (404, 422), unknown.text
