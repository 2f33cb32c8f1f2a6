"""A ticket's citizen identity, sealed under the citizen's own key (see citizen.IdentityVault).

Kept as an aggregate in intake's event store so it commits in the ticket's own transaction;
the relay never publishes it. Only ciphertext is stored: destroying the citizen's key (erasure)
leaves these bytes unreadable forever, in the store and in every backup.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.intake.domain.citizen import SealedIdentity

_NS = uuid5(NAMESPACE_URL, "https://minsheng.example/intake/sealed-contact")


class SealedContact(Aggregate):
    @staticmethod
    def create_id(ticket_id: UUID) -> UUID:
        return uuid5(_NS, str(ticket_id))

    @classmethod
    def of(cls, ticket_id: UUID, sealed: SealedIdentity, at: datetime) -> SealedContact:
        return cls(ticket_id=ticket_id, citizen=sealed.citizen,
                   nonce=base64.b64encode(sealed.nonce).decode(),
                   ciphertext=base64.b64encode(sealed.ciphertext).decode(), timestamp=at)

    @event("Sealed")
    def __init__(self, *, ticket_id: UUID, citizen: str, nonce: str, ciphertext: str,
                 timestamp: datetime) -> None:
        self.ticket_id = ticket_id
        self.citizen = citizen
        self.nonce = nonce
        self.ciphertext = ciphertext

    @property
    def sealed(self) -> SealedIdentity:
        return sealed_of(self)


def sealed_of(holder: Any) -> SealedIdentity:
    """The SealedIdentity that a SealedContact, or its one "Sealed" event read alone
    (application/citizens.py's batched contact read), holds as text."""
    return SealedIdentity(holder.citizen, base64.b64decode(holder.nonce),
                          base64.b64decode(holder.ciphertext))
