"""Under the event clock (`make up`'s month, the bench), a stated `occurred_at` is THE time of
a command; a request that is refused must not move feedback's clock. It did: the clock's
`command_time` observed the stated time before the command ran, so one anonymous POST to
the public rating link with occurred_at 2099 (refused, 410: the link had expired by then)
put feedback's watermark in 2099, and the unrated timer closed every open rating window
of the platform as unrated. (A stated 2099 is now refused by the clock itself, as a leap;
a time months on, within the clock's reach, is what a refused request may still state.)
(Its own module: the service's clock is the module's.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from upstream import T0, Ticket

from tests.integration.feedback.upstream import fake_code

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_refused_request_stating_a_far_time_does_not_move_the_clock(service):
    probe, waiting = Ticket(fake_code()), Ticket(fake_code())
    for ticket in (probe, waiting):
        await service.publish(ticket, ticket.submitted(T0, text="路灯不亮", citizen="c-" + ticket.code),
                              ticket.accepted(T0), ticket.assigned(T0),
                              ticket.reviewed(T0 + timedelta(days=1), reply="已修复。"))
        await service.until(lambda t=ticket: service.notices_of(t), "notice")
    [notice] = service.notices_of(probe)
    far = (T0 + timedelta(days=90)).isoformat()  # long after every window here closes
    async with service.client() as public:
        late = await public.post("/v1/ratings/link", json={
            "token": notice.rating_token, "rating": "satisfied", "occurred_at": far})
        assert late.status_code == 410, late.text  # the link expired long before
        # the other ticket's link, checked at feedback's clock: its window is still open
        [other] = service.notices_of(waiting)
        status = await public.get("/v1/ratings/link", params={"t": other.rating_token})
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "awaiting_rating"
    async with service.client("dispatcher") as staff:  # a refused staff command: the same
        early = await staff.post(f"/v1/tickets/{waiting.code}/close",
                                 json={"occurred_at": far})
        assert early.status_code == 409, early.text  # nothing to close on: not judged yet
    async with service.client() as public:
        status = await public.get("/v1/ratings/link", params={"t": other.rating_token})
        assert status.status_code == 200 and status.json()["status"] == "awaiting_rating"
        rated = await public.post("/v1/ratings/link", json={
            "token": other.rating_token, "rating": "satisfied",
            "occurred_at": (T0 + timedelta(days=2)).isoformat()})
        assert rated.status_code == 201, rated.text
        leap = await public.post("/v1/ratings/link", json={
            "token": notice.rating_token, "rating": "satisfied",
            "occurred_at": "2099-01-01T00:00:00+00:00"})
        assert leap.status_code == 400 and leap.json()["error"] == "bad_time", leap.text
    assert not service.of(waiting, "TicketMarkedUnrated")
    assert not service.of(probe, "TicketMarkedUnrated")
