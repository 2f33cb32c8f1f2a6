"""POST /v1/ratings/link is served without FastAPI's layers when its body is well formed
(entrypoints/fast_rating.py); anything else goes on to the route. Both answer alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_feedback_service import answered, new_ticket
from upstream import T0

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_the_fast_path_and_the_route_answer_alike(service):
    ticket = new_ticket()
    notice = await answered(service, ticket, citizen="citizen-fast")
    at = (T0 + timedelta(days=1)).isoformat()  # within the rating window
    async with service.client() as public:
        # malformed or invalid: the route's 422 with its reason, and nothing is rated
        for body, content_type in ((b'{"token": ', "application/json"),
                                   (b'{"token": "x", "rating": "great"}', "application/json"),
                                   (b'{"token": "x", "rating": "satisfied", "extra": 1}',
                                    "application/json")):
            refused = await public.post("/v1/ratings/link", content=body,
                                        headers={"content-type": content_type})
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"]
        # well formed but a bad token: the app's own error handler (400/401/403/404/409 ...)
        junk = await public.post("/v1/ratings/link",
                                 json={"token": "not-a-token", "rating": "satisfied"})
        assert 400 <= junk.status_code < 500 and junk.json()["detail"]
        assert junk.headers.get("traceparent")  # tracing still wraps it
        rated = await public.post("/v1/ratings/link",
                                  json={"token": notice.rating_token, "rating": "satisfied",
                                        "occurred_at": at})
        assert rated.status_code == 201, rated.text
        assert rated.json() == {"code": ticket.code, "status": "closed", "reply_round": 1,
                                "verdict": "satisfied", "reopen_count": 0}
        again = await public.post("/v1/ratings/link",
                                  json={"token": notice.rating_token, "rating": "dissatisfied",
                                        "occurred_at": at})
        assert again.status_code == 409 and "already used" in again.json()["detail"]
    [closed] = await service.until(lambda: service.of(ticket, "TicketClosed"), "TicketClosed")
    assert closed.payload.rating == "satisfied"
