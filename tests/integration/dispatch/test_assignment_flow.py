"""Dispatch on the real Kafka and PostgreSQL: intake's facts in, assignments out, and a unit's
whole lifecycle over gRPC."""

from __future__ import annotations

import uuid

import pytest
from minsheng.v1 import dispatch_api_pb2 as api
from minsheng.v1 import intake_events_pb2

from tests.integration.dispatch.harness import DEPARTMENTAL, TERRITORIAL, VAGUE

pytestmark = pytest.mark.integration


async def test_a_confident_ticket_is_assigned_on_the_lifecycle_and_the_unit_topic(dispatch):
    ticket_id, code = await dispatch.submit(TERRITORIAL)
    [assigned] = await dispatch.wait_for(ticket_id, "TicketAssigned")
    p = assigned.payload
    assert (p.unit, p.unit_kind, p.parent_unit, p.role) == ("yingdong", "county", "city", "lead")
    assert (p.category, p.subcategory, p.county, p.channel) == (
        "urban-construction", "property", "yingdong", "wechat_mini")
    assert p.assignment_no == 1 and p.confidence >= 0.9 and p.rule.startswith("路由表v2")
    assert p.text_masked == TERRITORIAL[0] and p.urgency in ("simple", "general", "complex")
    assert p.place.county == "yingdong" and not p.place.has_point
    assert assigned.envelope.ticket_code == code
    on_unit_topic = await dispatch.read_topic(dispatch.settings.assignment_topic("yingdong"),
                                              ticket_id, 1)
    assert [e.event_id for e in on_unit_topic] == [assigned.event_id]  # the same envelope


async def test_a_departmental_matter_goes_to_the_department_in_charge(dispatch):
    ticket_id, _ = await dispatch.submit(DEPARTMENTAL)
    [assigned] = await dispatch.wait_for(ticket_id, "TicketAssigned")
    assert (assigned.payload.unit, assigned.payload.unit_kind) == ("housing", "department")
    assert assigned.payload.county == "yingquan"  # the place, though the matter is city-wide


async def test_an_unsure_ticket_waits_for_a_dispatcher_instead_of_a_guess(dispatch):
    ticket_id, code = await dispatch.submit(VAGUE)
    [queued] = await dispatch.wait_for(ticket_id, "TicketQueuedForDispatcher")
    assert queued.payload.queue == "unrouted" and "转人工" in queued.payload.reason
    assert not dispatch.of(ticket_id, "TicketAssigned")
    with dispatch.http("supervisor") as http:
        listed = http.get("/v1/queues", params={"queue": "unrouted"}).json()
    assert code in [t["ticket_code"] for t in listed["tickets"]]


async def test_redelivered_and_out_of_order_facts_change_nothing_twice(dispatch):
    ticket_id, code = await dispatch.submit(TERRITORIAL, accept=False)
    accepted = str(uuid.uuid4())
    for _ in range(2):  # the same event twice (the relay publishes at least once)
        await dispatch.publish(ticket_id, code, intake_events_pb2.TicketAccepted(),
                               event_id=accepted)
    await dispatch.publish(ticket_id, code, intake_events_pb2.TicketAccepted())  # a new id
    await dispatch.wait_for(ticket_id, "TicketAssigned")
    # Accepted without ever seeing the submission: queued for a person, not dead-lettered.
    orphan = str(uuid.uuid4())
    await dispatch.publish(orphan, "FY-IT-ORPHAN", intake_events_pb2.TicketAccepted())
    [queued] = await dispatch.wait_for(orphan, "TicketQueuedForDispatcher")
    assert "TicketSubmitted" in queued.payload.reason
    await dispatch.reopen(str(uuid.uuid4()), "FY-IT-NOBODY")  # unknown ticket: skipped
    # a marker after everything: once it is handled, the earlier events were too
    marker, _ = await dispatch.submit(TERRITORIAL)
    await dispatch.wait_for(marker, "TicketAssigned")
    assert len(dispatch.of(ticket_id, "TicketAssigned")) == 1
    dead = await dispatch.read_topic(dispatch.settings.dead_letter_topic, orphan, 1, timeout=2)
    assert dead == []


async def test_an_acceptance_of_a_ticket_another_replica_dispatched_changes_nothing(dispatch):
    """The consumer opens a dispatch without reading whether one exists (its commit checks
    that none does, `UpstreamFacts._new_dispatch`): when another writer has stored one, that
    commit fails as a conflict and the batch is applied again with a read: nothing twice."""
    import asyncio
    from datetime import UTC, datetime

    import psycopg
    from psycopg.sql import SQL, Identifier

    from services.dispatch.bootstrap import build_application
    from services.dispatch.domain.ticket_dispatch import TicketDispatch

    ticket_id, code = str(uuid.uuid4()), f"FY-IT-{uuid.uuid4().hex[:8].upper()}"
    app = await asyncio.to_thread(build_application, dispatch.settings)
    try:
        opened = TicketDispatch.open(ticket_id=ticket_id, ticket_code=code,
                                     at=datetime.now(UTC))
        await asyncio.to_thread(app.save, opened)
    finally:
        app.close()
    await dispatch.publish(ticket_id, code, intake_events_pb2.TicketAccepted())
    marker, _ = await dispatch.submit(TERRITORIAL)  # handled after it (or with it)
    await dispatch.wait_for(marker, "TicketAssigned")
    s = dispatch.settings
    with psycopg.connect(s.pg_conninfo(), autocommit=True) as conn:
        stored = conn.execute(SQL("SELECT count(*) FROM {}.dispatch_events"
                                  " WHERE originator_id = %s").format(Identifier(s.schema)),
                              (TicketDispatch.create_id(ticket_id),)).fetchone()
    assert stored == (1,) and dispatch.of(ticket_id, "TicketQueuedForDispatcher") == []
    dead = await dispatch.read_topic(dispatch.settings.dead_letter_topic, ticket_id, 1,
                                     timeout=2)
    assert dead == []


async def test_sign_for_note_reply_then_auto_review_closes_the_dispatch(dispatch, department):
    ticket_id, code = await dispatch.submit(TERRITORIAL)
    await dispatch.wait_for(ticket_id, "TicketAssigned")
    md = dispatch.unit_md("yingdong")
    listed = await department.ListAssignments(api.ListAssignmentsRequest(), metadata=md)
    mine = [a for a in listed.assignments if a.ticket_id == ticket_id]
    assert [(a.status, a.role, a.assignment_no) for a in mine] == [("assigned", "lead", 1)]
    assert mine[0].HasField("sign_for_due_at") and mine[0].HasField("bounce_back_due_at")

    ack = await department.SignFor(api.SignForRequest(ticket_code=code, request_id="s-1"),
                                   metadata=md)
    again = await department.SignFor(api.SignForRequest(ticket_code=code, request_id="s-1"),
                                     metadata=md)
    assert (ack.status, ack.replayed, again.status, again.replayed) == (
        "signed_for", False, "signed_for", True)
    await department.AddNote(api.AddNoteRequest(
        ticket_id=ticket_id, note="已联系业主，电话13812345678，明天上门维修"), metadata=md)
    ext = await department.RequestExtension(api.RequestExtensionRequest(
        ticket_code=code, working_days=3, reason="需采购门禁配件"), metadata=md)
    assert ext.status == "in_progress"
    reply = await department.Reply(api.ReplyRequest(
        ticket_code=code, reply="门禁已修复", outcome="resolved"), metadata=md)
    assert reply.status == "closed"

    [signed] = await dispatch.wait_for(ticket_id, "AssignmentSignedFor")
    [noted] = await dispatch.wait_for(ticket_id, "AssignmentProgressNoted")
    assert "13812345678" not in noted.payload.note_masked and "****" in noted.payload.note_masked
    [extension] = await dispatch.wait_for(ticket_id, "ExtensionRequested")
    assert (extension.payload.unit, extension.payload.working_days) == ("yingdong", 3)
    [replied] = await dispatch.wait_for(ticket_id, "AssignmentReplied")
    [reviewed] = await dispatch.wait_for(ticket_id, "ReplyReviewed")
    [closed] = await dispatch.wait_for(ticket_id, "DispatchClosed")
    assert signed.payload.assignment_no == 1 and replied.payload.outcome == "resolved"
    assert (reviewed.payload.accepted, reviewed.payload.reviewed_by) == (True, "auto")
    assert reviewed.payload.reply_masked == "门禁已修复" and closed.payload.unit == "yingdong"
    order = [e.event_type for e in dispatch.of(ticket_id)]
    assert order.index("AssignmentReplied") < order.index("ReplyReviewed") < order.index(
        "DispatchClosed")
    assert sum(t == "AssignmentSignedFor" for t in order) == 1  # the retry acted once
    # the causal chain: a unit's command is caused by nobody upstream, routing by TicketAccepted
    assert signed.envelope.actor.role == "unit" and signed.envelope.actor.unit == "yingdong"

    closed_list = await department.ListAssignments(api.ListAssignmentsRequest(status="closed"),
                                                   metadata=md)
    assert ticket_id in [a.ticket_id for a in closed_list.assignments]


async def test_a_reopened_ticket_returns_to_the_same_unit_with_the_next_number(dispatch,
                                                                              department):
    ticket_id, code = await dispatch.submit(TERRITORIAL)
    await dispatch.wait_for(ticket_id, "TicketAssigned")
    md = dispatch.unit_md("yingdong")
    await department.SignFor(api.SignForRequest(ticket_code=code), metadata=md)
    await department.Reply(api.ReplyRequest(ticket_code=code, reply="已处理"), metadata=md)
    await dispatch.wait_for(ticket_id, "DispatchClosed")
    await dispatch.reopen(ticket_id, code, "门禁又坏了")
    assigned = await dispatch.wait_for(ticket_id, "TicketAssigned", count=2)
    assert [(a.payload.unit, a.payload.assignment_no) for a in assigned] == [
        ("yingdong", 1), ("yingdong", 2)]
    assert "重办" in assigned[1].payload.rule
    again = await department.SignFor(api.SignForRequest(ticket_code=code), metadata=md)
    assert (again.status, again.assignment_no) == ("signed_for", 2)


async def test_a_merged_duplicate_is_withdrawn_and_unmerging_dispatches_it_again(dispatch,
                                                                                department):
    primary, primary_code = await dispatch.submit(TERRITORIAL)
    duplicate, code = await dispatch.submit(TERRITORIAL)
    await dispatch.wait_for(duplicate, "TicketAssigned")
    await dispatch.publish(duplicate, code, intake_events_pb2.TicketMergedIntoCase(
        case_id="case-1", primary_ticket_id=primary, primary_code=primary_code, score=0.93))
    [withdrawn] = await dispatch.wait_for(duplicate, "AssignmentWithdrawn")
    assert (withdrawn.payload.unit, withdrawn.payload.primary_ticket_id) == ("yingdong", primary)
    on_topic = await dispatch.read_topic(dispatch.settings.assignment_topic("yingdong"),
                                         duplicate, 2)
    assert [e.event_type for e in on_topic] == ["TicketAssigned", "AssignmentWithdrawn"]
    md = dispatch.unit_md("yingdong")
    listed = await department.ListAssignments(api.ListAssignmentsRequest(), metadata=md)
    assert duplicate not in [a.ticket_id for a in listed.assignments]
    await dispatch.publish(duplicate, code, intake_events_pb2.TicketUnmergedFromCase(
        case_id="case-1", primary_ticket_id=primary, reason="不是同一件事"))
    assigned = await dispatch.wait_for(duplicate, "TicketAssigned", count=2)
    assert assigned[1].payload.assignment_no == 2


async def test_a_merge_of_a_replied_ticket_is_refused_once_and_its_unmerge_quietly(dispatch,
                                                                                 department):
    # intake merged by hand on its read model, which had not seen the unit's reply yet
    primary, primary_code = await dispatch.submit(TERRITORIAL)
    replied, code = await dispatch.submit(TERRITORIAL)
    mergeable, mergeable_code = await dispatch.submit(TERRITORIAL)
    await dispatch.wait_for(replied, "TicketAssigned")
    md = dispatch.unit_md("yingdong")
    await department.SignFor(api.SignForRequest(ticket_code=code), metadata=md)
    await department.Reply(api.ReplyRequest(ticket_code=code, reply="已处理"), metadata=md)
    await dispatch.wait_for(replied, "AssignmentReplied")
    merge = intake_events_pb2.TicketMergedIntoCase(
        case_id="case-r", primary_ticket_id=primary, primary_code=primary_code, score=1.0,
        confirmed=True, by="dispatcher-1")
    merge_id = str(uuid.uuid4())
    for _ in range(2):  # the same fact twice (the relay publishes at least once)
        await dispatch.publish(replied, code, merge, event_id=merge_id)
    await dispatch.wait_for(mergeable, "TicketAssigned")
    await dispatch.publish(mergeable, mergeable_code, merge)  # before its reply: merged
    [refused] = await dispatch.wait_for(replied, "CaseMergeRefused")
    assert (refused.payload.case_id, refused.payload.primary_ticket_id,
            refused.payload.primary_code, refused.payload.merge_event_id) == (
        "case-r", primary, primary_code, merge_id)
    assert refused.payload.state in ("replied", "reply_accepted", "closed")
    assert "yingdong" in refused.payload.reason and refused.envelope.causation_id == merge_id
    # intake undoes it: dispatch never merged the ticket, so nothing, and no second refusal
    await dispatch.publish(replied, code, intake_events_pb2.TicketUnmergedFromCase(
        case_id="case-r", primary_ticket_id=primary, reason="调度拒绝并单", by="dispatch"))
    # a fact after them on the ticket's partition: once it is handled, they were too
    await dispatch.wait_for(replied, "DispatchClosed")
    await dispatch.reopen(replied, code, "还没修好")
    await dispatch.wait_for(replied, "TicketAssigned", count=2)
    mine = [e.event_type for e in dispatch.of(replied)]
    assert mine.count("CaseMergeRefused") == 1 and "AssignmentWithdrawn" not in mine
    assert "CaseMergeTaken" not in mine  # refused: never taken
    await dispatch.wait_for(mergeable, "AssignmentWithdrawn")
    await dispatch.wait_for(mergeable, "CaseMergeTaken")
    assert dispatch.of(mergeable, "CaseMergeRefused") == []


async def test_every_merge_dispatch_takes_is_said_once(dispatch):
    # feedback answers a linked ticket with its case only once dispatch took the merge
    primary, primary_code = await dispatch.submit(TERRITORIAL)
    held, held_code = await dispatch.submit(TERRITORIAL)  # a unit holds it
    queued, queued_code = await dispatch.submit(VAGUE)  # no unit holds it
    await dispatch.wait_for(held, "TicketAssigned")
    await dispatch.wait_for(queued, "TicketQueuedForDispatcher")
    merge = intake_events_pb2.TicketMergedIntoCase(
        case_id="case-t", primary_ticket_id=primary, primary_code=primary_code, score=1.0,
        confirmed=True, by="dispatcher-1")
    merge_id = str(uuid.uuid4())
    for _ in range(2):  # the same fact twice (the relay publishes at least once)
        await dispatch.publish(held, held_code, merge, event_id=merge_id)
    queued_merge = await dispatch.publish(queued, queued_code, merge)
    # a ticket dispatch never saw accepted: opened to follow the case, and the take said
    unseen = str(uuid.uuid4())
    unseen_merge = await dispatch.publish(unseen, "FY-IT-UNSEEN", merge)
    [taken] = await dispatch.wait_for(held, "CaseMergeTaken")
    assert (taken.payload.case_id, taken.payload.primary_ticket_id, taken.payload.primary_code,
            taken.payload.merge_event_id) == ("case-t", primary, primary_code, merge_id)
    assert taken.envelope.causation_id == merge_id
    mine = [e.event_type for e in dispatch.of(held)]
    assert mine.index("AssignmentWithdrawn") < mine.index("CaseMergeTaken")
    [taken] = await dispatch.wait_for(queued, "CaseMergeTaken")
    assert taken.payload.merge_event_id == queued_merge
    assert dispatch.of(queued, "AssignmentWithdrawn") == []
    [taken] = await dispatch.wait_for(unseen, "CaseMergeTaken")
    assert (taken.payload.merge_event_id, taken.envelope.ticket_code) == (
        unseen_merge, "FY-IT-UNSEEN")
    # a dispatcher's confirmation of the merge (the same case again): nothing new taken; then
    # a fact after them on the ticket's partition: once it is handled, they were too
    await dispatch.publish(held, held_code, merge)
    await dispatch.publish(held, held_code, intake_events_pb2.TicketUnmergedFromCase(
        case_id="case-t", primary_ticket_id=primary, reason="不是同一件事"))
    await dispatch.wait_for(held, "TicketAssigned", count=2)
    mine = [e.event_type for e in dispatch.of(held)]
    assert mine.count("CaseMergeTaken") == 1 and mine.count("AssignmentWithdrawn") == 1
    assert "CaseMergeRefused" not in mine
