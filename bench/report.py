"""docs/benchmarks.md from the measured runs: medians first, every run after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.stats import median


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(median([float(r[key]) for r in runs]), 1)


def _cpu_total(run: dict[str, Any]) -> float:
    """CPU ms per submission over all of intake's processes (api + read side)."""
    return round(sum((run.get("cpu_ms") or {}).values()), 2)


def _table(runs: list[dict[str, Any]], keys: list[str]) -> list[str]:
    lines = ["| run | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for i, run in enumerate(runs, 1):
        lines.append(f"| {i} | " + " | ".join(str(run[k]) for k in keys) + " |")
    return lines


BY_HAND = "<!-- measured by hand below this line: make bench keeps it -->"


def _kept_by_hand(out: Path) -> str:
    """The hand-measured sections of the existing report (micro-benchmarks with their
    commands), which a new run keeps after its own figures."""
    if not out.exists():
        return ""
    text = out.read_text(encoding="utf-8")
    at = text.find(BY_HAND)
    return "" if at < 0 else "\n\n" + text[at:]


def write_report(results: dict[str, Any], out: Path) -> None:
    m = results["machine"]
    e2e, intake = results["end_to_end"], results["intake"]
    kafka, pg = results["kafka"], results["postgres"]
    size = results["envelope_bytes"]
    lines = [
        "# Benchmarks", "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand. Each figure is the",
        f"MEDIAN of {len(e2e)} runs on an isolated platform (own database, topics and ports; the",
        "services in event-clock mode, every service a single process).", "",
        f"Machine: {m['nproc']} cores, {m['memory_gib']} GiB, {m['cpu']}; Python {m['python']};",
        f"kernel {m['kernel']}. Date: {m['date']}. Load average when it began:"
        f" {m.get('load_average_1m', 'not recorded')}.", "",
        "| what | median |", "|---|---|",
        f"| end to end: tickets/s, submitted -> rated -> in the audit ledger | {_median(e2e, 'tickets_per_second')} |",
        f"| submission -> TicketAssigned on the lifecycle topic, p50 | {_median(e2e, 'assign_p50_ms')} ms |",
        f"| submission -> TicketAssigned on the lifecycle topic, p99 | {_median(e2e, 'assign_p99_ms')} ms |",
        f"| intake: submissions/s with the rest running (target 500/s) | {_median(intake, 'per_second')} |",
        f"| intake: p50 / p99 latency (target p99 < 100 ms) | {_median(intake, 'p50_ms')} / {_median(intake, 'p99_ms')} ms |",
        f"| intake: CPU per submission, its api + read-side processes | {round(median([_cpu_total(r) for r in intake]), 2)} ms |",
        f"| Kafka ProducerPerformance, acks=all, {size}-byte records | {_median(kafka, 'per_second')} records/s |",
        f"| PostgreSQL batched INSERT, 500 rows/transaction, {size}-byte rows | {_median(pg, 'rows_per_second')} rows/s |",
        "",
        "## How", "",
        "- End to end: each ticket lives a short, complete life through the public interfaces only",
        "  (tools/simulator/drive): a channel adapter POSTs it to intake; the unit dispatch assigned it",
        "  to (learnt from its StreamAssignments) signs for it and replies over gRPC; the citizen rates",
        "  with the one-time link from the notice on `citizen.notices`. Tickets/s = tickets whose",
        "  TicketRated is in the audit ledger (read back through audit's `/v1/ledger/entries`) divided",
        "  by the wall time from the first submission until the last one was there. Assignment",
        "  latency: from just before the POST to the moment TicketAssigned arrived on `tickets.events`.",
        "  Tickets intake merged into a case (并单) are handled through their case's primary ticket and",
        "  are not rated, so they do not count (see `rated` of `tickets` below).",
        "- Intake: simulator requests over every channel (no pictures), an async HTTP client with",
        f"  {results['args']['concurrency']} in flight, while the rest of the platform handles what intake publishes;",
        "  the per-citizen flood limit is raised for the run (many made-up citizens repeat within",
        "  seconds here), the per-adapter limit is not. intake runs as two processes, as",
        "  deploy/local starts it: the API (HTTP, group commit, outbox relay) and its read side",
        "  (projector with the 并单 detector, lifecycle consumer). CPU per submission = the CPU",
        "  time (/proc) both used during the run divided by the submissions answered; it bounds",
        "  throughput on this box and depends far less on the neighbours' load than the rate.",
        "  The client drops idle keep-alive connections after 2 s (the server closes them at 5 s)",
        "  and retries a request that failed in transport once, with the same idempotency key",
        "  (`retried`; the latency includes the retry).",
        f"- Limits: `org.apache.kafka.tools.ProducerPerformance --record-size {size} --throughput -1",
        "  acks=all` against the same broker; `executemany` INSERTs of rows with a payload the size",
        "  of our median envelope, 500 per transaction (each commit waits for fsync).", "",
        "## Every run", "", "End to end:", "",
        *_table(e2e, ["tickets", "rated", "in_ledger", "seconds", "tickets_per_second",
                      "assign_p50_ms", "assign_p99_ms", "errors"]),
        "", "Intake:", "",
        *_table([{"cpu_ms": {}, "retried": {}, **r} for r in intake],
                ["requests", "ok", "seconds", "per_second", "p50_ms", "p99_ms", "cpu_ms",
                 "retried", "errors"]),
        "", "Kafka producer:", "",
        *_table(kafka, ["records", "record_bytes", "per_second", "mb_per_second", "p50_ms", "p99_ms"]),
        "", "PostgreSQL:", "",
        *_table(pg, ["rows", "row_bytes", "batch", "seconds", "rows_per_second"]),
        "", "<details><summary>raw results</summary>", "", "```json",
        json.dumps(results, ensure_ascii=False, indent=1), "```", "</details>", "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + _kept_by_hand(out), encoding="utf-8")
