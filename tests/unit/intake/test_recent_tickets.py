"""The detector's in-memory candidates give what the index's query gives (ticket_index
.duplicate_candidate_rows): same window, category, box, most recent first, at most `limit`."""

import math
import random
from datetime import UTC, datetime, timedelta

from services.intake.domain.duplicates import TicketSnapshot
from services.intake.domain.recent_tickets import RecentTickets

T = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=72)


def _snap(i: int, rng: random.Random) -> TicketSnapshot:
    pinned = rng.random() < 0.5
    return TicketSnapshot(ticket_id=f"t{i}", text=f"第{i}个", submitted_at=T + timedelta(
        hours=rng.uniform(0, 200)), category=rng.choice([None, "路灯", "噪音", "道路"]),
        lat=32.89 + rng.uniform(-0.03, 0.03) if pinned else None,
        lon=115.81 + rng.uniform(-0.03, 0.03) if pinned else None)


def _as_the_index_would(new, kept, radius_m, limit):
    lo, hi = new.submitted_at - WINDOW, new.submitted_at + WINDOW
    dlat = radius_m / 111_000
    found = []
    for s in kept:
        if s.ticket_id == new.ticket_id or not lo <= s.submitted_at <= hi:
            continue
        if new.category and s.category not in (None, new.category):
            continue
        if new.lat is not None and s.lat is not None:
            dlon = radius_m / (111_000 * max(0.1, math.cos(math.radians(new.lat))))
            if not (abs(s.lat - new.lat) <= dlat and abs(s.lon - new.lon) <= dlon):
                continue
        found.append(s)
    found.sort(key=lambda s: s.submitted_at, reverse=True)
    return [s.ticket_id for s in found[:limit]]


def test_candidates_are_the_index_queries_answer():
    rng = random.Random(7)
    recent = RecentTickets(WINDOW, keep=timedelta(days=30))
    recent.start(T - timedelta(days=1), 0, [])
    kept = []
    for i in range(1, 1500):  # out of time order, as stated times arrive
        s = _snap(i, rng)
        recent.submitted_ticket(f"C{i}", s)
        recent.accepted(s.ticket_id, position=i)
        kept.append(s)
    for i in range(200):
        new = _snap(10_000 + i, rng)
        got = [c.snapshot.ticket_id for c in recent.candidates(new, radius_m=1000,
                                                               before=10**9, limit=40)]
        want = _as_the_index_would(new, kept, 1000, 40)
        assert set(got) == set(want) and len(got) == len(want)


def test_a_stretch_read_again_sees_only_what_was_accepted_before():
    recent = RecentTickets(WINDOW)
    recent.start(T - timedelta(days=1), 0, [])
    for i in range(1, 6):
        s = TicketSnapshot(f"t{i}", "路灯不亮", T + timedelta(minutes=i), None, None, None)
        recent.submitted_ticket(f"C{i}", s)
        recent.accepted(s.ticket_id, position=i * 10)
    new = TicketSnapshot("t3", "路灯不亮", T + timedelta(minutes=3), None, None, None)
    assert {c.snapshot.ticket_id for c in recent.candidates(new, radius_m=1000, before=30)} \
        == {"t1", "t2"}


def test_old_tickets_are_forgotten_and_their_time_left_to_the_index():
    recent = RecentTickets(WINDOW)
    recent.start(T, 0, [])
    for i in range(1, 20):
        s = TicketSnapshot(f"t{i}", "x", T + timedelta(days=i), None, None, None)
        recent.submitted_ticket(f"C{i}", s)
        recent.accepted(s.ticket_id, position=i)
    assert recent.covered_from >= T + timedelta(days=19) - recent.keep - WINDOW / 10
    assert "t1" not in recent.by_id and "t19" in recent.by_id
    old = TicketSnapshot("n", "x", T + timedelta(days=2), None, None, None)
    assert not recent.covers(old)
    assert recent.covers(TicketSnapshot("n", "x", T + timedelta(days=19), None, None, None))


def test_a_rejected_submission_is_never_a_candidate_and_cases_are_kept():
    recent = RecentTickets(WINDOW)
    recent.start(T - timedelta(days=1), 0, [])
    a = TicketSnapshot("a", "x", T, None, None, None)
    b = TicketSnapshot("b", "x", T, None, None, None)
    recent.submitted_ticket("CA", a)
    recent.submitted_ticket("CB", b)
    recent.decided("b")
    recent.accepted("a", 1)
    recent.accepted("b", 2)
    recent.case_of("a", "case-1")
    assert list(recent.by_id) == ["a"] and recent.by_id["a"].case_id == "case-1"


def test_the_kept_span_is_the_projectors_setting_and_bounds_the_window():
    """`duplicate_keep_hours`: candidates within that span of the newest (at least the
    window; twice it unless told); what falls out is answered by the index (`covers`)."""
    from services.intake.application.projector import TicketProjector

    def kept(hours: float | None) -> timedelta:
        keep = timedelta(hours=hours) if hours is not None else None
        return TicketProjector(app=None, index=None, schema="x", keep=keep).recent.keep

    assert kept(None) == kept(0) == 2 * WINDOW
    assert kept(90) == timedelta(hours=90) and kept(10) == WINDOW
    recent = RecentTickets(WINDOW, keep=timedelta(hours=90))
    recent.start(T, 0, [])
    for i in range(1, 24 * 12):  # twelve days, a ticket an hour
        s = TicketSnapshot(f"t{i}", "x", T + timedelta(hours=i), None, None, None)
        recent.submitted_ticket(f"C{i}", s)
        recent.accepted(s.ticket_id, position=i)
        assert len(recent.by_id) <= 90 + WINDOW / 10 / timedelta(hours=1) + 1
    newest = T + timedelta(hours=24 * 12 - 1)
    late = TicketSnapshot("n", "x", newest - timedelta(hours=30), None, None, None)
    assert not recent.covers(late)  # 30 h behind: past the 90 - 72 h (+ a tenth of a window)
    assert recent.covers(TicketSnapshot("n", "x", newest - timedelta(hours=10), None, None, None))
