"""Replaying a ticket: its whole history from the ledger, proofs, and its state at a moment.

Every read of a history is itself recorded (who, what, when) before anything is returned."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backbone.auth import ForbiddenError, Principal
from backbone.privacy import echo
from backbone.ticket_codes import spelled_code
from services.audit.adapters.access_log import AccessLog
from services.audit.adapters.checkpoint_store import CheckpointStore, StoredCheckpoint
from services.audit.adapters.ledger_store import LedgerReader
from services.audit.application.checkpointing import Checkpointer
from services.audit.application.entries import decode_view, entry_view, envelope_fields
from services.audit.domain.checkpoint import CheckpointVerifier
from services.audit.domain.merkle import NodeKey
from services.audit.domain.replay import HistoryEvent, TicketState, state_at
from services.audit.domain.verify import verify_history

# Who may replay a ticket: the auditors and the supervision office any ticket, the platform's
# dispatchers any ticket (they route them all: the workbench's ticket page shows the timeline),
# a unit only a ticket the ledger shows was handed to it (assigned, coordinated, transferred).
REPLAY_ANY = ("auditor", "supervisor", "dispatcher")
REPLAY_ROLES = (*REPLAY_ANY, "unit")
HANDED_TO = {"TicketAssigned": ("unit",), "CoordinationDecided": ("lead_unit", "co_units"),
             "AssignmentTransferred": ("to_unit",)}


def units_handed(rows: list[dict[str, Any]]) -> set[str]:
    """The units a ticket's history shows it was handed to."""
    units: set[str] = set()
    for row in rows:
        fields = HANDED_TO.get(row.get("event_type") or "")
        if not fields:
            continue
        payload = decode_view(bytes(row["event"])).payload or {}
        for name in fields:
            value = payload.get(name)
            units.update(value if isinstance(value, list) else [value] if value else [])
    return units


def check_may_replay(who: Principal, rows: list[dict[str, Any]]) -> None:
    """Raises ForbiddenError unless ``who`` may read this ticket's history."""
    who.require(*REPLAY_ROLES)
    if who.role == "unit" and who.unit not in units_handed(rows):
        raise ForbiddenError(f"unit {who.unit!r} may replay only the tickets handed to it")


class TicketNotInLedgerError(LookupError):
    """No ledger entry names this ticket id or code."""


def not_in_ledger(id_or_code: str) -> TicketNotInLedgerError:
    """The 404's reason, quoting what was asked for only when it cannot be personal data (a
    phone number typed where a code goes is not repeated: error bodies reach logs)."""
    return TicketNotInLedgerError(f"no ticket {echo(id_or_code)} in the ledger")


class TicketRefError(ValueError):
    """What was given cannot be a ticket id or code (empty, too long, control characters)."""


MAX_TICKET_REF = 200


def ticket_ref(value: str) -> str:
    """A ticket id or code as a caller typed it, checked before it reaches a query: PostgreSQL
    refuses a NUL character in text, which would otherwise surface as a server error. What
    has the shape of a code is written as intake writes codes (the ledger holds them so)."""
    value = value.strip()
    if not value or len(value) > MAX_TICKET_REF:
        raise TicketRefError(f"a ticket id or code is 1 to {MAX_TICKET_REF} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise TicketRefError("a ticket id or code has no control characters")
    # a code as it is typed or read out: FY-261127-00042-K, fy 261127 00042 k, FY26112700042K
    return spelled_code(value) or value


@dataclass
class TicketHistory:
    ticket_id: str
    rows: list[dict[str, Any]]
    checkpoint: StoredCheckpoint | None = None
    proofs: dict[int, list[bytes]] = field(default_factory=dict)
    checked: dict[str, Any] | None = None  # the server's verification, once it is done

    def entries(self) -> list[dict[str, Any]]:
        size = self.checkpoint.tree_size if self.checkpoint else None
        return [entry_view(r, proof=self.proofs.get(r["ledger_seq"]), proof_tree_size=size)
                for r in self.rows]


class Histories:
    """``checkpoint_reuse_s``: a covering checkpoint read this recently is used again for
    proofs instead of asking the store for the newest (any signed checkpoint that covers the
    entries proves them; the newest is always at /v1/checkpoints/latest)."""

    def __init__(self, *, reader: LedgerReader, checkpoints: CheckpointStore,
                 checkpointer: Checkpointer, access: AccessLog, verifier: CheckpointVerifier,
                 ledger_id: str, checkpoint_reuse_s: float = 1.0):
        self.reader, self.checkpoints, self.checkpointer = reader, checkpoints, checkpointer
        self.access, self.verifier, self.ledger_id = access, verifier, ledger_id
        self.checkpoint_reuse_s = checkpoint_reuse_s
        self._recent: tuple[float, StoredCheckpoint] | None = None  # (read at, checkpoint)

    def resolve(self, id_or_code: str) -> str:
        ticket_id = self.reader.ticket_id_for(ticket_ref(id_or_code))
        if ticket_id is None:
            raise not_in_ledger(id_or_code)
        return ticket_id

    def _readable(self, who: Principal, id_or_code: str, *, proof_levels: int = 0
                  ) -> tuple[str, list[dict[str, Any]], dict[NodeKey, bytes]]:
        """The ticket's id and rows, if ``who`` may read them (found and read in one query,
        with the lowest ``proof_levels`` of its entries' proofs). A unit is told the same for
        a ticket that does not exist as for one not handed to it: no existence oracle."""
        who.require(*REPLAY_ROLES)
        rows, siblings = self.reader.history_with_siblings(ticket_ref(id_or_code), proof_levels)
        check_may_replay(who, rows)
        if not rows:
            raise not_in_ledger(id_or_code)
        return rows[0]["ticket_id"], rows, siblings

    def history(self, who: Principal, id_or_code: str, *, proofs: bool = False,
                via: str = "http", verify: bool = True) -> TicketHistory:
        """The ticket's entries in order; with ``proofs``, an inclusion proof of each against a
        checkpoint that covers them all (signed now if the newest one does not yet), and, with
        ``verify`` too, the server's :meth:`verification` of them (False: the answer will not
        carry it). The read is in the access log (committed) before anything is returned;
        the proofs and their verification are done while that commit waits for the disk
        (the write is sent once the entries are read: one query finds the ticket and reads
        them, and the write needs the ticket's id).
        With ``proofs``, the query that reads the entries also reads the lower levels of their
        proofs (the upper ones are cached), so the proofs usually need no query of their own."""
        action = "history+proofs" if proofs else "history"
        levels = self.reader.proof_levels() if proofs else 0
        # the ticket found by its id or code and read in one query (one round trip; a unit's
        # right to read it is in the rows), then the read recorded before anything is returned
        ticket_id, rows, siblings = self._readable(who, id_or_code, proof_levels=levels)
        out = TicketHistory(ticket_id, rows)
        if not proofs:
            self.access.record(who, action=action, target=ticket_id, via=via)
            return out
        # the proofs are built while the access log's commit waits for the disk
        recorded = self.access.record_soon(who, action=action, target=ticket_id, via=via)
        try:
            return self._answer(out, siblings, proofs, verify)
        finally:
            recorded.result()  # recorded (committed) before anything is returned

    def _answer(self, out: TicketHistory, siblings: dict[NodeKey, bytes], proofs: bool,
                verify: bool) -> TicketHistory:
        """``out`` with its proofs and their verification, when asked for."""
        if proofs:
            rows = out.rows
            out.checkpoint = cp = self._checkpoint_covering(max(r["ledger_seq"] for r in rows) + 1)
            out.proofs = self.reader.inclusion_proofs([r["ledger_seq"] for r in rows],
                                                      cp.tree_size, known=siblings)
            if verify:
                out.checked = self.verification(out)
        return out

    def _checkpoint_covering(self, size: int) -> StoredCheckpoint:
        recent = self._recent
        if (recent is not None and recent[1].tree_size >= size
                and time.monotonic() - recent[0] < self.checkpoint_reuse_s):
            return recent[1]
        latest = self.checkpoints.latest()
        if latest is None or latest.tree_size < size:
            self.checkpointer.sign_if_grown()
            latest = self.checkpoints.latest()
        if latest is None or latest.tree_size < size:
            raise RuntimeError("no checkpoint covers the history although one was just signed")
        self._recent = (time.monotonic(), latest)
        return latest

    def verification(self, history: TicketHistory) -> dict[str, Any]:
        """The server's own check of what it serves (an auditor repeats it with their key)."""
        if history.checked is not None:
            return history.checked  # done while the read's access-log row was committed
        if history.checkpoint is None:
            return {"checked": False, "reason": "ask with proofs=true to check inclusion"}
        findings = verify_history(history.rows, checkpoint_note=history.checkpoint.note,
                                  verifier=self.verifier, proofs=history.proofs,
                                  ledger_id=self.ledger_id)
        return {"checked": True, "ok": not findings,
                "findings": [finding_json(f) for f in findings]}

    def state(self, who: Principal, id_or_code: str, at: datetime | None,
              via: str = "http") -> StateReading:
        """The ticket as it stood at ``at`` (after its last event when None)."""
        ticket_id, rows, _ = self._readable(who, id_or_code)
        self.access.record(who, action="state", target=ticket_id, via=via)
        history = fold_input(rows)
        first = history[0][1] if history else None
        if at is None:
            state = state_at(history, history[-1][1]) if history else TicketState()
        else:
            state = state_at(history, at)
        return StateReading(ticket_id, state, len(rows), first)


@dataclass(frozen=True)
class StateReading:
    ticket_id: str
    state: TicketState
    entries_read: int
    first_event_at: datetime | None  # when the ticket's history begins (None: nothing decodable)


def finding_json(f: Any) -> dict[str, Any]:
    return {"kind": f.kind, "ledger_seq": f.ledger_seq, "ticket_id": f.ticket_id,
            "detail": f.detail, "last_seq": f.last_seq}


def fold_input(rows: list[dict[str, Any]]) -> list[HistoryEvent]:
    """(event type, effective time, payload) per entry, for the domain's fold.

    The envelope's fields are merged under the payload (TicketSubmitted's code is in the
    envelope). Ledger order is causal: an event cannot take effect before the one it follows,
    so a time stamped earlier (another service's clock, a stated time) is moved up to it."""
    out: list[HistoryEvent] = []
    last: datetime | None = None
    for row in rows:
        view = decode_view(bytes(row["event"]))
        if view.envelope is None or view.occurred_at is None:
            continue
        when = view.occurred_at if last is None or view.occurred_at >= last else last
        last = when
        payload: Mapping[str, Any] = {**envelope_fields(view.envelope), **(view.payload or {})}
        out.append((view.envelope.event_type, when, payload))
    return out


def state_json(reading: StateReading, at: datetime | None) -> dict[str, Any]:
    state, first = reading.state, reading.first_event_at
    out = {
        "ticket_id": reading.ticket_id,
        "at": at.isoformat() if at else None,
        # a moment before the ticket's first event is a fair question with an empty answer
        "existed": state.events_applied > 0,
        "first_event_at": first.isoformat() if first else None,
        "status": state.status,
        "ticket_code": state.ticket_code,
        "owner_unit": state.owner_unit,
        "deadline": state.deadline.isoformat() if state.deadline else None,
        "deadline_status": state.deadline_status,
        "rating": state.rating,
        "citizen_was_told": [{"told_at": m.told_at.isoformat(), "event_type": m.event_type,
                              "text": m.text} for m in state.told],
        "as_of": state.as_of.isoformat() if state.as_of else None,
        "events_applied": state.events_applied,
        "events_in_ledger": reading.entries_read,
        "unknown_events": list(state.unknown_events),
    }
    if not out["existed"] and first is not None:
        out["note"] = f"no event of this ticket had occurred by then; its first is at {out['first_event_at']}"
    return out
