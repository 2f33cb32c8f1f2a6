"""`CaseLinks`: which tickets were merged into a case whose primary ticket is handled once.

并单: duplicates are linked to a case and only the primary ticket is dispatched, yet every
citizen who asked is owed the answer and may judge it. The links are kept per primary ticket
(id derived from its ticket id), because the merge is announced on the LINKED ticket's
partition and the reply on the PRIMARY's: the two may arrive in either order across
partitions, so neither ticket's own feedback record is the place to keep them.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

CASE_LINKS_NAMESPACE = uuid.UUID("8e6a51f2-0c3d-4b7e-a1d4-2f9c6b3e5a70")


@functools.lru_cache(maxsize=8192)
def _links_id(primary_ticket_id: str) -> UUID:
    """A name-based uuid, the same every time (looked up for every accepted reply)."""
    return uuid.uuid5(CASE_LINKS_NAMESPACE, f"case-links:{primary_ticket_id}")


class CaseLinks(Aggregate):
    @staticmethod
    def create_id(primary_ticket_id: str) -> UUID:
        return _links_id(primary_ticket_id)

    @event("Opened")
    def __init__(self, *, primary_ticket_id: str, timestamp: datetime | None = None) -> None:
        self.primary_ticket_id = primary_ticket_id
        self.linked: dict[str, str] = {}  # linked ticket id -> its ticket code

    def link(self, *, ticket_id: str, ticket_code: str, case_id: str, at: datetime) -> None:
        """Link a ticket; linking it again changes nothing (redelivery, re-confirmation)."""
        if ticket_id == self.primary_ticket_id or ticket_id in self.linked:
            return
        self._linked(ticket_id=ticket_id, ticket_code=ticket_code, case_id=case_id, timestamp=at)

    @event("Linked")
    def _linked(self, ticket_id: str, ticket_code: str, case_id: str,
                timestamp: datetime | None = None) -> None:
        self.linked[ticket_id] = ticket_code

    def unlink(self, *, ticket_id: str, reason: str, at: datetime) -> None:
        if ticket_id not in self.linked:
            return
        self._unlinked(ticket_id=ticket_id, reason=reason, timestamp=at)

    @event("Unlinked")
    def _unlinked(self, ticket_id: str, reason: str, timestamp: datetime | None = None) -> None:
        self.linked.pop(ticket_id, None)
