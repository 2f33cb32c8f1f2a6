"""`CommandReceipt`: what a staff or follower command sent with a request id did.

A client that lost the answer to a callback, a reopen or a follow sends the same command again
with the same `request_id`; the receipt makes that retry return the first answer and change
nothing. The receipt's id is derived from (caller, request id), and it is saved in the SAME
transaction as the command's own events, so two racing retries cannot both win (the loser's
save fails on the receipt's id) and the promise survives a restart.

The command and its body are kept as a fingerprint: the same request id with a different
command or body is a client bug (or two commands sharing a key), refused rather than guessed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.feedback.domain.errors import RequestIdReusedError

RECEIPT_NAMESPACE = uuid.UUID("8f2b6c1d-3e4a-4f5b-9c6d-7e8f9a0b1c2d")


def fingerprint(command: str, target: str, body: dict[str, Any]) -> str:
    """A stable digest of one command as the caller stated it (the request id left out)."""
    canonical = json.dumps({"command": command, "target": target, "body": body},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class CommandReceipt(Aggregate):
    @staticmethod
    def create_id(caller: str, request_id: str) -> UUID:
        return uuid.uuid5(RECEIPT_NAMESPACE, f"{caller}\x00{request_id}")

    @event("Recorded")
    def __init__(self, *, caller: str, request_id: str, command: str, fingerprint: str,
                 answer: dict[str, Any], timestamp: datetime | None = None) -> None:
        self.caller = caller
        self.request_id = request_id
        self.command = command
        self.fingerprint = fingerprint
        self.answer = dict(answer)

    def replay_for(self, command: str, fingerprint: str) -> dict[str, Any]:
        """The first answer, for a retry of the same command; refuse a different one."""
        if fingerprint != self.fingerprint:
            what = "another command" if command != self.command else "a different body"
            raise RequestIdReusedError(
                f"request_id {self.request_id!r} was already used for {what} "
                f"({self.command}); a new command needs a new request_id")
        return dict(self.answer)
