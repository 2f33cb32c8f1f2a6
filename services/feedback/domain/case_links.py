"""`CaseLinks`: which tickets were merged into a case whose primary ticket is handled once.

并单: duplicates are linked to a case and only the primary ticket is dispatched, yet every
citizen who asked is owed the answer and may judge it. The links are kept per primary ticket
(id derived from its ticket id), because the merge is announced on the LINKED ticket's
partition and the reply on the PRIMARY's: the two may arrive in either order across
partitions, so neither ticket's own feedback record is the place to keep them.

A link intake's merge makes is PENDING until dispatch takes that merge (CaseMergeTaken, on the
linked ticket's partition, after the merge): intake decides a hand merge on a read model that
lags dispatch, and dispatch refuses the merge of a ticket its unit replied to already
(CaseMergeRefused). A notice cannot be taken back, so only a TAKEN link gets the case's answer;
a refused one is unlinked. A link stored before takes were said (its Linked event names no
merge) counts as taken.
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
        # the links dispatch has not taken yet: linked ticket id -> the merge's event id
        self.pending: dict[str, str] = {}

    @property
    def taken(self) -> dict[str, str]:
        """The links owed the case's answer: linked ticket id -> its ticket code."""
        return {t: code for t, code in self.linked.items() if t not in self.pending}

    def link(self, *, ticket_id: str, ticket_code: str, case_id: str, at: datetime,
             merge_event_id: str = "") -> None:
        """Link a ticket, pending until dispatch takes the merge `merge_event_id` (none: taken
        at once); linking it again changes nothing (redelivery, a confirmation of the merge,
        which dispatch does not take again: the first merge's take or refusal decides)."""
        if ticket_id == self.primary_ticket_id or ticket_id in self.linked:
            return
        self._linked(ticket_id=ticket_id, ticket_code=ticket_code, case_id=case_id,
                     merge_event_id=merge_event_id, timestamp=at)

    @event("Linked")
    def _linked(self, ticket_id: str, ticket_code: str, case_id: str,
                timestamp: datetime | None = None, merge_event_id: str = "") -> None:
        self.linked[ticket_id] = ticket_code
        if merge_event_id:
            self.pending[ticket_id] = merge_event_id

    def take(self, *, ticket_id: str, merge_event_id: str, at: datetime) -> bool:
        """Dispatch took the merge the link was made by: answered with the case from now on.
        Returns whether taken now: a copy of the take, a take of another merge (one the
        ticket left since: intake unmerged it before it merged it again), or one for no link
        (unlinked before the take arrived) changes nothing."""
        if not merge_event_id or self.pending.get(ticket_id) != merge_event_id:
            return False
        self._taken(ticket_id=ticket_id, merge_event_id=merge_event_id, timestamp=at)
        return True

    @event("Taken")
    def _taken(self, ticket_id: str, merge_event_id: str,
               timestamp: datetime | None = None) -> None:
        self.pending.pop(ticket_id, None)

    def refuse(self, *, ticket_id: str, merge_event_id: str, reason: str,
               at: datetime) -> bool:
        """Dispatch refused the merge the link is pending on: unlinked at once (intake's undo,
        which follows, then finds nothing to unlink). Returns whether unlinked now."""
        if not merge_event_id or self.pending.get(ticket_id) != merge_event_id:
            return False
        self._unlinked(ticket_id=ticket_id, reason=reason, timestamp=at)
        return True

    def unlink(self, *, ticket_id: str, reason: str, at: datetime) -> None:
        if ticket_id not in self.linked:
            return
        self._unlinked(ticket_id=ticket_id, reason=reason, timestamp=at)

    @event("Unlinked")
    def _unlinked(self, ticket_id: str, reason: str, timestamp: datetime | None = None) -> None:
        self.linked.pop(ticket_id, None)
        self.pending.pop(ticket_id, None)
