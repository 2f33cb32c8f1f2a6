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
