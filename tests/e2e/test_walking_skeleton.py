"""One ticket through all six services, driven the way their real users drive them."""

from __future__ import annotations

import signal

import pytest

from tests.e2e.actors import (
    DepartmentSystem,
    citizen_notice,
    event_types,
    history,
    payload_of,
    replay_over_grpc,
    submit,
    wait_for_event,
)
from tests.e2e.platform_harness import eventually

pytestmark = pytest.mark.e2e


def test_a_ticket_travels_from_the_channel_to_the_ledger(platform):
    # a channel adapter submits; the code comes back
    ticket = submit(platform, text="颍州区清河路128号的小区门口路灯坏了三天了，晚上很黑，"
                                   "老人出门不安全，请尽快修。我叫王秀英，电话13912345678。",
                    contact={"name": "王秀英", "phone": "13912345678"})
    code = ticket["code"]
    assert ticket["status"] == "accepted"

    # dispatch classifies and routes; the unit's system sees its assignment
    entries = wait_for_event(platform, code, "TicketAssigned")
    unit = payload_of(entries, "TicketAssigned")["unit"]
    department = DepartmentSystem(platform, unit)
    try:
        department.sign_for(code)
        department.reply(code, "已安排维修人员更换灯泡，路灯已恢复照明。")
    finally:
        department.close()
    wait_for_event(platform, code, "DeadlineMet")

    # the citizen is told through their channel and rates through the one-time link
    notice = citizen_notice(platform, code)
    with platform.client("feedback", "citizen", sub="nobody") as c:
        r = c.post("/v1/ratings/link", json={"token": notice.rating_token,
                                              "rating": "satisfied"})
    assert r.status_code == 201, r.text
    entries = wait_for_event(platform, code, "TicketClosed")

    # the ledger holds the whole story in causal order, once each
    types = event_types(entries)
    order = ["TicketSubmitted", "TicketAccepted", "TicketAssigned", "DeadlineSet",
             "AssignmentSignedFor", "AssignmentReplied", "DeadlineMet", "TicketRated",
             "TicketClosed"]
    positions = [types.index(t) for t in order]
    assert positions[:3] == sorted(positions[:3]) and positions[4:] == sorted(positions[4:])
    ids = [e["envelope"]["event_id"] for e in entries]
    assert len(ids) == len(set(ids))
    for t in ("TicketSubmitted", "TicketAccepted", "TicketAssigned", "TicketRated",
              "TicketClosed"):
        assert types.count(t) == 1, (t, types)
    # no personal data anywhere in the history
    text = str(entries)
    assert "13912345678" not in text and "王秀英" not in text and "128号" not in text

    # the same history over gRPC streaming
    streamed = replay_over_grpc(platform, code)
    assert [e.envelope.event_type for e in streamed] == types

    # analytics counted it for the unit
    with platform.client("analytics", "supervisor") as c:
        def counted():
            r = c.get("/v1/counts/units")
            assert r.status_code == 200, r.text
            rows = r.json()
            rows = rows.get("units", rows) if isinstance(rows, dict) else rows
            row = next((x for x in rows if x.get("unit") == unit), None)
            return row if row and row.get("closed", 0) >= 1 and row.get("rated", 0) >= 1 \
                else None
        eventually(counted, timeout=60, what="analytics counts for the unit")
    assert history(platform, code)  # still readable


def routed(platform, code: str) -> list:
    """The ticket's ledger once dispatch assigned it or queued it for a dispatcher."""
    def seen():
        entries = history(platform, code)
        kinds = set(event_types(entries))
        return entries if kinds & {"TicketAssigned", "TicketQueuedForDispatcher"} else None

    return eventually(seen, timeout=60, what=f"{code} routed")


def reply_as_unit(platform, unit: str, code: str, text: str) -> None:
    department = DepartmentSystem(platform, unit)
    try:
        department.sign_for(code)
        department.reply(code, text)
    finally:
        department.close()


def test_a_hand_merge_dispatch_refuses_is_undone_and_the_ticket_answered_on_its_own(platform):
    # The primary's answer is delivered; then a unit replies to another ticket and, before
    # intake's read model has seen either, a dispatcher merges that ticket by hand (intake's
    # check passes on the stale rows). Dispatch refuses the merge (CaseMergeRefused), intake
    # undoes it: every view says the ticket is in no case, and its citizen gets its own answer
    # and never the primary's (feedback answers a linked ticket only once dispatch took the
    # merge: CaseMergeTaken). A merge dispatch takes (`dup`, merged before the answer) gets
    # the primary's answer through the case. The read model held back: its process (the
    # projector, with the lifecycle consumer) is stopped for the race, which makes it
    # deterministic; the undo (the projector's merge-refusal consumer) comes once it runs again.
    primary = submit(platform, text="颍泉区中市街道幸福里小区，附近工地渣土车不盖篷布，"
                                    "沿路撒落泥土，车辆经过尘土飞扬。")
    late = submit(platform, text="我是颍东区插花镇前进村的居民，小区门禁坏了两个月，"
                                 "物业一直推脱不修，外来人员随便进出很不安全。")
    dup = submit(platform, text="颍州区鼓楼街道文昌巷的下水道堵了一个星期，"
                                "污水漫到路面上，行人没法走。")
    primary_unit = payload_of(wait_for_event(platform, primary["code"], "TicketAssigned"),
                              "TicketAssigned")["unit"]
    entries = wait_for_event(platform, late["code"], "TicketAssigned")
    unit = payload_of(entries, "TicketAssigned")["unit"]
    routed(platform, dup["code"])
    observer = platform.client("feedback", "observer", sub="observer-e2e-merge")
    # a follower of `late` (the public hall's notifications): never told of the refused merge
    eventually(lambda: observer.post("/v1/follows", json={"kind": "ticket", "target":
                                                          late["code"]}).status_code == 201,
               timeout=60, what="following the ticket once the hall knows it")
    with platform.client("intake", "dispatcher", sub="dispatcher-e2e") as c:
        r = c.post(f"/v1/tickets/{dup['code']}/merge", json={"into": primary["code"]})
    assert r.status_code == 200, r.text  # an ordinary merge, before the primary's answer
    taken = payload_of(wait_for_event(platform, dup["code"], "CaseMergeTaken"),
                       "CaseMergeTaken")
    assert taken["primary_code"] == primary["code"]
    platform.kill("intake-projector", signal.SIGTERM)
    try:
        reply_as_unit(platform, primary_unit, primary["code"], "已责令工地渣土车全部加盖篷布。")
        answer = citizen_notice(platform, primary["code"])  # the primary's answer is out
        assert answer.unit == primary_unit
        # the merge dispatch took: the linked citizen hears the case's answer
        linked = citizen_notice(platform, dup["code"])
        assert linked.unit == primary_unit and "渣土车全部加盖篷布" in linked.body
        reply_as_unit(platform, unit, late["code"], "门禁已更换，物业已落实外来人员登记。")
        wait_for_event(platform, late["code"], "AssignmentReplied")  # dispatch has it
        with platform.client("intake", "dispatcher", sub="dispatcher-e2e") as c:
            r = c.post(f"/v1/tickets/{late['code']}/merge", json={"into": primary["code"]})
        assert r.status_code == 200, r.text  # the stale rows: neither known to be answered
        assert r.json()["case"]["primary_code"] == primary["code"]
        wait_for_event(platform, late["code"], "CaseMergeRefused")
    finally:
        platform.restart("intake-projector")
    entries = wait_for_event(platform, late["code"], "TicketUnmergedFromCase")
    types = event_types(entries)
    assert (types.index("TicketMergedIntoCase") < types.index("CaseMergeRefused")
            < types.index("TicketUnmergedFromCase"))
    assert types.count("CaseMergeRefused") == 1 and "AssignmentWithdrawn" not in types
    assert "CaseMergeTaken" not in types
    assert payload_of(entries, "TicketUnmergedFromCase")["by"] == "dispatch"
    with platform.client("intake", "dispatcher", sub="dispatcher-e2e") as c:
        assert c.get(f"/v1/tickets/{late['code']}").json()["case_id"] is None
        assert c.get(f"/v1/tickets/{late['code']}/case").json()["case"] is None
        listed = c.get(f"/v1/tickets/{primary['code']}/case").json()["case"]
        assert sorted(t["code"] for t in listed["tickets"]) == sorted(
            [primary["code"], dup["code"]])
    notice = citizen_notice(platform, late["code"])  # its own answer, from its own unit
    assert notice.unit == unit and "门禁已更换" in notice.body
    entries = wait_for_event(platform, late["code"], "CitizenNotified")
    told = [e["payload"] for e in entries if e["event_type"] == "CitizenNotified"]
    assert len(told) == 1 and told[0]["unit"] == unit, told  # never the primary's answer
    assert "渣土车" not in str(told)
    # the hall showed the refused merge neither in the ticket's row nor to its follower (once
    # it showed 已并案办理 then 已取消并案): the hall shows a merge once dispatch took it

    def followed_news() -> list | None:
        rows = observer.get("/v1/notifications").json()["notifications"]
        mine = [(n["event_type"], n["summary"]) for n in rows if n["ticket_code"] == late["code"]]
        return mine if any(e == "CitizenNotified" for e, _ in mine) else None

    try:
        news = eventually(followed_news, timeout=60, what="the follower told of the answer")
        assert not [x for x in news if "并案" in x[1] or "Merge" in x[0]], news
        row = observer.get(f"/v1/hall/{late['code']}").json()
        assert row["status"] != "merged" and row["status_label"] != "已并案办理", row
    finally:
        observer.close()
