"""需较长时间办理 on feedback (real Kafka and PostgreSQL): an accepted needs_longer reply is an
interim answer: the citizen is told why and by when, with NO rating link, token or window;
the unit's final reply later opens the rating as usual (round 1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from upstream import T0, Ticket

from tests.integration.feedback.upstream import fake_code

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_needs_longer_is_told_without_a_rating_and_the_final_reply_opens_it(service):
    ticket = Ticket(fake_code())
    await service.publish(
        ticket, ticket.submitted(T0, text="小区道路塌陷需要修复", citizen="citizen-nl",
                                 channel="hotline_12345"),
        ticket.accepted(T0 + timedelta(minutes=1)),
        ticket.assigned(T0 + timedelta(minutes=5)),
        ticket.reviewed(T0 + timedelta(days=1), reply="需协调供电公司更换线路。",
                        outcome="needs_longer", expected_by="2026-12-31"))
    [told] = await service.until(lambda: service.of(ticket, "CitizenNotified"),
                                 "CitizenNotified (needs longer)")
    assert told.payload.outcome == "needs_longer" and told.payload.reply_round == 0
    assert not told.payload.HasField("rating_due_at")  # no rating is asked for
    notices = await service.until(lambda: service.notices_of(ticket), "the interim notice")
    [sms] = notices  # no callback script: nobody calls to ask for a rating yet
    assert sms.kind == "sms" and sms.outcome == "needs_longer"
    assert "需较长时间办理" in sms.body and "2026年12月31日" in sms.body
    assert "需协调供电公司更换线路" in sms.body
    assert not sms.rating_token and not sms.link and "/rate" not in sms.body
    async with service.client("channel_adapter", sub="hotline-adapter") as adapter:
        early = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "satisfied", "citizen": "citizen-nl"})
        assert early.status_code == 409, early.text  # nothing to rate yet
    # the final reply: answered, and the rating is asked for
    await service.publish(ticket, ticket.reviewed(T0 + timedelta(days=9),
                                                  reply="线路已更换，道路已修复。"))
    await service.until(lambda: len(service.of(ticket, "CitizenNotified")) == 2,
                        "CitizenNotified (the answer)")
    final = service.of(ticket, "CitizenNotified")[1]
    assert final.payload.outcome == "resolved" and final.payload.reply_round == 1
    await service.until(lambda: any(n.rating_token for n in service.notices_of(ticket)),
                        "the answer's notice with its rating link")
    async with service.client("channel_adapter", sub="hotline-adapter") as adapter:
        async def rated() -> bool:
            r = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "satisfied", "citizen": "citizen-nl"})
            return r.status_code == 201
        await service.until(rated, "the rating of the final reply")
    await service.until(lambda: service.of(ticket, "TicketClosed"), "TicketClosed")


async def test_a_ticket_merged_after_the_interim_answer_is_told_it_then_the_final(service):
    """并单: the follower of a case whose primary had only explained the delay got nothing until
    the final reply (the merge delivered only a final reply already given)."""
    primary, late = Ticket(fake_code()), Ticket(fake_code())
    await service.publish(
        primary, primary.submitted(T0, text="小区供暖管道漏水", citizen="citizen-p",
                                   channel="hotline_12345"),
        primary.accepted(T0 + timedelta(minutes=1)),
        primary.assigned(T0 + timedelta(minutes=5)),
        primary.reviewed(T0 + timedelta(days=1), reply="需协调热力公司停热后更换管道",
                         outcome="needs_longer", expected_by="2026-12-31"))
    await service.until(lambda: service.of(primary, "CitizenNotified"), "the primary's notice")
    await service.publish(
        late, late.submitted(T0, text="供暖管道漏水", citizen="citizen-m",
                             channel="hotline_12345"),
        late.accepted(T0 + timedelta(minutes=2)),
        late.merged_into(primary, T0 + timedelta(days=2)),
        late.merge_taken(primary, T0 + timedelta(days=2)))
    [told] = await service.until(lambda: service.of(late, "CitizenNotified"),
                                 "the follower's interim notice")
    assert told.payload.outcome == "needs_longer" and told.payload.reply_round == 0
    assert not told.payload.HasField("rating_due_at")
    [sms] = await service.until(lambda: service.notices_of(late), "the follower's SMS")
    assert sms.citizen_pseudonym == "citizen-m" and sms.ticket_code == late.code
    assert "2026年12月31日" in sms.body and not sms.rating_token and "/rate" not in sms.body
    assert sms.body.count("需协调热力公司停热后更换管道") == 1  # said once
    await service.publish(primary, primary.reviewed(T0 + timedelta(days=9),
                                                    reply="管道已更换，供暖已恢复。"))
    await service.until(lambda: len(service.of(late, "CitizenNotified")) == 2,
                        "the follower's final answer")
    final = service.of(late, "CitizenNotified")[1]
    assert final.payload.outcome == "resolved" and final.payload.reply_round == 1
