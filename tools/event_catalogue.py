"""Write docs/events.md, the event catalogue, from the .proto files (`make docs`).

Every top-level message of `proto/minsheng/v1/<service>_events.proto` is an event owned by
<service>; the messages of TABLES (topics that are tables, not events) follow them. `--check`
exits 1 when docs/events.md is stale (a test runs it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto" / "minsheng" / "v1"
OUT = ROOT / "docs" / "events.md"
SERVICES = ("intake", "dispatch", "sla", "feedback", "analytics", "audit", "notifier")
# (proto file, topic, what it is): messages on topics that are not the lifecycle's events
TABLES = (
    ("sla_calendar.proto", "calendar.schedules",
     "sla's official holiday schedules, a compacted topic keyed by the year (a table: the "
     "latest message of a year is its schedule). The Kafka value is a bare "
     "`OfficialScheduleLoaded` (no envelope; headers `event_type`, `event_id`, `producer=sla`, "
     "`traceparent`), published through sla's outbox each time a supervisor loads a year "
     "(`PUT /v1/calendar/official/{year}`). Every dispatch replica reads it whole from its "
     "start (no consumer group) for the sign-for deadlines it tells units."),
)

MESSAGE = re.compile(r"^message (\w+) \{")
FIELD = re.compile(r"^\s+(repeated )?([\w.]+) (\w+) = (\d+);\s*(?://\s*(.*))?$")


def parse(path: Path) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(message, its leading comment, [(field, type, comment)]) for each top-level message."""
    messages = []
    comment: list[str] = []
    current: tuple[str, str, list[tuple[str, str, str]]] | None = None
    for line in path.read_text().splitlines():
        if current is None:
            m = MESSAGE.match(line)
            if m:
                current = (m.group(1), " ".join(comment), [])
                comment = []
            elif line.startswith("//"):
                comment.append(line.lstrip("/ ").strip())
            elif not line.strip():
                comment = []
            continue
        if line.startswith("}"):
            messages.append(current)
            current = None
            continue
        f = FIELD.match(line)
        if f:
            kind = ("repeated " if f.group(1) else "") + f.group(2)
            current[2].append((f.group(3), kind, (f.group(5) or "").strip()))
    return messages


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    out = [
        "# Event catalogue",
        "",
        "Generated from `proto/minsheng/v1/*_events.proto` by `python tools/event_catalogue.py`;",
        "do not edit by hand. Every event travels in an `Envelope` (envelope.proto) on the",
        "`tickets.events` topic, keyed by ticket id; `TicketAssigned` is also published on",
        "`assignments.<unit>`. The file an event is declared in names its one producer;",
        "consumers refuse an envelope whose producer is not the owner. Fields are only ever",
        "added; a breaking change is a new message in a new package.",
        "",
    ]
    envelope = parse(PROTO / "envelope.proto")
    out += ["## Envelope", "", "| field | type | meaning |", "|---|---|---|"]
    out += [f"| `{n}` | {t} | {_cell(c)} |" for n, t, c in envelope[0][2]]
    out.append("")
    for service in SERVICES:
        path = PROTO / f"{service}_events.proto"
        if not path.exists():
            continue
        out += [f"## Owned by {service}", ""]
        for name, doc, fields in parse(path):
            out += [f"### {name}", ""]
            if doc:
                out += [doc, ""]
            if fields:
                out += ["| field | type | meaning |", "|---|---|---|"]
                out += [f"| `{n}` | {t} | {_cell(c)} |" for n, t, c in fields]
            else:
                out.append("(no payload fields)")
            out.append("")
    for file, topic, what in TABLES:
        out += [f"## Topic `{topic}` ({file})", "", what, ""]
        for name, doc, fields in parse(PROTO / file):
            out += [f"### {name}", ""]
            if doc:
                out += [doc, ""]
            out += ["| field | type | meaning |", "|---|---|---|"]
            out += [f"| `{n}` | {t} | {_cell(c)} |" for n, t, c in fields]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/events.md is stale: run `make docs`")
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
