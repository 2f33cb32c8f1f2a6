"""The bench's pure parts: /proc parsing, the open loop's schedule, py-spy summaries, stats and
the report's summary rows (one per figure of the performance issue, the median last)."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

from bench import procs
from bench.open_loop import schedule
from bench.profile import frame_name, package, summarise
from bench.report import (
    BY_HAND,
    med_each,
    num,
    summary,
    summary_table,
    write_cprofiles,
    write_report,
)
from bench.stats import median, percentile

TICK = os.sysconf("SC_CLK_TCK")


def stat_line(pid: int, ppid: int, utime: int, stime: int, cutime: int, cstime: int,
              rss_pages: int, comm: str = "python") -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
    return (f"{pid} ({comm}) S {ppid} 1 1 0 -1 4194304 10 0 0 0 {utime} {stime} {cutime} "
            f"{cstime} 20 0 4 0 100 1000000 {rss_pages} 18446744073709551615 0 0 0")


def test_parse_stat_reads_cpu_children_and_rss_even_with_odd_names():
    s = procs.parse_stat(stat_line(42, 7, 100, 50, 30, 20, 256, comm="a (b) c"))
    assert (s.pid, s.ppid) == (42, 7)
    assert math.isclose(s.own_s, 150 / TICK)
    assert math.isclose(s.children_s, 50 / TICK)
    assert s.rss_bytes == 256 * procs.PAGE


def test_a_tree_counts_live_descendants_and_reaped_children():
    stats = {p.pid: p for p in (procs.parse_stat(stat_line(1, 0, 100, 0, 40, 0, 10)),
                                procs.parse_stat(stat_line(2, 1, 10, 0, 0, 0, 5)),
                                procs.parse_stat(stat_line(3, 2, 5, 0, 0, 0, 5)),
                                procs.parse_stat(stat_line(4, 99, 1000, 0, 0, 0, 5)))}
    assert sorted(procs.descendants(1, stats)) == [1, 2, 3]
    assert math.isclose(procs.tree_cpu_s(1, stats), (100 + 40 + 10 + 5) / TICK)
    assert procs.tree_rss_bytes(1, stats) == 20 * procs.PAGE
    assert procs.tree_cpu_s(77, stats) == 0.0


def test_machine_busy_counts_every_core_and_treats_iowait_as_idle(tmp_path: Path):
    stat = tmp_path / "stat"
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    before = procs.machine_ticks(stat)
    assert before == (1000, 850)
    stat.write_text("cpu  250 0 100 850 50 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")
    assert procs.machine_busy_pct(before, procs.machine_ticks(stat)) == 80.0  # 200 busy of 250
    assert math.isnan(procs.machine_busy_pct(before, before))
    live = procs.machine_ticks()
    assert live[0] > live[1] > 0


def test_listening_inodes_finds_the_port_in_listen_state_only():
    lines = [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 0100007F:4A64 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 5551 1",
        "   1: 0100007F:4A64 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  0 0 5552 1",
        "   2: 0100007F:D888 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 5553 1",
    ]
    assert procs.listening_inodes(lines, 0x4A64) == {"5551"}
    assert procs.listening_inodes(lines, 55432) == {"5553"}


def test_this_process_is_measurable():
    meter = procs.CpuMeter({"me": os.getpid()}).start()
    began = time.process_time()
    while time.process_time() - began < 0.2:  # CPU, not wall time: a loaded machine is fine
        sum(i * i for i in range(10_000))
    used = time.process_time() - began
    measured = meter.stop()["me"]
    assert used / 2 <= measured <= 2 * used + 0.1, (measured, used)  # /proc counts 10 ms ticks
    with procs.RssSampler({"me": os.getpid()}, every=0.01) as rss:
        pass
    assert rss.max_mb["me"] > 1


def test_the_open_loop_is_due_at_fixed_intervals_whatever_happens():
    assert schedule(4, 50) == [0.0, 0.02, 0.04, 0.06]
    assert schedule(0, 50) == []


def test_profile_summary_folds_lines_and_counts_self_and_inclusive():
    lines = [
        "<module> (services/x/__main__.py:3);run (asyncio/base_events.py:640);"
        "handle (/work/main/services/x/consumer.py:42) 6",
        "<module> (services/x/__main__.py:3);run (asyncio/base_events.py:640);"
        "handle (/work/main/services/x/consumer.py:57);"
        "execute (/work/main/.venv/lib/python3.11/site-packages/psycopg/cursor.py:97) 4",
        "garbage",
    ]
    s = summarise("x", lines, top=3)
    assert s.samples == 10
    assert s.top_self == [("handle (services/x/consumer.py)", 6), ("execute (psycopg/cursor.py)", 4)]
    assert s.top_inclusive == [("handle (services/x/consumer.py)", 10)]  # our code only
    assert s.by_package == [("services/x", 6), ("psycopg", 4)]
    assert package("select (selectors.py)") == "selectors"
    assert package("f (backbone/store.py)") == "backbone"
    assert frame_name("select (/usr/lib/python3.11/selectors.py:468)") == "select (selectors.py)"


def test_stats():
    assert math.isnan(percentile([], 99))
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([5.0], 50) == 5.0
    assert percentile(list(range(1, 201)), 99) == 198
    assert percentile([1, 2, 3, 4], 50) == 2
    assert median([3, 1, 2]) == 2


def results() -> dict:
    e2e = [{"tickets_per_second": t, "cpu_ms_per_ticket": c, "cpu_ms_per_ticket_with_infra": c + 10,
            "cpu_ms_each": {"intake": c / 2, "dispatch": c / 2},
            "cpu_ms_infra": {"kafka": 4, "postgresql": 6}, "rss_max_mb": {"intake": 90, "dispatch": r}}
           for t, c, r in ((90, 14, 120), (110, 10, 160), (120, 11, 140))]
    return {
        "machine": {"nproc": 2, "memory_gib": 8, "cpu": "x", "python": "3.11", "kernel": "k",
                    "date": "2026-12-05 15:00 UTC", "load_average_1m": 0.1},
        "args": {"repeats": 3, "concurrency": 32},
        "end_to_end": e2e,
        "open_loop": [{"offered_per_s": 50.0, "assign_p50_ms": p, "assign_p99_ms": 3 * p} for p in (40, 60, 50)],
        "intake": [{"per_second": 600, "p99_ms": 80}],
        "backbone": [{"relay_messages_per_s": 20_000, "store_appends_per_s": 5_000,
                      "store_mean_commands_per_transaction": 100, "message_bytes": 200}],
        "kafka": [{"per_second": 30_000}],
        "postgres": [{"rows_per_second": 20_000}],
        "audit_replay": {"rows": 1_000_000, "runs": [{"verified_ms_p99": 4.0}, {"verified_ms_p99": 6.0},
                                                     {"verified_ms_p99": 4.5}]},
        "analytics_rebuild": [{"events_per_second": 50_000}],
        "idle": [{"ours_pct": 2.0, "kafka_pct": 1.0, "postgresql_pct": 0.5}],
    }


def test_summary_has_one_row_per_figure_of_the_issue_with_medians_and_verdicts():
    rows = summary(results())
    assert [r.figure.split(",")[0].split(":")[0] for r in rows] == [
        "end to end", "CPU per full ticket", "the same with Kafka and PostgreSQL",
        "open loop at 50 tickets/s offered", "intake alone", "relay", "event store", "audit",
        "analytics rebuild from the ledger", "RSS per service process under load",
        "whole platform idle CPU"]
    by = {r.figure.split(",")[0].split(":")[0]: r for r in rows}
    assert (by["end to end"].value, by["end to end"].met) == ("110.0", True)
    assert by["CPU per full ticket"].value.startswith("11.0 ms (")
    assert by["the same with Kafka and PostgreSQL"].value == "21.0 ms (kafka 4.0, postgresql 6.0)"
    assert by["open loop at 50 tickets/s offered"].value.startswith("50.0 / 150.0 ms (routed by dispatch")
    assert by["relay"].value == "0.67" and by["relay"].met
    assert by["event store"].value == "0.25" and by["event store"].met is False
    assert by["audit"].value == "4.50 ms" and by["audit"].met
    assert by["RSS per service process under load"].value == "largest 140.0 MB (dispatch)"
    assert by["whole platform idle CPU"].met


def test_the_end_to_end_figure_is_the_better_of_the_two_loops_and_shows_both():
    got = results()
    got["args"] |= {"e2e_in_flight": 64, "e2e_capacity_in_flight": 256}
    for run in got["end_to_end"]:
        run["tickets_per_second"] /= 2  # 45, 55, 60: under the target at 64 in flight
        run["machine_busy_pct"] = 40.0
    got["end_to_end_capacity"] = [{"tickets_per_second": t, "machine_busy_pct": 90.0}
                                  for t in (95, 105, 101)]
    row = summary(got)[0]
    assert row.met is True
    assert row.value == "101.0 at 256 in flight (55.0 at 64; machine busy 90 % against 40 %)"
    got["end_to_end_capacity"] = [{"tickets_per_second": 50, "machine_busy_pct": 90.0}]
    assert summary(got)[0].value.startswith("50.0 at 256 in flight (55.0 at 64") \
        and summary(got)[0].met is False


def test_summary_says_not_measured_when_a_figure_is_missing():
    rows = summary({"args": {}})
    assert all(r.met is None for r in rows)
    table = summary_table(rows)
    assert table[0].endswith("| median |")
    assert all(line.count("|") == 6 for line in table)


def test_helpers():
    assert num(1234.56) == "1,234.6" and num(float("nan")) == "n/a" and num(99.6, 0) == "100"
    assert med_each([{"x": {"a": 1}}, {"x": {"a": 3, "b": 2}}], "x") == {"a": 2, "b": 2}


def test_the_report_keeps_what_was_measured_by_hand(tmp_path: Path):
    out = tmp_path / "benchmarks.md"
    out.write_text(f"old figures\n{BY_HAND}\n## by hand\nkept\n", encoding="utf-8")
    write_report(results(), out)
    text = out.read_text(encoding="utf-8")
    assert "old figures" not in text
    assert text.rstrip().endswith("kept")
    assert "| end to end, full tickets/s (submitted → rated → in the ledger) | 8.3 | ≥ 100 | yes | 110.0 |" in text


def test_a_profile_page_keeps_what_was_measured_by_hand(tmp_path: Path):
    kept = tmp_path / "audit-replay.md"
    kept.write_text(f"old profile\n{BY_HAND}\n## by hand\nkept\n", encoding="utf-8")
    write_cprofiles({"audit-replay": "new profile", "fresh": "first profile"},
                    {"machine": {"date": "today"}}, tmp_path)
    text = kept.read_text(encoding="utf-8")
    assert "old profile" not in text and "new profile" in text
    assert text.index("new profile") < text.index(BY_HAND) and text.rstrip().endswith("kept")
    assert BY_HAND not in (tmp_path / "fresh.md").read_text(encoding="utf-8")


async def test_settle_stops_when_all_came_or_when_nothing_more_comes():
    import time

    from bench.open_loop import settle

    began = time.monotonic()
    await settle(lambda: 5, want=5, wait_s=10)
    assert time.monotonic() - began < 0.1
    began = time.monotonic()
    await settle(lambda: 3, want=5, wait_s=10, quiet_s=0.3)  # stuck at 3: gives up when quiet
    assert 0.25 < time.monotonic() - began < 2


async def test_a_ticket_queued_for_a_human_is_handed_to_the_dispatcher_at_once_and_only_once():
    import asyncio

    from bench.e2e import LifecycleWatch, prompt_dispatcher

    calls = []

    class Board:
        async def wait_for(self, ticket_id, *, newer_than=0, timeout):
            calls.append(ticket_id)
            await asyncio.sleep(timeout)
            return "held"

    board, watch = Board(), LifecycleWatch(None)
    prompt_dispatcher(board, watch)
    watch.queued("t1").set()
    assert await asyncio.wait_for(board.wait_for("t1", timeout=30), 1) is None  # at once
    assert await board.wait_for("t1", timeout=0.01) == "held"  # the wait after the hand assignment
    assert await board.wait_for("t2", timeout=0.01) == "held"  # not queued: dispatch routed it
    assert calls == ["t1", "t1", "t2"]
    # a duplicate merged into a case (并单): no unit will ever hold it; its wait ends at once with
    # the withdrawn holding the driver ends such a ticket's life on
    watch.merged.add("t3")
    watch.queued("t3").set()
    held = await asyncio.wait_for(board.wait_for("t3", newer_than=0, timeout=30), 1)
    assert (held.ticket_id, held.status, held.assignment_no) == ("t3", "withdrawn", 1)


def test_the_busiest_processes_are_profiled():
    from bench.run import busiest

    runs = [{"cpu_ms_each": {"a": 1, "b": 5, "c": 3}}, {"cpu_ms_each": {"a": 9, "b": 5, "c": 3}}]
    assert busiest(runs, 2) == ["a", "b"]


def test_settle_waits_while_the_processes_are_busy_and_stops_once_quiet():
    me = {"bench": os.getpid()}
    spinning = threading.Event()

    def spin() -> None:
        while not spinning.is_set():
            sum(range(1000))

    busy = threading.Thread(target=spin, daemon=True)
    busy.start()
    try:  # this process keeps a core busy: never below 1 %, so settle gives up at its limit
        assert procs.settle(me, below_pct=1.0, window_s=0.05, limit_s=0.3) >= 0.3
    finally:
        spinning.set()
        busy.join()
    assert procs.settle(me, below_pct=1000.0, window_s=0.05, limit_s=30) < 30


def test_each_run_takes_event_days_after_every_earlier_run_starting_on_a_monday():
    from datetime import date

    from bench.timeline import Days
    days = Days(date(2025, 3, 5))  # a Wednesday: its week's Monday
    first = days.take(3)
    assert first == date(2025, 3, 3)
    second = days.take(7)
    assert second == date(2025, 3, 10) and second.weekday() == 0
    assert days.take(1) == date(2025, 3, 17)  # 03-10 .. 03-16 taken: the Monday after
    assert days.take(0) == date(2025, 3, 24)  # (a day at least)


def test_the_intake_load_s_bodies_go_forward_in_time_and_are_as_many_as_asked():
    from bench import intake_load
    first = intake_load.bodies(50, seed=1)
    second = intake_load.bodies(450, seed=2)
    assert len(first) == 50 and len(second) == 450
    assert max(b["occurred_at"] for b in first) < min(b["occurred_at"] for b in second)


def test_the_closed_loop_s_plans_go_forward_in_time_and_are_as_many_as_asked():
    from bench.e2e import short_lives
    first, _ = short_lives(40, seed=3)
    second, _ = short_lives(400, seed=4)
    assert sum(a.kind == "submit" for a in first) == 40
    assert sum(a.kind == "submit" for a in second) == 400
    assert max(a.at for a in first) < min(a.at for a in second)


def test_the_rss_row_reads_the_capacity_runs_too():
    """The runs with more in flight come after the first ones and hold more: a process over the
    line there fails the row, even when every first run was under it."""
    got = results()
    got["args"] |= {"e2e_in_flight": 64, "e2e_capacity_in_flight": 256}
    got["end_to_end_capacity"] = [{"rss_max_mb": {"analytics": mb, "dispatch": 130}}
                                  for mb in (148, 156, 152)]
    row = next(r for r in summary(got) if r.figure.startswith("RSS"))
    assert row.met is False
    assert row.value == ("largest 140.0 MB (dispatch) at 64 in flight, 152.0 MB (analytics) at"
                         " 256, the runs after")
    got["end_to_end_capacity"] = [{"rss_max_mb": {"analytics": 149}}]
    assert next(r for r in summary(got) if r.figure.startswith("RSS")).met is True


def test_a_run_s_ledger_tally_counts_entries_a_ticket_that_reached_the_awaited_type():
    from bench.e2e import SLA_EVENT_TYPES, LedgerTally

    tally = LedgerTally(found={"t1", "t2"}, by_type={"TicketSubmitted": 2, "DeadlineSet": 3,
                                                     "DeadlineMet": 1, "TicketRated": 2})
    assert tally.per_ticket() == 4.0
    assert tally.per_ticket(SLA_EVENT_TYPES) == 2.0
    assert LedgerTally().per_ticket() == 0.0
    assert {"DeadlineSet", "SignForDeadlineSet"} <= SLA_EVENT_TYPES
    assert "TicketRated" not in SLA_EVENT_TYPES
