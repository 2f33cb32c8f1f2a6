"""The department systems' gRPC API (DepartmentService, dispatch_api.proto).

Every call carries `authorization: Bearer <token>` metadata with role `unit` and the unit's
code; a unit sees and acts on its own assignments only. Every refusal is a precise status
with a reason, never UNKNOWN: UNAUTHENTICATED (no or bad token), PERMISSION_DENIED (not a
unit, or acting on another unit's assignment), NOT_FOUND (no assignment of that ticket for
this unit), INVALID_ARGUMENT (the request is wrong whatever the state), FAILED_PRECONDITION
(an illegal step now, e.g. bounce-back after sign-for), ABORTED (lost a race; retry. Or a
stream that fell too far behind: open it again).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc
import psycopg
from eventsourcing.persistence import DataError as StoreDataError
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_reflection.v1alpha import reflection
from minsheng.v1 import dispatch_api_pb2 as api
from minsheng.v1 import dispatch_api_pb2_grpc as api_grpc

from backbone import auth, events
from backbone.clock import Clock, ClockTimeError
from backbone.logs import trace_id_var
from backbone.privacy import echo, mask_personal_data
from backbone.settings import ServiceSettings
from backbone.store import STORE_UNAVAILABLE, STORE_UNAVAILABLE_REASON, EventContext
from backbone.text import UNWRITABLE
from services.dispatch.adapters.loop_reads import LoopReads
from services.dispatch.application.commands import (
    Ack,
    BadRequestError,
    Commands,
    ConcurrentChangeError,
    TicketNotFoundError,
    TicketRef,
)
from services.dispatch.application.projection import ALL_STATUSES, OPEN_STATUSES
from services.dispatch.application.units import UnitBook, UnknownUnitCodeError
from services.dispatch.domain.errors import (
    DispatchError,
    InvalidCommandError,
    InvalidCoordinationError,
    NaiveTimeError,
    NotAssignedToUnitError,
    ReasonRequiredError,
)
from services.dispatch.entrypoints.feed import AssignmentFeed

log = logging.getLogger(__name__)

MAX_TEXT = 4000
MAX_PAGE = 500
DEFAULT_PAGE = 50
S = grpc.StatusCode
FELL_BEHIND = ("this stream fell more than {} changes behind and would miss the next ones;"
               " open it again with include_open (ListAssignments status='all' shows what"
               " closed or left meanwhile)")
INVALID = (BadRequestError, UnknownUnitCodeError, ClockTimeError, ReasonRequiredError,
           InvalidCommandError, InvalidCoordinationError, NaiveTimeError)


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def status_for(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and reason of a refusal (a table, so every refusal has one), with the
    personal data a reason may quote from the request masked (backbone.http.unrepeated: a
    department system logs these reasons)."""
    code, reason = _status_for(exc)
    return code, mask_personal_data(reason)


def _status_for(exc: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, Refused):
        return exc.code, exc.reason
    if isinstance(exc, TicketNotFoundError):
        return S.NOT_FOUND, str(exc)
    if isinstance(exc, NotAssignedToUnitError):
        return S.PERMISSION_DENIED, exc.reason
    if isinstance(exc, INVALID):
        return S.INVALID_ARGUMENT, getattr(exc, "reason", None) or getattr(
            exc, "detail", None) or str(exc)
    if isinstance(exc, DispatchError):
        return S.FAILED_PRECONDITION, exc.reason
    if isinstance(exc, ConcurrentChangeError):
        return S.ABORTED, str(exc)
    if isinstance(exc, psycopg.DataError | StoreDataError):  # e.g. a NUL character in a field
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return S.INVALID_ARGUMENT, f"a value cannot be stored: {reason[:200]}"
    if isinstance(exc, STORE_UNAVAILABLE):  # PostgreSQL restarting: nothing was done, retry
        return S.UNAVAILABLE, STORE_UNAVAILABLE_REASON
    return S.INTERNAL, f"unexpected error; trace id {trace_id_var.get()}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: datetime | None) -> Timestamp | None:
    """A timestamp from an aware time, by arithmetic (protobuf's FromDatetime goes through a
    time tuple and `calendar.timegm`: most of a pushed assignment's conversion)."""
    if value is None:
        return None
    since = value - _EPOCH
    return Timestamp(seconds=since.days * 86400 + since.seconds,
                     nanos=since.microseconds * 1000)


def to_assignment(row: dict[str, Any]) -> api.Assignment:
    msg = api.Assignment(
        ticket_id=row["ticket_id"], ticket_code=row["ticket_code"], unit=row["unit"],
        status=row["status"], category=row["category"] or "", urgency=row["urgency"] or "",
        text_masked=row["text_masked"] or "", county=row["county"] or "",
        assignment_no=row["assignment_no"], role=row["role"],
        subcategory=row["subcategory"] or "", request_type=row["request_type"] or "",
        subdistrict=row["subdistrict"] or "", title_masked=row["title_masked"] or "",
        channel=row["channel"] or "", lead_unit=row["lead_unit"] or "",
        co_units=list(row["co_units"] or []), address_masked=row["address_masked"] or "",
        assigned_at=_ts(row["assigned_at"]), sign_for_due_at=_ts(row["sign_for_due_at"]),
        bounce_back_due_at=_ts(row["bounce_back_due_at"]))
    return msg


def _page_token(row: dict[str, Any]) -> str:
    raw = json.dumps([row["assigned_at"].isoformat(), row["ticket_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        when, ticket_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(when), str(ticket_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise Refused(S.INVALID_ARGUMENT, "page_token is not one this service gave") from None


def _text(name: str, value: str, *, required: bool = False) -> str:
    if len(value) > MAX_TEXT:
        raise Refused(S.INVALID_ARGUMENT, f"{name} is longer than {MAX_TEXT} characters")
    if required and not value.strip():
        raise Refused(S.INVALID_ARGUMENT, f"{name} is required")
    found = UNWRITABLE.search(value)
    if found:  # a reply reaches the citizen, the hall and the exports (backbone.text)
        raise Refused(S.INVALID_ARGUMENT, f"{name} cannot contain the control or noncharacter"
                      f" U+{ord(found.group()):04X} (tab and line breaks are fine)")
    return value


def _day(name: str, value: str) -> date | None:
    """A day as YYYY-MM-DD (empty: none)."""
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(S.INVALID_ARGUMENT, f"{name} is a day written YYYY-MM-DD") from None


class DepartmentApi(api_grpc.DepartmentServiceServicer):
    def __init__(self, *, settings: ServiceSettings, commands: Commands, reads: LoopReads,
                 feed: AssignmentFeed, clock: Clock, units: UnitBook) -> None:
        self.settings = settings
        self.commands = commands
        self.reads = reads
        self.feed = feed
        self.clock = clock
        self.units = units
        self._verifier: auth.Verifier | None = None

    def add_to(self, server: grpc.aio.Server) -> None:
        api_grpc.add_DepartmentServiceServicer_to_server(self, server)
        # server reflection: a department's generic tools (grpcurl, dynamic clients) discover
        # the API without our generated code
        reflection.enable_server_reflection(
            (api.DESCRIPTOR.services_by_name["DepartmentService"].full_name,
             reflection.SERVICE_NAME), server)

    # --- plumbing ---

    def _principal(self, context: grpc.aio.ServicerContext) -> auth.Principal:
        # the two keys it reads, in one pass (the last of a repeated traceparent wins)
        authorization = traceparent = None
        tokens = 0
        for key, value in context.invocation_metadata() or ():
            key = key.lower()
            if key == "authorization":
                authorization = value
                tokens += 1
            elif key == "traceparent":
                traceparent = value
        try:
            if tokens > 1:  # which one is meant? (a stream checked the first while the call
                # was admitted by the last: the revocation of the one it ran on went unseen)
                raise auth.AuthError("send one authorization metadata entry, not several")
            if self._verifier is None:  # the settings' verifier (its JWKS reloads on its own)
                self._verifier = auth.verifier_for(self.settings)
            principal = self._verifier.verify(auth.bearer(authorization))
        except auth.AuthError as exc:
            raise Refused(S.UNAUTHENTICATED, str(exc)) from exc
        if principal.role != "unit":
            raise Refused(S.PERMISSION_DENIED, f"role {principal.role!r} may not use the"
                          " department API; it needs a unit token")
        if not self.units.registry.is_active(principal.unit):
            raise Refused(S.PERMISSION_DENIED,
                          f"unit {principal.unit!r} is not an active unit of the registry")
        trace = events.trace_id_from(traceparent) or events.new_trace_id()
        trace_id_var.set(trace)  # this call's task only: read back by `_ctx` and the logs
        return principal

    def _time(self, request: Any) -> datetime:
        try:
            stated = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else None
        except (ValueError, OverflowError) as exc:  # nanos out of range, year 0 or 10000...
            raise Refused(S.INVALID_ARGUMENT, f"at is not a valid time: {exc}") from exc
        return self.clock.command_time(stated if self.clock.is_event_time else None)

    @staticmethod
    def _ctx(principal: auth.Principal) -> EventContext:
        return EventContext(trace_id=trace_id_var.get() or "", actor_role="unit",
                            actor_id=principal.sub, actor_unit=principal.unit)

    async def _refuse(self, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code, reason = status_for(exc)
        if code is S.INTERNAL:
            log.exception("unexpected error in the department API", exc_info=exc)
        await context.abort(code, reason)

    async def _act(self, request: Any, context: grpc.aio.ServicerContext,
                   command: Callable[..., Awaitable[Ack]],
                   arguments: Callable[[], dict[str, Any]] = dict) -> api.AssignmentAck:
        try:
            principal = self._principal(context)
            kwargs = arguments()
            if len(request.request_id) > 200:
                raise Refused(S.INVALID_ARGUMENT, "request_id is longer than 200 characters")
            ref = TicketRef(code=request.ticket_code, ticket_id=request.ticket_id)
            # on the event loop: one read and the group commit, no worker thread
            ack = await command(principal.unit, ref, at=self._time(request),
                                ctx=self._ctx(principal), request_id=request.request_id,
                                **kwargs)
        except Exception as exc:  # every refusal becomes a status with its reason
            await self._refuse(context, exc)
            raise
        return api.AssignmentAck(ticket_id=ack.ticket_id, ticket_code=ack.ticket_code,
                                 status=ack.status, assignment_no=ack.assignment_no,
                                 replayed=ack.replayed)

    # --- commands ---

    async def SignFor(self, request: api.SignForRequest, context: Any) -> api.AssignmentAck:  # noqa: N802
        return await self._act(request, context, self.commands.sign_for)

    async def BounceBack(self, request: api.BounceBackRequest, context: Any  # noqa: N802
                         ) -> api.AssignmentAck:
        return await self._act(request, context, self.commands.bounce_back,
                               lambda: {"reason": _text("reason", request.reason)})

    async def AddNote(self, request: api.AddNoteRequest, context: Any  # noqa: N802
                      ) -> api.AssignmentAck:
        return await self._act(request, context, self.commands.add_note,
                               lambda: {"note": _text("note", request.note)})

    async def Reply(self, request: api.ReplyRequest, context: Any) -> api.AssignmentAck:  # noqa: N802
        return await self._act(request, context, self.commands.reply,
                               lambda: {"reply": _text("reply", request.reply),
                                        "outcome": request.outcome,
                                        "expected_by": _day("expected_by", request.expected_by)})

    async def RequestExtension(self, request: api.RequestExtensionRequest, context: Any  # noqa: N802
                               ) -> api.AssignmentAck:
        return await self._act(request, context, self.commands.request_extension,
                               lambda: {"working_days": request.working_days,
                                        "reason": _text("reason", request.reason)})

    async def RequestTransfer(self, request: api.RequestTransferRequest, context: Any  # noqa: N802
                              ) -> api.AssignmentAck:
        return await self._act(request, context, self.commands.request_transfer,
                               lambda: {"to_unit": request.to_unit.strip(),
                                        "reason": _text("reason", request.reason)})

    # --- reading ---

    async def ListAssignments(self, request: api.ListAssignmentsRequest, context: Any  # noqa: N802
                              ) -> api.ListAssignmentsResponse:
        try:
            principal = self._principal(context)
            statuses = self._statuses(request.status)
            if request.page_size < 0 or request.page_size > MAX_PAGE:
                raise Refused(S.INVALID_ARGUMENT, f"page_size must be 1..{MAX_PAGE} (0: default)")
            size = request.page_size or DEFAULT_PAGE
            rows = await self.reads.assignments(principal.unit, statuses=statuses,
                                                limit=size + 1,
                                                after=_after(request.page_token))
        except Exception as exc:
            await self._refuse(context, exc)
            raise
        more = len(rows) > size
        rows = rows[:size]
        return api.ListAssignmentsResponse(
            assignments=[to_assignment(r) for r in rows],
            next_page_token=_page_token(rows[-1]) if more and rows else "")

    @staticmethod
    def _statuses(status: str) -> list[str]:
        if not status:
            return sorted(OPEN_STATUSES)
        if status == "all":
            return sorted(ALL_STATUSES)
        if status not in ALL_STATUSES:
            raise Refused(S.INVALID_ARGUMENT, f"status {echo(status)} is not one of"
                          f" {', '.join(sorted(ALL_STATUSES))}, 'all' or '' (open)")
        return [status]

    async def StreamAssignments(self, request: api.StreamAssignmentsRequest, context: Any  # noqa: N802
                                ) -> AsyncIterator[api.Assignment]:
        try:
            principal = self._principal(context)
        except Exception as exc:
            await self._refuse(context, exc)
            raise
        unit = principal.unit
        token = auth.bearer(next((v for k, v in context.invocation_metadata() or ()
                                  if k.lower() == "authorization"), None))
        queue = self.feed.subscribe(unit)  # before reading the open ones: nothing falls between
        sent: dict[str, tuple[Any, ...]] = {}

        def fresh(row: dict[str, Any]) -> bool:
            key = (row["assignment_no"], row["status"], row["role"])
            if sent.get(row["ticket_id"]) == key:
                return False
            sent[row["ticket_id"]] = key
            return True

        def still_valid() -> str | None:
            """Why the stream's token no longer holds (expired, revoked at logout), or None:
            checked before every change sent, so a stream opened with it sends nothing after
            (it did, for as long as the connection lasted). The verifier's cache makes it a
            lookup and the revocation list's refresh."""
            try:
                self._verifier.verify(token)  # type: ignore[union-attr]  # set by _principal
            except auth.AuthError as exc:
                return f"{exc}: open the stream again with a fresh token"
            return None

        ended = None
        try:
            if request.include_open:
                for row in await self.reads.open_assignments(unit):
                    if fresh(row):
                        if (ended := still_valid()) is not None:
                            break
                        yield to_assignment(row)
            while ended is None and not (queue.fell_behind and queue.empty()):
                row = await queue.get()
                if fresh(row):
                    if (ended := still_valid()) is not None:
                        break
                    yield to_assignment(row)
        finally:
            self.feed.unsubscribe(unit, queue)
        if ended is not None:
            await context.abort(S.UNAUTHENTICATED, ended)
        # the feed let it go: what it held is sent, the next change would be missed
        await context.abort(S.ABORTED, FELL_BEHIND.format(self.feed.queue_size))
