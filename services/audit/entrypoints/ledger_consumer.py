"""The ledger's consumer: every message of the lifecycle topic, appended once, in the same
transaction as the consumer's progress (the backbone's SQL-mode idempotent consumer).

What the ledger keeps: every message that is a well-formed envelope (event id, ticket id, event
type, schema version we can read) from the owner of its event type, including event types this
build does not know yet (a newer service's events must not be lost while the audit service
waits for its upgrade). Anything else (undecodable bytes, an envelope naming the wrong
producer) goes to the dead-letter topic with the reason, as for every consumer: it never was a
lifecycle event, and no other service applied it either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from aiokafka.structs import ConsumerRecord
from minsheng.v1 import envelope_pb2

from backbone import events
from backbone.consumer import Handlers
from services.audit.adapters.ledger_store import Message, append_batch

CONSUMER = "audit-ledger"


class LedgerWriteError(psycopg.OperationalError):
    """The database refused an append. Never a reason to skip a message: the backbone retries
    transient (operational) errors with backoff, so the ledger stalls, and says so in its logs,
    instead of dead-lettering an event it should keep (e.g. after a privileges mistake)."""


def decode_for_ledger(raw: bytes) -> events.DecodedEvent:
    """The backbone's checks, except that an unknown event type is kept (payload None)."""
    try:
        return events.decode(raw)
    except events.UnknownEventTypeError:
        env = envelope_pb2.Envelope()
        env.ParseFromString(raw)  # decode() got this far: the envelope itself is sound
        return events.DecodedEvent(env, None)


class EveryEventType(Handlers):
    """One handler for every event type, known or not; a handler with a `batch` method also
    appends a whole polled batch at once."""

    def __init__(self, handler: Callable[..., None], batch: Any = None):
        super().__init__({}, batch=batch or getattr(handler, "batch", None))
        self.handler = handler

    def for_type(self, event_type: str) -> Callable[..., None] | None:
        return self.handler




def occurred_at(env: envelope_pb2.Envelope) -> datetime | None:
    """The envelope's time as an aware datetime (microseconds, rounded toward zero as
    Timestamp.ToDatetime does, and refused where it refuses), without its checks' cost."""
    if not env.HasField("occurred_at"):
        return None
    return events.timestamp_datetime(env.occurred_at)


def _message(decoded: events.DecodedEvent, record: ConsumerRecord) -> Message:
    env = decoded.envelope
    return Message(
        topic=record.topic, partition=record.partition, offset=record.offset,
        raw=bytes(record.value), event_id=env.event_id, ticket_id=env.ticket_id,
        ticket_code=env.ticket_code, event_type=env.event_type, producer=env.producer,
        occurred_at=occurred_at(env))


class LedgerAppender:
    """Appends to the ledger in the consumer's transaction: one event, or a batch at once
    (one lock, multi-row inserts: `ledger_store.append_batch`)."""

    def __init__(self, schema: str):
        self.schema = schema

    def __call__(self, decoded: events.DecodedEvent, cur: psycopg.Cursor[Any],
                 record: ConsumerRecord) -> None:
        self.batch([(decoded, record)], cur)

    def batch(self, pairs: list[tuple[events.DecodedEvent, ConsumerRecord]],
              cur: psycopg.Cursor[Any]) -> None:
        try:
            append_batch(cur, self.schema, [_message(d, r) for d, r in pairs])
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                raise
            raise LedgerWriteError(f"appending {len(pairs)} events: {exc}") from exc


def ledger_handler(schema: str) -> LedgerAppender:
    return LedgerAppender(schema)
