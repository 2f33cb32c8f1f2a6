"""The SLA service's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from backbone.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    service: str = "sla"
    http_port: int = 8103
    # How often the timer loop looks for due deadlines, warnings and escalations (wall time).
    timer_interval_ms: int = 250
    timer_batch: int = 200  # tickets fired per transaction
    # Wall-clock mode only: fire a timer this long after its instant, so that an upstream
    # event stamped just before it (but delivered a little later) still wins.
    timer_grace_s: float = 0.0
    # Extension requests of at most this many working days (and within the policy's caps) are
    # approved at once by the auto policy; longer ones wait for a supervisor. 0: none.
    extension_auto_approve_days: int = 3
    # Also publish each unit's SLA events on its ``assignments.<unit>`` topic, so the unit's
    # systems see warnings, overdue and supervision orders where they see their assignments.
    publish_unit_topics: bool = True
    # Due-soon lists: clocks due by the end of the k-th working day from today.
    due_soon_working_days: int = 1
