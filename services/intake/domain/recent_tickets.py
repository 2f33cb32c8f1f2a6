"""The 并单 detector's candidates, kept in memory: accepted tickets near in time, by category.

Reading them from the ticket index on every acceptance (100 rows, turned into snapshots) was
two fifths of an all-in-one intake's CPU. Every fact they depend on is in intake's own event
log (the submission's text and place, its acceptance, merges into and out of cases), which the
projector reads in order anyway; so the projector keeps them current as it reads the log, and
the index is read only to start (`load`) and to check the few tickets that matched.

Each candidate remembers the log position of its acceptance: a stretch of the log read again
(after a batch lost to another projector) scores a ticket only against tickets accepted
before it, as the first reading did. `covered_from`: every accepted ticket submitted at or
after it is here; a ticket whose window reaches further back (a call entered long after it
was taken) is scored against the index instead.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.intake.domain.duplicates import TicketSnapshot


@dataclass(slots=True)
class Candidate:
    snapshot: TicketSnapshot
    code: str
    case_id: str | None = None
    position: int = 0  # the acceptance's place in intake's log; 0: loaded from the index

    @property
    def at(self) -> datetime:
        return self.snapshot.submitted_at


def _at(c: Candidate) -> datetime:
    return c.snapshot.submitted_at


def snapshot_of(ticket_id: str, columns: dict[str, Any]) -> TicketSnapshot:
    """A detector's snapshot from the index's columns (or a Submitted event's, named alike)."""
    text = (columns.get("title_masked") or "") + (columns.get("text_masked") or "")
    return TicketSnapshot(ticket_id=ticket_id, text=text, submitted_at=columns["submitted_at"],
                          category=columns.get("category"), lat=columns.get("lat"),
                          lon=columns.get("lon"), address=columns.get("address_masked"))


class RecentTickets:
    """Accepted tickets submitted within ``keep`` of the newest one, by category, oldest first."""

    def __init__(self, window: timedelta, keep: timedelta | None = None):
        self.window = window
        self.keep = keep or 2 * window
        self.by_id: dict[str, Candidate] = {}
        self.by_category: dict[str | None, list[Candidate]] = {}
        self.every: list[Candidate] = []  # all categories, for a ticket without one
        self.submitted: dict[str, tuple[str, TicketSnapshot]] = {}  # not decided yet: code, snap
        self.covered_from: datetime | None = None  # None: not loaded yet
        self.position = 0  # the last log position read into it
        self.newest: datetime | None = None

    # -- keeping it current ----------------------------------------------------------------
    def start(self, covered_from: datetime, position: int, candidates: list[Candidate]) -> None:
        self.by_id.clear()
        self.by_category.clear()
        self.every.clear()
        self.submitted.clear()
        self.covered_from, self.position, self.newest = covered_from, position, None
        for c in sorted(candidates, key=lambda c: c.at):
            self._add(c)

    def submitted_ticket(self, code: str, snap: TicketSnapshot) -> None:
        if snap.ticket_id not in self.by_id:  # (not a stretch of the log read again)
            self.submitted[snap.ticket_id] = (code, snap)

    def pending(self, ticket_id: str) -> tuple[str, TicketSnapshot] | None:
        return self.submitted.get(ticket_id)

    def decided(self, ticket_id: str) -> None:
        """Rejected or answered on the spot: never a candidate."""
        self.submitted.pop(ticket_id, None)

    def accepted(self, ticket_id: str, position: int,
                 found: tuple[str, TicketSnapshot] | None = None) -> None:
        """A ticket accepted at ``position`` of the log (``found``: its code and snapshot, when
        its submission was read before this process kept them)."""
        known = self.submitted.pop(ticket_id, None) or found
        if known is None or ticket_id in self.by_id:
            return
        code, snap = known
        if self.covered_from is None or snap.submitted_at < self.covered_from:
            return  # before what is kept: the index answers for that time
        self._add(Candidate(snap, code, None, position))
        self._forget_old()

    def case_of(self, ticket_id: str, case_id: str | None) -> None:
        found = self.by_id.get(ticket_id)
        if found is not None:
            found.case_id = case_id

    def _add(self, c: Candidate) -> None:
        self.by_id[c.snapshot.ticket_id] = c
        for bucket in (self.by_category.setdefault(c.snapshot.category, []), self.every):
            if not bucket or bucket[-1].at <= c.at:
                bucket.append(c)
            else:  # a stated time earlier than the newest: still in time order
                bucket.insert(bisect.bisect_right(bucket, c.at, key=_at), c)
        if self.newest is None or c.at > self.newest:
            self.newest = c.at

    def _forget_old(self) -> None:
        if self.newest is None or self.covered_from is None:
            return
        cutoff = self.newest - self.keep
        if cutoff <= self.covered_from:
            return
        # only once it pays: a tenth of a window's worth past the cut at once
        if cutoff - self.covered_from < self.window / 10:
            return
        self.covered_from = cutoff
        for bucket in self.by_category.values():
            del bucket[:bisect.bisect_left(bucket, cutoff, key=_at)]
        n = bisect.bisect_left(self.every, cutoff, key=_at)
        for c in self.every[:n]:
            del self.by_id[c.snapshot.ticket_id]
        del self.every[:n]
        for ticket_id, (_, snap) in list(self.submitted.items()):
            if snap.submitted_at < cutoff:
                del self.submitted[ticket_id]

    # -- reading -----------------------------------------------------------------------------
    def covers(self, new: TicketSnapshot) -> bool:
        return self.covered_from is not None and new.submitted_at - self.window >= self.covered_from

    def candidates(self, new: TicketSnapshot, *, radius_m: float, before: int,
                   limit: int = 100) -> list[Candidate]:
        """What the index's query gives (ticket_index.duplicate_candidate_rows): the ``limit``
        most recent accepted tickets in the window, of the same or no category, near when both
        have a pin; only those accepted before log position ``before``."""
        lo, hi = new.submitted_at - self.window, new.submitted_at + self.window
        if new.category:
            buckets = [b for b in (self.by_category.get(new.category),
                                   self.by_category.get(None)) if b]
        else:
            buckets = [self.every]
        box = None
        if new.lat is not None and new.lon is not None:
            dlat = radius_m / 111_000
            dlon = radius_m / (111_000 * max(0.1, math.cos(math.radians(new.lat))))
            box = (new.lat - dlat, new.lat + dlat, new.lon - dlon, new.lon + dlon)
        found: list[Candidate] = []
        for bucket in buckets:
            i = bisect.bisect_right(bucket, hi, key=_at)
            taken = 0
            while i > 0 and taken < limit:
                i -= 1
                c = bucket[i]
                s = c.snapshot
                if s.submitted_at < lo:
                    break
                if s.ticket_id == new.ticket_id or (c.position and c.position >= before):
                    continue
                if box is not None and s.lat is not None and not (
                        box[0] <= s.lat <= box[1] and s.lon is not None
                        and box[2] <= s.lon <= box[3]):
                    continue
                found.append(c)
                taken += 1
        if len(buckets) > 1:
            found.sort(key=_at, reverse=True)
        return found[:limit]
