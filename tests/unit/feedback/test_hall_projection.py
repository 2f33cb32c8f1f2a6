"""The hall's read model, without a database: lifecycle payloads -> facts -> public row."""

from datetime import UTC, datetime
from types import SimpleNamespace as P

from services.feedback.adapters.registry import Registry
from services.feedback.application.hall_projection import (
    EVENT_LABELS_ZH,
    FACT_UPDATES,
    TOLD_IF_CHANGED,
    HallFacts,
    public_columns,
)
from services.feedback.application.handlers import hall
from services.feedback.domain.hall import load_hall_rules

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
REGISTRY = Registry(unit_names={"yingzhou.qinghe": "颍州区清河街道"},
                    county_names={"yingzhou": "颍州区"},
                    subdistrict_names={"yingzhou.qinghe": "清河街道"},
                    category_names={"urban-management": "城市管理"})
PLACE = P(county="", subdistrict="", address_masked="人民路*号")


def apply(facts: HallFacts, event_type: str, **payload) -> HallFacts:
    FACT_UPDATES[event_type](facts, P(**payload))
    return facts


def story(request_type: str = "complaint") -> HallFacts:
    f = HallFacts(ticket_id="t1", ticket_code="FY1")
    apply(f, "TicketSubmitted", channel="web", text_masked="我叫李*，人民路*号路灯坏了",
          title_masked="", category_hint="", place=PLACE)
    apply(f, "TicketAccepted")
    apply(f, "TicketAssigned", unit="yingzhou.qinghe", role="lead", category="urban-management",
          subcategory="", request_type=request_type, county="yingzhou",
          subdistrict="yingzhou.qinghe", text_masked="", title_masked="", place=PLACE)
    return f


def test_a_ticket_walks_through_the_hall_statuses_and_closed_stays_closed() -> None:
    f = story()
    assert f.status == "assigned" and f.units == ["yingzhou.qinghe"]
    apply(f, "ReplyReviewed", accepted=False, reply_masked="x", outcome="resolved", unit="")
    assert f.status == "assigned" and f.reply == ""  # a reply sent back is not shown
    apply(f, "ReplyReviewed", accepted=True, reply_masked="已修复", outcome="resolved", unit="")
    apply(f, "TicketRated", rating="dissatisfied")
    apply(f, "TicketReopened", reopen_count=1)
    assert f.status == "reopened" and f.verdict == "dissatisfied"
    apply(f, "TicketClosed", rating="satisfied")
    apply(f, "AssignmentSignedFor")  # a late, stray fact
    assert f.status == "closed" and f.verdict == "satisfied"


def test_public_columns_are_district_level_masked_and_hide_reports() -> None:
    public = public_columns(story(), T0, rules=load_hall_rules(), registry=REGISTRY)
    assert public["shown"] and public["place"] == "颍州区 清河街道"
    assert public["category"] == "城市管理" and public["unit_name"] == "颍州区清河街道"
    assert "人民路*号" not in public["text_public"]  # the known address is cut out
    report = public_columns(story("report"), T0, rules=load_hall_rules(), registry=REGISTRY)
    assert not report["shown"]
    rejected = apply(HallFacts(ticket_id="t2", ticket_code="FY2"), "TicketRejected")
    assert not public_columns(rejected, T0, rules=load_hall_rules(), registry=REGISTRY)["shown"]


def test_an_event_that_changes_no_fact_leaves_the_snapshot_equal() -> None:
    f = story()
    before = f.snapshot()
    apply(f, "ReplyReviewed", accepted=False, reply_masked="x", outcome="resolved", unit="")
    assert f.snapshot() == before  # no write, no new updated_at
    apply(f, "TicketAssigned", unit="yingzhou.other", role="co_handling", category="",
          subcategory="", request_type="", county="", subdistrict="", text_masked="",
          title_masked="", place=PLACE)
    assert f.snapshot() != before  # a unit appended to the list in place is a change


def test_the_hall_reads_the_event_types_it_shows_or_tells_followers_of_and_no_others() -> None:
    table = hall(P(project=lambda *a: None, project_batch=lambda *a: None))
    assert set(table.table) == set(EVENT_LABELS_ZH)  # each one a follower can read
    assert "DeadlineSet" not in table.table and "NoticeDelivered" not in table.table


def test_a_ticket_merged_before_dispatch_assigned_it_leaves_the_hall_when_withdrawn() -> None:
    # the demo month's FY-261110-00014-K: merged into its case, then assigned by dispatch
    # (which had not yet heard of the merge), then withdrawn; the hall showed it 已交办 to a
    # unit that no longer handled it, while the other merged tickets were not shown. Also a
    # merge taken before takes were said: its AssignmentWithdrawn (with the case) is all there is
    f = HallFacts(ticket_id="t3", ticket_code="FY3")
    apply(f, "TicketSubmitted", channel="web", text_masked="停水了", title_masked="",
          category_hint="", place=PLACE)
    apply(f, "TicketAccepted")
    apply(f, "TicketAssigned", unit="yingzhou.qinghe", role="lead", category="urban-management",
          subcategory="", request_type="complaint", county="yingzhou",
          subdistrict="yingzhou.qinghe", text_masked="", title_masked="", place=PLACE)
    apply(f, "AssignmentWithdrawn", unit="yingzhou.qinghe", case_id="c-1",
          primary_ticket_id="t0")
    assert (f.status, f.case_id) == ("merged", "c-1")
    assert not public_columns(f, T0, rules=load_hall_rules(), registry=REGISTRY)["shown"]
    apply(f, "TicketClosed", rating="satisfied")  # answered with its case, rated
    assert public_columns(f, T0, rules=load_hall_rules(), registry=REGISTRY)["shown"]


def test_intakes_merge_changes_nothing_in_the_hall_and_is_not_read() -> None:
    # dispatch may refuse it (the unit had replied): the hall shows a merge once it is taken
    assert "TicketMergedIntoCase" not in FACT_UPDATES
    assert "TicketMergedIntoCase" not in EVENT_LABELS_ZH  # no follower is told of it
    table = hall(P(project=lambda *a: None, project_batch=lambda *a: None))
    assert "TicketMergedIntoCase" not in table.table and "CaseMergeRefused" not in table.table
    assert EVENT_LABELS_ZH["CaseMergeTaken"] == "已并案办理"
    assert set(TOLD_IF_CHANGED) == {"TicketUnmergedFromCase"}


def test_a_merge_dispatch_took_shows_merged_and_its_undo_routes_the_ticket_again() -> None:
    f = story()  # an unassigned ticket's take has no withdrawal; a held one's has one first
    apply(f, "CaseMergeTaken", case_id="c-1", primary_ticket_id="t0", primary_code="FY0",
          merge_event_id="m-1")
    assert (f.status, f.case_id, f.primary_code) == ("merged", "c-1", "FY0")
    assert not public_columns(f, T0, rules=load_hall_rules(), registry=REGISTRY)["shown"]
    before = f.snapshot()
    apply(f, "TicketUnmergedFromCase", case_id="c-1", primary_ticket_id="t0", reason="",
          by="dispatcher-1")
    assert f.snapshot() != before  # a change: its followers are told 已取消并案
    assert (f.status, f.case_id, f.primary_code) == ("accepted", "", "")
    g = story()
    apply(g, "AssignmentSignedFor")
    apply(g, "AssignmentWithdrawn", unit="yingzhou.qinghe", case_id="c-2",
          primary_ticket_id="t0")
    apply(g, "CaseMergeTaken", case_id="c-2", primary_ticket_id="t0", primary_code="FY0",
          merge_event_id="m-2")
    assert (g.status, g.case_id, g.primary_code) == ("merged", "c-2", "FY0")
    apply(g, "TicketUnmergedFromCase", case_id="c-2", primary_ticket_id="t0", reason="",
          by="dispatcher-1")
    assert g.status == "accepted"


def test_a_merge_dispatch_refused_changes_nothing_and_its_undo_tells_no_one() -> None:
    # a hand merge of a ticket whose unit had replied (answered, or a reply awaiting review):
    # dispatch refused it, intake undid it. The hall never showed the merge: the row is as it
    # was, and the undo changes no fact (so the consumer writes nothing and notifies no one)
    f = story()
    apply(f, "ReplyReviewed", accepted=True, reply_masked="已修复", outcome="resolved",
          unit="yingzhou.qinghe", interim=False)
    g = story()
    apply(g, "AssignmentReplied")
    for facts, status in ((f, "replied"), (g, "in_progress")):
        before = facts.snapshot()
        apply(facts, "TicketUnmergedFromCase", case_id="c-1", primary_ticket_id="t0",
              reason="已答复", by="dispatch")
        assert facts.snapshot() == before and facts.status == status
