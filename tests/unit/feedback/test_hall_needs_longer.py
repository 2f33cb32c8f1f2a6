"""需较长时间办理 in the hall: the unit's explanation is shown, but the ticket is 办理中 (not
答复) until the final reply; followers read that the citizen was told it needs longer."""

from __future__ import annotations

from types import SimpleNamespace as P

from services.feedback.application.hall_projection import event_label
from tests.unit.feedback.test_hall_projection import apply, story


def test_an_interim_answer_is_shown_in_progress_and_labelled_for_followers() -> None:
    f = story()
    apply(f, "ReplyReviewed", accepted=True, interim=True, reply_masked="需协调多个部门",
          outcome="needs_longer", unit="yingzhou.qinghe")
    assert (f.status, f.reply, f.outcome) == ("in_progress", "需协调多个部门", "needs_longer")
    apply(f, "ReplyReviewed", accepted=True, reply_masked="已修复", outcome="resolved",
          unit="yingzhou.qinghe")
    assert (f.status, f.reply) == ("replied", "已修复")
    told = event_label("CitizenNotified", P(outcome="needs_longer"))
    assert told == "已告知群众需较长时间办理"
    assert event_label("CitizenNotified", P(outcome="resolved")) == "已答复群众"
