"""并单 (likely duplicates linked to one case) and citizens' identity, through the running service."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import pytest

from services.intake.application.sealing import ContactSealing
from services.intake.domain.citizen import IdentityVault, pseudonym_for_phone
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration


def _request(text: str, lat: float, lon: float, **extra) -> dict:
    return {"channel": "wechat_mini", "request_id": uuid.uuid4().hex, "text": text,
            "location": {"lat": lat, "lon": lon}, **extra}


async def _case(staff: httpx.AsyncClient, code: str, until) -> dict:
    async def case() -> dict | None:
        body = (await staff.get(f"/v1/tickets/{code}/case")).json()
        return body if until(body) else None
    return await eventually_async(case, timeout=10, interval=0.1,
                                  what=f"the case of {code} as expected")


async def _listed(http: httpx.AsyncClient, citizen: dict, until, what: str) -> list:
    """The citizen's tickets once ``until`` holds of them (the read model follows the log)."""
    async def listed() -> list | None:
        tickets = (await http.get("/v1/citizens/me/tickets", headers=citizen)).json()["tickets"]
        return tickets if until(tickets) else None
    return await eventually_async(listed, timeout=10, interval=0.1, what=what)


async def test_a_likely_duplicate_is_merged_then_confirmed_and_undone(intake):
    # A place of our own (far from the other tests' tickets), two citizens, one broken pipe.
    lat, lon = 32.95 + (uuid.uuid4().int % 1000) / 100_000, 115.70
    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        first = (await adapter.post("/v1/requests", json=_request(
            "幸福小区北门自来水管爆裂，水流满路面", lat, lon))).json()
        other = (await adapter.post("/v1/requests", json=_request(
            "幸福小区北门水管爆了，路面全是水", lat + 0.0003, lon))).json()
        unrelated = (await adapter.post("/v1/requests", json=_request(
            "夜里广场舞音响太吵", lat, lon))).json()
        case = await _case(staff, other["code"], lambda b: b["case"] is not None)
        assert case["case"]["primary_code"] == first["code"]
        linked = {t["code"]: t["confirmed"] for t in case["case"]["tickets"]}
        assert linked == {first["code"]: True, other["code"]: False}
        confirmed = await staff.post(f"/v1/tickets/{other['code']}/merge/confirm")
        assert confirmed.status_code == 200
        undone = await staff.post(f"/v1/tickets/{other['code']}/merge/undo",
                                  json={"reason": "两处不同的水管"})
        assert undone.status_code == 200 and undone.json()["case"] is None
        alone = (await staff.get(f"/v1/tickets/{unrelated['code']}/case")).json()
        assert alone["case"] is None
        by_hand = await staff.post(f"/v1/tickets/{unrelated['code']}/merge",
                                   json={"into": first["code"]})
        assert by_hand.status_code == 200
    found = await intake.events_of(other["ticket_id"], {"TicketMergedIntoCase",
                                                        "TicketUnmergedFromCase"})
    merges = [d.payload for d in found if d.event_type == "TicketMergedIntoCase"]
    assert [m.confirmed for m in merges] == [False, True]
    assert merges[0].primary_code == first["code"] and merges[0].by == "detector"
    assert merges[0].primary_ticket_id == first["ticket_id"] and merges[0].score >= 0.4
    unmerged = next(d.payload for d in found if d.event_type == "TicketUnmergedFromCase")
    assert unmerged.reason == "两处不同的水管" and unmerged.case_id == merges[0].case_id


async def test_a_citizen_proven_by_phone_lists_their_tickets_and_erases_their_identity(intake):
    phone = f"135{uuid.uuid4().int % 10**8:08d}"
    contact = {"name": "王秀英", "phone": phone}
    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        mine = [(await adapter.post("/v1/requests", json=_request(
            f"第{i}次反映：楼道灯坏了", 32.89, 115.81, contact=contact))).json() for i in range(2)]
        contact_before = await staff.get(f"/v1/tickets/{mine[0]['code']}/contact")
        assert contact_before.json()["phone"] == phone
        async with httpx.AsyncClient(base_url=intake.url) as public:
            sent = (await public.post("/v1/citizens/verification", json={"phone": phone})).json()
            assert sent["sent_to"] == f"{phone[:3]}****{phone[-4:]}"
            session = await public.post("/v1/citizens/session",
                                        json={"phone": phone, "code": sent["code"]})
            assert session.status_code == 200
            again = await public.post("/v1/citizens/session",
                                      json={"phone": phone, "code": sent["code"]})
            assert again.status_code == 401  # a code works once
        citizen = {"authorization": f"Bearer {session.json()['token']}"}
        listed = await _listed(staff, citizen, lambda ts: len(ts) == 2, "the citizen's two tickets")
        assert sorted(t["code"] for t in listed) == sorted(t["code"] for t in mine)
        erased = await staff.post("/v1/citizens/me/erasure", headers=citizen)
        assert sorted(erased.json()["tickets"]) == sorted(t["code"] for t in mine)
        gone = await staff.get(f"/v1/tickets/{mine[0]['code']}/contact")
        assert gone.status_code == 410
        still = await staff.get(f"/v1/tickets/{mine[0]['code']}")
        assert still.status_code == 200 and still.json()["status"] == "accepted"
        back = (await adapter.post("/v1/requests", json=_request(
            "我又来反映：楼道灯还是坏的", 32.89, 115.81, contact=contact))).json()
        assert back["status"] == "accepted"  # everything else keeps working
        fresh = await staff.get(f"/v1/tickets/{back['code']}/contact")
        assert fresh.json()["phone"] == phone  # a new key for the new record
        # whoever proves that phone later (the number recycled to someone else) sees what
        # was sent after the erasure, never the erased tickets
        listed = await _listed(staff, citizen, lambda ts: [t["code"] for t in ts] == [back["code"]],
                               "only the ticket sent after the erasure")
        assert [t["code"] for t in listed] == [back["code"]], listed
    store = intake.service.infra.pool
    citizen_id = pseudonym_for_phone(intake.settings.pseudonym_pepper.encode(), phone)
    with store.connection() as conn:
        row = conn.execute(f"SELECT destroyed_at FROM {intake.settings.schema}.citizen_keys"
                           " WHERE citizen = %s", (citizen_id,)).fetchone()
    assert row is not None and row[0] is not None  # is_destroyed stays true
    found = await intake.events_of(mine[0]["ticket_id"], {"CitizenIdentityErased"})
    assert [d.envelope.actor.role for d in found if d.event_type == "CitizenIdentityErased"] \
        == ["citizen"]


async def test_a_supervisor_erases_by_ticket_code(intake):
    async with intake.client() as adapter, intake.client("supervisor") as supervisor:
        made = (await adapter.post("/v1/requests", json=_request(
            "小区健身器材损坏", 32.89, 115.81, contact={"name": "李娜", "address": "人民路1号"})
        )).json()
        erased = await supervisor.post("/v1/citizens/erasure", json={"ticket_code": made["code"]})
        assert erased.status_code == 200 and erased.json()["tickets"] == [made["code"]]
        assert (await supervisor.get(f"/v1/tickets/{made['code']}/contact")).status_code == 410


async def test_a_request_that_comes_in_while_its_citizen_is_erased_is_not_said_erased(
        intake, monkeypatch):
    # The citizen's next request lands after the key is destroyed and before the erasure
    # lists the citizen's tickets: it is sealed under a fresh key (a citizen who comes back
    # gets one), so its contact stays readable, and the erasure must not record or answer
    # it as erased (it did both: CitizenIdentityErased on a ticket whose name and phone
    # were still served, and that ticket left out of the citizen's own list).
    phone = f"135{uuid.uuid4().int % 10**8:08d}"
    contact = {"name": "王秀英", "phone": phone}
    adapter_token = intake.token()
    meanwhile: list[dict] = []
    real_erase = IdentityVault.erase

    def erase_then_a_request_comes(vault: IdentityVault, citizen: str) -> None:
        real_erase(vault, citizen)
        meanwhile.append(httpx.post(
            f"{intake.url}/v1/requests", timeout=30,
            headers={"authorization": f"Bearer {adapter_token}"},
            json=_request("楼道灯又坏了，请尽快修理", 32.89, 115.81, contact=contact)).json())

    async with intake.client() as adapter, intake.client("supervisor") as supervisor:
        first = (await adapter.post("/v1/requests", json=_request(
            "小区楼道灯坏了", 32.89, 115.81, contact=contact))).json()
        monkeypatch.setattr(IdentityVault, "erase", erase_then_a_request_comes)
        erased = await supervisor.post("/v1/citizens/erasure", json={"ticket_code": first["code"]})
        monkeypatch.undo()
        assert erased.status_code == 200, erased.text
        assert erased.json()["tickets"] == [first["code"]], (erased.json(), meanwhile)
        assert (await supervisor.get(f"/v1/tickets/{first['code']}/contact")).status_code == 410
        later = await supervisor.get(f"/v1/tickets/{meanwhile[0]['code']}/contact")
        assert later.status_code == 200 and later.json()["phone"] == phone


async def test_a_contact_read_tells_an_anonymous_ticket_from_no_ticket(intake):
    """The contact is read by the code alone (the sealed contact's id follows from it): an
    anonymous ticket and a code no ticket has are still told apart, both 404."""
    from datetime import date

    from services.intake.domain.ticket_code import issue_code

    async with intake.client() as adapter, intake.client("supervisor") as supervisor:
        made = (await adapter.post("/v1/requests", json=_request(
            "路灯不亮好几天了", 32.89, 115.81))).json()
        anonymous = await supervisor.get(f"/v1/tickets/{made['code']}/contact")
        assert anonymous.status_code == 404 and "anonymously" in anonymous.text
        unknown_code = issue_code("FY", date(2001, 1, 1), 1 + uuid.uuid4().int % 9_999)
        unknown = await supervisor.get(f"/v1/tickets/{unknown_code}/contact")
        assert unknown.status_code == 404 and "no ticket" in unknown.text
        named = (await adapter.post("/v1/requests", json=_request(
            "路灯不亮好几天了", 32.89, 115.81, contact={"name": "张伟", "phone": "13800138000"})
        )).json()
        read = await supervisor.get(f"/v1/tickets/{named['code']}/contact")
        assert read.status_code == 200 and read.json()["phone"] == "13800138000"


async def test_a_phone_and_code_typed_in_full_width_digits_sign_the_citizen_in(intake):
    # a Chinese IME types １３５...: the phone was refused (400) and the code was "wrong"
    # (401, a try spent)
    phone = f"135{uuid.uuid4().int % 10**8:08d}"
    wide = phone.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    async with intake.client() as adapter:
        mine = (await adapter.post("/v1/requests", json=_request(
            "楼道灯坏了一个月了", 32.89, 115.81, contact={"phone": phone}))).json()
    async with httpx.AsyncClient(base_url=intake.url) as public:
        sent = await public.post("/v1/citizens/verification", json={"phone": wide})
        assert sent.status_code == 202, sent.text
        assert sent.json()["sent_to"] == f"{phone[:3]}****{phone[-4:]}"
        code = sent.json()["code"].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        session = await public.post("/v1/citizens/session", json={"phone": wide, "code": code})
        assert session.status_code == 200, session.text
        citizen = {"authorization": f"Bearer {session.json()['token']}"}
        listed = await _listed(public, citizen, bool, "the citizen's ticket")
        assert [t["code"] for t in listed] == [mine["code"]]


async def test_a_closed_or_answered_ticket_is_in_no_case_made_by_hand(intake):
    # the Ticket aggregate knows intake's decisions only ("accepted"): a ticket closed a month
    # ago could be merged by hand, and a new one merged into it, which dispatch refuses
    # (past the reply) or follows to a primary no one handles any more
    from datetime import UTC, datetime

    from tests.integration.intake.test_answered import Feedback

    feedback = Feedback(intake)
    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        closed, answered, new = [(await adapter.post("/v1/requests", json=_request(
            text, lat, 115.81, contact={"phone": f"136{uuid.uuid4().int % 10**8:08d}"}))).json()
            for text, lat in (
                ("人民路北段的下水道井盖缺了一块", 32.80), ("西湖大道东侧的路灯一直不亮", 32.85),
                ("清河街道幸福家园门口的垃圾没人清运", 32.95))]
        await feedback.closed(closed, datetime.now(UTC))
        await feedback.answered(answered, datetime.now(UTC))
        for code, into in ((new, closed), (closed, new), (new, answered), (answered, new)):
            refused = await staff.post(f"/v1/tickets/{code['code']}/merge",
                                       json={"into": into["code"]})
            assert refused.status_code == 409, refused.text
            assert "重办" in refused.json()["detail"]
        assert (await staff.get(f"/v1/tickets/{new['code']}/case")).json()["case"] is None
        other = (await adapter.post("/v1/requests", json=_request(
            "颍上县城南的菜市场门口占道摆摊", 32.62, 116.26))).json()
        merged = await staff.post(f"/v1/tickets/{other['code']}/merge",
                                  json={"into": new["code"]})
        assert merged.status_code == 200, merged.text  # two open tickets still merge


async def test_a_ticket_leading_a_case_is_not_merged_into_another_case(intake):
    # C merged into A, then A into B: C followed A, which followed B. Dispatch withdrew C
    # and A, B's reply went to B's case (B and A) alone, and C's citizen was never answered
    # (its clock stopped, so it was not even overdue). A case's leader is merged only
    # once its followers' merges are undone.
    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        a, b, c = [(await adapter.post("/v1/requests", json=_request(text, lat, lon))).json()
                   for text, lat, lon in (("界首市东城的公交站牌倒了", 33.26, 115.37),
                                          ("太和县城关的公园长椅坏了", 33.16, 115.62),
                                          ("临泉县城关的广场音响太吵", 33.06, 115.26))]
        assert (await staff.post(f"/v1/tickets/{c['code']}/merge",
                                 json={"into": a["code"]})).status_code == 200
        refused = await staff.post(f"/v1/tickets/{a['code']}/merge", json={"into": b["code"]})
        assert refused.status_code == 409, refused.text
        assert c["code"] in refused.json()["detail"]
        assert (await staff.get(f"/v1/tickets/{b['code']}/case")).json()["case"] is None
        case_of_c = (await staff.get(f"/v1/tickets/{c['code']}/case")).json()["case"]
        assert case_of_c["primary_code"] == a["code"]
        undone = await staff.post(f"/v1/tickets/{c['code']}/merge/undo",
                                  json={"reason": "并到另一案"})
        assert undone.status_code == 200, undone.text
        for code in (a, c):  # now each joins B's case, which leads them both
            merged = await staff.post(f"/v1/tickets/{code['code']}/merge",
                                      json={"into": b["code"]})
            assert merged.status_code == 200, merged.text
            assert merged.json()["case"]["primary_code"] == b["code"]


async def test_two_hand_merges_of_two_tickets_into_each_other_make_no_cycle(intake, monkeypatch):
    # Two dispatchers at once: one merges A into B, the other B into A. Each decided on the
    # other ticket unmerged and both saved (neither wrote what the other wrote): A followed
    # B and B followed A, dispatch withdrew both and neither citizen was ever answered.
    # Here the second merge is made while the first is deciding, as a race would have it.
    from services.intake.application.merges import Merges

    token = intake.token("dispatcher")
    real_save = Merges._save
    racing: list[httpx.Response] = []
    raced: list[bool] = []

    def save_after_the_other_merge(self, ticket, case, *args, **kwargs):
        if not raced:  # (the other merge comes through here too: it just saves)
            raced.append(True)
            racing.append(httpx.post(
                f"{intake.url}/v1/tickets/{case.primary_code}/merge", timeout=30,
                headers={"authorization": f"Bearer {token}"}, json={"into": ticket.code}))
        return real_save(self, ticket, case, *args, **kwargs)

    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        a, b = [(await adapter.post("/v1/requests", json=_request(text, lat, lon))).json()
                for text, lat, lon in (("阜南县鹿城的人行道砖松动", 32.63, 115.59),
                                       ("颍上县慎城的下水道堵塞", 32.63, 116.26))]
        monkeypatch.setattr(Merges, "_save", save_after_the_other_merge)
        first = await staff.post(f"/v1/tickets/{a['code']}/merge", json={"into": b["code"]})
        monkeypatch.undo()
        assert racing and racing[0].status_code == 200, racing[0].text  # B into A, first
        assert first.status_code == 409, first.text  # A into B, decided on B unmerged
        for code in (a, b):
            case = (await staff.get(f"/v1/tickets/{code['code']}/case")).json()["case"]
            assert case["primary_code"] == a["code"], case


async def test_a_request_sealed_before_its_citizens_erasure_and_saved_after_is_not_lost(
        intake, monkeypatch):
    # Session 18's open window: a request sealed under the citizen's OLD key (cached) whose
    # save commits after the erasure listed the citizen's tickets answered 410 (its contact
    # no longer opens) but got no CitizenIdentityErased (ledger, hall and workbench never
    # learnt it). Now its save holds the key it sealed with: the erasure destroyed it first,
    # so the save is refused and sealed again under a fresh key (the citizen came back).
    phone = f"136{uuid.uuid4().int % 10**8:08d}"
    contact = {"name": "刘桂兰", "phone": phone}
    sealed, go = threading.Event(), threading.Event()
    real_save = ContactSealing.save_async

    async def seal_then_wait(self, save, aggregates, claim, identity, **kw):
        if not sealed.is_set():  # the second request only (patched after the first)
            sealed.set()
            await asyncio.to_thread(go.wait, 20)
        return await real_save(self, save, aggregates, claim, identity, **kw)

    async with intake.client() as adapter, intake.client("supervisor") as supervisor:
        first = (await adapter.post("/v1/requests", json=_request(
            "路灯不亮已经一周", 32.89, 115.81, contact=contact))).json()
        monkeypatch.setattr(ContactSealing, "save_async", seal_then_wait)
        second_task = asyncio.create_task(adapter.post("/v1/requests", json=_request(
            "路灯还是不亮，请再派人来看", 32.89, 115.81, contact=contact)))
        await asyncio.to_thread(sealed.wait, 20)  # sealed under the old key, not saved yet
        erased = await supervisor.post("/v1/citizens/erasure", json={"ticket_code": first["code"]})
        go.set()
        second = (await second_task).json()
        monkeypatch.undo()
        assert erased.status_code == 200, erased.text
        assert erased.json()["tickets"] == [first["code"]]
        assert (await supervisor.get(f"/v1/tickets/{first['code']}/contact")).status_code == 410
        later = await supervisor.get(f"/v1/tickets/{second['code']}/contact")
        # (before: 410, and no CitizenIdentityErased on it, ever)
        assert later.status_code == 200, later.text  # sealed again, under the fresh key
        assert later.json()["phone"] == phone


async def test_a_merge_dispatch_refused_is_undone_once_and_only_that_merge(intake):
    # A hand merge decided on the read model while the unit had just replied: dispatch did not
    # merge (CaseMergeRefused), so intake takes the ticket out of the case again
    from minsheng.v1 import dispatch_events_pb2 as de

    from backbone import events

    async def refuse(ticket: dict, case_id: str, merge_event_id: str,
                     event_id: str | None = None, unit: str = "yingdong") -> None:
        env = events.make_envelope(
            payload=de.CaseMergeRefused(
                case_id=case_id, primary_ticket_id=first["ticket_id"],
                primary_code=first["code"], reason=f"工单已由{unit}答复", state="closed",
                merge_event_id=merge_event_id),
            event_id=event_id or str(uuid.uuid4()), ticket_id=ticket["ticket_id"],
            ticket_code=ticket["code"], producer="dispatch", occurred_at=events.utcnow(),
            actor=events.actor("system", "dispatch"))
        await intake.publish("tickets.events", ticket["ticket_id"], env.SerializeToString())

    async def unmerges(n: int) -> list:
        found = await intake.lifecycle(lambda ds: sum(
            d.ticket_id == other["ticket_id"] and d.event_type == "TicketUnmergedFromCase"
            for d in ds) >= n)
        return [d for d in found if d.ticket_id == other["ticket_id"]]

    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        first, other = [(await adapter.post("/v1/requests", json=_request(
            text, 32.71, 115.55 + (uuid.uuid4().int % 1000) / 100_000))).json()
            for text in ("颍州区文峰街道的公交站牌被撞倒了", "城东的菜市场夜里排污水到河里")]
        merged = await staff.post(f"/v1/tickets/{other['code']}/merge",
                                  json={"into": first["code"]})
        assert merged.status_code == 200, merged.text
        case_id = merged.json()["case"]["case_id"]
        [merge] = [d for d in await intake.events_of(other["ticket_id"], {"TicketMergedIntoCase"})
                   if d.event_type == "TicketMergedIntoCase"]
        refusal = str(uuid.uuid4())
        for event_id in (refusal, refusal, None):  # a copy, and the same refusal told again
            await refuse(other, case_id, merge.event_id, event_id)
        await _case(staff, other["code"], lambda b: b["case"] is None)
        await _case(staff, first["code"], lambda b: b["case"] is None or [
            t["code"] for t in b["case"]["tickets"]] == [first["code"]])
        [undone] = [d for d in await unmerges(1) if d.event_type == "TicketUnmergedFromCase"]
        assert (undone.payload.by, undone.payload.case_id) == ("dispatch", case_id)
        assert "调度拒绝并单" in undone.payload.reason and "yingdong" in undone.payload.reason
        assert undone.envelope.actor.id == "dispatch"
        # merged again (reopened, say): an old refusal does not undo the new merge; its own does
        again = await staff.post(f"/v1/tickets/{other['code']}/merge",
                                 json={"into": first["code"]})
        assert again.status_code == 200, again.text
        await refuse(other, case_id, merge.event_id)
        merges = [d for d in await intake.lifecycle(lambda ds: sum(
            d.ticket_id == other["ticket_id"] and d.event_type == "TicketMergedIntoCase"
            for d in ds) >= 2) if d.ticket_id == other["ticket_id"]
            and d.event_type == "TicketMergedIntoCase"]
        # on the same partition, after the old one: once it is undone, the old one was handled
        await refuse(other, case_id, merges[-1].event_id, unit="yingquan")
        found = [d for d in await unmerges(2) if d.event_type.startswith("Ticket")]
        assert [d.event_type for d in found][-2:] == [
            "TicketMergedIntoCase", "TicketUnmergedFromCase"]
        assert "yingquan" in found[-1].payload.reason  # the new merge's own refusal undid it
        assert (await staff.get(f"/v1/tickets/{other['code']}/case")).json()["case"] is None
