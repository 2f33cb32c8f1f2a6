"""One attempt at one notice: find the way to the citizen, send, decide, record the outcome
as an event (NoticeDelivered / NoticeDeliveryFailed) in the same transaction as the state.
A delivery round attempts its notices concurrently and records all their outcomes in one
transaction (`attempt_all`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from minsheng.v1 import common_pb2, notifier_events_pb2
from prometheus_client import Counter

from backbone import events
from services.notifier.adapters.gateways import SmsGateway, WeChatGateway
from services.notifier.adapters.store import Settlement, Store
from services.notifier.domain.delivery import Decision, Outcome, RetryPolicy, decide

log = logging.getLogger(__name__)

# what an operator alerts on: answers not reaching citizens (a gateway down, dead letters)
ATTEMPTS = Counter("minsheng_notifier_attempts_total",
                   "Delivery attempts recorded, by route (sms, wechat) and what they ended in "
                   "(delivered, pending: retried later, dead)", ["route", "state"])


class Contacts(Protocol):
    async def phone_of(self, ticket_code: str) -> tuple[str | None, Outcome | None]: ...


def sms_text(row: dict[str, Any]) -> str:
    text = row["body"]
    return text if not row["link"] or row["link"] in text else f"{text} {row['link']}"


def outcome_envelope(row: dict[str, Any], decision: Decision, outcome: Outcome,
                     at: datetime) -> Any:
    """The attempt's event: its id from (notice, attempt), so a re-settled attempt after a
    crash gives the same event."""
    common = {"notice_id": row["notice_id"], "channel": row["channel"], "route": row["route"],
              "kind": row["kind"], "attempts": row["attempts"],
              "reply_round": row["reply_round"]}
    if outcome.delivered:
        payload: Any = notifier_events_pb2.NoticeDelivered(gateway_ref=outcome.gateway_ref,
                                                           **common)
    else:
        payload = notifier_events_pb2.NoticeDeliveryFailed(
            reason=outcome.reason, final=decision.final,
            next_attempt_at=decision.next_at.isoformat() if decision.next_at else "", **common)
    return events.make_envelope(
        payload=payload, event_id=events.event_id_for(f"notice:{row['notice_id']}",
                                                      row["attempts"]),
        ticket_id=row["ticket_id"], ticket_code=row["ticket_code"], producer="notifier",
        occurred_at=at, actor=common_pb2.Actor(role="system", id="notifier"))


@dataclass(frozen=True)
class Round:
    """A delivery round, recorded: each row's decision, the outcome events it put in the
    outbox (seq, ticket id, envelope) and when the next notice is due (None: none waits)."""

    decisions: list[Decision]
    written: list[tuple[int, str, bytes]]
    next_due: datetime | None


class Deliverer:
    def __init__(self, *, store: Store, sms: SmsGateway, wechat: WeChatGateway,
                 contacts: Contacts, policy: RetryPolicy):
        self.store = store
        self.sms = sms
        self.wechat = wechat
        self.contacts = contacts
        self.policy = policy

    async def send(self, row: dict[str, Any]) -> Outcome:
        if row["route"] == "wechat":
            return await self.wechat.send(
                citizen=row["citizen"], template=row["kind"], ticket_code=row["ticket_code"],
                title=row["subject"], body=row["body"], page=row["link"],
                client_ref=row["notice_id"])
        phone, refused = await self.contacts.phone_of(row["ticket_code"])
        if phone is None:
            assert refused is not None
            return refused
        return await self.sms.send(phone=phone, text=sms_text(row), client_ref=row["notice_id"])

    async def attempt_all(self, rows: list[dict[str, Any]], times: list[datetime]) -> Round:
        """Send each row (at its time in `times`) concurrently, then record every outcome and
        its event in ONE transaction, in a worker thread (was one transaction per notice, on
        the event loop), which also tells when the next notice is due. A send that raises is a failed, retryable attempt; a crash before
        the record leaves the round's rows `sending`, attempted again once stale (the
        gateways dedupe on the notice id, the events' ids come from notice and attempt).
        A retry waits its backoff by the wall clock too (`not_before`): under an event
        clock its business time (`next_at`, the event's `next_attempt_at`) is usually long
        past."""
        outcomes = await asyncio.gather(*(self.send(r) for r in rows), return_exceptions=True)
        wall = datetime.now(UTC)
        decisions, settlements = [], []
        for row, now, outcome in zip(rows, times, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                log.warning("notice %s: the attempt raised %s", row["notice_id"],
                            type(outcome).__name__)
                outcome = Outcome(False, reason=f"attempt failed: {type(outcome).__name__}")
            decision = decide(self.policy, outcome, row["attempts"], now)
            env = outcome_envelope(row, decision, outcome, now)
            decisions.append(decision)
            settlements.append(Settlement(
                notice_id=row["notice_id"], decision=decision,
                not_before=wall + (decision.next_at - now) if decision.next_at else None,
                reason=outcome.reason,
                gateway_ref=outcome.gateway_ref, event_id=env.event_id,
                ticket_id=row["ticket_id"], envelope=env.SerializeToString()))
            log.info("notice %s of %s by %s, attempt %d: %s%s", row["notice_id"],
                     row["ticket_code"], row["route"], row["attempts"], decision.state.value,
                     f" ({outcome.reason})" if outcome.reason else "")
        written, next_due = await asyncio.to_thread(self.store.settle_all, settlements,
                                                    self.policy.stale_after)
        for row, decision in zip(rows, decisions, strict=True):
            ATTEMPTS.labels(row["route"], decision.state.value).inc()
        return Round(decisions, written, next_due)
