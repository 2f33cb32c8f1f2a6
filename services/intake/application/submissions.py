"""Submitting a request: channel input -> one ticket with one code, accepted or rejected.

Reads get -> decide -> save. A retried submission (same adapter, same request id) returns the
ticket the first one made: the key's row (adapters/submission_keys.py, its id derived from the
idempotency key) is written in the same transaction as the ticket, so two racing retries cannot
both win. Keys recorded before that row existed are `SubmissionKey` aggregates, still read.

The same `prepare` serves the HTTP API (saved through the group committer) and the bus
(saved with the consumer's progress), so both get the same validation, idempotency and limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from prometheus_client import Histogram

from backbone.group_commit import GroupCommitter
from backbone.privacy import mask_personal_data
from backbone.store import EventContext, Statement
from services.intake.adapters.codes import CodeSequence
from services.intake.adapters.rate_limits import SharedSubmissionThrottle
from services.intake.adapters.submission_keys import SubmissionKeys
from services.intake.adapters.ticket_index import TicketIndex, rejected_columns, submitted_columns
from services.intake.application.answered import (
    AnsweredLookup,
    NoAnsweredTickets,
    answered_tickets,
)
from services.intake.application.attachments import Attachments, ticket_owner
from services.intake.application.sealing import ContactSealing, KeyClaim
from services.intake.domain.answered import AnsweredTicket
from services.intake.domain.channels import Channel, TicketDraft
from services.intake.domain.citizen import IdentityVault, MaskedContact, WrappedKey, pseudonym
from services.intake.domain.known_contact import mask_with_contact
from services.intake.domain.rate_limit import RateDecision, SubmissionThrottle
from services.intake.domain.ticket import Ticket
from services.intake.domain.ticket_code import issue_code
from services.intake.domain.validation import (
    AcceptanceRules,
    CityBoundary,
    Rejection,
    Submission,
    review,
)

log = logging.getLogger(__name__)
# Where an async submission's time goes, by the server's clock: waiting for its batched read
# (admission and the citizen's facts), deciding it on the loop, waiting for its group commit
# (the commit's fsync included). Children looked up once (not per request).
STAGES = Histogram("minsheng_intake_submission_stage_seconds",
                   "Time of an async submission in each stage", ["stage"],
                   buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
_READ, _DECIDE, _COMMIT = (STAGES.labels(stage) for stage in ("read", "decide", "commit"))
SHANGHAI = ZoneInfo("Asia/Shanghai")
_KEY_NS = uuid.UUID("0d6f3c1e-8a51-4b8e-9f7e-3c2b1a0e1234")


class SubmissionKey(Aggregate):
    """Remembers which ticket an adapter's request id made. Only the id is still made here
    (the row's key, adapters/submission_keys.py); the aggregate is read for keys recorded
    before the row existed, and saved only by a Submissions without the table."""

    @staticmethod
    def create_id(adapter_id: str, idempotency_key: str) -> uuid.UUID:
        return uuid.uuid5(_KEY_NS, f"{adapter_id}\x00{idempotency_key}")

    @event("Recorded")
    def __init__(self, *, adapter_id: str, idempotency_key: str, ticket_code: str) -> None:
        self.ticket_code = ticket_code


class IntakeApplication(Application):
    name = "intake"


class SubmissionRefusedError(Exception):
    """No ticket is made: the request itself is not acceptable (the reason says why)."""

    code = "refused"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RateLimitedError(SubmissionRefusedError):
    code = "rate_limited"

    def __init__(self, limited_by: str, retry_after_s: float):
        super().__init__(f"too many requests from this {limited_by}; "
                         f"retry after {retry_after_s:.0f} s")
        self.limited_by = limited_by
        self.retry_after_s = retry_after_s


class UnknownAttachmentError(SubmissionRefusedError):
    code = "unknown_attachment"


@dataclass(frozen=True)
class Submitted:
    code: str
    ticket_id: uuid.UUID
    status: str  # accepted | rejected
    reason_code: str | None = None
    reason_text: str | None = None
    replayed: bool = False  # a retry of an earlier submission


@dataclass
class Prepared:
    """A decided submission and the aggregates that must be saved together for it."""

    result: Submitted
    aggregates: list[Any] = field(default_factory=list)
    context: EventContext = field(default_factory=EventContext)
    key_claim: KeyClaim | None = None  # a new citizen's key, stored by the same transaction
    # the ticket's index row, written by the same transaction: read your own writes
    sql: list[Statement] = field(default_factory=list)
    # (owner, hashes): the files to seal under the ticket's citizen's key once it is saved
    attachments: tuple[str, list[str]] = ("", [])
    citizen: str | None = None  # whose rate token the decision took (None: no citizen's)
    # the key the contact was sealed with (its save claims or holds it): the files are sealed
    # under that one, and kept only while it is the owner's (None: no key to name)
    sealed_with: WrappedKey | None = None


def _masked_contact(draft: TicketDraft) -> dict[str, Any] | None:
    if draft.identity is None:
        return None
    masked = draft.identity.masked()
    return masked.as_event_dict() if isinstance(masked, MaskedContact) else dict(masked)


def _place(draft: TicketDraft) -> dict[str, Any] | None:
    if draft.place is None:
        return None
    address = draft.place.address
    return {"lat": draft.place.lat, "lon": draft.place.lon,
            "address_masked": mask_with_contact(address, draft.identity) if address else None}


def _external_ref(draft: TicketDraft) -> str:
    # Call ids and programme names identify no one; a WeChat openid does, so it stays inside.
    if draft.channel in (Channel.HOTLINE_12345, Channel.MEDIA_HOTLINE):
        return mask_personal_data(draft.channel_ref or "")
    return ""


Lookup = Callable[[uuid.UUID], Any]


class Submissions:
    def __init__(self, *, app: IntakeApplication, committer: GroupCommitter,
                 codes: CodeSequence,
                 rules: AcceptanceRules, city: CityBoundary, region: str, pepper: bytes,
                 attachments: Attachments, vault: IdentityVault,
                 throttle: SubmissionThrottle, answered: AnsweredLookup | None = None,
                 sealing: ContactSealing | None = None, index: TicketIndex | None = None,
                 reads: Any = None, keys: Any = None,
                 submission_keys: SubmissionKeys | None = None):
        self.app = app
        self.committer = committer
        self.codes = codes
        self.rules = rules
        self.city = city
        self.region = region
        self.pepper = pepper
        self.attachments = attachments
        self.vault = vault
        self.throttle = throttle
        self.sealing = sealing or ContactSealing(vault)
        self.answered = answered or NoAnsweredTickets()  # 已答复: the citizen's answered tickets
        self.index = index
        # the async endpoint's citizen reads, batched on the event loop (adapters/
        # submission_reads.py), and the key store whose cache they fill; None: read in prepare
        self.reads = reads
        self.keys = keys
        # the idempotency keys' rows; None: kept as SubmissionKey aggregates (as before)
        self.submission_keys = submission_keys

    def _get(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def existing(self, adapter_id: str, idempotency_key: str,
                 lookup: Lookup | None = None) -> Submitted | None:
        get = lookup or self._get
        key_id = SubmissionKey.create_id(adapter_id, idempotency_key)
        code = (self.submission_keys.ticket_code(key_id) if self.submission_keys is not None
                else None)
        if code is None:  # a key recorded before its row existed: an aggregate
            key = get(key_id)
            if key is None:
                return None
            code = key.ticket_code
        ticket: Ticket = get(Ticket.create_id(code))
        rejection = ticket.rejection or {}
        return Submitted(ticket.code, ticket.id, ticket.status, rejection.get("reason_code"),
                         rejection.get("reason_text_zh"), replayed=True)

    def _attachment_refs(self, draft: TicketDraft, citizen: str | None,
                         usable: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if not draft.attachments:
            return []
        stored = (self.attachments.usable([a.sha256 for a in draft.attachments], citizen)
                  if usable is None else usable)
        refs = []
        for a in draft.attachments:
            found = stored.get(a.sha256)
            if found is None:
                raise UnknownAttachmentError(
                    f"attachment {a.sha256[:12]}… was never uploaded; POST /v1/attachments first")
            if found.kind != a.kind:
                raise UnknownAttachmentError(
                    f"attachment {a.sha256[:12]}… is a {found.kind}, not a {a.kind}")
            refs.append({"sha256": a.sha256, "media_type": found.media_type, "size": found.size})
        return refs

    def prepare(self, draft: TicketDraft, *, adapter_id: str, now: datetime,
                context: EventContext, lookup: Lookup | None = None,
                optimistic: bool = False, key_in_transaction: bool = False,
                backfilled: bool = False,
                read: tuple[AnsweredTicket, ...] | None = None,
                citizen_read: str | None = None,
                usable: dict[str, Any] | None = None) -> Prepared:
        """Decide a submission; raises SubmissionRefusedError when no ticket may be made.

        ``optimistic``: skip looking for an earlier submission with this key (a round trip on
        every request); the save then fails on the key's unique id and the caller replays.
        ``key_in_transaction``: a new citizen's key is not stored here but returned as
        ``key_claim``, for the caller's saving transaction (see application.sealing).
        ``backfilled``: ``now`` is a stated time well before the clock (a call taken during an
        outage, entered later; backbone/clock.py): the acceptance is flagged "backfilled".
        ``read``: the citizen's answered tickets, read by a caller that has also admitted the
        submission through the rate limits (the async path: `_read_ahead`); then nothing is
        read here; ``citizen_read``: the pseudonym that read was made for (computed there,
        not again here); ``usable``: the submission's attachments as `Attachments.usable`
        gives them, read by the caller (the async path, on the event loop).
        """
        if not optimistic:
            replay = self.existing(adapter_id, draft.idempotency_key, lookup)
            if replay is not None:
                return Prepared(replay)
        if read is not None and citizen_read is not None:
            citizen: str | None = citizen_read
        else:
            citizen = pseudonym(self.pepper, draft.identity) if draft.identity else None
        if read is None:
            decision = self.throttle.admit(adapter_id, citizen)
            if not decision.allowed:
                raise RateLimitedError(decision.limited_by or "adapter",
                                       decision.retry_after_seconds)
        refs = self._attachment_refs(draft, citizen, usable)
        verdict = review(
            Submission(text=(draft.title or "") + draft.text, submitted_at=now,
                       attachment_count=len(draft.attachments),
                       lat=draft.place.lat if draft.place else None,
                       lon=draft.place.lon if draft.place else None,
                       citizen=citizen, category_hint=draft.category_hint,
                       previously_answered=(self.answered.of(citizen, now) if read is None
                                            else read)),
            rules=self.rules, city=self.city)
        day = now.astimezone(SHANGHAI).date()
        code = issue_code(self.region, day, self.codes.next(self.region, day))
        ticket = Ticket(
            code=code, channel=draft.channel.value,
            masked_text=mask_with_contact(draft.text, draft.identity),
            masked_title=mask_with_contact(draft.title, draft.identity) if draft.title else None,
            category_hint=draft.category_hint, place=_place(draft), citizen=citizen,
            masked_contact=_masked_contact(draft), requester_kind=draft.requester_kind.value,
            attachment_refs=refs, idempotency_key=draft.idempotency_key, timestamp=now,
            adapter_id=adapter_id, external_ref=_external_ref(draft))
        if isinstance(verdict, Rejection):
            ticket.reject(reason_code=verdict.reason_code.value,
                          reason_text_zh=verdict.reason_text_zh, at=now)
            result = Submitted(code, ticket.id, "rejected", verdict.reason_code.value,
                               verdict.reason_text_zh)
        elif draft.answered_on_spot is not None:
            spot = draft.answered_on_spot
            ticket.answer_on_spot(answer_masked=mask_with_contact(spot.answer, draft.identity),
                                  source=spot.source, source_date=spot.source_date.isoformat(),
                                  knowledge_ref=spot.knowledge_ref,
                                  operator_id=adapter_id[:64], at=now)
            result = Submitted(code, ticket.id, "answered_on_spot")
        else:
            ticket.accept(flags=[f.value for f in verdict.flags]
                          + (["backfilled"] if backfilled else []), at=now)
            result = Submitted(code, ticket.id, "accepted")
        aggregates: list[Any] = [ticket]
        sql = self._index_rows(ticket, now)
        if self.submission_keys is not None:
            sql.append(self.submission_keys.record(
                SubmissionKey.create_id(adapter_id, draft.idempotency_key), code))
        else:
            aggregates.append(SubmissionKey(adapter_id=adapter_id, ticket_code=code,
                                            idempotency_key=draft.idempotency_key))
        claim = None
        sealed_with = None
        if draft.identity is not None:
            contact, claim = self.sealing.seal(ticket.id, citizen or f"ticket:{ticket.id}",
                                               draft.identity, now,
                                               in_transaction=key_in_transaction)
            aggregates.append(contact)
            sealed_with = claim.key if claim is not None else None
            if claim is not None and not key_in_transaction:
                # the bus: its key held by its unit of work, with the other statements (an
                # erasure that destroyed it since fails that; the request is applied again)
                sql.append(claim.statement)
                claim = None
        ctx = EventContext(**{**context.__dict__, "ticket_id": str(ticket.id), "ticket_code": code})
        return Prepared(result, aggregates, ctx, claim, sql,
                        attachments=(ticket_owner(citizen, ticket.id),
                                     [r["sha256"] for r in refs]), citizen=citizen,
                        sealed_with=sealed_with)

    def keep_attachments(self, prepared: Prepared) -> None:
        """The saved ticket's files, sealed under its citizen's key (see application.attachments)."""
        owner, hashes = prepared.attachments
        if not hashes:
            return
        try:
            self.attachments.keep_for(owner, hashes, key=prepared.sealed_with)
        except Exception:  # the ticket stands; the copy is made on the first read instead
            log.warning("attachments of %s not sealed for their citizen yet",
                        prepared.result.code, exc_info=True)

    def _index_rows(self, ticket: Ticket, now: datetime) -> list[Statement]:
        """The ticket's row in the read model, so a client that got the code can read the
        ticket by it at once (Open311 `requests/{id}`, its list, `tokens/{token}`) without
        waiting for the projector. The projector does not write them again for the submission
        alone (TicketIndex.fill: only a row that lacks them); a batch that also decides the
        ticket writes its row once, these columns with the same values."""
        if self.index is None:
            return []
        columns = submitted_columns(ticket, now)
        if ticket.rejection:
            columns |= rejected_columns(now, ticket.rejection["reason_code"],
                                        ticket.rejection["reason_text_zh"])
        return [self.index.upsert(ticket.id, **columns)]

    def submit(self, draft: TicketDraft, *, adapter_id: str, context: EventContext,
               now: datetime, backfilled: bool = False) -> Submitted:
        # Retries are rare: save first, and only on a clash read what the first attempt made.
        try:
            prepared = self.prepare(draft, adapter_id=adapter_id, now=now, context=context,
                                    optimistic=True, key_in_transaction=True,
                                    backfilled=backfilled)
        except RateLimitedError as refused:
            return self._replay_or_raise(adapter_id, draft, refused)
        if not prepared.aggregates:
            return prepared.result

        def save(aggregates: list[Any], sql: list[Any]) -> None:
            self.committer.save(*aggregates, context=prepared.context, sql=[*sql, *prepared.sql])

        saved_with: list[Any] = []
        try:
            self.sealing.save(save, prepared.aggregates, prepared.key_claim, draft.identity,
                              saved_with=saved_with)
        except IntegrityError:
            replay = self._replayed_after_clash(adapter_id, draft, prepared)  # a retry won
            if replay is None:
                raise
            return replay
        if saved_with:  # (sealed again if its first key was refused)
            prepared.sealed_with = saved_with[-1]
        self.keep_attachments(prepared)
        return prepared.result

    async def submit_async(self, draft: TicketDraft, *, adapter_id: str, context: EventContext,
                           now: datetime, backfilled: bool = False) -> Submitted:
        """`submit` for the async HTTP endpoint. Its reads are batched with the other requests'
        on the event loop (`_read_ahead`), deciding then reads nothing, and the request awaits
        its group commit on the loop: no worker thread, except for the rare round trip a
        process makes for a whole block (the adapter's tokens, ticket codes). A request's
        attachments are looked up on the loop too (`SubmissionReads.usable`, after its
        admission); their copies for the citizen are made after the commit in a worker
        thread."""
        began = time.perf_counter()
        try:
            read, citizen = await self._read_ahead(draft, adapter_id=adapter_id, now=now)
            read_at = time.perf_counter()
            _READ.observe(read_at - began)
            usable = None
            if read is not None and draft.attachments and hasattr(self.reads, "usable"):
                # (after admission, as prepare looked them up) on the loop, batched
                usable = await self.reads.usable([a.sha256 for a in draft.attachments],
                                                 citizen or "")
            if read is None or (draft.attachments and usable is None):
                # the attachments are looked up in prepare (a read: a worker thread)
                prepared = await asyncio.to_thread(
                    self.prepare, draft, adapter_id=adapter_id, now=now, context=context,
                    optimistic=True, key_in_transaction=True, backfilled=backfilled, read=read,
                    citizen_read=citizen)
            else:
                prepared = self.prepare(draft, adapter_id=adapter_id, now=now, context=context,
                                        optimistic=True, key_in_transaction=True,
                                        backfilled=backfilled, read=read, citizen_read=citizen,
                                        usable=usable)
        except RateLimitedError as refused:
            return await asyncio.to_thread(self._replay_or_raise, adapter_id, draft, refused)
        decided_at = time.perf_counter()
        _DECIDE.observe(decided_at - read_at)
        if not prepared.aggregates:
            return prepared.result

        saved_with: list[Any] = []

        async def save(aggregates: list[Any], sql: list[Any]) -> None:
            await self.committer.save_async(*aggregates, context=prepared.context,
                                            sql=[*sql, *prepared.sql])

        try:
            await self.sealing.save_async(save, prepared.aggregates, prepared.key_claim,
                                          draft.identity, saved_with=saved_with)
        except IntegrityError:
            replay = await asyncio.to_thread(self._replayed_after_clash, adapter_id, draft,
                                             prepared)
            if replay is None:  # not a racing retry
                raise
            return replay
        _COMMIT.observe(time.perf_counter() - decided_at)
        if saved_with:  # (sealed again if its first key was refused)
            prepared.sealed_with = saved_with[-1]
        if prepared.attachments[1]:
            await asyncio.to_thread(self.keep_attachments, prepared)
        return prepared.result

    def _replayed_after_clash(self, adapter_id: str, draft: TicketDraft,
                              prepared: Prepared) -> Submitted | None:
        """After a save that clashed: the answer of the request its key already stored (a
        retry, sent again after it was stored or racing it), and the citizen's token this copy
        took goes back, since it made nothing (4 retries of one request left the citizen no
        token for a request of their own: 429 for 2 minutes). None: no stored key (not a
        retry)."""
        replay = self.existing(adapter_id, draft.idempotency_key)
        if replay is None:
            return None
        if prepared.citizen is not None:
            try:
                self.throttle.citizen_replayed(prepared.citizen)
            except Exception:  # a token not given back refuses the citizen early, no more
                log.warning("a replayed submission's citizen token was not given back",
                            exc_info=True)
        return replay

    def _replay_or_raise(self, adapter_id: str, draft: TicketDraft,
                         refused: RateLimitedError) -> Submitted:
        """A submission the citizen's rate limit refused: if it is an adapter's retry of a
        request already made (its key stored), that request's answer again, not 429 (a retry
        is no new request of the citizen's); otherwise the refusal. Read only then: an adapter
        over its own limit is refused without a read, as before (its retries are its load)."""
        if refused.limited_by != "citizen":
            raise refused
        replay = self.existing(adapter_id, draft.idempotency_key)
        if replay is None:
            raise refused
        return replay

    async def _read_ahead(self, draft: TicketDraft, *, adapter_id: str, now: datetime
                          ) -> tuple[tuple[AnsweredTicket, ...] | None, str | None]:
        """Admit the submission (adapter's and citizen's tokens) and read what deciding it
        needs, so that `prepare` reads nothing but a submission's attachments: the citizen's
        answered tickets. A spent lease of the adapter's tokens is renewed by the same batched
        read (adapters/submission_reads.py), not by a round trip of its own. None: no batched
        reads here (none wired, or a contact without a natural key): `prepare` reads. With
        it, the citizen's pseudonym (None: no citizen), which `prepare` takes as it is."""
        throttle = self.throttle
        if self.reads is None or not isinstance(throttle, SharedSubmissionThrottle):
            return None, None
        citizen = pseudonym(self.pepper, draft.identity) if draft.identity else None
        if draft.identity is not None and citizen is None:
            return None, None  # a contact without a natural key (a name alone): sealed under a key
            # of its ticket's own, which `prepare` looks up
        decision: RateDecision | None = throttle.adapter_token_held(adapter_id)
        leasing = None
        if decision is None:  # the process's lease of the adapter's tokens is spent: a block
            if getattr(self.reads, "leases", None) is not None:
                leasing = adapter_id  # taken by the batched read below
            else:
                decision = await asyncio.to_thread(throttle.adapter_token, adapter_id)
        if decision is not None and not decision.allowed:
            raise RateLimitedError(decision.limited_by or "adapter", decision.retry_after_seconds)
        day = now.astimezone(SHANGHAI).date()
        if not self.codes.has_next(self.region, day):  # a block of codes, once per block
            await asyncio.to_thread(self.codes.reserve_ahead, self.region, day)
        if citizen is None and leasing is None:
            return (), None
        want_key = citizen is not None and self.keys is not None and not self.keys.cached(citizen)
        facts = await self.reads.of(citizen, now=now, want_key=want_key, adapter=leasing)
        if facts.adapter_refused:
            raise RateLimitedError("adapter", facts.retry_after_s)
        if not facts.granted:
            throttle.citizen_refused(adapter_id)
            raise RateLimitedError("citizen", facts.retry_after_s)
        if facts.key_looked_up and self.keys is not None and citizen is not None:
            self.keys.looked_up(citizen, facts.key)
        return answered_tickets(facts.answered), citizen

    def get(self, code: str) -> Ticket | None:
        return self._get(Ticket.create_id(code))
