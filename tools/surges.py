"""How well the surge alerts find the simulator's planted bursts, offline.

Builds simulated months (tools.simulator.plan), feeds every request, in business-time order,
through the same `observe` the faust app runs (services/analytics/domain/surges.py), and
reports for each month: was the planted burst (episode.duplicate_burst: one burst water main
reported a dozen times in two hours) detected, how many minutes after its first report, and
how many other alerts fired (false alarms). The stream carries the simulator's true
subcategory; on a running platform it is dispatch's classification.

    python -m tools.surges --months 6 --per-day 300
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from services.analytics.domain.surges import SurgeAlert, SurgeRule, key_of, new_state, observe
from tools.simulator.plan import build_plan

CITY_TZ = ZoneInfo("Asia/Shanghai")
BURST = "episode.duplicate_burst"


@dataclass
class MonthResult:
    seed: int
    detected: bool
    minutes_after_start: float | None
    false_alarms: int
    alerts: list[SurgeAlert] = field(default_factory=list)
    hit: SurgeAlert | None = None


def run_month(rule: SurgeRule, *, seed: int, days: int, per_day: int) -> MonthResult:
    plan = build_plan(seed=seed, days=days, per_day=per_day)
    states: dict[str, dict] = {}
    alerts: list[SurgeAlert] = []
    for truth in sorted(plan.truths.values(), key=lambda t: (t.submitted_at, t.ticket)):
        key = key_of(truth.territory, truth.subcategory)
        alert = observe(rule, states.setdefault(key, new_state()), county=truth.territory,
                        subcategory=truth.subcategory,
                        at=truth.submitted_at.replace(tzinfo=CITY_TZ), ticket=truth.ticket)
        if alert:
            alerts.append(alert)
    burst = next(e for e in plan.episodes if e.id == BURST)
    tickets = set(burst.tickets)
    began = min(plan.truths[t].submitted_at for t in tickets).replace(tzinfo=CITY_TZ)
    hits = [a for a in alerts if tickets & set(a.tickets)]
    minutes = (hits[0].detected_at - began).total_seconds() / 60 if hits else None
    return MonthResult(seed, bool(hits), minutes, len(alerts) - len(hits), alerts,
                       hits[0] if hits else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--min-count", type=int, default=SurgeRule.min_count)
    parser.add_argument("--ratio", type=float, default=SurgeRule.ratio)
    parser.add_argument("--window-min", type=int, default=30)
    parser.add_argument("--hop-min", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rule = SurgeRule(window=timedelta(minutes=args.window_min), hop=timedelta(minutes=args.hop_min),
                     min_count=args.min_count, ratio=args.ratio)
    results = [run_month(rule, seed=s, days=args.days, per_day=args.per_day)
               for s in range(args.first_seed, args.first_seed + args.months)]
    detected = [r for r in results if r.detected]
    delays = sorted(r.minutes_after_start for r in detected if r.minutes_after_start is not None)
    summary = {
        "months": len(results), "per_day": args.per_day, "rule": {
            "window_min": rule.window.total_seconds() / 60, "hop_min": rule.hop.total_seconds() / 60,
            "min_count": rule.min_count, "ratio": rule.ratio, "baseline_days": rule.baseline_days},
        "bursts_detected": len(detected),
        "minutes_after_start": delays,
        "false_alarms_per_month": sum(r.false_alarms for r in results) / len(results),
        "false_alarms": [
            f"seed {r.seed}: {a.county} {a.subcategory} "
            f"{a.window_start.astimezone(CITY_TZ):%m-%d %H:%M} n={a.count} base={a.baseline:.3f}"
            for r in results for a in r.alerts if not r.detected or a is not r.hit],
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        print(f"{summary['bursts_detected']}/{len(results)} planted bursts detected; minutes after "
              f"the first report: {', '.join(f'{d:.0f}' for d in delays) or '-'}; "
              f"false alarms per simulated month: {summary['false_alarms_per_month']:.2f}")
        for line in summary["false_alarms"]:
            print(f"  false alarm: {line}")
        for r in results:
            print(f"  seed {r.seed}: {'detected' if r.detected else 'MISSED'}"
                  f"{f' after {r.minutes_after_start:.0f} min' if r.detected else ''}, "
                  f"{r.false_alarms} false alarm(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
