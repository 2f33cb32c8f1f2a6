"""The sign-for deadline a unit is told, counted with sla's rule and working calendar.

`SignForRule` is `DispatchPolicy.sign_for_counted`: sla's policy (urgent: 2 calendar hours;
others: the end of the next working day) over a calendar that holds the official schedules sla
ships (services/sla/data/official) and, loaded over them, every schedule a supervisor loaded
into sla, as sla publishes them on `calendar.schedules` (adapters/calendar_feed.py). A
schedule is loaded by swapping in a new calendar (`WorkingCalendar.with_year`), never by
changing the one a count on another thread is using.
"""

from __future__ import annotations

from datetime import datetime

from services.sla.application.schedules import load_schedule_files
from services.sla.domain.calendar import OfficialSchedule, WorkingCalendar
from services.sla.domain.policy import SlaPolicy, sign_for_deadline
from services.sla.domain.policy import load_policy as load_sla_policy


class SignForRule:
    def __init__(self, policy: SlaPolicy | None = None,
                 calendar: WorkingCalendar | None = None):
        """Without a calendar: a new one with sla's shipped schedules loaded."""
        self.policy = policy or load_sla_policy()
        if calendar is None:
            calendar = WorkingCalendar()
            # the official schedules sla ships: without them a unit was told, and marked late
            # by, a deadline on a day sla counts as a holiday (2027's Spring Festival and
            # National Day are beyond the chinese-calendar package)
            load_schedule_files(calendar)
        self.calendar = calendar

    def __call__(self, urgency: str, at: datetime) -> datetime:
        calendar = self.calendar  # one calendar for the whole count
        return sign_for_deadline(self.policy, calendar, grade=urgency, assigned_at=at).due_at

    def load(self, schedule: OfficialSchedule) -> None:
        """Loads (or replaces) a year's schedule for the counts that start from now on."""
        self.calendar = self.calendar.with_year(schedule)
