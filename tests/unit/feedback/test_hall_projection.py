"""The hall's read model, without a database: lifecycle payloads -> facts -> public row."""

from datetime import UTC, datetime
from types import SimpleNamespace as P

from services.feedback.adapters.registry import Registry
from services.feedback.application.hall_projection import (
    EVENT_LABELS_ZH,
    FACT_UPDATES,
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
    # unit that no longer handled it, while the other merged tickets were not shown
    f = HallFacts(ticket_id="t3", ticket_code="FY3")
    apply(f, "TicketSubmitted", channel="web", text_masked="停水了", title_masked="",
          category_hint="", place=PLACE)
    apply(f, "TicketAccepted")
    apply(f, "TicketMergedIntoCase")
    apply(f, "TicketAssigned", unit="yingzhou.qinghe", role="lead", category="urban-management",
          subcategory="", request_type="complaint", county="yingzhou",
          subdistrict="yingzhou.qinghe", text_masked="", title_masked="", place=PLACE)
    apply(f, "AssignmentWithdrawn")
    assert f.status == "merged"
    assert not public_columns(f, T0, rules=load_hall_rules(), registry=REGISTRY)["shown"]
    apply(f, "TicketClosed", rating="satisfied")  # answered with its case, rated
    assert public_columns(f, T0, rules=load_hall_rules(), registry=REGISTRY)["shown"]


def test_a_merge_dispatch_refused_leaves_an_answered_ticket_answered_in_the_hall() -> None:
    # a hand merge of a ticket whose unit had just replied: dispatch refused it and intake
    # undid it; the hall showed 受理 (accepted) for a ticket whose answer it had shown
    f = story()
    apply(f, "ReplyReviewed", accepted=True, reply_masked="已修复", outcome="resolved",
          unit="yingzhou.qinghe", interim=False)
    apply(f, "TicketMergedIntoCase")
    apply(f, "TicketUnmergedFromCase")
    assert (f.status, f.reply) == ("replied", "已修复")
    g = story()  # an ordinary merge (dispatch withdrew the assignment) and its undo
    apply(g, "TicketMergedIntoCase")
    assert g.status == "merged"
    apply(g, "AssignmentWithdrawn", unit="yingzhou.qinghe")
    apply(g, "TicketUnmergedFromCase")
    assert g.status == "accepted"


def test_a_refused_merge_of_a_reply_awaiting_review_shows_the_ticket_in_progress_again() -> None:
    # the unit replied (办理中 until the platform accepts the reply); a hand merge came, which
    # dispatch refused, and intake undid it: the hall shows it in progress, not 受理
    f = story()
    apply(f, "AssignmentReplied")
    assert f.status == "in_progress"
    apply(f, "TicketMergedIntoCase")
    apply(f, "TicketMergedIntoCase")  # a copy: still the status the first one found
    apply(f, "TicketUnmergedFromCase")
    assert f.status == "in_progress"
    g = story()  # a merge dispatch took (the assignment withdrawn), undone: routed again
    apply(g, "AssignmentSignedFor")
    apply(g, "TicketMergedIntoCase")
    apply(g, "AssignmentWithdrawn", unit="yingzhou.qinghe")
    apply(g, "TicketUnmergedFromCase")
    assert g.status == "accepted"
