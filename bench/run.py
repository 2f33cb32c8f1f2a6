"""``make bench``: start an isolated platform, measure, write docs/benchmarks.md.

    python -m bench.run [--repeats 3] [--e2e-tickets 200] [--intake-requests 3000]

Every figure is the MEDIAN over ``--repeats`` runs; the individual runs are in the report too.
Nothing here asserts on time: the report states what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from backbone.settings import ServiceSettings
from bench import e2e, intake_load, limits, machine, platform
from bench.report import write_report
from tests.e2e.platform_harness import Platform

ROOT = Path(__file__).resolve().parents[1]
# The benchmark's citizens are many made-up people; it measures the submission path, not
# the per-citizen flood limit (which would otherwise throttle repeats of the same pool).
BENCH_ENV = {"MINSHENG_CITIZEN_BURST": "100000", "MINSHENG_CITIZEN_RATE_PER_S": "100000"}


def intake_processes(running: Platform) -> dict[str, int]:
    """intake's own processes (its API and its read side), whose CPU per submission we report."""
    return {name: proc.pid for name, proc in running.procs.items()
            if name in running.processes("intake")}


def main(argv: list[str] | None = None) -> int:
    # a development platform's client: its development keys mint the tokens
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--e2e-tickets", type=int, default=200)
    parser.add_argument("--intake-requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--kafka-records", type=int, default=200_000)
    parser.add_argument("--pg-rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    # a terminated run still stops the platform it started (its processes are in their own
    # sessions and would outlive us)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, object] = {"machine": machine.describe(), "args": vars(args) | {"out": str(args.out)}}
    print(f"machine: {results['machine']}", file=sys.stderr)
    with platform.running(BENCH_ENV) as running:
        endpoints = platform.endpoints(running)
        end_to_end = []
        for i in range(args.repeats):
            got = asyncio.run(e2e.run(endpoints, tickets=args.e2e_tickets, seed=9000 + i))
            print(f"end to end #{i + 1}: {got}", file=sys.stderr)
            end_to_end.append(got)
        intake = []
        for i in range(args.repeats):
            bodies = intake_load.bodies(args.intake_requests, seed=7000 + i)
            got = asyncio.run(intake_load.load(endpoints, bodies, concurrency=args.concurrency,
                                               pids=intake_processes(running)))
            print(f"intake #{i + 1}: {got}", file=sys.stderr)
            intake.append(got)
        size = e2e.envelope_size(end_to_end)
        settings = ServiceSettings(pg_dbname=running.env["MINSHENG_PG_DBNAME"])
        kafka = []
        postgres = []
        for i in range(args.repeats):
            kafka.append(limits.kafka_producer(running.topic(f"bench.producer-perf.{i}"),
                                               records=args.kafka_records, record_bytes=size,
                                               bootstrap=settings.kafka_bootstrap))
            print(f"kafka #{i + 1}: {kafka[-1]}", file=sys.stderr)
            postgres.append(limits.postgres_inserts(settings, rows=args.pg_rows, row_bytes=size))
            print(f"postgres #{i + 1}: {postgres[-1]}", file=sys.stderr)
    results |= {"end_to_end": [asdict(r) for r in end_to_end], "intake": [asdict(r) for r in intake],
                "kafka": [asdict(r) for r in kafka], "postgres": [asdict(r) for r in postgres],
                "envelope_bytes": size}
    write_report(results, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
