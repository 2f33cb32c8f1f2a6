"""The SLA service's configuration (environment variables, prefix MINSHENG_)."""

from __future__ import annotations

from backbone.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    service: str = "sla"
    http_port: int = 8103
    # How often the timer loop looks for due deadlines, warnings and escalations (wall time).
    timer_interval_ms: int = 250
    timer_batch: int = 200  # tickets fired per transaction
    # While events flow, the lifecycle consumer's fetch waits for 64 KB or this many ms
    # (backbone.consumer.gather): sla is on no one's request path (dispatch routes, feedback
    # answers), and each batch costs ~3 ms of CPU and a commit whatever it holds; at the
    # routing path's 20 ms a batch held ~1.8 events. 0: answer at the first byte. At make
    # bench's ~23 tickets/s 100 ms ended every gather (64 KB takes ~300 ms): 300 ms is ~3x
    # the tickets a batch, 1.96 -> 1.25 ms of the consumer's CPU per ticket
    # (bench.consumer_cost --service sla --rate 23, docs/profiles/feedback-cpu.md); SLA's
    # events (deadlines set and met) then reach the topic up to 300 ms after their cause.
    sla_gather_ms: int = 300
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
