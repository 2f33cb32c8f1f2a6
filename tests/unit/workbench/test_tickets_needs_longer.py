"""需较长时间办理 on the staff list: told why and by when, the ticket is still open with its
unit (需较长时间办理, among the open ones), not 已回复市民, until the final reply."""

from __future__ import annotations

from minsheng.v1 import dispatch_events_pb2 as d
from minsheng.v1 import feedback_events_pb2 as f
from minsheng.v1 import intake_events_pb2 as i

from services.workbench.adapters.readmodel import OPEN
from services.workbench.domain.words import STATUS_ZH
from tests.unit.workbench.test_tickets import ASSIGNED, SUBMITTED, play

UNIT = "city-lighting"
STEPS = (SUBMITTED, ("TicketAccepted", i.TicketAccepted()), ASSIGNED,
         ("AssignmentSignedFor", d.AssignmentSignedFor(unit=UNIT)),
         ("AssignmentReplied", d.AssignmentReplied(unit=UNIT, outcome="needs_longer",
                                                   expected_by="2026-12-20", reply_masked="需排期")),
         ("ReplyReviewed", d.ReplyReviewed(unit=UNIT, accepted=True, interim=True,
                                           outcome="needs_longer", expected_by="2026-12-20")),
         ("CitizenNotified", f.CitizenNotified(unit=UNIT, outcome="needs_longer")))


def test_an_interim_answer_leaves_the_ticket_open_with_its_unit():
    row = play(*STEPS)
    assert (row.status, row.unit) == ("needs_longer", UNIT)
    assert row.status in OPEN and STATUS_ZH[row.status] == "需较长时间办理"
    final = play(*STEPS,
                 ("AssignmentReplied", d.AssignmentReplied(unit=UNIT, outcome="resolved")),
                 ("ReplyReviewed", d.ReplyReviewed(unit=UNIT, accepted=True, outcome="resolved")),
                 ("DispatchClosed", d.DispatchClosed(unit=UNIT)),
                 ("CitizenNotified", f.CitizenNotified(unit=UNIT, outcome="resolved",
                                                       reply_round=1)))
    assert final.status == "notified"
