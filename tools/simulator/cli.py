"""Command line of the city simulator.

    python -m tools.simulator plan --days 30 --per-day 300 --seed 7 --out plan.jsonl
    python -m tools.simulator run --days 3 --per-day 100 --seed 7      # drive the platform
    python -m tools.simulator live --rate 5                            # a live stream; Ctrl-C stops
    python -m tools.simulator merges --per-day 10                      # intake's detector on a plan

The only place in the simulator that writes files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from tools.simulator.plan import DEFAULT_START, DEMO_PER_DAY, build_plan


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.simulator", description="Minsheng city simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="write a deterministic plan (JSON Lines) of a simulated period")
    plan.add_argument("--days", type=int, default=30)
    plan.add_argument("--per-day", type=int, default=DEMO_PER_DAY, help="mean requests per day (full scale: 3000)")
    plan.add_argument("--seed", type=int, default=7)
    plan.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first day, YYYY-MM-DD")
    plan.add_argument("--no-episodes", action="store_true", help="leave out the planted episodes")
    plan.add_argument("--out", type=Path, required=True, help="output file ('-' for stdout)")

    merges = commands.add_parser("merges", help="what intake's duplicate detector would merge of a plan")
    merges.add_argument("--days", type=int, default=30)
    merges.add_argument("--per-day", type=int, default=10)
    merges.add_argument("--seed", type=int, default=7)
    merges.add_argument("--no-episodes", action="store_true")

    run = commands.add_parser("run", help="drive a simulated period through the running platform")
    run.add_argument("--days", type=int, default=3)
    run.add_argument("--per-day", type=int, default=100)
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--start", type=date.fromisoformat, default=None,
                     help="first day (default: DAYS days before today, so the period ends now)")
    run.add_argument("--concurrency", type=int, default=32, help="actions in flight at most")
    run.add_argument("--max-lag-minutes", type=float, default=30.0,
                     help="no action starts while one this much simulated time older is pending")
    run.add_argument("--no-episodes", action="store_true")
    run.add_argument("--no-replan", action="store_true",
                     help="misrouted tickets follow the plan instead of the actual unit's profile")
    _add_endpoints(run)

    live = commands.add_parser("live", help="a live stream at RATE requests/s (Ctrl-C stops it)")
    live.add_argument("--rate", type=float, default=1.0, help="new requests per second")
    live.add_argument("--speed", type=float, default=1440.0,
                      help="simulated seconds per real second for follow-ups (1440: a day a minute)")
    live.add_argument("--seed", type=int, default=11)
    live.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    live.add_argument("--max-requests", type=int, default=None)
    live.add_argument("--concurrency", type=int, default=32)
    _add_endpoints(live)
    return parser


def _add_endpoints(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port-offset", type=int, default=0,
                        help="services on the usual ports plus this (e.g. 10000 for an e2e platform)")
    parser.add_argument("--base-urls", default="",
                        help="override addresses: intake=http://h:p,dispatch=...,feedback=...,dispatch-grpc=h:p")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _endpoints(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from tools.simulator.drive.settings import Endpoints

    endpoints = Endpoints.local(port_offset=args.port_offset)
    return endpoints.with_urls(args.base_urls) if args.base_urls else endpoints


def _report(tally, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    if as_json:
        print(json.dumps(tally.summary(), ensure_ascii=False, indent=1))
    else:
        print(tally.render_summary())
    return 0 if tally.done["submitted"] and not tally.errors else 1


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from tools.simulator.drive.run import RunOptions, drive, make_plan

    options = RunOptions(days=args.days, per_day=args.per_day, seed=args.seed, start=args.start,
                         concurrency=args.concurrency, max_lag_minutes=args.max_lag_minutes,
                         episodes=not args.no_episodes,
                         replan=not args.no_replan)
    plan = make_plan(options)
    print(f"driving {len(plan.truths)} tickets, {len(plan.actions)} actions, "
          f"{plan.start:%Y-%m-%d} + {plan.days} days", file=sys.stderr)
    return _report(asyncio.run(drive(plan, _endpoints(args), options)), args.json)


def _live(args: argparse.Namespace) -> int:
    import asyncio

    from tools.simulator.drive.live import LiveOptions, stream

    options = LiveOptions(rate=args.rate, speed=args.speed, seed=args.seed, duration=args.duration,
                          max_requests=args.max_requests, concurrency=args.concurrency)
    print(f"live stream: {args.rate}/s, follow-ups at {args.speed:g}x; Ctrl-C stops", file=sys.stderr)
    return _report(asyncio.run(stream(_endpoints(args), options)), args.json)


def main(argv: list[str] | None = None) -> int:
    # a development platform's client: its development keys mint the tokens
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "live":
        return _live(args)
    if args.command == "merges":
        from tools.simulator.merges import measure

        print(measure(build_plan(seed=args.seed, days=args.days, per_day=args.per_day,
                                 episodes=not args.no_episodes)).render())
        return 0
    began = time.perf_counter()
    sim = build_plan(seed=args.seed, days=args.days, per_day=args.per_day, start=args.start,
                     episodes=not args.no_episodes)
    lines = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n" for record in sim.records())
    if str(args.out) == "-":
        sys.stdout.writelines(lines)
    else:
        with args.out.open("w", encoding="utf-8") as out:
            out.writelines(lines)
    kinds = Counter(a.kind for a in sim.actions)
    print(f"{len(sim.truths)} tickets, {len(sim.actions)} actions ({dict(kinds)}), "
          f"{len(sim.episodes)} episodes in {time.perf_counter() - began:.1f}s", file=sys.stderr)
    return 0
