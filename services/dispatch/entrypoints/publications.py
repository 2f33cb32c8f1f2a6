"""Which stored dispatch events become public events, on which topics.

The lifecycle envelopes themselves come from `application.publishing.lifecycle_events`, a
pure function that the audit's reconciliation re-runs over the store; this module only
routes them: every envelope to the lifecycle topic, and the same envelope to the
`assignments.<unit>` topic of each unit that must react to it (assigned, sent back,
transferred away, withdrawn).
"""

from __future__ import annotations

from eventsourcing.application import Application

from backbone.relay import Outgoing, Publication
from backbone.settings import ServiceSettings
from services.dispatch.application.publishing import StateFollower, lifecycle_events
from services.dispatch.application.units import UnitBook
from services.dispatch.domain.units import Unit


class Publisher:
    def __init__(self, settings: ServiceSettings, app: Application, units: UnitBook) -> None:
        self.settings = settings
        self.units = units
        self.states = StateFollower(app)
        # topic names made once (each was a pydantic attribute read, an f-string and, for a
        # unit's topic, a regular-expression check, per envelope)
        self._lifecycle = settings.lifecycle_topic
        self._unit_topics: dict[str, str] = {}

    def _unit_topic(self, code: str) -> str:
        topic = self._unit_topics.get(code)
        if topic is None:  # a code not usable in a topic name raises, as before, every time
            topic = self._unit_topics[code] = self.settings.assignment_topic(code)
        return topic

    def unit(self, code: str) -> Unit | None:
        """The registry as loaded now (a unit registered later is known once reloaded)."""
        return self.units.registry.units.get(code)

    def translate(self, pub: Publication) -> list[Outgoing]:
        outgoing: list[Outgoing] = []
        for p in lifecycle_events(pub, state_after=self.states.after, unit=self.unit):
            key = p.envelope.ticket_id
            outgoing.append(Outgoing(self._lifecycle, key, p.envelope))
            for u in p.unit_topics:
                outgoing.append(Outgoing(self._unit_topic(u), key, p.envelope))
        return outgoing
