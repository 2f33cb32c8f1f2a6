"""The auditors' HTTP API: replay, state at a moment, verification, proofs, the ledger feed.

Access (all read-only): histories and states to auditors and the supervision office
(supervisor); the ledger feed, verification, proofs and the access log to auditors only.
Checkpoints and the public key are open to anyone: they reveal no ticket, and outside
auditors and witnesses must be able to fetch them without a platform account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from backbone import auth
from backbone.http import ClientError, NotFoundError, require
from services.audit.adapters.access_log import AccessLog
from services.audit.adapters.checkpoint_store import CheckpointStore, StoredCheckpoint
from services.audit.adapters.ledger_store import LedgerReader
from services.audit.application.entries import page_json
from services.audit.application.histories import (
    REPLAY_ROLES,
    Histories,
    TicketHistory,
    TicketNotInLedgerError,
    TicketRefError,
    state_json,
    ticket_ref,
)
from services.audit.application.verification import ProofRequestError, Verification
from services.audit.domain.checkpoint import CheckpointVerifier

AuditorDep = Annotated[auth.Principal, require("auditor")]
# a unit's replay is narrowed to the tickets handed to it by Histories (check_may_replay)
ReplayDep = Annotated[auth.Principal, require(*REPLAY_ROLES)]
TicketRef = Annotated[str, "a ticket id (uuid) or its code"]
LAST_SEQ = 2**63 - 1  # ledger_seq is a bigint: a cursor past it is a 422, not an empty page


def _checkpoint(cp: StoredCheckpoint) -> dict[str, Any]:
    return {"tree_size": cp.tree_size, "root_hash": cp.root_hash.hex(),
            "signed_at": cp.signed_at.isoformat(), "note": cp.note}


def history_json(history: TicketHistory, verification: dict[str, Any]) -> bytes:
    """The history route's answer as JSON bytes (orjson: strings, numbers, lists and dicts
    only here, written as FastAPI's serializer wrote them, without its per-value walk)."""
    return orjson.dumps({
        "ticket_id": history.ticket_id,
        "entries": history.entries(),
        "checkpoint": _checkpoint(history.checkpoint) if history.checkpoint else None,
        "verification": verification,
    })


def _ticket_ref(value: str) -> str:
    try:
        return ticket_ref(value)
    except TicketRefError as exc:
        raise ClientError(str(exc)) from exc


def _access_target(histories: Histories, ticket: str) -> str:
    """Reads are recorded by ticket id; an auditor may name the ticket by its code."""
    if not ticket:
        return ""
    ref = _ticket_ref(ticket)
    try:
        return histories.resolve(ref)
    except TicketNotInLedgerError:
        return ref  # nothing of it in the ledger: its reads (if any) are under what was given


def router(*, histories: Histories, reader: LedgerReader, checkpoints: CheckpointStore,
           verification: Verification, access: AccessLog, verifier: CheckpointVerifier,
           max_page: int) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["audit"])

    @api.get("/tickets/{ticket}/history", response_class=Response,
             responses={200: {"content": {"application/json": {}}}})
    async def ticket_history(ticket: TicketRef, who: ReplayDep,
                             proofs: bool = False) -> Response:
        """A ticket's whole history in ledger order, each entry with its bytes and hashes."""
        ref = _ticket_ref(ticket)

        def answer() -> bytes:  # one hop to a worker thread, the views and JSON made there
            history = histories.history(who, ref, proofs=proofs)
            return history_json(history, histories.verification(history))  # done with the proofs

        try:
            return Response(await run_in_threadpool(answer), media_type="application/json")
        except TicketNotInLedgerError as exc:
            raise NotFoundError(str(exc)) from exc

    @api.get("/tickets/{ticket}/state")
    async def ticket_state(ticket: TicketRef, who: ReplayDep,
                           at: datetime | None = None) -> dict[str, Any]:
        """The ticket as it stood at `at` (ISO 8601 with a time zone; default: now)."""
        if at is not None and at.tzinfo is None:
            raise ClientError("`at` needs a time zone, e.g. 2023-11-23T08:00:00+08:00")
        try:
            reading = await run_in_threadpool(histories.state, who, _ticket_ref(ticket), at)
        except TicketNotInLedgerError as exc:
            raise NotFoundError(str(exc)) from exc
        return state_json(reading, at)

    @api.get("/ledger/entries", response_class=Response,
             responses={200: {"content": {"application/json": {}}}})
    async def ledger_entries(who: AuditorDep, after: Annotated[int, Query(ge=0, le=LAST_SEQ)] = 0,
                             limit: Annotated[int, Query(ge=1)] = 1000) -> Response:
        """Entries in ledger order from position `after` (a cursor: the first ledger_seq to
        return); `next_after` is the cursor of the next page."""
        limit = min(limit, max_page)

        def page() -> bytes:  # one hop: the read is recorded while the page is read and built
            recorded = access.record_soon(who, action="entries",
                                          target=f"ledger[{after}:+{limit}]", via="http")
            try:
                rows = reader.page(after, limit)
                return page_json(rows, next_after=(rows[-1]["ledger_seq"] + 1) if rows else after)
            finally:
                recorded.result()  # recorded (committed) before anything is returned

        return Response(await run_in_threadpool(page), media_type="application/json")

    @api.get("/ledger/verification")
    async def verify_ledger(who: AuditorDep) -> dict[str, Any]:
        """Check the whole ledger: chains, order, offsets, every signed checkpoint."""
        await run_in_threadpool(access.record, who, action="verify", target="ledger", via="http")
        return await run_in_threadpool(verification.verify)

    @api.get("/proofs/inclusion")
    async def inclusion_proof(who: AuditorDep, ledger_seq: Annotated[int, Query(ge=0)],
                              tree_size: Annotated[int | None, Query(ge=1)] = None
                              ) -> dict[str, Any]:
        """A bundle for tools/verify_ledger.py: entry `ledger_seq` is in a signed tree."""
        await run_in_threadpool(access.record, who, action="inclusion_proof",
                                target=f"ledger[{ledger_seq}]", via="http")
        try:
            return await run_in_threadpool(verification.inclusion, ledger_seq, tree_size)
        except ProofRequestError as exc:
            raise NotFoundError(str(exc)) from exc

    @api.get("/proofs/consistency")
    async def consistency_proof(who: AuditorDep, first: Annotated[int, Query(ge=0)],
                                second: Annotated[int | None, Query(ge=0)] = None
                                ) -> dict[str, Any]:
        """A bundle for tools/verify_ledger.py: the older signed ledger is a prefix of the
        newer one."""
        try:
            return await run_in_threadpool(verification.consistency, first, second)
        except ProofRequestError as exc:
            raise NotFoundError(str(exc)) from exc

    @api.get("/checkpoints/latest")
    async def latest_checkpoint() -> dict[str, Any]:
        """The newest signed checkpoint (open to anyone)."""
        cp = await run_in_threadpool(checkpoints.latest)
        if cp is None:
            raise NotFoundError("no checkpoint signed yet: the ledger is empty")
        return _checkpoint(cp)

    @api.get("/checkpoints")
    async def list_checkpoints(after: Annotated[int, Query(ge=-1)] = -1,
                               limit: Annotated[int, Query(ge=1, le=1000)] = 100
                               ) -> dict[str, Any]:
        """Signed checkpoints by tree size, after size `after` (open to anyone)."""
        found = await run_in_threadpool(checkpoints.listing, after, limit)
        return {"checkpoints": [_checkpoint(c) for c in found]}

    @api.get("/checkpoints/public-key")
    async def public_key() -> dict[str, str]:
        """The key checkpoints are signed with: signed-note verifier key, PEM and raw base64."""
        return {"name": verifier.name, "vkey": verifier.vkey(), "pem": verifier.public_pem(),
                "base64": verifier.public_base64(), "algorithm": "Ed25519"}

    @api.get("/access-log/verify")
    async def verify_access_log(who: AuditorDep) -> dict[str, Any]:
        """Walk the access log's hash chain: ok, entries, head (note it: a cut tail shows only
        against a head noted before) and the rows found changed, deleted or inserted."""
        report = await run_in_threadpool(access.verify)
        await run_in_threadpool(access.record, who, action="verify", target="access-log",
                                via="http")
        return report

    @api.get("/access-log")
    async def access_log(who: AuditorDep, after: Annotated[int, Query(ge=0)] = 0,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         ticket: str = "") -> dict[str, Any]:
        """Who read which history, when (itself append-only). `ticket`: an id or a code."""
        target = await run_in_threadpool(_access_target, histories, ticket)
        rows = await run_in_threadpool(lambda: access.listing(after=after, limit=limit,
                                                              target=target))
        return {"reads": rows, "next_after": rows[-1]["id"] if rows else after}

    return api
