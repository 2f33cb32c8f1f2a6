"""The jurisdiction-dispute episode as the platform really routes it.

The script says: 城管 gets the rubbish first and bounces it back, the platform sends it to 城南新区,
which bounces it back too, and the platform coordinates. But dispatch routes by territory
(属地管理) and may hand the ticket to 城南新区 FIRST. Played literally, 城南新区 would then bounce
back with 城管's words, the platform would "re-assign" it to the unit that just bounced (which
overrules that bounce-back), and 城南新区's second bounce-back is rightly refused: "the platform
has already decided that this unit handles it". Real units do not act like that; what they do:

- a ticket the platform must route by hand goes to the first disputant (城管), as in the script;
- whichever disputant holds it bounces it back with ITS OWN reason;
- the platform then sends it to the OTHER disputant, never back to the one that just bounced;
- the other disputant bounces too, the platform coordinates (as scripted).
"""

from __future__ import annotations

from tools.simulator.drive.units import UnitMap
from tools.simulator.episodes import DISPUTE, DISPUTE_ZONE, FIRST_UNIT, dispute_reasons
from tools.simulator.model import TicketTruth


class DisputeRoles:
    def __init__(self, units: UnitMap):
        self.units = units
        self.bounced: dict[str, list[str]] = {}  # ticket -> registry units that bounced it back

    @staticmethod
    def plays(truth: TicketTruth | None) -> bool:
        return truth is not None and truth.episode == DISPUTE

    def _registry(self, sim_unit: str) -> str:
        return self.units.registry_code(sim_unit) or sim_unit

    def disputants(self) -> list[str]:
        return [self._registry(FIRST_UNIT), self._registry(DISPUTE_ZONE)]

    def first_receiver(self) -> str:
        return self._registry(FIRST_UNIT)

    def reason(self, truth: TicketTruth, holder: str, scripted: str) -> str:
        """The bounce-back reason of the unit that actually holds the ticket."""
        own = {self._registry(u): r for u, r in dispute_reasons(truth.submitted_at.year).items()}
        return own.get(holder, scripted)

    def note_bounce(self, ticket: str, unit: str) -> None:
        self.bounced.setdefault(ticket, []).append(unit)

    def reassign_to(self, ticket: str, scripted: str, text: str) -> tuple[str, str]:
        """Where the platform sends the ticket after a bounce-back, and what it writes."""
        bounced = self.bounced.get(ticket, [])
        if not bounced or scripted != bounced[-1]:
            return scripted, text
        other = next((u for u in self.disputants() if u not in bounced), scripted)
        return other, f"请{self.units.name_of(other)}核实该路段保洁责任"
