"""A citizen may rate the instant their notice arrives, before feedback's own projection
(`feedback_state`, which maps a ticket's code to its record) has caught up: the lookup by code
then brings the projection up to now instead of answering 404."""

from __future__ import annotations

from test_feedback_service import answered, new_ticket

# the projection waits ten minutes after news of a commit: in this module it never catches up
# by itself after its first round, so only a request's own catch-up can find the ticket
FEEDBACK_SETTINGS = {"state_gather_ms": 600_000}


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
