from datetime import UTC, datetime

from services.feedback.domain.case_links import CaseLinks

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def test_links_are_kept_once_and_can_be_undone() -> None:
    links = CaseLinks(primary_ticket_id="P", timestamp=T0)
    links.link(ticket_id="L1", ticket_code="FY1", case_id="c", at=T0)
    links.link(ticket_id="L1", ticket_code="FY1", case_id="c", at=T0)  # redelivered
    links.link(ticket_id="P", ticket_code="FY0", case_id="c", at=T0)  # the primary itself
    assert links.linked == {"L1": "FY1"}
    links.unlink(ticket_id="L1", reason="not a duplicate", at=T0)
    links.unlink(ticket_id="L1", reason="again", at=T0)
    assert links.linked == {}
    assert [type(e).__name__ for e in links.collect_events()] == ["Opened", "Linked", "Unlinked"]
    assert CaseLinks.create_id("P") == CaseLinks.create_id("P") != CaseLinks.create_id("Q")


def test_a_link_from_a_merge_is_pending_until_that_merge_is_taken_or_refused() -> None:
    links = CaseLinks(primary_ticket_id="P", timestamp=T0)
    links.link(ticket_id="L1", ticket_code="FY1", case_id="c", at=T0, merge_event_id="m1")
    links.link(ticket_id="L2", ticket_code="FY2", case_id="c", at=T0, merge_event_id="m2")
    links.link(ticket_id="L3", ticket_code="FY3", case_id="c", at=T0)  # names no merge: taken
    assert links.taken == {"L3": "FY3"} and links.pending == {"L1": "m1", "L2": "m2"}
    assert not links.take(ticket_id="L1", merge_event_id="m0", at=T0)  # another merge
    assert links.take(ticket_id="L1", merge_event_id="m1", at=T0)
    assert not links.take(ticket_id="L1", merge_event_id="m1", at=T0)  # a copy
    assert not links.refuse(ticket_id="L1", merge_event_id="m1", reason="x", at=T0)  # taken
    assert links.refuse(ticket_id="L2", merge_event_id="m2", reason="已答复", at=T0)
    assert links.taken == {"L1": "FY1", "L3": "FY3"} and links.pending == {}
    assert [type(e).__name__ for e in links.collect_events()] == [
        "Opened", "Linked", "Linked", "Linked", "Taken", "Unlinked"]
