"""Intake follows its own event log, in order: the ticket read model, and duplicate detection.

Why a projector of our own log and not a Kafka consumer: the read model must see every ticket
before the next acceptance is checked for duplicates, and a log read in notification order
gives exactly that. The read-model rows, the merges the detector decides (Case and Ticket
events) and the projector's position commit in ONE transaction (IntakeRecorder's `sql`), so a
crash anywhere replays the batch without doing anything twice.

并单: on each acceptance, recent accepted tickets near in time and place are scored
(domain.duplicates); the best match above the threshold links the new ticket to that ticket's
case (opened on the spot if needed). The detector only proposes: a dispatcher confirms or
undoes the merge (application.merges). The candidates are kept in memory as the log is read
(domain.recent_tickets); the index is read to start with, for a ticket whose window reaches
before what is kept, and to check that the tickets that matched are not reopened meanwhile
(a fact of feedback's, which only the index has).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from prometheus_client import Counter

from backbone import events
from backbone.consumer import _project as project  # (eventsourcing's, minus a Protocol check)
from backbone.store import EventContext, Progress, autocommit, consumer_offsets
from backbone.wakeup import QUIET_FALLBACK_S, CommitNews
from services.intake.adapters.recorder import Statement
from services.intake.adapters.ticket_index import (
    TicketIndex,
    rejected_columns,
    snapshot,
    submitted_columns,
)
from services.intake.application.submissions import IntakeApplication
from services.intake.domain.duplicates import DuplicatePolicy, TicketSnapshot, find_duplicates
from services.intake.domain.recent_tickets import Candidate, RecentTickets, snapshot_of
from services.intake.domain.ticket import Case, Ticket

log = logging.getLogger(__name__)

MERGES = Counter("minsheng_intake_auto_merges_total", "Tickets linked to a case by the detector")
NAME = "intake-projector"
_LOG = ("notifications", 0)
_BATCH_NS = uuid.UUID("3b0c7f52-6f1e-4a0e-9d8e-5d4c1f2a9b61")


class _Batch:
    """Aggregates changed, read-model statements and rows, while one batch is applied."""

    def __init__(self, app: IntakeApplication):
        self.app = app
        self.aggregates: dict[uuid.UUID, Any] = {}
        self.contexts: dict[uuid.UUID, EventContext] = {}
        self.rows: dict[str, dict[str, Any]] = {}  # ticket id -> row as this batch leaves it
        # ticket id -> the columns this batch writes (one upsert per row, at the end), and
        # whether only its submission's are among them
        self.writes: dict[str, tuple[dict[str, Any], bool]] = {}
        self.position = 0  # of the note being applied

    def get(self, aggregate_id: uuid.UUID) -> Any | None:
        if aggregate_id not in self.aggregates:
            try:
                self.aggregates[aggregate_id] = self.app.repository.get(
                    aggregate_id, projector_func=project)
            except AggregateNotFoundError:
                return None
        return self.aggregates[aggregate_id]

    def write(self, ticket_id: str, columns: dict[str, Any], *, submission: bool) -> None:
        held = self.writes.get(ticket_id)
        if held is None:
            self.writes[ticket_id] = (dict(columns), submission)
        else:
            held[0].update(columns)
            self.writes[ticket_id] = (held[0], held[1] and submission)

    def index_statements(self, index: TicketIndex) -> list[Statement]:
        """One upsert per row the batch changed, of the columns its events set (the last value
        of each). A submission alone fills in its row only where the submission's own
        transaction did not write it (it does: submissions.py), e.g. a stub of another
        service's fact, or a rebuilt index."""
        return [index.fill(ticket_id, **columns) if submission_only
                else index.upsert(ticket_id, **columns)
                for ticket_id, (columns, submission_only) in self.writes.items()]

    def add(self, aggregate: Any, context: EventContext) -> None:
        self.aggregates[aggregate.id] = aggregate
        self.contexts.setdefault(aggregate.id, context)


class TicketProjector:
    def __init__(self, *, app: IntakeApplication, index: TicketIndex, schema: str,
                 policy: DuplicatePolicy | None = None, radius_m: float = 1000,
                 batch: int = 500, interval_s: float = 0.05, gather_s: float = 0.0,
                 keep: timedelta | None = None):
        self.app = app
        self.index = index
        self.schema = schema
        self.policy = policy or DuplicatePolicy()
        self.radius_m = radius_m
        self.batch = batch
        self.interval_s = interval_s
        self.gather_s = gather_s
        self._position: int | None = None
        # (`keep`: how far behind the newest ticket candidates are kept; twice the window
        # unless told, never less than it)
        self.recent = RecentTickets(self.policy.window,
                                    max(keep, self.policy.window) if keep else None)
        self.handlers = {
            "Ticket.Submitted": self._submitted, "Ticket.Accepted": self._accepted,
            "Ticket.Rejected": self._rejected, "Ticket.MergedIntoCase": self._merged,
            "Ticket.MergeConfirmed": self._merge_confirmed,
            "Ticket.UnmergedFromCase": self._unmerged, "Ticket.IdentityErased": self._erased,
            "Case.Opened": self._case_opened,
        }

    # -- the loop ----------------------------------------------------------------------------
    def position(self) -> int:
        """Where the stored position is: read once, then kept as this projector commits it.
        A kept position another projector has moved past makes the next batch collide with
        that projector's (same start, same batch id): IntegrityError, forgotten, read again."""
        if self._position is None:
            with autocommit(self.index.pool) as conn:
                self._position = consumer_offsets(conn, self.schema, NAME).get(_LOG, 1) - 1
        return self._position

    def run_once(self) -> int:
        try:
            return self._run_once()
        except BaseException:
            self._position = None  # a commit that raised may have committed: read it again
            raise

    def _run_once(self) -> int:
        start = self.position()
        self._keep_candidates_up_to(start)
        notes = self.app.recorder.select_notifications(start=start, limit=self.batch,
                                                       inclusive_of_start=False)
        if not notes:
            return 0
        batch = _Batch(self.app)
        for note in notes:
            # Most notes (submission keys, sealed contacts, bus answers) concern no read model:
            # their topic says so without decoding them.
            topic = note.topic.rpartition(":")[2]
            handle = self.handlers.get(topic)
            if handle is not None:
                batch.position = note.id
                e = self.app.mapper.to_domain_event(note)
                handle(batch, e)
                if topic in self._RECENT_FACTS and topic != "Ticket.Accepted":  # (it does)
                    self._remember(note.id, topic, e)
            elif topic == "Ticket.AnsweredOnSpot":
                self.recent.decided(str(self.app.mapper.to_domain_event(note).originator_id))
        self.recent.position = max(self.recent.position, notes[-1].id)
        progress = Progress(NAME)
        # The batch's id is where it starts: a second projector (another replica, or an
        # all-in-one intake beside a projector process) that read the same start collides on
        # it, its whole transaction rolls back, and it re-reads from the winner's position.
        progress.advance(*_LOG, notes[-1].id, str(uuid.uuid5(_BATCH_NS, f"{NAME}:{start}")))
        changed = [a for a in batch.aggregates.values() if a.pending_events]
        self.app.save(*changed, sql=batch.index_statements(self.index), progress=progress,
                      contexts=batch.contexts)
        self._position = notes[-1].id
        return len(notes)

    def _keep_candidates_up_to(self, start: int) -> None:
        """The in-memory candidates as of log position ``start``: loaded from the index the
        first time, then what other projectors applied meanwhile (a batch lost to another
        replica is skipped here, but its acceptances are candidates all the same)."""
        if self.recent.covered_from is None:
            since, rows = self.index.recent_candidate_rows(self.recent.keep)
            self.recent.start(since, start, [
                Candidate(snapshot_of(str(r["ticket_id"]), r), r["code"],
                          str(r["case_id"]) if r.get("case_id") else None) for r in rows])
        while self.recent.position < start:
            notes = self.app.recorder.select_notifications(
                start=self.recent.position, limit=self.batch, inclusive_of_start=False,
                stop=start)
            if not notes:
                break
            for note in notes:
                topic = note.topic.rpartition(":")[2]
                if topic in self._RECENT_FACTS:
                    self._remember(note.id, topic, self.app.mapper.to_domain_event(note))
            self.recent.position = notes[-1].id

    _RECENT_FACTS = frozenset({"Ticket.Submitted", "Ticket.Accepted", "Ticket.Rejected",
                               "Ticket.AnsweredOnSpot", "Ticket.MergedIntoCase",
                               "Ticket.UnmergedFromCase", "Case.Opened"})

    def _remember(self, position: int, topic: str, e: Any) -> None:
        """A fact of the log as the in-memory candidates keep it."""
        ticket_id = str(e.originator_id)
        if topic == "Ticket.Submitted":
            self.recent.submitted_ticket(e.code, snapshot_of(
                ticket_id, submitted_columns(e, e.timestamp)))
        elif topic == "Ticket.Accepted":
            found = None
            if self.recent.pending(ticket_id) is None:
                row = self.index.by_id(ticket_id)
                if row is not None and row.get("submitted_at") is not None:
                    found = (row["code"], snapshot_of(ticket_id, row))
            self.recent.accepted(ticket_id, position, found)
        elif topic in ("Ticket.Rejected", "Ticket.AnsweredOnSpot"):
            self.recent.decided(ticket_id)
        elif topic == "Ticket.MergedIntoCase":
            self.recent.case_of(ticket_id, str(e.case_id))
        elif topic == "Ticket.UnmergedFromCase":
            self.recent.case_of(ticket_id, None)
        elif topic == "Case.Opened":
            self.recent.case_of(str(e.primary_ticket_id), ticket_id)

    async def run(self, stop: asyncio.Event) -> None:
        news = CommitNews.of_application(self.app)  # woken by intake's commits, not a timer
        try:
            await news.listen()  # before the first read: a commit in between is not missed
            while not stop.is_set():
                try:
                    done = await asyncio.to_thread(self.run_once)
                except IntegrityError:
                    log.info("a ticket changed under the projector, or another projector"
                             " applied this batch; re-reading it")
                    done = 0
                except Exception:
                    log.exception("projector round failed; retrying")
                    done = 0
                    await asyncio.sleep(1.0)
                if done < self.batch:  # (a full batch: more is waiting, read on at once)
                    # A round that read less than a batch read everything committed before
                    # it began; what committed since has notified (the news waits in the
                    # connection), so a read at once would mostly find nothing: at 25
                    # submissions/s half the rounds were such empty reads
                    await news.wait(stop, fallback_s=QUIET_FALLBACK_S, poll_s=self.interval_s)
                    await self._gather(stop)
        finally:
            await news.close()

    async def _gather(self, stop: asyncio.Event) -> None:
        """Woken by a commit: let a few more land before reading (`gather_s`), so one round
        (a read of the log, one transaction) takes many submissions, not one. Nobody waits on
        the projector: a submission's own row is written by its transaction, dispatch reads
        the acceptance from Kafka; only 并单 comes this much later."""
        if self.gather_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.gather_s)

    # -- read model ----------------------------------------------------------------------------
    def _write(self, batch: _Batch, ticket_id: Any, *, submission: bool = False,
               **columns: Any) -> None:
        batch.write(str(ticket_id), columns, submission=submission)
        row = batch.rows.setdefault(str(ticket_id), {"ticket_id": str(ticket_id)})
        row.update(columns)

    def _submitted(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id, submission=True,
                    **submitted_columns(e, e.timestamp))

    def _rejected(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id,
                    **rejected_columns(e.timestamp, e.reason_code, e.reason_text_zh))

    def _accepted(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id, status="accepted", decided_at=e.timestamp,
                    updated_at=e.timestamp, flags=e.flags)
        ticket_id = str(e.originator_id)
        found = self.recent.pending(ticket_id)
        if found is None:  # submitted before this process kept submissions: its row
            row = self._row(batch, ticket_id)
            if row is None or row.get("submitted_at") is None:
                return
            found = (row["code"], snapshot_of(ticket_id, row))
        self._look_for_duplicates(batch, e, found[1])
        self.recent.accepted(ticket_id, batch.position, found)
        # Scoring is pure Python, with no I/O left to let go of the GIL: in an all-in-one
        # intake the requests' event loop would wait up to the switch interval (5 ms) each
        # time it wants the GIL back, for a whole batch of acceptances. Let it in here.
        time.sleep(0)

    def _merged(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id, case_id=e.case_id, primary_code=e.primary_code,
                    merge_score=e.score, merge_confirmed=e.confirmed, updated_at=e.timestamp)

    def _merge_confirmed(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id, merge_confirmed=True, updated_at=e.timestamp)

    def _unmerged(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id, case_id=None, primary_code=None, merge_score=None,
                    merge_confirmed=None, updated_at=e.timestamp)

    def _erased(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.originator_id, erased=True, updated_at=e.timestamp)

    def _case_opened(self, batch: _Batch, e: Any) -> None:
        self._write(batch, e.primary_ticket_id, case_id=e.originator_id,
                    primary_code=e.primary_code)

    # -- 并单 -----------------------------------------------------------------------------------
    def _row(self, batch: _Batch, ticket_id: str) -> dict[str, Any] | None:
        local = batch.rows.get(ticket_id)
        if local is not None and "submitted_at" in local:
            return local
        stored = self.index.by_id(ticket_id)
        return {**(stored or {}), **(local or {})} if stored or local else None

    def _candidates(self, batch: _Batch, new: TicketSnapshot) -> list[Candidate]:
        if self.recent.covers(new):
            return self.recent.candidates(new, radius_m=self.radius_m, before=batch.position)
        # a window reaching before what is kept (a call entered long after): the index, and
        # the rows this batch has accepted
        rows = {str(r["ticket_id"]): dict(r) for r in self.index.duplicate_candidate_rows(
            new, self.policy.window, self.radius_m)}
        for ticket_id, local in batch.rows.items():
            if ticket_id in rows:
                rows[ticket_id].update(local)
            elif local.get("status") in ("accepted", "closed") and "submitted_at" in local:
                rows[ticket_id] = local
        rows.pop(new.ticket_id, None)
        return [Candidate(snapshot(r), r["code"], str(r["case_id"]) if r.get("case_id") else None)
                for r in rows.values() if r.get("status") in ("accepted", "closed")]

    def _look_for_duplicates(self, batch: _Batch, accepted: Any, new: TicketSnapshot) -> None:
        found = self._candidates(batch, new)
        matches = find_duplicates(new, [c.snapshot for c in found], self.policy)
        if not matches:
            return
        candidates = {c.snapshot.ticket_id: c for c in found}
        # a match reopened meanwhile (feedback's 重办, in the index only) is no candidate
        unsure = [m for m, _ in matches if batch.rows.get(m, {}).get("status") != "accepted"]
        still = self.index.still_candidates(unsure) if unsure else set()
        for best_id, score in matches:
            if best_id in still or best_id not in unsure:
                self._link(batch, accepted, candidates[best_id], score)
                return

    def _link(self, batch: _Batch, accepted: Any, best: Candidate, score: float) -> None:
        ticket: Ticket | None = batch.get(accepted.originator_id)
        if ticket is None or ticket.case_id is not None or ticket.status != "accepted":
            return  # merged meanwhile (e.g. by a dispatcher): the detector never overrides
        at = accepted.timestamp
        best_id = best.snapshot.ticket_id
        # its case as this batch leaves it, else as its own events say (a merge this projector
        # committed may not have been read back from the log yet)
        case_id = (batch.rows.get(best_id) or {}).get("case_id", best.case_id)
        if case_id is None:
            other: Ticket | None = batch.get(uuid.UUID(best_id))
            case_id = other.case_id if other is not None else None
        case: Case | None = batch.get(uuid.UUID(str(case_id or Case.create_id(best.code))))
        if case is None:
            case = Case(primary_code=best.code, primary_ticket_id=uuid.UUID(best_id),
                        category=best.snapshot.category, timestamp=at)
        primary_id = str(case.links[case.primary_code]["ticket_id"])
        case.link(code=ticket.code, ticket_id=ticket.id, score=score, by="detector", at=at)
        ticket.merge_into(case_id=case.id, at=at, primary_code=case.primary_code,
                          primary_ticket_id=primary_id, score=score, by="detector")
        cause = events.event_id_for(accepted.originator_id, accepted.originator_version)
        batch.add(ticket, EventContext(ticket_id=str(ticket.id), ticket_code=ticket.code,
                                       causation_id=cause, actor_role="system",
                                       actor_id="intake-duplicates"))
        batch.add(case, EventContext(ticket_id=primary_id, ticket_code=case.primary_code,
                                     causation_id=cause, actor_role="system",
                                     actor_id="intake-duplicates"))
        for ticket_id in (str(ticket.id), primary_id):
            batch.rows.setdefault(ticket_id, {"ticket_id": ticket_id})["case_id"] = case.id
        MERGES.inc()
