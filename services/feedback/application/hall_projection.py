"""The public hall's read model: lifecycle events -> what the hall knows -> what it shows.

`FACT_UPDATES` (event type -> update) is the whole story of a hall row, as data. The facts
are internal (they may hold the masked-but-exact road address); `public_columns` computes,
with the domain's hall rules and the hall masker, the only columns the API ever returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backbone.public_privacy import mask_for_public
from services.feedback.adapters.registry import Registry
from services.feedback.domain.hall import HallRow, HallRules, may_show, to_entry

# Hall statuses a later event never turns back into an earlier one (closed stays closed).
_FINAL = {"closed", "rejected"}
# Request types whose tickets stay out of the hall whatever their category: they protect
# the person who reported.
_PRIVATE_REQUEST_TYPES = {"report"}


@dataclass
class HallFacts:
    ticket_id: str
    ticket_code: str = ""
    channel: str = ""
    text: str = ""
    title: str = ""
    category_hint: str = ""
    category: str = ""
    subcategory: str = ""
    request_type: str = ""
    county: str = ""
    subdistrict: str = ""
    address_masked: str = ""
    unit: str = ""
    units: list[str] = field(default_factory=list)
    status: str = "submitted"
    reply: str = ""
    outcome: str = ""
    verdict: str | None = None
    overdue: bool = False
    extended: bool = False
    supervised: bool = False
    reopen_count: int = 0
    # 并案 taken by dispatch (CaseMergeTaken; before takes were said, AssignmentWithdrawn):
    # the case the ticket follows and its primary ticket's code ("" while in no case). Intake's
    # merge (TicketMergedIntoCase) alone changes nothing: dispatch may refuse it.
    case_id: str = ""
    primary_code: str = ""

    @classmethod
    def from_json(cls, ticket_id: str, raw: dict[str, Any] | None) -> HallFacts:
        if not raw:
            return cls(ticket_id=ticket_id)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)  # plain values and a list of str: no deep copy needed

    def snapshot(self) -> tuple[Any, ...]:
        """The facts as they are now, to compare with later (units copied: updated in place)."""
        return (*self.__dict__.values(), tuple(self.units))

    def set_status(self, status: str) -> None:
        if self.status not in _FINAL or status == self.status:
            self.status = status


def _submitted(f: HallFacts, p: Any) -> None:
    f.channel, f.text, f.title = p.channel, p.text_masked, p.title_masked
    f.category_hint = p.category_hint
    f.address_masked = p.place.address_masked
    f.county = f.county or p.place.county
    f.subdistrict = f.subdistrict or p.place.subdistrict


def _assigned(f: HallFacts, p: Any) -> None:
    if p.role != "co_handling":
        f.unit = p.unit
    if p.unit and p.unit not in f.units:
        f.units.append(p.unit)
    f.category = p.category or f.category
    f.subcategory = p.subcategory or f.subcategory
    f.request_type = p.request_type or f.request_type
    f.county = p.county or p.place.county or f.county
    f.subdistrict = p.subdistrict or p.place.subdistrict or f.subdistrict
    f.text = f.text or p.text_masked
    f.title = f.title or p.title_masked
    if f.status != "reopened" or not f.reply:
        f.set_status("assigned")
    else:
        f.set_status("reopened")


def _transferred(f: HallFacts, p: Any) -> None:
    f.unit = p.to_unit
    f.units = [u for u in f.units if u != p.from_unit] + ([p.to_unit] if p.to_unit else [])
    f.set_status("assigned")


def _coordinated(f: HallFacts, p: Any) -> None:
    f.unit = p.lead_unit
    f.units = [p.lead_unit, *[u for u in p.co_units if u != p.lead_unit]]
    f.set_status("assigned")


def _reviewed(f: HallFacts, p: Any) -> None:
    if p.accepted:
        f.reply, f.outcome = p.reply_masked, p.outcome
        f.unit = p.unit or f.unit
        # needs longer (an interim answer): shown, but the unit is still handling it
        interim = getattr(p, "interim", False) or p.outcome == "needs_longer"
        f.set_status("in_progress" if interim else "replied")


def _rated(f: HallFacts, p: Any) -> None:
    f.verdict = p.rating


def _reopened(f: HallFacts, p: Any) -> None:
    f.verdict = "dissatisfied"
    f.reopen_count = p.reopen_count
    f.set_status("reopened")


def _closed(f: HallFacts, p: Any) -> None:
    f.verdict = p.rating or f.verdict
    f.set_status("closed")


def _taken(f: HallFacts, p: Any) -> None:
    # 并案 taken by dispatch (CaseMergeTaken): the ticket follows its case's primary ticket.
    # Intake's merge (TicketMergedIntoCase) is not read: dispatch refuses the merge of a ticket
    # its unit replied to (CaseMergeRefused; intake undoes it), and the hall never shows it.
    f.case_id, f.primary_code = p.case_id, p.primary_code
    f.set_status("merged")


def _withdrawn(f: HallFacts, p: Any) -> None:
    # 并案 taken by dispatch: the unit's assignment is withdrawn, the ticket follows its case
    # (an assignment that came after the merge left it 已交办 to that unit for good). Its
    # CaseMergeTaken follows; a merge dispatch took before takes were said has only this one.
    f.case_id = getattr(p, "case_id", "") or f.case_id
    f.set_status("merged")


def _unmerged(f: HallFacts, p: Any) -> None:
    # the undo of a merge the hall shows (taken): accepted, dispatch routes the ticket again.
    # The undo of a merge dispatch refused (or of one it never heard of) changes nothing, and
    # its followers are told nothing of it (TOLD_IF_CHANGED): the hall never showed the merge.
    if f.status == "merged":
        f.case_id = f.primary_code = ""
        f.set_status("accepted")


def _status(status: str) -> Callable[[HallFacts, Any], None]:
    return lambda f, p: f.set_status(status)


def _flag(name: str, value: bool) -> Callable[[HallFacts, Any], None]:
    return lambda f, p: setattr(f, name, value)


FACT_UPDATES: dict[str, Callable[[HallFacts, Any], None]] = {
    "TicketSubmitted": _submitted,
    "TicketAccepted": _status("accepted"),
    "TicketRejected": _status("rejected"),
    "TicketUnmergedFromCase": _unmerged,
    "TicketAssigned": _assigned,
    "AssignmentSignedFor": _status("signed_for"),
    "AssignmentProgressNoted": _status("in_progress"),
    "AssignmentBouncedBack": _status("accepted"),
    "AssignmentTransferred": _transferred,
    "AssignmentWithdrawn": _withdrawn,
    "CaseMergeTaken": _taken,
    "CoordinationDecided": _coordinated,
    "AssignmentReplied": _status("in_progress"),  # shown once the platform accepts it
    "ReplyReviewed": _reviewed,
    "DeadlineMissed": _flag("overdue", True),
    "DeadlineExtended": _flag("extended", True),
    "SupervisionOrderIssued": _flag("supervised", True),
    "PushedToSupervision": _flag("supervised", True),
    "TicketRated": _rated,
    "TicketMarkedUnrated": lambda f, p: setattr(f, "verdict", "unrated"),
    "TicketReopened": _reopened,
    "TicketClosed": _closed,
}

# Event types that concern a ticket's followers although they change nothing in the hall.
NOTIFY_ONLY = ("CitizenNotified", "CallbackRecorded", "RemarkAdded", "DeadlineWarned",
               "SupervisionOrderEscalated", "SupervisionOrderAnswered", "DispatchClosed")

# Event types a follower is told of only when they changed the hall's facts: the undo of a
# merge the hall never showed (dispatch refused it) is not news to anyone.
TOLD_IF_CHANGED = frozenset({"TicketUnmergedFromCase"})

# What the hall consumer reads: the hall's facts and its followers' notifications. An event type
# not listed (an SLA clock's settings, a notice's delivery receipt, a queue hand-off) has no
# label a follower could read and changes no hall row: skipped unread, no consumed_events row.
def hall_event_types() -> tuple[str, ...]:
    return (*FACT_UPDATES, *NOTIFY_ONLY)


EVENT_LABELS_ZH = {
    "TicketSubmitted": "诉求已提交", "TicketAccepted": "诉求已受理", "TicketRejected": "诉求未受理",
    "CaseMergeTaken": "已并案办理", "TicketUnmergedFromCase": "已取消并案",
    "TicketAssigned": "已交办", "AssignmentSignedFor": "承办单位已签收",
    "AssignmentProgressNoted": "办理进展更新", "AssignmentBouncedBack": "承办单位退单",
    "AssignmentTransferred": "已转办", "AssignmentWithdrawn": "交办已撤回，随主诉求并案办理",
    "CoordinationDecided": "平台统筹协调",
    "AssignmentReplied": "承办单位已答复", "ReplyReviewed": "答复已审核",
    "DeadlineMissed": "已超期", "DeadlineExtended": "已延期", "DeadlineWarned": "办理时限预警",
    "SupervisionOrderIssued": "已督办", "SupervisionOrderEscalated": "督办升级",
    "SupervisionOrderAnswered": "督办已回复", "PushedToSupervision": "已推送督办",
    "CitizenNotified": "已答复群众", "TicketRated": "群众已评价",
    "TicketMarkedUnrated": "逾期未评价", "CallbackRecorded": "已电话回访",
    "TicketReopened": "重办", "TicketClosed": "已办结", "RemarkAdded": "新增关注意见",
    "DispatchClosed": "交办已办结",
}


# 需较长时间办理: the citizen was told why and by when, not answered (the unit works on)
INTERIM_LABELS_ZH = {"CitizenNotified": "已告知群众需较长时间办理",
                     "ReplyReviewed": "答复已审核：需较长时间办理"}


def event_label(event_type: str, payload: Any) -> str:
    """What a follower's notification says of an event."""
    if getattr(payload, "outcome", "") == "needs_longer" and event_type in INTERIM_LABELS_ZH:
        return INTERIM_LABELS_ZH[event_type]
    return EVENT_LABELS_ZH.get(event_type, event_type)


def public_columns(f: HallFacts, updated_at: datetime, *, rules: HallRules,
                   registry: Registry,
                   mask: Callable[[str], str] = mask_for_public) -> dict[str, Any]:
    """Everything the hall may show of a ticket, computed by the domain's hall rules."""
    category_code = f.category or f.category_hint
    category = registry.category_name(category_code) if category_code else ""
    row = HallRow(
        ticket_id=f.ticket_id, ticket_code=f.ticket_code,
        text="".join(t for t in (f.title and f.title + "：", f.text) if t),
        category=category, county=registry.county_name(f.county) if f.county else "",
        sub_district=registry.subdistrict_name(f.subdistrict) if f.subdistrict else "",
        unit_name=registry.unit_name(f.unit) if f.unit else "", status=f.status,
        updated_at=updated_at, exact_address=f.address_masked, reply_text=f.reply,
        verdict=f.verdict, private=f.request_type in _PRIVATE_REQUEST_TYPES)
    entry = to_entry(row, rules, mask)
    shown = may_show(row, rules) and bool(f.ticket_code) and bool(entry.text)
    search = " ".join((entry.text, entry.reply_text, entry.category, entry.unit_name,
                       entry.place))
    return {"shown": shown, "text_public": entry.text, "reply_public": entry.reply_text,
            "category": entry.category, "category_code": category_code,
            "county": entry.county, "county_code": f.county, "place": entry.place,
            "unit_name": entry.unit_name, "units": list(f.units), "status": f.status,
            "verdict": f.verdict, "overdue": f.overdue, "supervised": f.supervised,
            "search": search}
