"""The department systems' gRPC API: a unit sees and acts on its own assignments only, and
every bad request gets a precise status with a reason."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_api_pb2 as api

from tests.integration.dispatch.harness import DEPARTMENTAL, TERRITORIAL, VAGUE
from tests.waiting import patient

pytestmark = pytest.mark.integration
S = grpc.StatusCode


async def assigned_ticket(dispatch, text=TERRITORIAL) -> tuple[str, str]:
    ticket_id, code = await dispatch.submit(text)
    await dispatch.wait_for(ticket_id, "TicketAssigned")
    return ticket_id, code


async def refused(call, request, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=metadata)
    assert caught.value.details(), "every refusal carries a reason"
    return caught.value


def commands(stub, code: str = "", ticket_id: str = ""):
    """Every command a unit can send, each with valid arguments, about one ticket."""
    ref = {"ticket_code": code, "ticket_id": ticket_id}
    return [
        (stub.SignFor, api.SignForRequest(**ref)),
        (stub.BounceBack, api.BounceBackRequest(**ref, reason="不属于我单位")),
        (stub.AddNote, api.AddNoteRequest(**ref, note="已到现场")),
        (stub.Reply, api.ReplyRequest(**ref, reply="已处理")),
        (stub.RequestExtension, api.RequestExtensionRequest(**ref, working_days=2, reason="x")),
        (stub.RequestTransfer, api.RequestTransferRequest(**ref, to_unit="housing", reason="x")),
    ]


async def test_every_cross_unit_attempt_is_refused(dispatch, department):
    ticket_id, code = await assigned_ticket(dispatch)  # held by yingdong
    stranger = dispatch.unit_md("yingzhou")
    for ref in ({"code": code}, {"ticket_id": ticket_id}):
        for call, request in commands(department, **ref):
            error = await refused(call, request, stranger)
            assert error.code() is S.NOT_FOUND, (call, error.details())
            assert "yingzhou has no assignment" in error.details()
    listed = await department.ListAssignments(api.ListAssignmentsRequest(status="all"),
                                              metadata=stranger)
    assert ticket_id not in [a.ticket_id for a in listed.assignments]

    # A unit that held it and bounced it back keeps its ledger row, but may no longer act.
    holder = dispatch.unit_md("yingdong")
    await department.BounceBack(api.BounceBackRequest(ticket_code=code, reason="不属于我区"),
                                metadata=holder)
    with dispatch.http() as http:
        r = http.post(f"/v1/tickets/{code}/coordinate", json={
            "lead_unit": "yingzhou.qinghe", "co_units": ["urban-mgmt"],
            "decision": "由清河街道牵头，城管局配合"})
        assert r.status_code == 200, r.text
    for call, request in commands(department, code=code):
        error = await refused(call, request, holder)
        assert error.code() in (S.PERMISSION_DENIED, S.FAILED_PRECONDITION), error.details()
    error = await refused(department.SignFor, api.SignForRequest(ticket_code=code), holder)
    assert error.code() is S.PERMISSION_DENIED and "assigned to yingzhou.qinghe" in (
        error.details())
    # A co-handling unit may add notes, but neither sign for, reply nor bounce back.
    co = dispatch.unit_md("urban-mgmt")
    await department.AddNote(api.AddNoteRequest(ticket_code=code, note="已派人配合"), metadata=co)
    assert (await refused(department.Reply, api.ReplyRequest(ticket_code=code, reply="好"),
                          co)).code() is S.PERMISSION_DENIED
    assert (await refused(department.BounceBack, api.BounceBackRequest(
        ticket_code=code, reason="不归我们"), co)).code() is S.FAILED_PRECONDITION
    lead = dispatch.unit_md("yingzhou.qinghe")
    assert (await refused(department.BounceBack, api.BounceBackRequest(
        ticket_code=code, reason="不归我们"), lead)).code() is S.FAILED_PRECONDITION


async def test_a_ticket_held_after_a_command_still_answers_as_the_store_does(dispatch,
                                                                              department):
    """The process keeps what its commands saved (adapters.loop_reads): another unit is still
    refused, a retry is still replayed, and another writer's change (the console) is seen."""
    ticket_id, code = await assigned_ticket(dispatch)  # held by yingdong
    holder, stranger = dispatch.unit_md("yingdong"), dispatch.unit_md("yingzhou")
    signed = await department.SignFor(api.SignForRequest(ticket_code=code, request_id="s-1"),
                                      metadata=holder)
    error = await refused(department.SignFor, api.SignForRequest(ticket_code=code), stranger)
    assert error.code() is S.NOT_FOUND
    again = await department.SignFor(api.SignForRequest(ticket_id=ticket_id,
                                                        request_id="s-1"), metadata=holder)
    assert (signed.status, again.status, again.replayed) == ("signed_for", "signed_for", True)
    await department.AddNote(api.AddNoteRequest(ticket_code=code, note="已到现场"),
                             metadata=holder)
    with dispatch.http() as http:
        r = http.post(f"/v1/tickets/{code}/transfer", json={"to_unit": "yingzhou",
                                                            "reason": "属地调整"})
        assert r.status_code == 200, r.text
    error = await refused(department.Reply, api.ReplyRequest(ticket_code=code, reply="好"),
                          holder)
    assert error.code() in (S.NOT_FOUND, S.PERMISSION_DENIED), error.details()
    taken = await department.SignFor(api.SignForRequest(ticket_code=code), metadata=stranger)
    assert (taken.status, taken.assignment_no) == ("signed_for", 2)


async def test_a_units_stream_carries_its_own_assignments_only(dispatch, department):
    channel_call = department.StreamAssignments(api.StreamAssignmentsRequest(include_open=False),
                                                metadata=dispatch.unit_md("jieshou"))
    first = asyncio.ensure_future(channel_call.read())
    other, _ = await assigned_ticket(dispatch)  # yingdong's, assigned first
    mine, code = await dispatch.submit(VAGUE)
    await dispatch.wait_for(mine, "TicketQueuedForDispatcher")
    with dispatch.http() as http:
        assert http.post(f"/v1/tickets/{code}/assign",
                         json={"unit": "jieshou", "reason": "属地"}).status_code == 200
    got = await asyncio.wait_for(first, patient(30))
    assert (got.ticket_id, got.unit, got.status) == (mine, "jieshou", "assigned")
    assert got.ticket_id != other
    channel_call.cancel()


async def test_the_stream_sends_open_assignments_first_then_new_ones(dispatch, department):
    first_id, _ = await assigned_ticket(dispatch, DEPARTMENTAL)  # to housing
    call = department.StreamAssignments(api.StreamAssignmentsRequest(include_open=True),
                                        metadata=dispatch.unit_md("housing"))
    seen: list[str] = []
    while first_id not in seen:
        seen.append((await asyncio.wait_for(call.read(), patient(30))).ticket_id)
    second_id, _ = await assigned_ticket(dispatch, DEPARTMENTAL)
    while second_id not in seen:
        seen.append((await asyncio.wait_for(call.read(), patient(30))).ticket_id)
    assert seen.index(first_id) < seen.index(second_id)
    call.cancel()


async def test_list_assignments_pages_through_a_units_ledger(dispatch, department):
    ids = {(await assigned_ticket(dispatch, DEPARTMENTAL))[0] for _ in range(3)}
    md = dispatch.unit_md("housing")
    token, pages, found = "", 0, set()
    while True:
        page = await department.ListAssignments(api.ListAssignmentsRequest(
            page_size=1, page_token=token), metadata=md)
        found |= {a.ticket_id for a in page.assignments}
        pages += 1
        assert len(page.assignments) <= 1
        token = page.next_page_token
        if not token:
            break
    assert ids <= found and pages >= 3


async def test_bad_requests_get_precise_status_codes_with_reasons(dispatch, department):
    ticket_id, code = await assigned_ticket(dispatch)
    md = dispatch.unit_md("yingdong")
    at = Timestamp(seconds=1)
    cases = [
        # who you are
        (department.SignFor, api.SignForRequest(ticket_code=code), [], S.UNAUTHENTICATED),
        (department.SignFor, api.SignForRequest(ticket_code=code),
         [("authorization", "Bearer ms1.forged.token")], S.UNAUTHENTICATED),
        (department.SignFor, api.SignForRequest(ticket_code=code),
         [("authorization", "Basic abc")], S.UNAUTHENTICATED),
        (department.ListAssignments, api.ListAssignmentsRequest(),
         [("authorization", f"Bearer {dispatch.token('dispatcher')}")], S.PERMISSION_DENIED),
        (department.SignFor, api.SignForRequest(ticket_code=code),
         dispatch.unit_md("no-such-unit"), S.PERMISSION_DENIED),
        # what you ask
        (department.SignFor, api.SignForRequest(), md, S.INVALID_ARGUMENT),
        (department.SignFor, api.SignForRequest(ticket_code="FY-NOPE"), md, S.NOT_FOUND),
        (department.SignFor, api.SignForRequest(ticket_code=code, ticket_id="other"), md,
         S.NOT_FOUND),
        (department.BounceBack, api.BounceBackRequest(ticket_code=code, reason=" "), md,
         S.INVALID_ARGUMENT),
        (department.BounceBack, api.BounceBackRequest(ticket_code=code, reason="长" * 4001), md,
         S.INVALID_ARGUMENT),
        (department.RequestExtension, api.RequestExtensionRequest(
            ticket_code=code, working_days=0, reason="x"), md, S.INVALID_ARGUMENT),
        (department.RequestTransfer, api.RequestTransferRequest(
            ticket_code=code, to_unit="nowhere", reason="x"), md, S.INVALID_ARGUMENT),
        (department.ListAssignments, api.ListAssignmentsRequest(status="lost"), md,
         S.INVALID_ARGUMENT),
        (department.ListAssignments, api.ListAssignmentsRequest(page_size=-1), md,
         S.INVALID_ARGUMENT),
        (department.ListAssignments, api.ListAssignmentsRequest(page_token="!!"), md,
         S.INVALID_ARGUMENT),
        # what the state allows
        (department.Reply, api.ReplyRequest(ticket_code=code, reply="好"), md,
         S.FAILED_PRECONDITION),  # before sign-for
        (department.RequestTransfer, api.RequestTransferRequest(
            ticket_code=code, to_unit="housing", reason="x"), md, S.FAILED_PRECONDITION),
    ]
    for call, request, metadata, expected in cases:
        error = await refused(call, request, metadata)
        assert error.code() is expected, (type(request).__name__, error.code(), error.details())
    # the `at` field is ignored on the wall clock, so an old time is no error here
    await department.SignFor(api.SignForRequest(ticket_code=code, at=at, request_id="r1"),
                             metadata=md)
    later = [
        (department.SignFor, api.SignForRequest(ticket_code=code), S.FAILED_PRECONDITION),
        (department.BounceBack, api.BounceBackRequest(ticket_code=code, reason="不是我们的"),
         S.FAILED_PRECONDITION),  # 首接首办: after sign-for only a transfer request
        (department.Reply, api.ReplyRequest(ticket_code=code, reply="好", outcome="maybe"),
         S.INVALID_ARGUMENT),
        (department.AddNote, api.AddNoteRequest(ticket_code=code, note="x", request_id="r1"),
         S.INVALID_ARGUMENT),  # a request id reused for another call
    ]
    for call, request, expected in later:
        error = await refused(call, request, md)
        assert error.code() is expected, (type(request).__name__, error.code(), error.details())
    ack = await department.RequestTransfer(api.RequestTransferRequest(
        ticket_code=code, to_unit="housing", reason="涉及施工许可，应由住建局办理"), metadata=md)
    assert ack.status == "signed_for"
    [asked] = await dispatch.wait_for(ticket_id, "TransferRequested")
    assert (asked.payload.unit, asked.payload.to_unit) == ("yingdong", "housing")
    with dispatch.http("supervisor") as http:
        disputed = http.get("/v1/queues", params={"queue": "disputed"}).json()["tickets"]
    assert code in [t["ticket_code"] for t in disputed]


async def test_the_api_is_discoverable_by_reflection(dispatch):
    """A department's generic tool (grpcurl, a dynamic client) finds DepartmentService and its
    messages from the server alone, without our generated code."""
    from google.protobuf import descriptor_pool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    def discover() -> tuple[list[str], list[str]]:
        with grpc.insecure_channel(f"127.0.0.1:{dispatch.grpc_port}") as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            service = descriptor_pool.DescriptorPool(database).FindServiceByName(
                "minsheng.v1.DepartmentService")
            return list(database.get_services()), [m.name for m in service.methods]

    services, methods = await asyncio.to_thread(discover)
    assert "minsheng.v1.DepartmentService" in services
    assert {"SignFor", "BounceBack", "Reply", "StreamAssignments"} <= set(methods)


async def test_a_request_id_is_a_row_and_a_key_stored_as_an_event_still_replays(dispatch,
                                                                                department):
    """A request id is kept as a row of dispatch_request_keys (no UnitRequest event for the
    relay to read); a key stored as a UnitRequest aggregate before still answers a retry."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    from services.dispatch.application.app import UnitRequest
    from services.dispatch.bootstrap import build_application

    ticket_id, code = await assigned_ticket(dispatch)
    holder = dispatch.unit_md("yingdong")
    signed = await department.SignFor(api.SignForRequest(ticket_code=code, request_id="row-1"),
                                      metadata=holder)
    again = await department.SignFor(api.SignForRequest(ticket_code=code, request_id="row-1"),
                                     metadata=holder)
    assert (signed.replayed, again.replayed, again.status) == (False, True, "signed_for")
    s = dispatch.settings
    with psycopg.connect(s.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute(SQL("SELECT unit, method, ticket_id FROM {}.dispatch_request_keys"
                                " WHERE request_id = 'row-1'").format(Identifier(s.schema))
                            ).fetchall()
        events = conn.execute(SQL("SELECT count(*) FROM {}.dispatch_events WHERE"
                                  " originator_id = %s").format(Identifier(s.schema)),
                              (UnitRequest.create_id("yingdong", "row-1"),)).fetchone()
    assert rows == [("yingdong", "SignFor", ticket_id)] and events == (0,)
    app = await asyncio.to_thread(build_application, s)
    try:
        old = UnitRequest(unit="yingdong", request_id="old-1", method="AddNote",
                          ticket_id=ticket_id, result={
                              "ticket_id": ticket_id, "ticket_code": code,
                              "status": "in_progress", "assignment_no": 1, "replayed": False})
        await asyncio.to_thread(app.save, old)
    finally:
        app.close()
    replayed = await department.AddNote(api.AddNoteRequest(ticket_code=code, note="x",
                                                           request_id="old-1"), metadata=holder)
    assert (replayed.replayed, replayed.status) == (True, "in_progress")
    error = await refused(department.SignFor, api.SignForRequest(ticket_code=code,
                                                                 request_id="old-1"), holder)
    assert error.code() is S.INVALID_ARGUMENT  # the key names another call


async def test_a_held_ticket_another_replica_changed_is_acted_on_as_the_store_has_it(
        dispatch, department):
    """A command on the dispatch this process holds saves without a read; when another
    writer (a second replica) stored a change meanwhile, that save loses on the version and
    the command reads and acts on the store's state: nothing is lost or applied twice."""
    from datetime import UTC, datetime

    import psycopg
    from psycopg.sql import SQL, Identifier

    from services.dispatch.bootstrap import build_application
    from services.dispatch.domain.ticket_dispatch import TicketDispatch

    ticket_id, code = await assigned_ticket(dispatch)
    holder = dispatch.unit_md("yingdong")
    await department.SignFor(api.SignForRequest(ticket_code=code), metadata=holder)  # held
    s = dispatch.settings
    app = await asyncio.to_thread(build_application, s)
    try:
        def elsewhere() -> None:
            d = app.repository.get(TicketDispatch.create_id(ticket_id))
            d.note_progress(unit="yingdong", note="另一副本的记录", at=datetime.now(UTC))
            app.save(d)

        await asyncio.to_thread(elsewhere)
    finally:
        app.close()
    replied = await department.Reply(api.ReplyRequest(ticket_code=code, reply="已处理",
                                                      request_id="held-1"), metadata=holder)
    again = await department.Reply(api.ReplyRequest(ticket_code=code, reply="已处理",
                                                    request_id="held-1"), metadata=holder)
    assert (replied.status, replied.replayed, again.replayed) == ("closed", False, True)
    with psycopg.connect(s.pg_conninfo(), autocommit=True) as conn:
        topics = [r[0].rsplit(".", 1)[-1] for r in conn.execute(SQL(
            "SELECT topic FROM {}.dispatch_events WHERE originator_id = %s"
            " ORDER BY originator_version").format(Identifier(s.schema)),
            (TicketDispatch.create_id(ticket_id),)).fetchall()]
    assert topics[-5:] == ["SignedFor", "ProgressNoted", "Replied", "ReplyAccepted", "Closed"]
