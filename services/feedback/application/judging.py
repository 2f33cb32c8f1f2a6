"""Commands of the citizen's judgement: rate, call back, reopen, close, and the unrated timer.

Each command reads the ticket's feedback record, lets the aggregate decide, and saves through
the group committer. Two commands racing on one ticket: the loser's save fails on the
aggregate's version and it is run again on the fresh state, where the aggregate gives the
real reason (e.g. "already rated").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from backbone import auth
from backbone.events import new_trace_id
from backbone.group_commit import GroupCommitter
from backbone.http import ConflictError, NotFoundError
from backbone.public_privacy import mask_for_public
from backbone.store import EventContext, Statement
from services.feedback.adapters.read_models import Queries
from services.feedback.application.answers import rating_token_of
from services.feedback.application.app import anonymous_citizen
from services.feedback.application.receipts import RequestKey, prior_answer
from services.feedback.application.state_projection import read_model_writes
from services.feedback.domain.callbacks import (
    CallbackCandidate,
    CallbackItem,
    CallbackRules,
    build_worklist,
)
from services.feedback.domain.errors import (
    InvalidRatingTokenError,
    NotTheTicketsCitizenError,
    StaleRatingTokenError,
)
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback, verify_rating_token
from services.feedback.domain.satisfaction import Verdict
from services.feedback.domain.tokens import parse_short_form

log = logging.getLogger(__name__)

_SATISFIED = (Verdict.SATISFIED, Verdict.BASICALLY_SATISFIED)
_ATTEMPTS = 4


@dataclass(frozen=True)
class Judged:
    ticket_code: str
    status: str
    reply_round: int
    verdict: str | None
    reopen_count: int


def judged(fb: TicketFeedback) -> Judged:
    return Judged(fb.ticket_code, fb.status.value, fb.reply_round,
                  fb.verdict.value if fb.verdict else None, fb.reopen_count)


def _close_if_satisfied(fb: TicketFeedback, at: datetime) -> None:
    if fb.verdict in _SATISFIED:
        fb.close(at=at)


class Judging:
    def __init__(self, *, app: Application, committer: GroupCommitter, queries: Queries,
                 links: auth.Verifier, link_issuer: auth.Issuer,
                 callback_rules: CallbackRules,
                 recent: Callable[[Any], TicketFeedback | None] = lambda record_id: None):
        self.callback_rules = callback_rules
        # a copy of a record as this process last saw it committed (the relay's fold), or
        # None: a command's first attempt acts on it instead of reading the store
        self.recent = recent
        self.app = app
        self.committer = committer
        self.queries = queries
        self.links = links  # checks rating-link tokens (public keys only)
        self.link_issuer = link_issuer  # re-mints a short link's token to compare

    # -- plumbing ------------------------------------------------------------------------
    def _rows(self, aggregates: list[Any]) -> list[Statement]:
        """The records' `feedback_state` rows, saved in the same transaction as them."""
        return read_model_writes(self.queries.schema, aggregates)

    def ticket_id_of(self, code: str) -> str:
        """The ticket a code names, from `feedback_state`: written in the transaction that
        opened or answered the record, so a citizen may rate the instant the notice arrives
        (the notice is published from the same commit)."""
        row = self.queries.feedback_by_code(code)
        if row is None:
            raise NotFoundError(f"no ticket {code} is known to feedback")
        return str(row["ticket_id"])

    def record(self, code: str) -> TicketFeedback:
        try:
            return self.app.repository.get(TicketFeedback.create_id(self.ticket_id_of(code)))
        except AggregateNotFoundError:
            raise NotFoundError(f"ticket {code} has no feedback record yet") from None

    def worklist(self, *, unit: str = "") -> list[CallbackItem]:
        """The callback worklist by the rules (callbacks.py), from the read model."""
        candidates = [
            CallbackCandidate(ticket_id=r["ticket_id"], ticket_code=r["ticket_code"],
                              unit_code=r["unit"], reply_round=r["reply_round"],
                              verdict=r["verdict"], reopen_count=r["reopen_count"],
                              already_called=r["already_called"])
            for r in self.queries.callback_candidates(unit)]
        return build_worklist(candidates, self.callback_rules)

    def _prepare(self, ticket_id: str, context: EventContext,
                 act: Callable[[TicketFeedback], None], key: RequestKey | None,
                 at: datetime | None, *, recent: bool = False,
                 ) -> tuple[Judged, list[Any], EventContext]:
        """get -> act: (the answer, the aggregates to save, their context); no aggregates
        when a request key names an earlier command (its answer, nothing to save, the context
        as given).

        `recent`: act first on the record as this process last saw it committed (no store
        read). That state may be behind the store's, so it is trusted only for an act that
        makes events: their save is checked against the version (a stale state fails it with
        IntegrityError, and the caller runs again on the store's state). An act that refuses
        (a 4xx) or changes nothing is decided again on the store's state."""
        prior = prior_answer(self.app, key)
        if prior is not None:
            return Judged(**prior), [], context
        record_id = TicketFeedback.create_id(ticket_id)
        fb = self._acted_on_recent(record_id, act) if recent else None
        if fb is None:
            try:
                fb = self.app.repository.get(record_id)
            except AggregateNotFoundError:
                raise NotFoundError("this ticket has no feedback record yet") from None
            act(fb)
        return self._to_save(fb, context, key, at)

    def _acted_on_recent(self, record_id: Any, act: Callable[[TicketFeedback], None]
                         ) -> TicketFeedback | None:
        """The record as this process last saw it committed, acted on, if the act made events
        there (no I/O); else None: decided on the store's state (see `_prepare`)."""
        fb = self.recent(record_id)
        if fb is None:
            return None
        try:
            act(fb)
        except Exception:  # the act is the domain's alone (no I/O): decided again on the store
            return None
        return fb if fb.pending_events else None

    def _to_save(self, fb: TicketFeedback, context: EventContext, key: RequestKey | None,
                 at: datetime | None) -> tuple[Judged, list[Any], EventContext]:
        answer = judged(fb)
        ctx = EventContext(**{**context.__dict__, "ticket_id": fb.ticket_id,
                              "ticket_code": fb.ticket_code})
        aggregates: list[Any] = [fb]
        if key is not None:
            aggregates.append(key.receipt(asdict(answer), at or fb.modified_on))
        return answer, aggregates, ctx

    def _change(self, ticket_id: str, context: EventContext,
                act: Callable[[TicketFeedback], None], *, key: RequestKey | None = None,
                at: datetime | None = None) -> Judged:
        """get -> act -> save, retried on a concurrent change. With a request key, a retry of
        an earlier command returns that command's answer and changes nothing; the new
        receipt is saved with the record's events, in one transaction."""
        for attempt in range(_ATTEMPTS):
            answer, aggregates, ctx = self._prepare(ticket_id, context, act, key, at,
                                                    recent=attempt == 0)
            if not aggregates:
                return answer
            try:
                self.committer.save(*aggregates, context=ctx, sql=self._rows(aggregates))
                return answer
            except IntegrityError:
                log.info("concurrent change of a ticket's feedback; retrying (%d)", attempt + 1)
        raise ConflictError("the ticket changed concurrently too often; try again")

    async def _change_async(self, first: Callable[[], tuple[str, Callable[[TicketFeedback],
                                                                              None]]],
                            context: EventContext, *, key: RequestKey | None = None,
                            at: datetime | None = None,
                            on_loop: Callable[[], tuple[str, Callable[[TicketFeedback], None]]
                                              | None] | None = None) -> Judged:
        """`_change` for an async endpoint: one worker-thread step per attempt (`first()`,
        which checks and names the ticket and the act, then get -> act), and the commit
        awaited on the event loop (no thread parked on it).

        `on_loop()`, if given, is `first()` done on the event loop when it needs no I/O, or
        None (nothing done: `first()` runs in the worker step). When it decides, the first
        attempt acts on the record's recent copy on the loop too, if there is one and the act
        makes events there; otherwise the worker step reads the store (as `_prepare` would
        after the copy). Same checks, same order, same saves: only no thread hop when nothing
        waits on I/O."""
        decided: list[tuple[str, Callable[[TicketFeedback], None]]] = []
        start, recent = 0, True
        if on_loop is not None and key is None:
            made = on_loop()
            if made is not None:
                decided.append(made)
                ticket_id, act = made
                recent = False  # the copy is tried here; the worker step reads the store
                fb = self._acted_on_recent(TicketFeedback.create_id(ticket_id), act)
                if fb is not None:
                    judged_now, saved, saved_ctx = self._to_save(fb, context, key, at)
                    try:
                        await self.committer.save_async(*saved, context=saved_ctx,
                                                        sql=self._rows(saved))
                        return judged_now
                    except IntegrityError:
                        log.info("concurrent change of a ticket's feedback; retrying (1)")
                        start = 1

        def prepare(recent: bool) -> tuple[Judged, list[Any], EventContext]:
            if not decided:
                decided.append(first())
            ticket_id, act = decided[0]
            return self._prepare(ticket_id, context, act, key, at, recent=recent)

        for attempt in range(start, _ATTEMPTS):
            answer, aggregates, ctx = await asyncio.to_thread(prepare, recent and attempt == 0)
            if not aggregates:
                return answer
            try:
                await self.committer.save_async(*aggregates, context=ctx,
                                                sql=self._rows(aggregates))
                return answer
            except IntegrityError:
                log.info("concurrent change of a ticket's feedback; retrying (%d)", attempt + 1)
        raise ConflictError("the ticket changed concurrently too often; try again")

    # -- rating ----------------------------------------------------------------------------
    def rate_in_channel(self, *, code: str, citizen: str, rating: str, comment: str,
                        at: datetime, context: EventContext) -> Judged:
        """A citizen rates through their channel (adapter acting for them, or their token)."""
        return self._change(self.ticket_id_of(code), context,
                            self._channel_rating(citizen, rating, comment, at))

    async def rate_in_channel_async(self, *, code: str, citizen: str, rating: str,
                                    comment: str, at: datetime, context: EventContext) -> Judged:
        act = self._channel_rating(citizen, rating, comment, at)
        return await self._change_async(lambda: (self.ticket_id_of(code), act), context)

    @staticmethod
    def _channel_rating(citizen: str, rating: str, comment: str,
                        at: datetime) -> Callable[[TicketFeedback], None]:
        def act(fb: TicketFeedback) -> None:
            who = citizen
            if not who:
                if fb.citizen_ids != [anonymous_citizen(fb.ticket_id)]:
                    raise NotTheTicketsCitizenError(
                        "say which citizen rates (their pseudonym); only an anonymous ticket "
                        "is rated without one")
                who = fb.citizen_ids[0]
            fb.rate(citizen_id=who, rating=rating, comment=mask_for_public(comment), via="channel",
                    at=at)
            _close_if_satisfied(fb, at)

        return act

    def rate_with_link(self, *, token: str, rating: str, comment: str, at: datetime,
                       context: EventContext) -> Judged:
        """A citizen rates through the one-time link: the token is the credential."""
        ticket_id, act = self._link_rating(token, rating, comment, at)
        return self._change(ticket_id, context, act)

    async def rate_with_link_async(self, *, token: str, rating: str, comment: str,
                                   at: datetime, context: EventContext,
                                   admit: Callable[[], None] = lambda: None,
                                   admitted: Callable[[], bool] | None = None) -> Judged:
        """`rate_with_link` for an async endpoint; `admit()` (a rate limit: raises to refuse)
        runs first, in the same worker-thread step as the link's check and the record's read.
        `admitted()`: the rate limit's token taken without I/O (True), or not (False: `admit`
        must ask); when it is, a whole token's check (no store read) and the act on the
        record's recent copy run on the event loop, no worker step (`_change_async`)."""
        def first() -> tuple[str, Callable[[TicketFeedback], None]]:
            admit()
            return self._link_rating(token, rating, comment, at)

        def on_loop() -> tuple[str, Callable[[TicketFeedback], None]] | None:
            # a short link is expanded from the store: the worker step's, token and all
            if admitted is None or parse_short_form(token) is not None or not admitted():
                return None
            return self._link_rating(token, rating, comment, at)

        return await self._change_async(first, context, on_loop=on_loop)

    def _link_rating(self, token: str, rating: str, comment: str,
                     at: datetime) -> tuple[str, Callable[[TicketFeedback], None]]:
        claims = verify_rating_token(self.links, self.expand(token), now=at)

        def act(fb: TicketFeedback) -> None:
            fb.rate_with_token(claims, rating=rating, comment=mask_for_public(comment), at=at)
            _close_if_satisfied(fb, at)

        return claims.ticket_id, act

    def expand(self, link: str) -> str:
        """The token a link's short form (ticket code ~ round ~ digest, as in an SMS) stands
        for, re-minted from the ticket's record; a whole token as it is."""
        short = parse_short_form(link)
        if short is None:
            return link
        row = self.queries.feedback_by_code(short.ticket_code)
        try:
            fb: TicketFeedback | None = self.app.repository.get(
                TicketFeedback.create_id(str(row["ticket_id"]))) if row else None
        except AggregateNotFoundError:
            fb = None
        if fb is None or fb.rating_due_at is None:
            raise InvalidRatingTokenError("this rating link names no reply to rate")
        if short.reply_round < fb.reply_round:
            raise StaleRatingTokenError(
                f"this link rates reply {short.reply_round}, but the ticket was reopened and "
                f"reply {fb.reply_round} is the one to rate now")
        due = fb.rating_due_at
        token = rating_token_of(self.link_issuer, fb, due,
                                due - timedelta(days=fb.rating_window_days))
        if short.reply_round != fb.reply_round or not short.stands_for(token):
            raise InvalidRatingTokenError("rating link does not match: it was altered")
        return token

    def link_status(self, token: str, at: datetime) -> dict[str, object]:
        """What the rating page shows before the citizen rates (checks the link, changes nothing)."""
        claims = verify_rating_token(self.links, self.expand(token), now=at)
        try:
            fb: TicketFeedback = self.app.repository.get(
                TicketFeedback.create_id(claims.ticket_id))
        except AggregateNotFoundError:
            raise NotFoundError("this rating link names no known ticket") from None
        return {"ticket_code": fb.ticket_code, "reply_round": claims.reply_round,
                "current_round": fb.reply_round, "status": fb.status.value,
                "used": claims.token_id in fb.used_token_ids,
                "reply": mask_for_public(fb.reply_text), "rating_due_at": claims.expires_at}

    # -- callbacks, reopen, close ----------------------------------------------------------
    def record_callback(self, *, code: str, staff_id: str, reached: bool,
                        resolved: bool | None, satisfaction: str | None, note: str,
                        at: datetime, context: EventContext,
                        key: RequestKey | None = None) -> Judged:
        """Record a callback (回访) and act on it: a dissatisfied citizen who says the matter
        is unresolved reopens it; a satisfied or resolved verdict closes it."""

        def act(fb: TicketFeedback) -> None:
            fb.record_callback(staff_id=staff_id, reached=reached, resolved=resolved,
                               satisfaction=satisfaction, note=mask_for_public(note), at=at)
            verdict = fb.verdict
            if verdict is Verdict.DISSATISFIED and reached and resolved is False:
                fb.reopen(confirmed_by="callback", staff_id=staff_id,
                          reason="回访确认问题未解决" + (f"：{mask_for_public(note)}" if note else ""),
                          at=at)
            elif (verdict in _SATISFIED or (verdict is Verdict.DISSATISFIED and resolved)) \
                    and fb.status is not FeedbackStatus.CLOSED:
                fb.close(at=at)

        return self._change(self.ticket_id_of(code), context, act, key=key, at=at)

    def reopen(self, *, code: str, staff_id: str, reason: str, at: datetime,
               context: EventContext, key: RequestKey | None = None) -> Judged:
        """A staff member confirms a dissatisfied ticket unresolved (site visit, records)."""
        return self._change(
            self.ticket_id_of(code), context,
            lambda fb: fb.reopen(confirmed_by="staff", staff_id=staff_id,
                                 reason=mask_for_public(reason), at=at), key=key, at=at)

    def close(self, *, code: str, at: datetime, context: EventContext,
              key: RequestKey | None = None) -> Judged:
        return self._change(self.ticket_id_of(code), context, lambda fb: fb.close(at=at),
                            key=key, at=at)

    # -- the unrated timer -----------------------------------------------------------------
    def mark_overdue_unrated(self, now: datetime,
                             owns: Callable[[str], bool] | None = None) -> int:
        """Every reply whose rating window has passed: TicketMarkedUnrated, then closed as
        unrated. The time recorded is the end of the window, not when the loop noticed, so a
        replay in event time gives the same events. ``owns``: with several replicas, only the
        tickets whose partition this replica holds (backbone/ownership.py)."""
        done = 0
        for row in self.queries.overdue_ratings(now):
            if owns is not None and not owns(str(row["ticket_id"])):
                continue
            context = EventContext(trace_id=new_trace_id(), actor_role="system",
                                   actor_id="feedback-rating-timer")

            def act(fb: TicketFeedback) -> None:
                if not fb.is_rating_overdue(now):
                    return
                assert fb.rating_due_at is not None
                at = min(now, fb.rating_due_at + timedelta(seconds=1))
                fb.mark_unrated(at=at)
                fb.close(at=at)

            try:
                result = self._change(str(row["ticket_id"]), context, act)
            except Exception:
                log.exception("could not mark %s unrated", row["ticket_code"])
                continue
            done += result.status == "closed"
        return done
