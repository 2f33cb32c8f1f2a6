"""City simulator: a deterministic stream of citizen requests for Fuyang and everything that follows.

Phase 1 is pure data: ``build_plan`` returns a ``SimPlan`` (time-ordered ``SimAction``s, per-ticket
``TicketTruth`` and planted ``Episode``s). A later phase drives the real services with it.
"""

from tools.simulator.model import ACTION_KINDS, Episode, SimAction, SimPlan, TicketTruth
from tools.simulator.plan import DEFAULT_START, DEMO_PER_DAY, FULL_SCALE_PER_DAY, build_plan
from tools.simulator.texts import CHANNELS, TEXT_FIELDS

__all__ = [
    "ACTION_KINDS", "CHANNELS", "DEFAULT_START", "DEMO_PER_DAY", "FULL_SCALE_PER_DAY", "TEXT_FIELDS",
    "Episode", "SimAction", "SimPlan", "TicketTruth", "build_plan",
]
