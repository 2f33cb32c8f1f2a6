"""An interim "needs longer" answer marks the explanation given, met or late against the
explanation deadline, and leaves the reply clock running."""

from services.sla.domain.clock import TicketClock


def test_an_explanation_is_marked_given_met_or_late_and_the_clock_runs_on(policy, calendar, sh):
    on_time = TicketClock.start(policy, calendar, ticket_id="T-1", clock_number=1,
                                grade="complex", accepted_at=sh("2024-11-04 10:00"))
    on_time.explain(at=sh("2024-11-06 09:00"))
    assert (on_time.explained, on_time.explained_late, on_time.status) == (True, False, "running")
    late = TicketClock.start(policy, calendar, ticket_id="T-2", clock_number=1,
                             grade="complex", accepted_at=sh("2024-11-04 10:00"))
    late.explain(at=late.explanation_due_at.replace(microsecond=0) + (sh("2024-11-05 10:00")
                                                                       - sh("2024-11-05 09:00")))
    assert (late.explained, late.explained_late, late.status) == (True, True, "running")
