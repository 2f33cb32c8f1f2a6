"""Is the closed loop bound by how much is in flight? The end-to-end run of `make bench` at
several in-flight levels, alternated on one isolated platform (tickets/s, how busy the
machine was, CPU per full ticket), one JSON line per run:

    python -m bench.in_flight --levels 64,192 --tickets 200 --rounds 1

Needs the machine to itself, like `make bench` (`make infra` first).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import timedelta

from backbone.settings import ServiceSettings
from bench import platform
from bench.run import BENCH_ENV, infrastructure, measure_e2e

SHOWN = ("tickets", "in_ledger", "seconds", "tickets_per_second", "cpu_ms_per_ticket",
         "cpu_ms_per_ticket_with_infra", "cpu_pct_of_machine", "machine_busy_pct", "assign_p50_ms",
         "assign_p99_ms", "cpu_ms_each", "cpu_ms_infra", "kafka_jit_ms_per_ticket",
         "driver_cpu_pct_of_core", "drive_seconds", "ledger_wait_seconds", "slowest_action_ms",
         "errors", "events_per_ticket", "sla_events_per_ticket")


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    parser = argparse.ArgumentParser(prog="python -m bench.in_flight", description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="64,192", help="actions in flight, comma-separated")
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--per-day", default="150",
                        help="the plan's requests a simulated day, comma-separated: alternated")
    parser.add_argument("--max-lag-minutes", type=float, default=3650 * 24 * 60,
                        help="no action starts while one this much simulated time earlier waits")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.levels.split(",")]
    per_days = [int(n) for n in args.per_day.split(",")]
    max_lag = timedelta(minutes=args.max_lag_minutes)
    infra = infrastructure(ServiceSettings())
    with platform.running(BENCH_ENV) as running:
        endpoints = platform.endpoints(running)
        seed = 7000
        for _ in range(args.rounds):
            for level in levels:
                for per_day in per_days:
                    seed += 1
                    got = measure_e2e(running, endpoints, infra, tickets=args.tickets, seed=seed,
                                      in_flight=level, per_day=per_day, max_lag=max_lag)
                    print(json.dumps({"in_flight": level, "per_day": per_day,
                                      **{k: got[k] for k in SHOWN}}), flush=True)


if __name__ == "__main__":
    main()
