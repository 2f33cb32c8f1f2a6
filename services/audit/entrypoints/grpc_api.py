"""gRPC AuditService: ReplayTicket streams a ticket's whole history from the ledger.

Authentication as everywhere: `authorization: Bearer <token>` metadata; no or a bad token is
UNAUTHENTICATED, a role that may not replay (histories.REPLAY_ROLES; a unit: a ticket not
handed to it) PERMISSION_DENIED.

The server also offers gRPC server reflection, so an outside auditor's generic tool (grpcurl,
a dynamic client) discovers the service and its messages without our generated code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection
from minsheng.v1 import audit_api_pb2 as pb
from minsheng.v1 import audit_api_pb2_grpc as pb_grpc

from backbone import auth
from services.audit.application.entries import decode_view
from services.audit.application.histories import (
    REPLAY_ROLES,
    Histories,
    TicketHistory,
    TicketNotInLedgerError,
    TicketRefError,
    state_json,
    ticket_ref,
)
from services.audit.domain.chain import LedgerEntry


def entry_message(row: dict[str, Any], history: TicketHistory) -> pb.LedgerEntry:
    entry = LedgerEntry.from_row(row)
    view = decode_view(entry.event)
    msg = pb.LedgerEntry(
        ledger_seq=entry.ledger_seq, partition=entry.partition, offset=entry.offset,
        ticket_seq=entry.ticket_seq, raw=entry.event, prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash, topic=entry.topic, ticket_id=entry.ticket_id,
        leaf_hash=entry.leaf_hash(),
        payload_json=json.dumps(view.payload, ensure_ascii=False) if view.payload is not None
        else "")
    if view.envelope is not None:
        msg.envelope.CopyFrom(view.envelope)
    if row.get("recorded_at") is not None:
        msg.recorded_at.FromDatetime(row["recorded_at"])
    if history.checkpoint is not None:
        msg.inclusion_proof.CopyFrom(pb.InclusionProof(
            tree_size=history.checkpoint.tree_size, path=history.proofs[entry.ledger_seq],
            checkpoint=history.checkpoint.note))
    return msg


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, histories: Histories, verifier: auth.Verifier):
        self.histories = histories
        self.verifier = verifier

    async def _principal(self, context: grpc.aio.ServicerContext) -> auth.Principal:
        metadata = dict(context.invocation_metadata() or ())
        try:
            principal = self.verifier.verify(auth.bearer(metadata.get("authorization")))
            return principal.require(*REPLAY_ROLES)
        except auth.AuthError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except auth.ForbiddenError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        raise AssertionError("unreachable: abort raises")

    async def ReplayTicket(self, request: pb.ReplayTicketRequest,  # noqa: N802 (gRPC's name)
                           context: grpc.aio.ServicerContext) -> AsyncIterator[pb.LedgerEntry]:
        who = await self._principal(context)
        wanted = request.ticket_id.strip() or request.ticket_code.strip()
        if not wanted:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "give a ticket_id or a ticket_code")
        try:
            history = await asyncio.to_thread(self.histories.history, who, ticket_ref(wanted),
                                              proofs=request.with_proofs, via="grpc",
                                              verify=False)  # the stream carries no report
        except TicketRefError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except TicketNotInLedgerError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except auth.ForbiddenError as exc:  # a unit asking for a ticket not handed to it
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        for row in history.rows:
            yield entry_message(row, history)

    async def GetTicketState(self, request: pb.GetTicketStateRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext) -> pb.TicketState:
        who = await self._principal(context)
        wanted = request.ticket_id.strip() or request.ticket_code.strip()
        if not wanted:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "give a ticket_id or a ticket_code")
        try:
            at = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else None
        except (ValueError, OverflowError) as exc:  # nanos out of range, year 0 or 10000...
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at is not a valid time: {exc}")
        try:
            reading = await asyncio.to_thread(self.histories.state, who, ticket_ref(wanted), at,
                                              via="grpc")
        except TicketRefError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except TicketNotInLedgerError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except auth.ForbiddenError as exc:  # a unit asking for a ticket not handed to it
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return state_message(state_json(reading, at))


def state_message(state: dict[str, Any]) -> pb.TicketState:
    """The HTTP answer's fields (histories.state_json, one source of truth) as the message."""
    msg = pb.TicketState(
        ticket_id=state["ticket_id"], existed=state["existed"], status=state["status"] or "",
        ticket_code=state["ticket_code"] or "", owner_unit=state["owner_unit"] or "",
        deadline_status=state["deadline_status"] or "", rating=state["rating"] or "",
        events_applied=state["events_applied"], events_in_ledger=state["events_in_ledger"],
        unknown_events=state["unknown_events"], note=state.get("note", ""))
    for name in ("first_event_at", "deadline", "as_of"):
        if state[name]:
            getattr(msg, name).FromDatetime(datetime.fromisoformat(state[name]))
    for told in state["citizen_was_told"]:
        message = msg.citizen_was_told.add(event_type=told["event_type"], text=told["text"] or "")
        message.told_at.FromDatetime(datetime.fromisoformat(told["told_at"]))
    return msg


def add_to(servicer: AuditServicer):  # type: ignore[no-untyped-def]
    def add(server: grpc.aio.Server) -> None:
        pb_grpc.add_AuditServiceServicer_to_server(servicer, server)
        reflection.enable_server_reflection(
            (pb.DESCRIPTOR.services_by_name["AuditService"].full_name,
             reflection.SERVICE_NAME), server)

    return add
