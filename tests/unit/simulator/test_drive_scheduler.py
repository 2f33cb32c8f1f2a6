"""The driver's scheduler: per-ticket order, bounded concurrency, bounded event-time lag."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tools.simulator.drive.errors import TicketGaveUpError
from tools.simulator.drive.replan import REPLANNED_STEP, replan_tail
from tools.simulator.drive.scheduler import LiveScheduler, Scheduler
from tools.simulator.model import SimAction

T0 = datetime(2026, 11, 2, 9, 0)


def act(ticket: str, step: int, minutes: float, kind: str = "note") -> SimAction:
    return SimAction(T0 + timedelta(minutes=minutes), ticket, step, kind, "unit:x", {})


async def test_a_tickets_actions_run_in_order_and_others_overlap():
    log: list[tuple[str, str, int]] = []
    gate = asyncio.Event()

    async def run(action: SimAction) -> None:
        log.append(("start", action.ticket, action.step))
        if action.ticket == "A" and action.step == 0:
            await gate.wait()  # A's first action is slow ...
        log.append(("end", action.ticket, action.step))

    async def open_gate() -> None:
        while ("end", "B", 0) not in log:
            await asyncio.sleep(0)
        gate.set()

    scheduler = Scheduler(run, concurrency=4, max_lag=timedelta(hours=1))
    scheduler.add([act("A", 0, 0), act("A", 1, 1), act("B", 0, 2)])
    await asyncio.gather(scheduler.run(), open_gate())
    # ... B overtakes it, but A's second action waits for A's first.
    assert log.index(("end", "B", 0)) < log.index(("end", "A", 0))
    assert log.index(("end", "A", 0)) < log.index(("start", "A", 1))


async def test_in_flight_actions_never_exceed_the_concurrency():
    running, most = 0, 0

    async def run(action: SimAction) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001)
        running -= 1

    scheduler = Scheduler(run, concurrency=3, max_lag=timedelta(days=1))
    scheduler.add(act(f"T{i}", 0, i) for i in range(20))
    await scheduler.run()
    assert most == 3


async def test_no_action_starts_while_a_much_older_one_is_pending():
    started: list[str] = []
    release = asyncio.Event()

    async def run(action: SimAction) -> None:
        started.append(action.ticket)
        if action.ticket == "old":
            await release.wait()

    async def watch() -> None:
        while "near" not in started:
            await asyncio.sleep(0)
        for _ in range(20):  # give the walker every chance to (wrongly) start "far"
            await asyncio.sleep(0)
        assert "far" not in started
        release.set()

    scheduler = Scheduler(run, concurrency=8, max_lag=timedelta(minutes=30))
    scheduler.add([act("old", 0, 0), act("near", 0, 20), act("far", 0, 90)])
    await asyncio.gather(scheduler.run(), watch())
    assert started == ["old", "near", "far"]


async def test_a_ticket_that_gave_up_skips_its_remaining_actions():
    done: list[tuple[str, int, str | None]] = []

    async def run(action: SimAction) -> None:
        if action.step == 0:
            raise TicketGaveUpError("rejected")

    scheduler = Scheduler(run, on_done=lambda a, e: done.append((a.ticket, a.step, getattr(e, "kind", None))))
    scheduler.add([act("A", 0, 0), act("A", 1, 5), act("A", 2, 10)])
    await scheduler.run()
    assert done == [("A", 0, "rejected"), ("A", 1, "skipped_after:rejected"),
                    ("A", 2, "skipped_after:rejected")]


async def test_replacing_a_tickets_rest_runs_the_new_actions_instead():
    seen: list[tuple[str, int]] = []
    forgotten: list[int] = []
    scheduler: Scheduler

    async def run(action: SimAction) -> None:
        seen.append((action.ticket, action.step))
        if action.ticket == "A" and action.step == 0:
            forgotten.append(scheduler.replace_rest_of("A", [act("A", 100, 30), act("A", 101, 40)]))

    scheduler = Scheduler(run, max_lag=timedelta(minutes=1))
    scheduler.add([act("A", 0, 0), act("A", 1, 60), act("A", 2, 70), act("B", 0, 50)])
    await scheduler.run()
    assert seen == [("A", 0), ("A", 100), ("A", 101), ("B", 0)]
    assert forgotten == [2]


def test_a_replanned_tail_is_deterministic_and_after_the_moment_of_replanning():
    from tools.simulator import build_plan

    plan = build_plan(seed=5, days=2, per_day=40, episodes=False)
    truth = next(t for t in plan.truths.values() if t.handling_unit != "county.taihe")
    after = truth.submitted_at + timedelta(hours=1)
    tail = replan_tail(truth, "county.taihe", seed=5, after=after)
    assert tail == replan_tail(truth, "county.taihe", seed=5, after=after)
    assert tail and all(a.at >= after and a.step >= REPLANNED_STEP for a in tail)
    assert tail[0].kind in ("sign_for", "bounce_back")
    assert any(a.kind == "reply" for a in tail)


async def test_live_pacing_divides_simulated_delays_by_the_speed():
    seen: list[int] = []

    async def run(action: SimAction) -> None:
        seen.append(action.step)

    live = LiveScheduler(run, speed=3600 * 100)  # an hour passes in 10 ms
    live.start_ticket(T0, [act("L", 0, 0), act("L", 1, 60), act("L", 2, 120)])
    for _ in range(200):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.01)
    assert seen == [0, 1, 2]
    await live.stop()
