"""What dispatch does with other services' facts (handlers of the lifecycle consumer).

Every handler tolerates facts out of order or missing: a fact about a ticket dispatch has not
seen, or one that no longer applies, is logged and skipped, never raised (a raise would send
a valid upstream event to the dead-letter topic).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from backbone.clock import Clock
from backbone.consumer import UnitOfWork
from backbone.events import DecodedEvent
from services.dispatch.application.routing import Router
from services.dispatch.domain.classifier import Classification
from services.dispatch.domain.errors import DispatchError
from services.dispatch.domain.lifecycle import DispatchPolicy, DispatchState
from services.dispatch.domain.places import Place, Territory
from services.dispatch.domain.routing import NeedsDispatcher, RoutingDecision
from services.dispatch.domain.submission import SubmittedRequest
from services.dispatch.domain.taxonomy import Taxonomy
from services.dispatch.domain.ticket_dispatch import TicketDispatch

log = logging.getLogger(__name__)
ASSUMED_MAX = 10_000


def place_facts(router: Router, p: Any) -> dict[str, Any]:
    """The masked place of `TicketSubmitted`, located to county and sub-district from every
    word the request carries (address or pin label, title, text) and the pin."""
    place = p.place
    address = place.address_masked or ""
    lon, lat = (place.point.lon, place.point.lat) if place.has_point else (None, None)
    text = "\n".join(x for x in (p.title_masked, p.text_masked) if x)
    territory = router.locate(Place(address=address, lon=lon, lat=lat, text=text,
                                    datum=router.gazetteer.datum_of(p.channel)))
    return {
        "address_masked": address, "lon": lon, "lat": lat,
        "county": territory.county or place.county or None,
        "subdistrict": territory.subdistrict or place.subdistrict or None,
        "territory_confidence": territory.confidence,
        "territory_reasons": list(territory.reasons),
        "outside_city": bool(place.outside_city),
    }


def located(place: dict[str, Any]) -> Territory | Place:
    """The territory found when the request was submitted (a dispatch record written before
    territories were kept in it is located again from its address and pin)."""
    if "territory_confidence" in place and "territory_reasons" in place:
        return Territory(place.get("county"), place.get("subdistrict"),
                         float(place["territory_confidence"]), tuple(place["territory_reasons"]))
    return Place(address=place.get("address_masked") or "", lon=place.get("lon"),
                 lat=place.get("lat"))


def for_dispatcher(decision: NeedsDispatcher, suggestion: Classification,
                   taxonomy: Taxonomy) -> str:
    """Why a person must decide, the best suggestions with the words behind them, and where:
    what the dispatcher reads in the queue."""
    ranked = [(suggestion.subcategory, suggestion.confidence), *suggestion.alternatives][:3]
    names = []
    for i, (sub, p) in enumerate(ranked):
        why = f"（{'、'.join(suggestion.evidence)}）" if i == 0 and suggestion.evidence else ""
        names.append(f"{taxonomy.label_zh(sub)} {p:.2f}{why}")
    parts = [decision.reason, "候选：" + "；".join(names)]
    where = [r for r in decision.reasons if not r.startswith("分类")]
    if where:
        parts.append("依据：" + "；".join(where))
    return "｜".join(parts)


def _submitted_here(uow: UnitOfWork) -> dict[str, dict[str, Any]]:
    """The facts of TicketSubmitted events whose TicketAccepted is in the same batch."""
    here: dict[str, dict[str, Any]] = uow.__dict__.setdefault("dispatch_submitted", {})
    return here


class UpstreamFacts:
    def __init__(self, *, router: Router, clock: Clock, policy: DispatchPolicy,
                 reopen_to_same_unit: bool) -> None:
        self.router = router
        self.clock = clock
        self.policy = policy
        self.reopen_to_same_unit = reopen_to_same_unit
        # dispatch ids assumed absent without a read (`_new_dispatch`), oldest first
        self._assumed: dict[Any, None] = {}

    def _time(self, d: DecodedEvent) -> datetime:
        at = d.occurred_at
        self.clock.observe(at)
        return at

    # --- intake ---

    def submitted(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """TicketSubmitted: keep the masked facts routing will need. When the same batch also
        accepts the ticket (intake accepts in the save that submits it, so the two events
        are neighbours in one partition), the facts go straight into its dispatch: no
        SubmittedRequest is probed for, stored, relayed and read back (one read, one stored
        event and its context row per ticket)."""
        p = d.payload
        if self._accepted_in_batch(d, uow):
            _submitted_here(uow)[d.ticket_id] = {
                "channel": p.channel, "title_masked": p.title_masked,
                "text_masked": p.text_masked, "category_hint": p.category_hint,
                "place": place_facts(self.router, p)}
            self._time(d)
            return
        if uow.get(SubmittedRequest.create_id(d.ticket_id)) is not None:
            return
        uow.add(SubmittedRequest(
            ticket_id=d.ticket_id, ticket_code=d.envelope.ticket_code, channel=p.channel,
            title_masked=p.title_masked, text_masked=p.text_masked,
            category_hint=p.category_hint, place=place_facts(self.router, p),
            at=self._time(d)))

    @staticmethod
    def _accepted_in_batch(d: DecodedEvent, uow: UnitOfWork) -> bool:
        """Whether a TicketAccepted of this ticket is in the batch and not yet applied."""
        accepting: set[str] | None = uow.__dict__.get("dispatch_accepting")
        if accepting is None:
            accepting = uow.__dict__["dispatch_accepting"] = {
                e.ticket_id for e in getattr(uow, "batch", ())
                if e.event_type == "TicketAccepted"}
        return (d.ticket_id in accepting
                and TicketDispatch.create_id(d.ticket_id) not in uow.aggregates)

    def accepted(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """TicketAccepted: classify and route; confident -> assigned, else a dispatcher's queue."""
        here = _submitted_here(uow).pop(d.ticket_id, None)
        if self._new_dispatch(TicketDispatch.create_id(d.ticket_id), uow) is not None:
            return  # dispatched already
        at = self._time(d)
        dispatch = TicketDispatch.open(ticket_id=d.ticket_id, ticket_code=d.envelope.ticket_code,
                                       at=at)
        if here is None:
            kept = uow.get(SubmittedRequest.create_id(d.ticket_id))
            if kept is not None:
                here = {"channel": kept.channel, "title_masked": kept.title_masked,
                        "text_masked": kept.text_masked, "category_hint": kept.category_hint,
                        "place": kept.place}
        if here is not None:
            dispatch.note_request(**here, at=at)
        self.route(dispatch, at)
        uow.add(dispatch)

    def merged(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """TicketMergedIntoCase: the duplicate follows its case's primary ticket, and dispatch
        says it took the merge (CaseMergeTaken: feedback answers the ticket with its case
        only then). A ticket its unit replied to already, or closed, is not merged (intake
        decided on its read model, which lags dispatch): dispatch says so (CaseMergeRefused,
        stored with the consumer's progress, once per merge fact), and intake undoes it.
        A ticket dispatch has no record of (it never saw it accepted: its consumer started
        after the topic's retention dropped the acceptance, or that fact went to the dead
        letters) is opened here, following the case: no unit and no reply dispatch knows of
        stand against the merge, no unit would answer it otherwise, and the take is said,
        so feedback does not wait for a decision forever."""
        p = d.payload
        at = self._time(d)
        dispatch: TicketDispatch | None = uow.get(TicketDispatch.create_id(d.ticket_id))
        if dispatch is None:
            log.info("merge of %s, which dispatch has not seen: opened to follow case %s",
                     d.ticket_id, p.case_id)
            dispatch = TicketDispatch.open(ticket_id=d.ticket_id,
                                           ticket_code=d.envelope.ticket_code, at=at)
        try:
            dispatch.merge_into_case(case_id=p.case_id, primary_ticket_id=p.primary_ticket_id,
                                     primary_code=p.primary_code, at=at,
                                     merge_event_id=d.event_id)
        except DispatchError as refused:
            log.info("merge of %s not applied: %s", d.ticket_id, refused.reason)
            if dispatch.refuse_merge(case_id=p.case_id, primary_ticket_id=p.primary_ticket_id,
                                     primary_code=p.primary_code, merge_event_id=d.event_id,
                                     at=at):
                uow.add(dispatch)
            return
        uow.add(dispatch)

    def unmerged(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """TicketUnmergedFromCase: dispatch it on its own."""
        dispatch = self._existing(d, uow)
        if dispatch is None:
            return
        at = self._time(d)
        try:
            dispatch.unmerge_from_case(case_id=d.payload.case_id, reason=d.payload.reason,
                                       at=at)
        except DispatchError as refused:
            log.info("unmerge of %s not applied: %s", d.ticket_id, refused.reason)
            return
        if dispatch.needs_routing:
            self.route(dispatch, at)
        uow.add(dispatch)

    def _new_dispatch(self, dispatch_id: Any, uow: UnitOfWork) -> TicketDispatch | None:
        """`uow.get` of the dispatch an acceptance opens, which is almost never there yet,
        without reading the store for it: the unit of work assumes it absent, so the
        batch's commit checks that (`AggregateCache.guard`: no event of it stored) in its own
        transaction, instead of a read per ticket. Were it there after all, that commit fails
        as a conflict, the consumer forgets its cache and applies the batch again, and this
        time (`_assumed` remembers the id) it is read."""
        if dispatch_id not in self._assumed and uow.assume_absent(dispatch_id):
            self._assumed[dispatch_id] = None
            while len(self._assumed) > ASSUMED_MAX:
                self._assumed.pop(next(iter(self._assumed)))
        found: TicketDispatch | None = uow.get(dispatch_id)
        return found

    # --- feedback ---

    def reopened(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """TicketReopened (重办): back to dispatch under the same code, history kept."""
        dispatch = self._existing(d, uow)
        if dispatch is None:
            return
        if dispatch.state not in (DispatchState.REPLY_ACCEPTED, DispatchState.CLOSED):
            log.info("reopen of %s ignored: dispatch is %s", d.ticket_id, dispatch.state.value)
            return
        at = self._time(d)
        previous = dispatch.replied_by or dispatch.assignee
        reason = d.payload.reason.strip() or "群众不满意，重办"
        dispatch.reopen(by="feedback", reason=reason, at=at)
        n = dispatch.reopen_count
        if self.reopen_to_same_unit and previous and self.router.units.registry.is_active(
                previous):
            dispatch.assign(unit=previous, by="reopen", at=at, policy=self.policy,
                            reason=f"重办（第{n}次）：原承办单位重新办理；{reason}")
        else:
            dispatch.queue_for_dispatcher(reason=f"重办（第{n}次），待派单：{reason}",
                                          suggested_unit=previous, queue="reopened", at=at)
        uow.add(dispatch)

    # --- routing ---

    def route(self, dispatch: TicketDispatch, at: datetime) -> None:
        req = dispatch.request
        if req is None:
            dispatch.queue_for_dispatcher(reason="未收到诉求内容（TicketSubmitted），转人工派单",
                                          at=at)
            return
        place = req["place"]
        text = "\n".join(x for x in (req["title_masked"], req["text_masked"]) if x)
        if not text.strip():
            dispatch.queue_for_dispatcher(reason="诉求内容为空，转人工派单", at=at)
            return
        address = place.get("address_masked") or ""
        # the words behind the suggestion only for a dispatcher to read (most are routed)
        suggestion = self.router.suggest(text, address=address, explain=False)
        dispatch.classify(by="auto", source="auto", **suggestion.as_dict())
        decision = self.router.route(suggestion, located(place))
        if isinstance(decision, RoutingDecision):
            dispatch.assign(unit=decision.unit_code, by="router", at=at, policy=self.policy,
                            reason=f"路由表v{decision.table_version}：" + "；".join(decision.reasons))
        else:
            suggestion = self.router.explain(suggestion, text, address=address)
            dispatch.queue_for_dispatcher(reason=for_dispatcher(decision, suggestion,
                                                                self.router.taxonomy), at=at,
                                          suggested_unit=decision.suggested_unit,
                                          confidence=decision.confidence)

    @staticmethod
    def _existing(d: DecodedEvent, uow: UnitOfWork) -> TicketDispatch | None:
        dispatch = uow.get(TicketDispatch.create_id(d.ticket_id))
        if dispatch is None:
            log.info("%s for a ticket dispatch has not seen; skipped", d.event_type)
        return dispatch
