"""Command line: ``python -m tools.simulator plan --days 30 --per-day 300 --seed 7 --out plan.jsonl``.

The only place in the simulator that writes files.
"""

from __future__ import annotations

import argparse
import json
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
