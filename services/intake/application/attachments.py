"""Attachments (photos, videos, PDFs): encrypted at rest, under the citizen's own key.

An adapter uploads a file before the ticket exists, so no citizen is known yet. The upload is
sealed under a data key of its own (`IdentityVault.seal_bytes_once`: AES-256-GCM, the key
wrapped by intake's master key and kept in the upload's row): readable by intake alone. When a
ticket that carries it is saved, the bytes are sealed again under the key of the ticket's
citizen (`IdentityVault.seal_bytes`, the same per-citizen data key as their sealed contact; an
anonymous ticket's owner is ``ticket:<id>``, as for its contact). The upload copy is kept for
`retention_s` (a retried or second ticket may still carry it), then shredded; erasing a
citizen shreds the upload copies of their attachments at once and destroys their key, so
every copy of their photos becomes unreadable (410).

Why a per-upload key rather than the citizen's key at upload time: the upload API knows no
citizen (the request naming the contact comes later, maybe through the bus), and one photo
may be carried by tickets of several citizens; a key per upload, wrapped by the master key,
is the vault's own envelope scheme with the upload as owner, and dies with its row.

Who may read (`GET /v1/attachments/{sha256}`): dispatchers and supervisors; a unit only if it
handles a ticket carrying the file (intake's index learns the handling unit from dispatch's
TicketAssigned / AssignmentTransferred); a citizen only for their own ticket (a token scoped
to it, or their pseudonym as subject). Everyone else: 403. Each read is recorded in the
access log by the caller (entrypoints).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from backbone.auth import Principal
from services.intake.adapters.attachment_store import AttachmentStore, StoredAttachment
from services.intake.adapters.identity_store import KeyRaceError
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.domain.attachments import Attachment, inspect_attachment
from services.intake.domain.citizen import (
    IdentityErasedError,
    IdentityTamperedError,
    IdentityVault,
    WrappedKey,
)

log = logging.getLogger(__name__)
STAFF_READERS = ("dispatcher", "supervisor")


def upload_owner(sha256: str) -> str:
    return f"upload:{sha256}"


def ticket_owner(citizen: str | None, ticket_id: Any) -> str:
    """Whose key seals a ticket's attachments: the same owner as its sealed contact."""
    return citizen or f"ticket:{ticket_id}"


class AttachmentDeniedError(Exception):
    """403: this principal may not read the file (the reason says who may)."""


class AttachmentGoneError(Exception):
    """410: the file's only readable copies belonged to citizens who were erased."""


class AttachmentMissingError(Exception):
    """404: no such file, or no ticket carries it yet."""


@dataclass(frozen=True)
class Readable:
    meta: StoredAttachment
    content: bytes
    ticket_code: str  # the ticket through which it was read (for the access log)


class Attachments:
    def __init__(self, store: AttachmentStore, vault: IdentityVault,
                 index: TicketIndex | None = None, retention_s: float = 24 * 3600):
        self.store = store
        self.vault = vault
        self.index = index
        self.retention_s = retention_s

    # -- upload ------------------------------------------------------------------------------
    def upload(self, content: bytes) -> tuple[Attachment, bool]:
        """Inspect (raises AttachmentRejectedError) and store sealed for intake; True if new."""
        found = inspect_attachment(content)
        key, nonce, sealed = self.vault.seal_bytes_once(upload_owner(found.sha256), content,
                                                        found.sha256)
        new = self.store.put(found, key, nonce, sealed)
        return found, new

    def expire(self) -> int:
        """Shred the upload copies older than `retention_s` (a timer calls this, once a
        minute: entrypoints/upload_sweep.py); how many."""
        return self.store.expire(self.retention_s)

    def migrate_legacy(self) -> int:
        """Seal what an older intake kept in clear (table `attachments`), then drop it."""
        rows = self.store.legacy_clear()
        for _, content in rows:
            try:
                self.upload(content)
            except ValueError:
                log.warning("a legacy attachment is no longer an accepted type; dropped")
        if rows:
            self.store.drop_legacy()
        return len(rows)

    def usable(self, hashes: list[str], owner: str | None) -> dict[str, StoredAttachment]:
        """The hashes a new ticket may carry: an upload copy is there, or the owner has one."""
        return self.store.usable(hashes, owner or "")  # one round trip

    # -- a ticket was saved: its citizen's copies --------------------------------------------
    def keep_for(self, owner: str, hashes: list[str], key: WrappedKey | None = None) -> None:
        """Seal these uploads under ``owner``'s key (idempotent). Called once the ticket is
        saved; a copy that fails here is made on its first read instead. ``key``: the key
        the ticket's contact was sealed with (its save held it): the copies are sealed under
        that one and stored only while it is still the owner's; if an erasure destroyed it
        meanwhile none is stored (the erasure lists the ticket: its files are gone, 410),
        never a copy under a key made afresh (the citizen coming back) that would open."""
        waiting = self.store.pending_without_copy(list(dict.fromkeys(hashes)), owner)
        copies = []
        for sha, pending in waiting.items():  # one read and one write for all of them
            content = self.vault.open_bytes_once(upload_owner(sha), pending.key, pending.nonce,
                                                 pending.ciphertext, sha)
            copies.append((sha, *(self._seal_for(owner, content, sha) if key is None else
                                  self.vault.seal_bytes_under(owner, key, content, sha))))
        if not self.store.put_copies(owner, copies, held=key):
            log.info("a ticket's files were not kept for its owner: erased meanwhile")

    def _reseal(self, sha: str, owner: str) -> bytes | None:
        pending = self.store.pending(sha)
        if pending is None:
            return None
        content = self.vault.open_bytes_once(upload_owner(sha), pending.key, pending.nonce,
                                             pending.ciphertext, sha)
        nonce, sealed = self._seal_for(owner, content, sha)
        self.store.put_copy(sha, owner, nonce, sealed)
        return content

    def _seal_for(self, owner: str, content: bytes, sha: str) -> tuple[bytes, bytes]:
        try:
            return self.vault.seal_bytes(owner, content, sha)
        except KeyRaceError:  # another replica made the owner's key a moment ago
            return self.vault.seal_bytes(owner, content, sha)

    def shred(self, owner: str, hashes: list[str]) -> None:
        """Erasure: the owner's copies and the upload copies of their files."""
        self.store.shred(list(dict.fromkeys(hashes)), owner)

    # -- reading -----------------------------------------------------------------------------
    def may_read(self, principal: Principal, row: dict[str, Any]) -> bool:
        if principal.role in STAFF_READERS:
            return True
        if principal.role == "unit":
            return bool(principal.unit) and row.get("unit") == principal.unit
        if principal.role == "citizen":
            if principal.ticket:
                return principal.ticket == row.get("code")
            return bool(row.get("citizen")) and principal.sub == row.get("citizen")
        return False

    def read(self, sha256: str, principal: Principal) -> Readable:
        if principal.role not in (*STAFF_READERS, "unit", "citizen"):
            raise AttachmentDeniedError(
                f"role {principal.role!r} may not read attachments; the handling unit, "
                "dispatchers, supervisors and the ticket's citizen may")
        meta = self.store.describe([sha256]).get(sha256)
        rows = self.index.carrying_attachment(sha256) if self.index is not None else []
        if meta is None or not rows:
            raise AttachmentMissingError("no ticket carries an attachment with that reference")
        allowed = [r for r in rows if self.may_read(principal, r)]
        if not allowed:
            raise AttachmentDeniedError("this attachment belongs to a ticket you do not hold")
        erased = []
        for row in allowed:
            owner = ticket_owner(row.get("citizen"), row["ticket_id"])
            try:
                content = self._open(sha256, owner, erased=bool(row.get("erased")))
            except IdentityErasedError:
                erased.append(row["code"])
                continue
            if content is not None:
                return Readable(meta, content, row["code"])
        if erased:
            raise AttachmentGoneError(
                "the citizen's data was erased at their request: the file was crypto-shredded "
                "(ticket " + ", ".join(erased[:3]) + ")")
        raise AttachmentMissingError("the file's upload expired before a copy was kept for "
                                     "its ticket; ask the channel to upload it again")

    def _open(self, sha: str, owner: str, *, erased: bool) -> bytes | None:
        copy = self.store.copy(sha, owner)
        if copy is None:
            if erased:
                raise IdentityErasedError("the ticket's citizen was erased")
            content = self._reseal(sha, owner)  # the copy after saving failed: make it now
            if content is None and self.vault.was_erased(owner):
                raise IdentityErasedError("the ticket's citizen was erased")
            return content
        try:
            return self.vault.open_bytes(owner, copy[0], copy[1], sha)
        except IdentityTamperedError:
            log.error("attachment %s… failed authentication for its owner", sha[:12])
            return None
