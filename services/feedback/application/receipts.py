"""Request ids of staff and follower commands: a retry returns the first answer (receipts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from services.feedback.domain.receipts import CommandReceipt


@dataclass(frozen=True)
class RequestKey:
    """One command as a caller sent it with a request id (see domain/receipts.py)."""

    caller: str        # "<role>:<token subject>": request ids are the caller's own namespace
    request_id: str
    command: str       # e.g. "record_callback"
    fingerprint: str   # of the command, its target and its body

    @property
    def receipt_id(self) -> UUID:
        return CommandReceipt.create_id(self.caller, self.request_id)

    def receipt(self, answer: dict[str, Any], at: datetime) -> CommandReceipt:
        return CommandReceipt(caller=self.caller, request_id=self.request_id,
                              command=self.command, fingerprint=self.fingerprint,
                              answer=answer, timestamp=at)


def prior_answer(app: Application, key: RequestKey | None) -> dict[str, Any] | None:
    """The answer the first command with this key got, or None when there was none yet.
    Raises RequestIdReusedError when the key was used for a different command or body."""
    if key is None:
        return None
    try:
        receipt: CommandReceipt = app.repository.get(key.receipt_id)
    except AggregateNotFoundError:
        return None
    return receipt.replay_for(key.command, key.fingerprint)
