"""The 1+8+N unit registry as the running service keeps it: an event-sourced `UnitDirectory`.

Seeded from `data/units.json` on first start (and topped up with units added to the file
later); every change is an event, so an auditor can see the registry as it was on any day.
The service layer checks every unit code a command names against it (the domain does not).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from backbone.privacy import echo
from backbone.store import EventContext
from services.dispatch.domain.units import (
    PLATFORM_CODE,
    Unit,
    UnitDirectory,
    UnitKind,
    UnitRegistry,
    load_unit_records,
)

log = logging.getLogger(__name__)


class UnknownUnitCodeError(ValueError):
    def __init__(self, code: str, why: str = "is not in the unit registry") -> None:
        super().__init__(f"unit {echo(code)} {why}")  # (a name or phone typed: not repeated)
        self.code = code


class UnitBook:
    """The current registry snapshot, loaded from (or seeded into) the event store."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self._registry = UnitRegistry(units={})
        self._lock = threading.Lock()

    def load(self) -> UnitRegistry:
        for _ in range(3):
            try:
                directory: UnitDirectory = self.app.repository.get(UnitDirectory.create_id())
            except AggregateNotFoundError:
                directory = UnitDirectory()
            directory.seed(load_unit_records())
            if directory.pending_events:
                try:
                    self.app.save(directory, context=EventContext(actor_id="dispatch"))
                except IntegrityError:  # another replica seeded it at the same moment
                    continue
                log.info("unit registry seeded to %d units", len(directory.units))
            with self._lock:
                self._registry = directory.registry
            return self._registry
        raise RuntimeError("could not load the unit registry")

    @property
    def registry(self) -> UnitRegistry:
        with self._lock:
            return self._registry

    def check_assignable(self, code: str) -> Unit:
        """A unit a ticket may be handed to: registered, active, not the platform itself."""
        registry = self.registry
        if code not in registry:
            raise UnknownUnitCodeError(code)
        unit = registry.get(code)
        if unit.retired:
            raise UnknownUnitCodeError(code, "is retired")
        if unit.kind is UnitKind.MASTER or code == PLATFORM_CODE:
            raise UnknownUnitCodeError(code, "is the master platform, which hands tickets out")
        return unit

    def tree(self) -> dict[str, Any]:
        """The 1+8+N tree: each active unit with its children, from the master platform down."""
        registry = self.registry

        def node(unit: Unit) -> dict[str, Any]:
            return {**unit.as_dict(), "topic": unit.topic,
                    "children": [node(c) for c in sorted(registry.children(unit.code),
                                                         key=lambda u: u.code)]}

        roots = [u for u in registry.active() if u.parent is None]
        return {"units": len(registry.active()), "tree": [node(r) for r in roots]}
