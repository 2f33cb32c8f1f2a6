"""Wire the adapters, the boards and the driver for one run, and tear them down again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tools.simulator.drive.console import DispatcherConsole
from tools.simulator.drive.desk import DispatchDesk
from tools.simulator.drive.dispatch import AssignmentBoard, DepartmentSystems
from tools.simulator.drive.driver import DEFAULT_WAITS, Driver, Waits
from tools.simulator.drive.feedback import Feedback, NoticeBoard
from tools.simulator.drive.intake import IntakeAdapters
from tools.simulator.drive.settings import Endpoints
from tools.simulator.drive.tally import Tally
from tools.simulator.drive.units import UnitMap, load_registry
from tools.simulator.model import TicketTruth


@dataclass
class Session:
    driver: Driver
    board: AssignmentBoard
    notices: NoticeBoard
    tally: Tally


@contextlib.asynccontextmanager
async def open_session(endpoints: Endpoints, *, unit_names: dict[str, str],
                       truths: dict[str, TicketTruth], seed: int, waits: Waits = DEFAULT_WAITS,
                       replan: bool = True) -> AsyncIterator[Session]:
    """Everything a run needs, connected: the units' assignment streams are open and the
    notices are followed BEFORE the first submission, so nothing that follows is missed."""
    units = UnitMap(unit_names, load_registry())
    intake = IntakeAdapters(endpoints)
    systems = DepartmentSystems(endpoints)
    board = AssignmentBoard(systems, units.handling_units())
    console = DispatcherConsole(endpoints)
    feedback = Feedback(endpoints)
    notices = NoticeBoard(endpoints)
    tally = Tally()
    await board.start()
    await notices.start()
    # Give the streams a moment to open (each first reads its unit's open assignments).
    for _ in range(50):
        if len(board.connected) == len(board.units):
            break
        await asyncio.sleep(0.1)
    driver = Driver(intake=intake, systems=systems, board=board, console=console, feedback=feedback,
                    notices=notices, units=units, truths=truths, seed=seed, tally=tally,
                    waits=waits, replan=replan)
    desk = DispatchDesk(console, tally=tally, planned_unit=driver.planned_unit_of,
                        time_for=driver.desk_time)
    await desk.start()
    try:
        yield Session(driver, board, notices, tally)
    finally:
        await desk.stop()
        await board.stop()
        await notices.stop()
        for client in (intake, console, feedback, systems):
            with contextlib.suppress(Exception):
                await client.close()
