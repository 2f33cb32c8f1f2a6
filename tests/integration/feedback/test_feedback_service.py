"""Feedback end to end on the real Kafka and PostgreSQL: upstream envelopes in, HTTP commands,
feedback's events and notices out. Event-time clock: the times we state are THE times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from upstream import T0, Ticket

from backbone import auth
from services.feedback.domain.tokens import issue_rating_token, short_form
from services.feedback.settings import rating_link_issuer
from tests.integration.feedback.upstream import fake_code

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def new_ticket() -> Ticket:
    return Ticket(fake_code())


async def answered(service, ticket: Ticket, *, citizen: str = "citizen-1",
                   text: str = "小区门口路灯坏了一个月", reply: str = "已更换灯泡，路灯恢复照明。",
                   channel: str = "wechat_mini", outcome: str = "resolved"):
    """Publish a ticket's story up to an accepted reply; return its notice (with the token)."""
    await service.publish(
        ticket, ticket.submitted(T0, text=text, citizen=citizen, channel=channel),
        ticket.accepted(T0 + timedelta(minutes=1)),
        ticket.assigned(T0 + timedelta(minutes=5)),
        ticket.reviewed(T0 + timedelta(days=1), reply=reply, outcome=outcome))
    await service.until(lambda: service.of(ticket, "CitizenNotified"), "CitizenNotified")
    notices = await service.until(lambda: service.notices_of(ticket), "the citizen's notice")
    async with service.client("dispatcher") as staff:
        async def known() -> bool:
            return (await staff.get(f"/v1/tickets/{ticket.code}/feedback")).status_code == 200

        await service.until(known, "the ticket in feedback's read model")
    return notices[0]


async def test_an_accepted_reply_answers_the_citizen_through_their_channel(service):
    ticket = new_ticket()
    notice = await answered(service, ticket, channel="hotline_12345",
                            outcome="not_allowed_by_policy",
                            reply="该路段不在改造计划内。可另行申请。")
    [fact] = service.of(ticket, "CitizenNotified")
    assert fact.payload.channel == "hotline_12345" and fact.payload.reply_round == 1
    assert fact.payload.notices == 2  # SMS and the staff callback script
    kinds = sorted(n.kind for n in service.notices_of(ticket))
    assert kinds == ["callback_script", "sms"]
    sms = next(n for n in service.notices_of(ticket) if n.kind == "sms")
    assert "暂不符合政策规定" in sms.body and "该路段不在改造计划内" in sms.body
    # the SMS carries the link's short form (a JWT does not fit); it stands for the token
    short = short_form(sms.rating_token, ticket_code=ticket.code, reply_round=1)
    assert sms.rating_token.count(".") == 2 and sms.link.endswith(f"/rate?t={short}")
    assert sms.citizen_pseudonym == "citizen-1" and len(sms.body) <= 268
    assert notice.ticket_code == ticket.code


async def test_a_rating_is_given_once_and_a_satisfied_one_closes(service):
    ticket = new_ticket()
    notice = await answered(service, ticket, citizen="citizen-once")
    async with service.client("channel_adapter", sub="wechat-adapter") as adapter:
        first = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "satisfied", "citizen": "citizen-once"})
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "closed"
        again = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "dissatisfied", "citizen": "citizen-once"})
        assert again.status_code == 409 and again.json()["detail"]
        other = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "satisfied", "citizen": "someone-else"})
        assert other.status_code in (403, 409)
    async with service.client() as public:
        link = await public.post("/v1/ratings/link",
                                 json={"token": notice.rating_token, "rating": "dissatisfied"})
        assert link.status_code == 409
    [rated] = await service.until(lambda: service.of(ticket, "TicketRated"), "TicketRated")
    [closed] = await service.until(lambda: service.of(ticket, "TicketClosed"), "TicketClosed")
    assert rated.payload.rating == "satisfied" and rated.payload.unit == "yingzhou.qinghe"
    assert closed.payload.rating == "satisfied"
    assert len(service.of(ticket, "TicketRated")) == 1


async def test_rating_links_refuse_replay_tampering_expiry_and_other_tickets(service):
    ticket = new_ticket()
    notice = await answered(service, ticket, citizen="citizen-link")
    other = new_ticket()
    await answered(service, other, citizen="citizen-other")
    token = notice.rating_token
    async with service.client() as public:
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        bad = await public.post("/v1/ratings/link", json={"token": tampered, "rating": "satisfied"})
        assert bad.status_code == 403 and "altered" in bad.json()["detail"]
        junk = await public.post("/v1/ratings/link", json={"token": "not-a-token", "rating": "satisfied"})
        assert junk.status_code == 403 and junk.json()["error"] == "invalid_rating_link"
        links = rating_link_issuer(service.settings)
        expired = issue_rating_token(links, ticket_id=ticket.id, ticket_code=ticket.code,
                                     expires_at=T0 - timedelta(days=1),
                                     issued_at=T0 - timedelta(days=8), token_id="e1")
        old = await public.post("/v1/ratings/link", json={"token": expired, "rating": "satisfied"})
        assert old.status_code == 410 and "expired" in old.json()["detail"]
        stranger = auth.Issuer(kid="rating-link-stranger", key=Ed25519PrivateKey.generate())
        forged = issue_rating_token(stranger, ticket_id=ticket.id, ticket_code=ticket.code,
                                    expires_at=T0 + timedelta(days=30), issued_at=T0,
                                    token_id="f1")
        forged_r = await public.post("/v1/ratings/link", json={"token": forged, "rating": "satisfied"})
        assert forged_r.status_code == 403 and "unknown key" in forged_r.json()["detail"]
        # a staff or citizen token is no rating link
        citizen = auth.mint(service.settings, sub="citizen-link", role="citizen",
                            ticket=ticket.code)
        not_link = await public.post("/v1/ratings/link", json={"token": citizen, "rating": "satisfied"})
        assert not_link.status_code == 403 and "not a rating-link" in not_link.json()["detail"]
        # the old HMAC form: refused as retired, with a reason
        hmac_link = "eyJ2IjoxLCJ0IjoiVC0xIiwiciI6MSwiZSI6MTcwOTg4NTYwMH0.c2lnbmF0dXJlMTIzNDU2"
        retired = await public.post("/v1/ratings/link", json={"token": hmac_link, "rating": "satisfied"})
        assert retired.status_code == 410 and retired.json()["error"] == "rating_link_retired"
        assert "old form" in retired.json()["detail"]
        # a short form whose digest was altered, or naming another ticket, stands for nothing
        short = short_form(token, ticket_code=ticket.code, reply_round=1)
        altered = short[:-3] + ("AAA" if not short.endswith("AAA") else "BBB")
        for wrong in (altered, short.replace(ticket.code, other.code)):
            refused = await public.get("/v1/ratings/link", params={"t": wrong})
            assert refused.status_code in (403, 404), refused.text
        # the link's token is good for nothing else: not as a bearer token, not on another ticket
        public.headers["authorization"] = f"Bearer {token}"
        for path in (f"/v1/tickets/{ticket.code}/rating", f"/v1/tickets/{other.code}/rating"):
            bearer = await public.post(path, json={"rating": "satisfied"})
            assert bearer.status_code == 401 and "rating link only" in bearer.json()["detail"]
        # a citizen token scoped to the other ticket may not rate this one
        scoped = auth.mint(service.settings, sub="citizen-link", role="citizen",
                           ticket=other.code)
        public.headers["authorization"] = f"Bearer {scoped}"
        elsewhere = await public.post(f"/v1/tickets/{ticket.code}/rating",
                                      json={"rating": "satisfied"})
        assert elsewhere.status_code == 403 and "another ticket" in elsewhere.json()["detail"]
        del public.headers["authorization"]
        # the page checks the short form (what the SMS carries), then the citizen rates with it
        checked = await public.get("/v1/ratings/link", params={"t": short})
        assert checked.status_code == 200 and checked.json()["ticket_code"] == ticket.code
        first = await public.post("/v1/ratings/link", json={"token": short, "rating": "dissatisfied",
                                                            "comment": "没修好，我电话13812345678"})
        assert first.status_code == 201, first.text
        replay = await public.post("/v1/ratings/link", json={"token": token, "rating": "satisfied"})
        assert replay.status_code == 409 and "already used" in replay.json()["detail"]
        bad_value = await public.post("/v1/ratings/link", json={"token": token, "rating": "great"})
        assert bad_value.status_code == 422
    [rated] = await service.until(lambda: service.of(ticket, "TicketRated"), "TicketRated")
    assert rated.payload.via == "link" and "13812345678" not in rated.payload.comment_masked


async def test_bad_bearer_tokens_are_refused_with_reasons(service):
    ticket = new_ticket()
    async with service.client() as anonymous:
        none = await anonymous.post(f"/v1/tickets/{ticket.code}/rating", json={"rating": "satisfied"})
        assert none.status_code == 401 and none.json()["detail"]
        anonymous.headers["authorization"] = "Bearer ms1.forged.token"
        forged = await anonymous.get("/v1/callbacks")
        assert forged.status_code == 401
    async with service.client("unit", unit="yingzhou") as unit:
        wrong = await unit.post(f"/v1/tickets/{ticket.code}/rating", json={"rating": "satisfied"})
        assert wrong.status_code == 403 and "role" in wrong.json()["detail"]
    async with service.client("citizen", sub="c1") as citizen:
        worklist = await citizen.get("/v1/callbacks")
        assert worklist.status_code == 403
        unknown = await citizen.post(f"/v1/tickets/{ticket.code}/rating", json={"rating": "satisfied"})
        assert unknown.status_code == 404


async def test_reopen_path_end_to_end_and_escalation_after_too_many_reopens(service):
    ticket = new_ticket()
    notice = await answered(service, ticket, citizen="citizen-reopen")
    async with service.client("citizen", sub="citizen-reopen") as citizen, \
            service.client("dispatcher", sub="staff-7") as staff:
        rated = await citizen.post(f"/v1/tickets/{ticket.code}/rating",
                                   json={"rating": "dissatisfied", "comment": "还是不亮"})
        assert rated.status_code == 201 and rated.json()["status"] == "rated"
        async def on_worklist() -> list:
            items = (await staff.get("/v1/callbacks")).json()["items"]
            return [i for i in items if i["code"] == ticket.code]

        [item] = await service.until(on_worklist, "the ticket on the callback worklist")
        assert item["reasons"] == ["dissatisfied"]
        early_close = await staff.post(f"/v1/tickets/{ticket.code}/close", json={})
        assert early_close.status_code == 409  # a dissatisfied ticket is called back first
        called = await staff.post(f"/v1/tickets/{ticket.code}/callbacks", json={
            "reached": True, "resolved": False, "satisfaction": "dissatisfied",
            "note": "群众表示路灯仍不亮"})
        assert called.status_code == 201, called.text
        assert called.json()["status"] == "awaiting_reply"
        assert called.json()["reopen_count"] == 1
        [reopened] = await service.until(lambda: service.of(ticket, "TicketReopened"),
                                         "TicketReopened")
        assert reopened.payload.reopen_count == 1 and reopened.payload.confirmed_by == "callback"
        assert reopened.envelope.ticket_code == ticket.code  # the same code goes back
        # The second reply starts round 2; the round-1 link is now stale.
        await service.publish(ticket, ticket.reviewed(T0 + timedelta(days=2),
                                                      reply="已更换整段线路。"))
        await service.until(lambda: len(service.of(ticket, "CitizenNotified")) == 2, "round 2")
        async with service.client() as public:
            stale = await public.post("/v1/ratings/link", json={"token": notice.rating_token,
                                                                "rating": "satisfied"})
            assert stale.status_code == 409 and "reopened" in stale.json()["detail"]
        # Rounds 2 and 3 judged dissatisfied and reopened by staff: the 3rd reopen escalates.
        for n in (2, 3):
            if n == 3:
                await service.publish(ticket, ticket.reviewed(T0 + timedelta(days=3),
                                                              reply="再次处理。"))
                await service.until(lambda: len(service.of(ticket, "CitizenNotified")) == 3,
                                    "round 3")
            again = await citizen.post(f"/v1/tickets/{ticket.code}/rating",
                                       json={"rating": "dissatisfied"})
            assert again.status_code == 201, again.text
            no_reason = await staff.post(f"/v1/tickets/{ticket.code}/reopen", json={"reason": ""})
            assert no_reason.status_code == 422
            staff_reopen = await staff.post(f"/v1/tickets/{ticket.code}/reopen",
                                            json={"reason": "现场核实仍未解决"})
            assert staff_reopen.status_code == 201, staff_reopen.text
    await service.until(lambda: len(service.of(ticket, "TicketReopened")) == 3, "3 reopens")
    [pushed] = await service.until(lambda: service.of(ticket, "PushedToSupervision"),
                                   "PushedToSupervision")
    assert pushed.payload.reopen_count == 3 and pushed.payload.channel == "reopened"


async def test_redelivered_and_unknown_ticket_facts_change_nothing_twice(service):
    ticket = new_ticket()
    review = ticket.reviewed(T0 + timedelta(days=1), reply="已处理。")
    # No submission ever seen (a consumer that started late): the citizen is still answered.
    await service.publish(ticket, review, review)
    await service.until(lambda: service.of(ticket, "CitizenNotified"), "CitizenNotified")
    marker = new_ticket()  # a later ticket on the same topic: once it is answered, the
    await answered(service, marker)  # copies above have certainly been consumed
    assert len(service.of(ticket, "CitizenNotified")) == 1
    [notice] = service.notices_of(ticket)
    assert notice.channel == "web"  # no known channel: the web notice, never none


async def test_a_merged_ticket_gets_the_answer_of_its_case(service):
    primary, linked = new_ticket(), new_ticket()
    await service.publish(linked, linked.submitted(T0, text="同一路段路灯不亮", citizen="citizen-b"),
                          linked.accepted(T0), linked.merged_into(primary, T0),
                          linked.merge_taken(primary, T0))
    await answered(service, primary, citizen="citizen-a")
    await service.until(lambda: service.of(linked, "CitizenNotified"), "the linked answer")
    [notice] = await service.until(lambda: service.notices_of(linked), "linked notice")
    assert notice.citizen_pseudonym == "citizen-b" and notice.ticket_code == linked.code
    async with service.client("channel_adapter", sub="wx") as adapter:
        rated = await adapter.post(f"/v1/tickets/{linked.code}/rating",
                                   json={"rating": "basically_satisfied", "citizen": "citizen-b"})
        assert rated.status_code == 201, rated.text
    # Merged after the primary was answered (another partition, applied later): owed too.
    late = new_ticket()
    await service.publish(late, late.submitted(T0, text="路灯不亮", citizen="citizen-c"),
                          late.accepted(T0), late.merged_into(primary, T0 + timedelta(days=1)),
                          late.merge_taken(primary, T0 + timedelta(days=1)))
    [notice] = await service.until(lambda: service.notices_of(late), "the late-merged notice")
    assert notice.citizen_pseudonym == "citizen-c" and "已更换灯泡" in notice.body
    assert len(service.of(primary, "CitizenNotified")) == 1


async def test_a_merge_dispatch_refused_leaves_the_ticket_its_own_answer(service):
    # The race: the primary was answered; a dispatcher merged the ticket on intake's stale read
    # model while its own unit had replied; dispatch refused the merge and intake undid it.
    # The merge once delivered the primary's answer at once, and the ticket's own was dropped.
    primary, late = new_ticket(), new_ticket()
    await answered(service, primary, citizen="citizen-a")
    await service.publish(
        late, late.submitted(T0, text="同一路段路灯不亮", citizen="citizen-t"),
        late.accepted(T0), late.assigned(T0, unit="yingdong"),
        late.merged_into(primary, T0 + timedelta(days=2)),
        late.merge_refused(primary, T0 + timedelta(days=2)),
        late.unmerged_from(primary, T0 + timedelta(days=2)),
        late.reviewed(T0 + timedelta(days=3), unit="yingdong", reply="门禁已更换。"))
    [fact] = await service.until(lambda: service.of(late, "CitizenNotified"), "its own answer")
    assert fact.payload.unit == "yingdong" and fact.payload.reply_round == 1
    marker = new_ticket()  # a later ticket: once it is answered, the facts above were applied
    await answered(service, marker)
    assert len(service.of(late, "CitizenNotified")) == 1
    bodies = [n.body for n in service.notices_of(late)]
    assert bodies and all("门禁已更换" in b and "已更换灯泡" not in b for b in bodies)
    async with service.client("dispatcher") as staff:
        async def shown() -> dict | None:
            r = await staff.get(f"/v1/tickets/{late.code}/feedback")
            return r.json() if r.status_code == 200 else None

        record = await service.until(shown, "the ticket in feedback's read model")
    assert (record["status"], record["reply_round"]) == ("awaiting_rating", 1), record


async def test_observers_and_deputies_follow_remark_and_push_to_supervision(service):
    ticket = new_ticket()
    await service.publish(ticket, ticket.submitted(T0, text="菜市场占道经营严重"),
                          ticket.accepted(T0), ticket.assigned(T0, unit="taihe.chengguan",
                                                               county="taihe",
                                                               subdistrict="taihe.chengguan"))
    async with service.client("observer", sub="observer-9") as observer, \
            service.client("deputy", sub="deputy-3") as deputy, \
            service.client("unit", unit="taihe.chengguan") as unit, \
            service.client("unit", unit="yingzhou") as other_unit:
        async def followed() -> bool:
            r = await observer.post("/v1/follows", json={"kind": "ticket", "target": ticket.code})
            return r.status_code == 201

        await service.until(followed, "following the ticket once the hall knows it")
        twice = await observer.post("/v1/follows", json={"kind": "ticket", "target": ticket.code})
        assert twice.status_code == 409
        bad_kind = await observer.post("/v1/follows", json={"kind": "person", "target": "x"})
        assert bad_kind.status_code == 422
        await service.publish(ticket, ticket.deadline_missed(T0 + timedelta(days=5)))

        async def notified() -> list:
            rows = (await observer.get("/v1/notifications")).json()["notifications"]
            return [n for n in rows if n["event_type"] == "DeadlineMissed"]

        [note] = await service.until(notified, "the observer's notification")
        assert note["ticket_code"] == ticket.code and note["summary"] == "已超期"
        remark = await observer.post(f"/v1/tickets/{ticket.code}/remarks",
                                     json={"text": "请尽快处理，商户联系人张建国电话13900001111"})
        assert remark.status_code == 201, remark.text
        [added] = await service.until(lambda: service.of(ticket, "RemarkAdded"), "RemarkAdded")
        assert added.payload.unit == "taihe.chengguan" and added.payload.follower_role == "observer"
        assert "13900001111" not in added.payload.remark_masked
        assert "张建国" not in added.payload.remark_masked

        async def unit_sees() -> list:
            return (await unit.get("/v1/remarks")).json()["remarks"]

        [seen] = await service.until(unit_sees, "the unit's view of the remark")
        assert seen["ticket_code"] == ticket.code
        others = (await other_unit.get("/v1/remarks")).json()["remarks"]
        assert all(r["ticket_code"] != ticket.code for r in others)  # units see their own only
        not_deputy = await observer.post(f"/v1/tickets/{ticket.code}/supervision",
                                          json={"reason": "久拖不决"})
        assert not_deputy.status_code == 403
        unfollowed = await deputy.post(f"/v1/tickets/{ticket.code}/supervision",
                                       json={"reason": "久拖不决"})
        assert unfollowed.status_code == 409 and "follow" in unfollowed.json()["detail"]
        follow_unit = await deputy.post("/v1/follows",
                                        json={"kind": "unit", "target": "taihe.chengguan"})
        assert follow_unit.status_code == 201
        pushed = await deputy.post(f"/v1/tickets/{ticket.code}/supervision",
                                   json={"reason": "群众反映强烈，久拖不决"})
        assert pushed.status_code == 201, pushed.text
        again = await deputy.post(f"/v1/tickets/{ticket.code}/supervision",
                                  json={"reason": "再次推送"})
        assert again.status_code == 409
    [push] = await service.until(lambda: service.of(ticket, "PushedToSupervision"),
                                 "PushedToSupervision")
    assert push.payload.follower_role == "deputy" and push.payload.channel == "聚民意、惠民生"
    assert push.payload.unit == "taihe.chengguan" and push.envelope.ticket_code == ticket.code


async def test_the_hall_shows_a_merge_once_dispatch_took_it_and_never_a_refused_one(service):
    # intake's merge is not the hall's news: dispatch may refuse it (the unit had replied),
    # and intake undoes it. The hall once showed 已并案办理 then 已取消并案 to the ticket's
    # followers for a merge that never happened; now only dispatch's take is shown
    primary, refused, taken = new_ticket(), new_ticket(), new_ticket()
    for t in (refused, taken):
        await service.publish(t, t.submitted(T0, text="小区路灯不亮一个月"), t.accepted(T0),
                              t.assigned(T0))
    async with service.client("observer", sub="observer-merges") as observer:
        for t in (refused, taken):
            async def followed(t: Ticket = t) -> bool:
                r = await observer.post("/v1/follows", json={"kind": "ticket", "target": t.code})
                return r.status_code == 201

            await service.until(followed, "following the ticket once the hall knows it")
        at = T0 + timedelta(days=1)
        await service.publish(refused, refused.merged_into(primary, at),
                              refused.merge_refused(primary, at),
                              refused.unmerged_from(primary, at),
                              refused.deadline_missed(at + timedelta(days=1)))
        await service.publish(taken, taken.merged_into(primary, at),
                              taken.merge_taken(primary, at),
                              taken.unmerged_from(primary, at + timedelta(hours=1),
                                                  by="dispatcher-1"),
                              taken.deadline_missed(at + timedelta(days=1)))

        async def told(t: Ticket) -> list | None:
            rows = (await observer.get("/v1/notifications")).json()["notifications"]
            mine = [(n["event_type"], n["summary"]) for n in rows if n["ticket_code"] == t.code]
            return mine if ("DeadlineMissed", "已超期") in mine else None  # the last one, in

        refused_told = await service.until(lambda: told(refused), "the refused ticket's news")
        assert [e for e, _ in refused_told if "Merge" in e or "Unmerged" in e] == []
        taken_told = await service.until(lambda: told(taken), "the taken ticket's news")
        assert ("CaseMergeTaken", "已并案办理") in taken_told
        assert ("TicketUnmergedFromCase", "已取消并案") in taken_told
        assert "TicketMergedIntoCase" not in [e for e, _ in taken_told]
        async with service.client() as public:
            row = (await public.get(f"/v1/hall/{refused.code}")).json()
        assert row["status"] == "assigned", row  # as before the merge, all along


async def test_a_unit_to_follow_must_be_in_the_registry(service):
    """A mistyped unit code ("urban_mgmt") was followed (201) and never told of anything."""
    async with service.client("observer", sub="obs-units") as observer:
        typo = await observer.post("/v1/follows", json={"kind": "unit", "target": "urban_mgmt"})
        assert typo.status_code == 404 and "registry" in typo.json()["detail"], typo.text
        real = await observer.post("/v1/follows", json={"kind": "unit", "target": "urban-mgmt"})
        assert real.status_code == 201, real.text
        mine = (await observer.get("/v1/follows")).json()["follows"]
        assert mine == [{"kind": "unit", "target": "urban-mgmt"}]
