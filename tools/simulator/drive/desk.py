"""The platform's dispatch desk (平台派单席): people watching the console's queues.

Tickets the classifier was not sure about wait in the ``unrouted`` queue; a dispatcher sends
each to the unit the plan meant to handle it. Replies awaiting review (when dispatch does not
accept them automatically) are accepted. Only tickets this run submitted are touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from tools.simulator.drive.console import DispatcherConsole
from tools.simulator.drive.errors import ActionError
from tools.simulator.drive.tally import Tally

log = logging.getLogger(__name__)


class DispatchDesk:
    def __init__(self, console: DispatcherConsole, *, tally: Tally,
                 planned_unit: Callable[[str], str | None], time_for: Callable[[str], datetime | None],
                 every: float = 0.5):
        self.console = console
        self.tally = tally
        self.planned_unit = planned_unit  # ticket id -> registry unit the plan meant, or None
        self.time_for = time_for          # ticket id -> when the desk acts on it, or None
        self.every = every
        self._done: set[tuple[str, str, int]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _watch(self) -> None:
        while True:
            try:
                await self.sweep()
            except ActionError as exc:
                self.tally.error(f"desk:{exc.kind}", exc.detail)
            await asyncio.sleep(self.every)

    async def sweep(self) -> None:
        for row in await self.console.queue("unrouted"):
            await self._route(row)
        for row in await self.console.queue("awaiting_review"):
            await self._review(row)

    def _once(self, row: dict, what: str) -> bool:
        key = (str(row["ticket_id"]), what, int(row.get("assignment_no") or 0))
        if key in self._done:
            return False
        self._done.add(key)
        return True

    async def _route(self, row: dict) -> None:
        ticket_id = str(row["ticket_id"])
        unit, at = self.planned_unit(ticket_id), self.time_for(ticket_id)
        if unit is None or at is None or not self._once(row, "route"):
            return
        try:
            await self.console.assign(ticket_id, unit, "平台人工派单", at=at)
            self.tally.count("dispatcher_assigned")
        except ActionError as exc:
            if "merged" in exc.detail:  # merged into a case meanwhile: its primary is handled
                return
            if exc.kind == "console:409" and "while the ticket is assigned" in exc.detail:
                return  # the queue row was stale: the driver's own dispatcher routed it meanwhile
            self.tally.error(f"desk_assign:{exc.kind}", exc.detail)

    async def _review(self, row: dict) -> None:
        ticket_id = str(row["ticket_id"])
        at = self.time_for(ticket_id)
        if at is None or not self._once(row, "review"):
            return
        try:
            await self.console.review(ticket_id, accepted=True, at=at)
            self.tally.count("reply_reviewed")
        except ActionError as exc:
            self.tally.error(f"desk_review:{exc.kind}", exc.detail)
