"""bench/broker_cost.py: how the broker's threads and the clients' requests are tallied."""

from __future__ import annotations

import collections

from bench import broker_cost


def test_threads_are_grouped_by_what_they_do() -> None:
    kinds = {name: broker_cost.thread_kind(name) for name in (
        "data-plane-kafk", "C2 CompilerThre", "C1 CompilerThre", "GC Thread#0", "G1 Conc#0",
        "executor-Fetch", "ExpirationReape", "kafka-1-metadat", "group-coordinat", "java")}
    assert kinds == {"data-plane-kafk": "requests", "C2 CompilerThre": "jit",
                     "C1 CompilerThre": "jit", "GC Thread#0": "gc", "G1 Conc#0": "gc",
                     "executor-Fetch": "purgatory", "ExpirationReape": "purgatory",
                     "kafka-1-metadat": "metadata", "group-coordinat": "groups",
                     "java": "other"}


def test_cpu_by_kind_is_the_difference_of_two_readings() -> None:
    before = {"1": ("data-plane-kafk", 100), "2": ("C2 CompilerThre", 50)}
    after = {"1": ("data-plane-kafk", 100 + broker_cost.TICK),
             "2": ("C2 CompilerThre", 50 + 2 * broker_cost.TICK),
             "3": ("data-plane-kafk", broker_cost.TICK)}  # a thread born in between
    assert broker_cost.by_kind(before, after) == {"requests": 2.0, "jit": 2.0}


def test_requests_are_totalled_by_kind_across_processes_and_clients() -> None:
    counts = collections.Counter({"dispatch:minsheng-dispatch-lifecycle|Fetch": 30,
                                  "dispatch:minsheng-dispatch-lifecycle|Fetch-empty": 10,
                                  "bench:aiokafka-0.14.0|Fetch": 20,
                                  "intake-api:minsheng-intake-relay-lifecycle|Produce": 15})
    assert broker_cost.totals_by_kind(counts) == {"Fetch": 50, "Fetch-empty": 10, "Produce": 15}
    assert broker_cost.per_ticket(counts, 10)["dispatch:minsheng-dispatch-lifecycle|Fetch"] == 3.0


def test_the_bench_itself_is_labelled_bench() -> None:
    assert broker_cost.process_label() == "bench"  # (pytest is not `-m services.<name>`)
