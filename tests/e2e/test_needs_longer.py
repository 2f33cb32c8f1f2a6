"""需较长时间办理 (MISSION fact 6) end to end, every service from the working tree: a unit's
needs_longer reply is an interim answer. The citizen is told why and by when, with no rating
link; the ticket stays open with its unit (it notes progress, nothing closes); the unit's
final reply then answers, the citizen rates, the ticket closes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import dispatch_api_pb2, feedback_notices_pb2

from tests.e2e.actors import (
    DepartmentSystem,
    citizen_notice,
    event_types,
    history,
    payload_of,
    submit,
    wait_for_event,
)
from tests.e2e.platform_harness import Platform
from tests.waiting import eventually, patient

pytestmark = pytest.mark.e2e


async def _notices(platform: Platform, code: str, timeout: float) -> list:
    consumer = AIOKafkaConsumer(platform.topic("citizen.notices"),
                                bootstrap_servers=platform.settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found = []
    try:
        deadline = asyncio.get_running_loop().time() + patient(timeout)
        while asyncio.get_running_loop().time() < deadline and not found:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    notice = feedback_notices_pb2.CitizenNotice()
                    notice.ParseFromString(r.value)
                    if notice.ticket_code == code:
                        found.append(notice)
    finally:
        await consumer.stop()
    return found


def test_needs_longer_keeps_the_ticket_open_until_the_final_reply(platform):
    ticket = submit(platform, text="颍州区清河路的小区门前道路塌陷一大块，车辆无法通行，请尽快修复。")
    code = ticket["code"]
    unit = payload_of(wait_for_event(platform, code, "TicketAssigned"), "TicketAssigned")["unit"]
    department = DepartmentSystem(platform, unit)
    expected = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=20)).date().isoformat()
    try:
        department.sign_for(code)
        with pytest.raises(grpc.RpcError) as undated:  # why AND by when (fact 6)
            department.call("Reply", dispatch_api_pb2.ReplyRequest(
                ticket_code=code, reply="需协调施工单位。", outcome="needs_longer",
                request_id=uuid.uuid4().hex))
        assert undated.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        ack = department.call("Reply", dispatch_api_pb2.ReplyRequest(
            ticket_code=code, reply="道路修复需协调燃气管线迁改，施工期较长。", outcome="needs_longer",
            expected_by=expected, request_id=uuid.uuid4().hex))
        assert ack.status == "in_progress"  # accepted as interim: still the unit's to handle
        entries = wait_for_event(platform, code, "CitizenNotified")
        told = payload_of(entries, "CitizenNotified")
        assert told["outcome"] == "needs_longer" and "rating_due_at" not in told
        reviewed = payload_of(entries, "ReplyReviewed")
        assert reviewed["interim"] is True and reviewed["expected_by"] == expected
        [interim] = asyncio.run(_notices(platform, code, 60))
        assert not interim.rating_token and "/rate" not in interim.body
        y, m, d = (int(x) for x in expected.split("-"))
        assert f"{y}年{m}月{d}日" in interim.body
        # nothing closed; the unit still holds it: it notes progress and replies again
        department.call("AddNote", dispatch_api_pb2.AddNoteRequest(
            ticket_code=code, note="管线迁改已完成，开始路面施工。", request_id=uuid.uuid4().hex))
        with platform.client("audit", "auditor", sub="auditor-e2e") as c:
            state = c.get(f"/v1/tickets/{code}/state")
        assert state.status_code == 200, state.text
        assert state.json()["status"] == "in_progress", state.json()
        assert "DispatchClosed" not in event_types(history(platform, code))
        # the supervisors' view of the clock says the explanation was given, and in time
        with platform.client("sla", "supervisor") as c:
            clocks = eventually(lambda: [k for k in c.get(f"/v1/tickets/{code}/clocks")
                                         .json()["clocks"] if k["explained_at"]], 60,
                                what="sla's clock showing the explanation given")
        assert clocks[0]["explained_late"] is False and clocks[0]["status"] == "running"
        department.reply(code, "道路已修复完毕，恢复通行。")
    finally:
        department.close()
    wait_for_event(platform, code, "DispatchClosed")
    notice = citizen_notice(platform, code)  # the final answer, with its rating link
    assert notice.outcome == "resolved" and notice.reply_round == 1
    with platform.client("feedback", "citizen", sub="nobody") as c:
        r = c.post("/v1/ratings/link", json={"token": notice.rating_token, "rating": "satisfied"})
    assert r.status_code == 201, r.text
    entries = wait_for_event(platform, code, "TicketClosed")
    types = event_types(entries)
    assert types.count("CitizenNotified") == 2 and types.count("DispatchClosed") == 1
    # the reply clock was settled by the final reply, not by the interim one or its review
    entries = wait_for_event(platform, code, "DeadlineMet")
    types = event_types(entries)
    replies = [i for i, t in enumerate(types) if t == "AssignmentReplied"]
    assert len(replies) == 2 and types.count("DeadlineMet") == 1
    assert types.index("DeadlineMet") > replies[1], types
