"""The Ticket aggregate and the Case that links duplicate tickets (并单).

A ticket is submitted, then accepted or rejected (a rejected ticket keeps its code and history).
An accepted ticket may be linked to a Case with other tickets about the same problem; the case is
handled once, yet every ticket keeps its own code and each citizen receives the reply. Merges are
links, never rewrites, so undoing one is just another event.

Event attributes are plain JSON types (str, int, float, bool, None, list, dict, datetime, UUID):
eventsourcing's default transcoder stores them, and the relay maps them onto protobuf.
Nothing here holds clear personal data: text and contact are masked, the citizen is a pseudonym.

Every command takes the business time (``at``; backbone.clock decides it) and gives it to its
event as ``timestamp``, so an envelope's occurred_at is when the citizen called or wrote, and a
replayed simulation produces the same events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.intake.domain.ticket_code import canonical_code

_TICKET_NS = uuid5(NAMESPACE_URL, "https://minsheng.example/intake/ticket")
_CASE_NS = uuid5(NAMESPACE_URL, "https://minsheng.example/intake/case")


class TicketError(Exception):
    """Base of the ticket's invariant errors."""


class TicketAlreadyDecidedError(TicketError):
    """The ticket was already accepted or rejected; a decision is taken once."""


class TicketNotAcceptedError(TicketError):
    """Only an accepted ticket can be merged, unmerged or answered."""


class TicketAlreadyMergedError(TicketError):
    """The ticket already belongs to a case; unmerge it first."""


class TicketNotMergedError(TicketError):
    """The ticket is not linked to that case."""


class TicketErasedError(TicketError):
    """The citizen's identity was already erased from this ticket."""


class CaseError(Exception):
    """Base of the case's invariant errors."""


class TicketAlreadyInCaseError(CaseError):
    """That ticket is already linked to this case."""


class TicketNotInCaseError(CaseError):
    """That ticket is not linked to this case."""


class PrimaryTicketUnlinkError(CaseError):
    """The case's first ticket cannot leave while other tickets remain linked to it."""


class Ticket(Aggregate):
    @staticmethod
    def create_id(code: str) -> UUID:
        """Deterministic from the code: one code, one ticket, whichever process asks."""
        return uuid5(_TICKET_NS, canonical_code(code))

    @event("Submitted")
    def __init__(
        self,
        *,
        code: str,
        channel: str,
        masked_text: str,
        masked_title: str | None,
        category_hint: str | None,
        place: dict[str, Any] | None,
        citizen: str | None,
        masked_contact: dict[str, Any] | None,
        requester_kind: str,
        attachment_refs: list[Any],  # {"sha256", "media_type", "size"} (or a bare sha256)
        idempotency_key: str,
        timestamp: datetime,
        adapter_id: str,
        external_ref: str,  # the channel's own id (call id), never personal data
    ) -> None:
        self.code = code
        self.channel = channel
        self.masked_text = masked_text
        self.masked_title = masked_title
        self.category_hint = category_hint
        self.place = place
        self.citizen = citizen
        self.masked_contact = masked_contact
        self.requester_kind = requester_kind
        self.attachment_refs = list(attachment_refs)
        self.idempotency_key = idempotency_key
        self.adapter_id = adapter_id
        self.external_ref = external_ref
        self.status = "submitted"
        self.flags: list[str] = []
        self.rejection: dict[str, str] | None = None
        self.case_id: UUID | None = None
        self.replies: list[dict[str, Any]] = []
        self.erased = False
        self.submitted_at = timestamp

    # -- invariants ------------------------------------------------------------------------

    def check_undecided(self) -> None:
        if self.status != "submitted":
            raise TicketAlreadyDecidedError(f"ticket {self.code} is already {self.status}")

    def check_accepted(self, doing: str) -> None:
        if self.status != "accepted":
            raise TicketNotAcceptedError(f"cannot {doing} ticket {self.code}: it is {self.status}")

    # -- commands ----------------------------------------------------------------------------

    def accept(self, *, flags: list[str] | None = None, at: datetime | None = None) -> None:
        self.check_undecided()
        self._accepted(flags=list(flags or []), timestamp=_time(at))

    @event("Accepted")
    def _accepted(self, flags: list[str], timestamp: datetime) -> None:
        self.status = "accepted"
        self.flags = flags

    def answer_on_spot(self, *, answer_masked: str, source: str, source_date: str,
                       knowledge_ref: str, operator_id: str, at: datetime | None = None) -> None:
        """解惑: a question answered during the call; decided instead of accepted, so nothing
        is dispatched (feedback takes the answer as the reply)."""
        self.check_undecided()
        self._answered_on_spot(answer_masked=answer_masked, source=source,
                               source_date=source_date, knowledge_ref=knowledge_ref,
                               operator_id=operator_id, timestamp=_time(at))

    @event("AnsweredOnSpot")
    def _answered_on_spot(self, answer_masked: str, source: str, source_date: str,
                          knowledge_ref: str, operator_id: str, timestamp: datetime) -> None:
        self.status = "answered_on_spot"

    def reject(self, *, reason_code: str, reason_text_zh: str, at: datetime | None = None) -> None:
        self.check_undecided()
        self._rejected(reason_code=reason_code, reason_text_zh=reason_text_zh, timestamp=_time(at))

    @event("Rejected")
    def _rejected(self, reason_code: str, reason_text_zh: str, timestamp: datetime) -> None:
        self.status = "rejected"
        self.rejection = {"reason_code": reason_code, "reason_text_zh": reason_text_zh}

    def merge_into(self, *, case_id: UUID, at: datetime | None = None, primary_code: str = "",
                   primary_ticket_id: str = "", score: float = 0.0, by: str = "",
                   confirmed: bool = False) -> None:
        """Link to a case; the case's facts travel in the event so its public form needs no lookup."""
        self.check_accepted("merge")
        if self.case_id is not None:
            raise TicketAlreadyMergedError(f"ticket {self.code} already belongs to case {self.case_id}")
        self._merged(case_id=case_id, primary_code=primary_code,
                     primary_ticket_id=primary_ticket_id, score=float(score), by=by,
                     confirmed=confirmed, timestamp=_time(at))

    @event("MergedIntoCase")
    def _merged(self, case_id: UUID, primary_code: str, primary_ticket_id: str, score: float,
                by: str, confirmed: bool, timestamp: datetime) -> None:
        self.case_id = case_id
        self.merge_confirmed = confirmed

    def confirm_merge(self, *, case_id: UUID, primary_code: str, primary_ticket_id: str,
                      score: float, by: str, at: datetime | None = None) -> None:
        """A dispatcher confirms an automatic merge (published as a confirmed merge)."""
        if self.case_id != case_id:
            raise TicketNotMergedError(f"ticket {self.code} is not linked to case {case_id}")
        if getattr(self, "merge_confirmed", False):
            return
        self._merge_confirmed(case_id=case_id, primary_code=primary_code,
                              primary_ticket_id=primary_ticket_id, score=float(score), by=by,
                              timestamp=_time(at))

    @event("MergeConfirmed")
    def _merge_confirmed(self, case_id: UUID, primary_code: str, primary_ticket_id: str,
                         score: float, by: str, timestamp: datetime) -> None:
        self.merge_confirmed = True

    def unmerge(self, *, case_id: UUID, reason: str, at: datetime | None = None,
                primary_ticket_id: str = "", by: str = "") -> None:
        if self.case_id != case_id:
            raise TicketNotMergedError(f"ticket {self.code} is not linked to case {case_id}")
        self._unmerged(case_id=case_id, reason=reason, primary_ticket_id=primary_ticket_id, by=by,
                       timestamp=_time(at))

    @event("UnmergedFromCase")
    def _unmerged(self, case_id: UUID, reason: str, primary_ticket_id: str, by: str,
                  timestamp: datetime) -> None:
        self.case_id = None
        self.merge_confirmed = False

    def deliver_reply(self, *, reply_id: str, unit: str, masked_text: str, via_case: UUID | None = None,
                      at: datetime | None = None) -> None:
        self.check_accepted("deliver a reply to")
        if any(r["reply_id"] == reply_id for r in self.replies):
            return  # the same reply delivered twice (a redelivered event) changes nothing
        self._reply_delivered(reply_id=reply_id, unit=unit, masked_text=masked_text, via_case=via_case,
                              timestamp=_time(at))

    @event("ReplyDelivered")
    def _reply_delivered(self, reply_id: str, unit: str, masked_text: str, via_case: UUID | None,
                         timestamp: datetime) -> None:
        self.replies.append({"reply_id": reply_id, "unit": unit, "via_case": via_case})

    def erase_identity(self, *, at: datetime | None = None) -> None:
        """Record that the citizen's key was destroyed; masked contact goes too."""
        if self.erased:
            raise TicketErasedError(f"the identity on ticket {self.code} was already erased")
        self._identity_erased(timestamp=_time(at))

    @event("IdentityErased")
    def _identity_erased(self, timestamp: datetime) -> None:
        self.erased = True
        self.masked_contact = None


def _time(at: datetime | None) -> datetime:
    return at if at is not None else datetime.now(UTC)


class Case(Aggregate):
    """Duplicate tickets about one problem, handled once. Its id comes from the first ticket's code."""

    @staticmethod
    def create_id(primary_code: str) -> UUID:
        return uuid5(_CASE_NS, canonical_code(primary_code))

    @event("Opened")
    def __init__(self, *, primary_code: str, primary_ticket_id: UUID, category: str | None,
                 timestamp: datetime) -> None:
        self.primary_code = primary_code
        self.category = category
        # code -> {"ticket_id", "confirmed", "score"}; the primary is confirmed by definition
        self.links: dict[str, dict[str, Any]] = {
            primary_code: {"ticket_id": primary_ticket_id, "confirmed": True, "score": 1.0}
        }

    def check_linked(self, code: str) -> None:
        if code not in self.links:
            raise TicketNotInCaseError(f"ticket {code} is not linked to case {self.primary_code}")

    def link(self, *, code: str, ticket_id: UUID, score: float, by: str, confirmed: bool = False,
             at: datetime | None = None) -> None:
        """Link a ticket: proposed by the detector (``by="detector"``) or straight by a dispatcher."""
        if code in self.links:
            raise TicketAlreadyInCaseError(f"ticket {code} is already in case {self.primary_code}")
        self._linked(code=code, ticket_id=ticket_id, score=float(score), by=by, confirmed=confirmed,
                     timestamp=_time(at))

    @event("TicketLinked")
    def _linked(self, code: str, ticket_id: UUID, score: float, by: str, confirmed: bool,
                timestamp: datetime) -> None:
        self.links[code] = {"ticket_id": ticket_id, "confirmed": confirmed, "score": score}

    def confirm(self, *, code: str, by: str, at: datetime | None = None) -> None:
        self.check_linked(code)
        if not self.links[code]["confirmed"]:
            self._confirmed(code=code, by=by, timestamp=_time(at))

    @event("LinkConfirmed")
    def _confirmed(self, code: str, by: str, timestamp: datetime) -> None:
        self.links[code]["confirmed"] = True

    def unlink(self, *, code: str, by: str, reason: str, at: datetime | None = None) -> None:
        self.check_linked(code)
        if code == self.primary_code and len(self.links) > 1:
            raise PrimaryTicketUnlinkError(
                f"ticket {code} opened case {code}; unlink the other {len(self.links) - 1} ticket(s) first"
            )
        self._unlinked(code=code, by=by, reason=reason, timestamp=_time(at))

    @event("TicketUnlinked")
    def _unlinked(self, code: str, by: str, reason: str, timestamp: datetime) -> None:
        del self.links[code]

    @property
    def ticket_codes(self) -> list[str]:
        """Every code whose citizen must receive the case's reply."""
        return sorted(self.links)
