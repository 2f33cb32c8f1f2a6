"""Sealing a ticket's citizen contact, and saving a new citizen's key with the ticket.

A returning citizen's key is already stored (and cached): sealing costs no round trip. A new
citizen's key is claimed by the ticket's own transaction (identity_store.claim), so the ticket,
its sealed contact and the key that opens it commit together, in one group commit. If another
process stored a different key for the same citizen first, that transaction fails on the claim;
the contact is sealed again with the winner's key and saved again: a sealed identity is never
stored under a key that lost the race.

A returning citizen's key is held by the ticket's transaction instead (identity_store.hold):
if an erasure destroyed it after the contact was sealed (this process's cache, or another
replica's, still had it), that transaction fails, and the contact is sealed again with a fresh
key (the citizen came back after their erasure) and saved again; an erasure that comes after
the hold waits for the commit, and then finds the ticket among the citizen's. So no ticket
commits sealed under a destroyed key without its erasure recording CitizenIdentityErased.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from backbone.store import Statement
from services.intake.adapters.identity_store import KeyRaceError, lost_key_race
from services.intake.domain.citizen import CitizenIdentity, IdentityVault, WrappedKey
from services.intake.domain.sealed_contact import SealedContact

KeyClaims = Callable[[str, WrappedKey], Statement]


@dataclass(frozen=True)
class KeyClaim:
    """The key a contact was sealed with, which the saving transaction must store (`new`: a
    new citizen's key, claimed) or hold (a stored key, still the stored one at the commit)."""

    citizen: str
    key: WrappedKey
    statement: Statement
    ticket_id: UUID
    at: datetime
    new: bool = True


class ContactSealing:
    def __init__(self, vault: IdentityVault, claims: KeyClaims | None = None,
                 holds: KeyClaims | None = None):
        self.vault = vault
        self.claims = claims  # None: store a new key at once (bus path, tests without SQL)
        self.holds = holds  # None: a stored key is not held (tests without SQL)

    def seal(self, ticket_id: UUID, citizen: str, identity: CitizenIdentity, at: datetime, *,
             in_transaction: bool) -> tuple[SealedContact, KeyClaim | None]:
        """The contact sealed, and the key its saving transaction must claim or hold (None:
        nothing to run). ``in_transaction`` False (the bus): a new key is stored now, and the
        claim returned holds the key, already stored, for the caller to run as it saves."""
        if not in_transaction or self.claims is None:
            if self.holds is None:
                try:
                    sealed = self.vault.seal(citizen, identity)
                except KeyRaceError:
                    sealed = self.vault.seal(citizen, identity)  # another replica made the key
                return SealedContact.of(ticket_id, sealed, at), None
            # (the bus: its unit of work runs the hold; a refused one fails it, and the
            # consumer applies the request again, which must not seal under the cached key
            # an erasure destroyed: the key is read afresh, one read by primary key)
            self.vault.reread(citizen)
            try:
                sealed, key = self.vault.seal_stored(citizen, identity)
            except KeyRaceError:
                sealed, key = self.vault.seal_stored(citizen, identity)
            return SealedContact.of(ticket_id, sealed, at), KeyClaim(
                citizen, key, self.holds(citizen, key), ticket_id, at, new=False)
        sealed, key, new = self.vault.seal_keyed(citizen, identity)
        if new:
            claim: KeyClaim | None = KeyClaim(citizen, key, self.claims(citizen, key),
                                              ticket_id, at)
        elif self.holds is not None:
            claim = KeyClaim(citizen, key, self.holds(citizen, key), ticket_id, at, new=False)
        else:
            claim = None
        return SealedContact.of(ticket_id, sealed, at), claim

    def save(self, save: Callable[[list[Any], list[Statement]], None], aggregates: list[Any],
             claim: KeyClaim | None, identity: CitizenIdentity | None, *,
             attempts: int = 3, saved_with: list[WrappedKey] | None = None) -> list[Any]:
        """Run ``save(aggregates, sql)``; on a lost key race or a held key destroyed
        meanwhile (an erasure), seal again and save again.
        Returns the aggregates as saved (the sealed contact may be a new one);
        ``saved_with`` is given the key the saved contact was sealed with."""
        if claim is None:
            save(aggregates, [])
            return aggregates
        # A failed save has taken the aggregates' pending events; a second attempt needs them.
        pending = {a.id: list(a.pending_events) for a in aggregates}
        try:
            save(aggregates, [claim.statement])
        except Exception as exc:
            identity = self._lost(exc, claim, identity, attempts, aggregates, pending)
            contact, again = self.seal(claim.ticket_id, claim.citizen, identity, claim.at,
                                       in_transaction=True)
            return self.save(save, self._with(aggregates, contact), again, identity,
                             attempts=attempts - 1, saved_with=saved_with)
        if saved_with is not None:
            saved_with.append(claim.key)
        if claim.new:
            self.vault.key_saved(claim.citizen, claim.key)
        return aggregates

    async def save_async(self, save: Callable[[list[Any], list[Statement]], Awaitable[None]],
                         aggregates: list[Any], claim: KeyClaim | None,
                         identity: CitizenIdentity | None, *, attempts: int = 3,
                         saved_with: list[WrappedKey] | None = None) -> list[Any]:
        """`save` for an async caller whose ``save`` awaits the group commit (no thread of
        its own waits for it); sealing again after a lost race reads the winner's key in a
        worker thread."""
        if claim is None:
            await save(aggregates, [])
            return aggregates
        pending = {a.id: list(a.pending_events) for a in aggregates}
        try:
            await save(aggregates, [claim.statement])
        except Exception as exc:
            identity = self._lost(exc, claim, identity, attempts, aggregates, pending)
            contact, again = await asyncio.to_thread(
                self.seal, claim.ticket_id, claim.citizen, identity, claim.at,
                in_transaction=True)
            return await self.save_async(save, self._with(aggregates, contact), again, identity,
                                         attempts=attempts - 1, saved_with=saved_with)
        if saved_with is not None:
            saved_with.append(claim.key)
        if claim.new:
            self.vault.key_saved(claim.citizen, claim.key)
        return aggregates

    def _lost(self, exc: Exception, claim: KeyClaim, identity: CitizenIdentity | None,
              attempts: int, aggregates: list[Any], pending: dict[Any, list[Any]]
              ) -> CitizenIdentity:
        """After a failed save: re-raise unless the claim lost a key race that another
        attempt may win, or the key held was destroyed (or replaced) meanwhile; else forget
        that key, give back the pending events, and return the identity to seal again (never
        None: without one there is nothing to seal)."""
        if not lost_key_race(exc) or identity is None or attempts <= 1:
            raise exc
        self.vault.key_lost(claim.citizen, claim.key)
        for a in aggregates:
            a.pending_events[:] = pending[a.id]
        return identity

    @staticmethod
    def _with(aggregates: list[Any], contact: SealedContact) -> list[Any]:
        return [contact if isinstance(a, SealedContact) else a for a in aggregates]
