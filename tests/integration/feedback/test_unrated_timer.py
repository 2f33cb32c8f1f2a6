"""An unrated reply is recorded unrated when its window passes in EVENT time: never
silently satisfied. (Its own module: moving the watermark a week on would close the other
modules' tickets too.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from upstream import T0, Ticket

from tests.integration.feedback.upstream import fake_code

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_unrated_after_the_window_then_closed_as_unrated_never_satisfied(service):
    quiet, rated, later = (Ticket(fake_code()) for _ in range(3))
    for ticket in (quiet, rated):
        await service.publish(ticket, ticket.submitted(T0, text="噪音扰民", citizen="c-" + ticket.code),
                              ticket.accepted(T0), ticket.assigned(T0),
                              ticket.reviewed(T0 + timedelta(days=1), reply="已责令整改。"))
        await service.until(lambda t=ticket: service.notices_of(t), "notice")
    async with service.client("citizen", sub="c-" + rated.code) as citizen:
        async def rate() -> bool:
            r = await citizen.post(f"/v1/tickets/{rated.code}/rating",
                                   json={"rating": "dissatisfied",
                                         "occurred_at": (T0 + timedelta(days=2)).isoformat()})
            return r.status_code == 201

        await service.until(rate, "the rating accepted")
    assert not service.of(quiet, "TicketMarkedUnrated")  # window open: nothing yet
    # Time passes in event time: another ticket's event a week and more later.
    await service.publish(later, later.submitted(T0 + timedelta(days=9), text="另一件事"))
    [unrated] = await service.until(lambda: service.of(quiet, "TicketMarkedUnrated"),
                                    "TicketMarkedUnrated")
    [closed] = await service.until(lambda: service.of(quiet, "TicketClosed"), "TicketClosed")
    assert closed.payload.rating == "unrated"
    assert unrated.occurred_at == T0 + timedelta(days=8, seconds=1)  # end of the window
    assert not service.of(quiet, "TicketRated")
    # The rated (dissatisfied) one is not marked unrated: it waits for its callback.
    assert not service.of(rated, "TicketMarkedUnrated")
    async with service.client("citizen", sub="c-" + quiet.code) as citizen:
        late = await citizen.post(f"/v1/tickets/{quiet.code}/rating", json={"rating": "satisfied"})
        assert late.status_code == 409 and late.json()["detail"]
    [notice] = service.notices_of(quiet)
    async with service.client() as public:
        link = await public.post("/v1/ratings/link", json={"token": notice.rating_token,
                                                           "rating": "satisfied"})
        assert link.status_code == 410  # the link expired with the window
