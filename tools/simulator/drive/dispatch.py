"""Dispatch's DepartmentService (gRPC) as the units' own systems use it, and a board of what
each unit actually holds, learnt from StreamAssignments (one stream per unit, as a department
system would keep open)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_api_pb2 as api
from minsheng.v1 import dispatch_api_pb2_grpc as api_grpc

from tools.simulator.drive.errors import ActionError
from tools.simulator.drive.settings import Endpoints
from tools.simulator.drive.waiting import LatestByTicket

log = logging.getLogger(__name__)
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


@dataclass(frozen=True)
class Holding:
    """One unit's assignment of one ticket, as StreamAssignments told it."""

    ticket_id: str
    ticket_code: str
    unit: str
    assignment_no: int
    role: str
    status: str


class DepartmentSystems:
    """Calls DepartmentService as ``unit`` (a unit token per call)."""

    def __init__(self, endpoints: Endpoints, *, timeout: float = 20.0):
        self.endpoints = endpoints
        self.timeout = timeout
        self.channel = grpc.aio.insecure_channel(endpoints.dispatch_grpc)
        self.stub = api_grpc.DepartmentServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    def metadata(self, unit: str) -> tuple[tuple[str, str], ...]:
        token = self.endpoints.token("unit", sub=f"sim-oa-{unit}", unit=unit)
        return (("authorization", f"Bearer {token}"),)

    async def _call(self, method: str, unit: str, request: Any) -> Any:
        rpc = getattr(self.stub, method)
        for attempt in range(4):
            try:
                return await rpc(request, metadata=self.metadata(unit), timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in RETRYABLE and attempt < 3:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                raise ActionError(f"dispatch:{exc.code().name}", exc.details() or "") from exc
        raise ActionError("dispatch:gave_up")

    async def sign_for(self, unit: str, ticket_id: str, *, at: datetime | None, request_id: str) -> Any:
        return await self._call("SignFor", unit, api.SignForRequest(
            ticket_id=ticket_id, request_id=request_id, at=timestamp(at)))

    async def bounce_back(self, unit: str, ticket_id: str, reason: str, *, at: datetime | None,
                          request_id: str) -> Any:
        return await self._call("BounceBack", unit, api.BounceBackRequest(
            ticket_id=ticket_id, reason=reason, request_id=request_id, at=timestamp(at)))

    async def add_note(self, unit: str, ticket_id: str, note: str, *, at: datetime | None,
                       request_id: str) -> Any:
        return await self._call("AddNote", unit, api.AddNoteRequest(
            ticket_id=ticket_id, note=note, request_id=request_id, at=timestamp(at)))

    async def reply(self, unit: str, ticket_id: str, text: str, outcome: str, *,
                    at: datetime | None, request_id: str) -> Any:
        return await self._call("Reply", unit, api.ReplyRequest(
            ticket_id=ticket_id, reply=text, outcome=outcome, request_id=request_id, at=timestamp(at)))

    async def request_extension(self, unit: str, ticket_id: str, days: int, reason: str, *,
                                at: datetime | None, request_id: str) -> Any:
        return await self._call("RequestExtension", unit, api.RequestExtensionRequest(
            ticket_id=ticket_id, working_days=days, reason=reason, request_id=request_id,
            at=timestamp(at)))

    async def list_assignments(self, unit: str, status: str = "") -> list[Any]:
        found, token = [], ""
        while True:
            page = await self._call("ListAssignments", unit, api.ListAssignmentsRequest(
                status=status, page_size=200, page_token=token))
            found += list(page.assignments)
            token = page.next_page_token
            if not token:
                return found


class AssignmentBoard:
    """Who holds each ticket now: the latest lead assignment per ticket, from every unit's
    StreamAssignments. ``wait_for`` blocks until a ticket has an assignment newer than a number."""

    def __init__(self, systems: DepartmentSystems, units: list[str]):
        self.systems = systems
        self.units = units
        self.held: LatestByTicket[Holding] = LatestByTicket()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected: set[str] = set()
        self.stream_errors = 0

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(unit)) for unit in self.units]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _follow(self, unit: str) -> None:
        delay = 0.2
        while True:
            try:
                stream = self.systems.stub.StreamAssignments(
                    api.StreamAssignmentsRequest(include_open=True),
                    metadata=self.systems.metadata(unit))
                self.connected.add(unit)
                async for assignment in stream:
                    await self.note(assignment)
                    delay = 0.2
            except grpc.aio.AioRpcError as exc:
                self.stream_errors += 1
                self.connected.discard(unit)
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                                  grpc.StatusCode.UNIMPLEMENTED):
                    log.warning("StreamAssignments for %s refused: %s", unit, exc.details())
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def note(self, assignment: Any) -> None:
        holding = Holding(assignment.ticket_id, assignment.ticket_code, assignment.unit,
                          int(assignment.assignment_no), assignment.role or "lead", assignment.status)
        if holding.role not in ("", "lead"):
            return  # co-handling units help; the lead acts for the ticket
        known = self.held.get(holding.ticket_id)
        if known is None or holding.assignment_no >= known.assignment_no:
            self.held.put(holding.ticket_id, holding)

    def holder(self, ticket_id: str) -> Holding | None:
        return self.held.get(ticket_id)

    async def wait_for(self, ticket_id: str, *, newer_than: int = 0, timeout: float) -> Holding | None:
        """The ticket's lead assignment with a number above ``newer_than``, or None on timeout."""
        return await self.held.wait_for(ticket_id, lambda held: held.assignment_no > newer_than,
                                        timeout)
