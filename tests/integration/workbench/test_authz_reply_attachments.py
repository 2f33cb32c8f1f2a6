"""A reply's attachments are kept only when dispatch takes the reply on the unit's own
assignment: a unit posting a "reply" with files to another unit's ticket (refused by dispatch)
must not leave a file that the ticket's page then serves to its unit and the dispatchers."""

from __future__ import annotations

import hashlib

from services.workbench.adapters.upstream import UpstreamError

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64)) + b"\xff\xd9"
SHA = hashlib.sha256(JPEG).hexdigest()


async def test_a_refused_reply_keeps_no_attachment_on_another_units_ticket(workbench,
                                                                           monkeypatch):
    code = workbench.feed.ticket(text="阳光小区路灯不亮已经一周", unit="lighting",
                                 status="signed_for")
    calls = []

    async def refused(step, *, token, code, request_id="", **fields):
        calls.append((step, code))  # what dispatch answers a unit without the assignment
        raise UpstreamError(404, "dispatch", f"unit parks has no assignment of ticket {code}")

    monkeypatch.setattr(workbench.services, "unit_step", refused)
    async with workbench.client("unit", unit="parks") as c:
        r = await c.post(f"/v1/desk/{code}/reply", data={"text": "已处理完毕", "outcome": "resolved"},
                         files={"files": ("planted.jpg", JPEG, "image/jpeg")})
    assert r.status_code == 404 and calls == [("Reply", code)]
    for role, unit in (("dispatcher", ""), ("unit", "lighting")):
        async with workbench.client(role, unit=unit) as c:
            r = await c.get(f"/v1/tickets/{code}/attachments/{SHA}")
            assert r.status_code == 404, (role, r.status_code)


async def test_an_accepted_reply_keeps_its_attachment_under_the_tickets_code(workbench,
                                                                             monkeypatch):
    code = workbench.feed.ticket(text="阳光小区路灯不亮已经一周", unit="lighting",
                                 status="signed_for")
    replies = []

    async def accepted(step, *, token, code, request_id="", **fields):
        replies.append(fields["reply"])
        return {"ticket_id": "", "ticket_code": code.strip().upper(), "status": "replied",
                "assignment_no": 1, "replayed": False}

    monkeypatch.setattr(workbench.services, "unit_step", accepted)
    async with workbench.client("unit", unit="lighting") as c:
        r = await c.post(f"/v1/desk/{code.lower()}/reply",
                         data={"text": "已修复路灯。", "outcome": "resolved"},
                         files={"files": ("现场/照片.jpg", JPEG, "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.json()["attachments"][0]["sha256"] == SHA
        assert replies == [f"已修复路灯。\n〔附件：现场_照片.jpg，{SHA[:12]}〕"]
        r = await c.get(f"/v1/tickets/{code}/attachments/{SHA}")
        assert r.status_code == 200 and r.content == JPEG


async def test_a_reply_in_the_same_words_in_a_later_round_is_a_new_reply(workbench, monkeypatch):
    # After a 重办 the ticket came back to the same unit, which replied in the same words as
    # the first time. The desk made the retry key of the unit, code, words and outcome, so
    # dispatch took the new reply for a retry of the first and answered the first ack again
    # ("closed", replayed): the reply was never recorded and the desk said 已提交.
    code = workbench.feed.ticket(text="阳光小区路灯不亮已经一周", unit="lighting",
                                 status="signed_for")
    recorded: list[str] = []
    acks: dict[str, dict] = {}

    async def dispatch(step, *, token, code, request_id="", **fields):  # keys as dispatch
        if request_id and request_id in acks:
            return {**acks[request_id], "replayed": True}
        recorded.append(fields["reply"])
        ack = {"ticket_id": "", "ticket_code": code.strip().upper(), "status": "closed",
               "assignment_no": len(recorded), "replayed": False}
        if request_id:
            acks[request_id] = ack
        return ack

    monkeypatch.setattr(workbench.services, "unit_step", dispatch)
    async with workbench.client("unit", unit="lighting") as c:
        first = await c.post(f"/v1/desk/{code}/reply",
                             data={"text": "已修复路灯。", "outcome": "resolved"})
        again = await c.post(f"/v1/desk/{code}/reply",  # the next round, the same words
                             data={"text": "已修复路灯。", "outcome": "resolved"})
        assert first.status_code == again.status_code == 200, again.text
        assert again.json()["replayed"] is False and recorded == ["已修复路灯。"] * 2
        # the desk's form sends its own key: a double click is the one reply
        form = {"text": "灯已亮。", "outcome": "resolved", "request_id": "reply-form-1"}
        clicks = [await c.post(f"/v1/desk/{code}/reply", data=form) for _ in range(2)]
        assert [r.json()["replayed"] for r in clicks] == [False, True]
        assert recorded == ["已修复路灯。"] * 2 + ["灯已亮。"]
