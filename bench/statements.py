"""What PostgreSQL is asked to do per full ticket, by service: an isolated platform (its own
database, topics and ports, event clock, as ``make bench`` starts it) runs the closed-loop
end-to-end driver (bench/e2e.py), and this reports per full ticket (a ticket rated and in the
audit ledger):

- transactions (pg_stat_database.xact_commit of the platform's database) and, from the server
  log, statements by service and kind, the top statement shapes by count and by total time;
- rows written per table (pg_stat_user_tables deltas), indexes no read used (idx_scan = 0);
- WAL records, bytes, full-page images and WAL writes/fsyncs of the platform's own backends
  (PostgreSQL 18's per-backend statistics: pg_stat_get_backend_wal / _io);
- CPU of the platform's backends (/proc, by service), and of the whole server tree (which also
  holds whatever else uses the shared server meanwhile).

Only the platform's database is logged: the database is created before its services connect,
with ``log_min_duration_statement = 0`` (and no parameter values: they may hold personal data)
on it alone; each service process connects with its own ``application_name`` (PGAPPNAME, which
libpq reads), and ``log_line_prefix`` names database and application while the run lasts (the
one server-wide change, reset at the end). The log costs the server CPU: ``--no-log`` measures
CPU without it. ``--db-set name=value`` sets a parameter on the platform's database only (e.g.
commit_delay, jit), to measure its effect without touching anyone else's.

    PYTHONPATH=.:proto .venv/bin/python -m bench.statements [--tickets 200] [--no-log]
        [--db-set commit_delay=200 ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier, Literal

from backbone.settings import ServiceSettings
from bench import e2e, procs
from bench import platform as bench_platform
from bench.run import BENCH_ENV, infrastructure
from tests.e2e.platform_harness import Platform

ROOT = Path(__file__).resolve().parents[1]
SERVER_LOG = Path(os.environ.get("MINSHENG_PG_LOG", ROOT / ".data" / "pg" / "server.log"))
PREFIX = "%m [%p] db=%d app=%a "
WRITES = {"INSERT", "UPDATE", "DELETE", "COPY", "LOCK", "MERGE"}
SELF = "bench-statements"  # application_name of this tool's own connections
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[(\d+)\] db=(\S*) app=(\S*) (.*)$")
DURATION = re.compile(r"^LOG:\s+duration: ([\d.]+) ms\s+(statement|parse|bind|execute)"
                      r"(?: [^:]*)?: (.*)$", re.S)


class NamedPlatform(Platform):
    """The harness's platform, each process connecting to PostgreSQL under its own name."""

    def _start_process(self, process: str) -> None:
        saved = self.env
        self.env = {**saved, "PGAPPNAME": f"ms-{process}"}
        try:
            super()._start_process(process)
        finally:
            self.env = saved


# ------------------------------------------------------------------ statement shapes
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$])-?\d+(?:\.\d+)?\b")
_PARAM = re.compile(r"\$\d+")
_LIST = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")
_ROWS = re.compile(r"(\(\?\)\s*,\s*)+\(\?\)")
_SPACE = re.compile(r"\s+")


def shape(text: str) -> str:
    """A statement with its values taken out: literals and parameters become ?, lists of them
    (?, ?, ...) and rows of VALUES one (?)."""
    s = _SPACE.sub(" ", text).strip().rstrip(";")
    s = _STRING.sub("?", s)
    s = _PARAM.sub("?", s)
    s = _NUMBER.sub("?", s)
    s = _LIST.sub("(?)", s)
    s = _ROWS.sub("(?)", s)
    return s


def kind(text: str) -> str:
    words = text.lstrip("( ").split(None, 1)
    first = words[0].upper() if words else ""
    if first == "WITH":
        body = text.upper()
        for verb in ("INSERT", "UPDATE", "DELETE"):
            if re.search(rf"\b{verb}\b", body):  # the main statement's or a CTE's
                return f"WITH..{verb}"
        return "WITH..SELECT"
    if first in ("START", "BEGIN"):
        return "BEGIN"
    return first


def parse_log(text: str, database: str) -> dict[str, Any]:
    """Statements of ``database`` in a server-log excerpt: per service and kind, per shape
    (count, ms), and transactions per service (BEGIN..COMMIT blocks, plus statements run
    outside one, each its own transaction)."""
    records: list[tuple[int, str, str]] = []
    for line in text.splitlines():
        m = RECORD.match(line)
        if m:
            records.append((int(m.group(1)), m.group(2), m.group(3) + "\x00" + m.group(4)))
        elif records and line.startswith("\t"):
            pid, db, rest = records[-1]
            records[-1] = (pid, db, rest + "\n" + line[1:])
    by_kind: Counter[tuple[str, str]] = Counter()
    count: Counter[tuple[str, str]] = Counter()
    ms: defaultdict[tuple[str, str], float] = defaultdict(float)
    phases_ms: Counter[str] = Counter()
    transactions: defaultdict[str, Counter[str]] = defaultdict(Counter)
    in_block: dict[int, bool] = {}  # pid -> its open transaction wrote
    mine = [(pid, rest) for pid, db, rest in records if db == database]
    # the run is what lies between this tool's two snapshots (before the first one: start-up)
    # (the excerpt may end before the second snapshot: then the run is all after the first)
    marks = [i for i, (_, rest) in enumerate(mine) if rest.startswith(SELF + "\x00")]
    if marks:
        last = marks[-1] if marks[-1] - marks[0] >= len(marks) else len(mine)
        mine = mine[marks[0]:last]
    for pid, rest in mine:
        app, message = rest.split("\x00", 1)
        if app == SELF:
            continue
        m = DURATION.match(message)
        if not m:
            continue
        service = app.removeprefix("ms-") or "?"
        duration, phase, statement = float(m.group(1)), m.group(2), m.group(3)
        key = (service, shape(statement))
        ms[key] += duration
        phases_ms[phase] += duration
        if phase not in ("statement", "execute"):
            continue
        count[key] += 1
        k = kind(statement)
        by_kind[(service, k)] += 1
        writes = k.removeprefix("WITH..") in WRITES
        if k == "BEGIN":
            in_block[pid] = False
        elif k in ("COMMIT", "END", "ROLLBACK"):
            if pid in in_block:
                transactions[service]["write" if in_block.pop(pid) else "read-only"] += 1
        elif pid in in_block:
            in_block[pid] |= writes
        elif not statement.strip():
            transactions[service]["autocommit empty (pool pre-ping)"] += 1
        else:
            transactions[service]["autocommit write" if writes else "autocommit read"] += 1
    return {"by_kind": by_kind, "count": count, "ms": ms, "phases_ms": phases_ms,
            "transactions": transactions}


# ------------------------------------------------------------------ statistics snapshots
def admin_conninfo(settings: ServiceSettings, dbname: str = "postgres") -> str:
    return settings.model_copy(update={"pg_dbname": dbname}).pg_conninfo()


def snapshot(settings: ServiceSettings, database: str) -> dict[str, Any]:
    """The counters this report takes deltas of."""
    with psycopg.connect(admin_conninfo(settings, database), autocommit=True,
                         application_name=SELF) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        db = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted,"
            " tup_updated, tup_deleted, blks_hit, blks_read FROM pg_stat_database"
            " WHERE datname = current_database()").fetchone()
        tables = {f"{r[0]}.{r[1]}": r[2:] for r in conn.execute(
            "SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,"
            " seq_scan, coalesce(idx_scan, 0), autovacuum_count, autoanalyze_count"
            " FROM pg_stat_user_tables")}
        indexes = {f"{r[0]}.{r[1]}": (r[2], r[3]) for r in conn.execute(
            "SELECT schemaname, indexrelname, idx_scan, relname FROM pg_stat_user_indexes")}
        backends = {r[0]: {"app": r[1], "wal": r[2:6], "io": r[6:9]} for r in conn.execute(
            "SELECT a.pid, a.application_name, w.wal_records, w.wal_fpi, w.wal_bytes::float8,"
            " w.wal_buffers_full, coalesce(i.writes, 0)::float8, coalesce(i.fsyncs, 0)::float8,"
            " coalesce(i.write_bytes, 0)::float8"
            " FROM pg_stat_activity a, LATERAL pg_stat_get_backend_wal(a.pid) w"
            " LEFT JOIN LATERAL (SELECT sum(writes) writes, sum(fsyncs) fsyncs,"
            "   sum(write_bytes) write_bytes FROM pg_stat_get_backend_io(a.pid)"
            "   WHERE object = 'wal') i ON true"
            " WHERE a.datname = current_database() AND a.backend_type = 'client backend'")}
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes::float8 FROM pg_stat_wal").fetchone()
        wal_io = {r[0]: r[1:] for r in conn.execute(
            "SELECT backend_type, sum(writes)::float8, sum(fsyncs)::float8 FROM pg_stat_io"
            " WHERE object = 'wal' GROUP BY 1")}
    stats = procs.all_stats()
    cpu = {pid: stats[pid].own_s for pid in backends if pid in stats}
    return {"db": db, "tables": tables, "indexes": indexes, "backends": backends, "wal": wal,
            "wal_io": wal_io, "cpu": cpu, "at": time.monotonic()}


def deltas(before: dict[str, Any], after: dict[str, Any], full: int) -> dict[str, Any]:
    per = 1.0 / max(1, full)
    db_names = ["xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted",
                "tup_updated", "tup_deleted", "blks_hit", "blks_read"]
    database = {n: round((a - b) * per, 2) for n, a, b in zip(db_names, after["db"], before["db"], strict=True)}
    tables = {}
    for name, now in after["tables"].items():
        was = before["tables"].get(name, (0,) * len(now))
        d = [a - b for a, b in zip(now, was, strict=True)]
        if any(d[:6]):
            tables[name] = {"ins": round(d[0] * per, 2), "upd": round(d[1] * per, 2),
                            "hot_upd": round(d[2] * per, 2), "del": round(d[3] * per, 2),
                            "seq_scan": round(d[4] * per, 2), "idx_scan": round(d[5] * per, 2),
                            "autovacuum": d[6], "autoanalyze": d[7]}
    written = {t for t, v in tables.items() if v["ins"] or v["upd"] or v["del"]}
    unused = sorted(name for name, (scans, rel) in after["indexes"].items()
                    if scans == 0 and f"{name.split('.', 1)[0]}.{rel}" in written)
    wal: defaultdict[str, list[float]] = defaultdict(lambda: [0.0] * 7)
    cpu: defaultdict[str, float] = defaultdict(float)
    for pid, now in after["backends"].items():
        was = before["backends"].get(pid)
        fresh = was is None or was["app"] != now["app"]
        vals = [*now["wal"], *now["io"]]
        if not fresh:
            vals = [a - b for a, b in zip(vals, [*was["wal"], *was["io"]], strict=True)]
        service = (now["app"] or "?").removeprefix("ms-")
        for i, v in enumerate(vals):
            wal[service][i] += float(v)
        cpu[service] += after["cpu"].get(pid, 0.0) - (0.0 if fresh else before["cpu"].get(pid, 0.0))
    wal_each = {s: {"records": round(v[0] * per, 1), "fpi": round(v[1] * per, 2),
                    "bytes": round(v[2] * per), "buffers_full": round(v[3] * per, 2),
                    "writes": round(v[4] * per, 2), "fsyncs": round(v[5] * per, 2)}
                for s, v in sorted(wal.items())}
    total = [sum(v[i] for v in wal.values()) for i in range(7)]
    cluster = [a - b for a, b in zip(after["wal"], before["wal"], strict=True)]
    io = {t: [round(float(a or 0) - float((before["wal_io"].get(t) or (0, 0))[i] or 0)) for i, a in
              enumerate(v)] for t, v in after["wal_io"].items()}
    return {"database_stats": database, "tables": dict(sorted(tables.items(),
                                                        key=lambda kv: -kv[1]["ins"] - kv[1]["upd"])),
            "indexes_never_scanned_on_written_tables": unused,
            "wal_by_service": wal_each,
            "wal": {"records": round(total[0] * per, 1), "fpi": round(total[1] * per, 2),
                    "bytes": round(total[2] * per), "writes": round(total[4] * per, 2),
                    "fsyncs": round(total[5] * per, 2)},
            "wal_whole_server": {"records": round(cluster[0] * per, 1),
                                 "bytes": round(cluster[2] * per),
                                 "io_writes_fsyncs_by_backend_type": io},
            "backend_cpu_ms": {s: round(v * 1000 * per, 2) for s, v in
                               sorted(cpu.items(), key=lambda kv: -kv[1])},
            "backend_cpu_ms_total": round(sum(cpu.values()) * 1000 * per, 2)}


# ------------------------------------------------------------------ the run
def prepare_database(settings: ServiceSettings, database: str, log: bool,
                     db_set: dict[str, str]) -> None:
    with psycopg.connect(admin_conninfo(settings), autocommit=True) as conn:
        conn.execute(SQL("CREATE DATABASE {}").format(Identifier(database)))
        params = dict(db_set)
        if log:
            params |= {"log_min_duration_statement": "0", "log_parameter_max_length": "0",
                       "log_parameter_max_length_on_error": "0"}
        for name, value in params.items():
            conn.execute(SQL("ALTER DATABASE {} SET {} = {}").format(
                Identifier(database), Identifier(name), Literal(value)))
        if log:
            conn.execute(SQL("ALTER SYSTEM SET log_line_prefix = {}").format(Literal(PREFIX)))
            conn.execute("SELECT pg_reload_conf()")


def reset_logging(settings: ServiceSettings) -> None:
    with psycopg.connect(admin_conninfo(settings), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET log_line_prefix")
        conn.execute("SELECT pg_reload_conf()")


def sweep_groups(platform_id: str, settings: ServiceSettings, timeout: float = 60.0) -> None:
    """The platform's consumer groups once their members have gone: the harness's sweep, right
    after stopping the processes, is refused for groups whose members are still registered."""
    from aiokafka.admin import AIOKafkaAdminClient

    from tests import janitor

    async def left() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            return sum(platform_id in g[0] for g in await admin.list_consumer_groups())
        finally:
            await admin.close()

    deadline = time.monotonic() + timeout
    while asyncio.run(left()) and time.monotonic() < deadline:
        janitor.sweep({platform_id}, settings)
        time.sleep(1.0)


def top(parsed: dict[str, Any], n: int, full: int) -> dict[str, list[dict[str, Any]]]:
    def row(key: tuple[str, str]) -> dict[str, Any]:
        return {"service": key[0], "per_ticket": round(parsed["count"][key] / full, 2),
                "ms_per_ticket": round(parsed["ms"][key] / full, 3), "shape": key[1][:300]}

    by_count = sorted(parsed["count"], key=lambda k: -parsed["count"][k])[:n]
    by_time = sorted(parsed["ms"], key=lambda k: -parsed["ms"][k])[:n]
    return {"by_count": [row(k) for k in by_count], "by_time": [row(k) for k in by_time]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = ServiceSettings()
    db_set = dict(item.split("=", 1) for item in args.db_set)
    log = not args.no_log
    extra = {"MINSHENG_CLOCK": "event", **BENCH_ENV}
    running = NamedPlatform(extra_env=extra)
    database = running.env["MINSHENG_PG_DBNAME"]
    infra = infrastructure(settings)
    try:
        prepare_database(settings, database, log, db_set)
        first, rest = running.names[0], running.names[1:]
        running.start(first)
        running.wait_ready([first], timeout=90)
        for name in rest:
            running.start(name)
        running.wait_ready(running.names, timeout=120)
        time.sleep(args.settle)
        offset = SERVER_LOG.stat().st_size if log else 0
        before = snapshot(settings, database)
        meter = procs.CpuMeter({"postgresql": infra["postgresql"]}).start()
        got = asyncio.run(e2e.run(bench_platform.endpoints(running), tickets=args.tickets,
                                  seed=args.seed, concurrency=args.in_flight))
        server_s = meter.stop()["postgresql"]
        end = SERVER_LOG.stat().st_size if log else 0
        time.sleep(args.flush_wait)  # backends publish their statistics within ~10 s of idling
        after = snapshot(settings, database)
    finally:
        running.stop_all()
        if log:
            reset_logging(settings)
        sweep_groups(running.id, settings)
    full = max(1, got.in_ledger)
    if args.json:  # the raw counters first: a report that fails to compute loses nothing
        args.json.with_suffix(".raw.json").write_text(json.dumps(
            {"before": before, "after": after, "e2e": asdict(got), "server_s": server_s,
             "log": [offset, end]}, default=str))
    report: dict[str, Any] = {
        "database": database, "db_set": db_set, "logged": log, "e2e": asdict(got),
        "server_tree_cpu_ms": round(server_s * 1000 / full, 2),
        **deltas(before, after, full)}
    if log:
        report |= log_report(database, offset, end, full, args.top)
    return report


def log_report(database: str, offset: int, end: int, full: int, n: int) -> dict[str, Any]:
    """The statements of ``database`` between two offsets of the server log, per ticket."""
    with open(SERVER_LOG, "rb") as f:
        f.seek(offset)
        text = f.read((end - offset) if end else -1).decode(errors="replace")
    parsed = parse_log(text, database)
    services = sorted({s for s, _ in parsed["by_kind"]})
    return {
        "transactions_by_service_from_log": {
            s: {k: round(v / full, 2) for k, v in parsed["transactions"][s].most_common()}
            for s in sorted(parsed["transactions"],
                            key=lambda s: -sum(parsed["transactions"][s].values()))},
        "statements_per_ticket": round(sum(parsed["count"].values()) / full, 2),
        "statements_by_service": {
            s: {k: round(v / full, 2) for (svc, k), v in parsed["by_kind"].most_common() if svc == s}
            for s in services},
        "statement_ms_by_phase": {p: round(v / full, 3) for p, v in parsed["phases_ms"].items()},
        "top": top(parsed, n, full)}


def show(report: dict[str, Any]) -> None:
    e = report["e2e"]
    print(f"# {report['database']}  db_set={report['db_set']}  logged={report['logged']}")
    print(f"full tickets {e['in_ledger']} of {e['tickets']} in {e['seconds']} s"
          f" ({e['tickets_per_second']}/s), errors {e['errors']}")
    print(f"CPU ms/ticket: platform backends {report['backend_cpu_ms_total']}"
          f" {report['backend_cpu_ms']}; server tree (shared) {report['server_tree_cpu_ms']}")
    print(f"database per ticket: {report['database_stats']}")
    print(f"WAL per ticket (platform backends): {report['wal']}")
    print(f"WAL by service: {report['wal_by_service']}")
    print(f"WAL whole server per ticket: {report['wal_whole_server']}")
    print("rows per ticket by table (ins/upd/hot/del, scans):")
    for t, v in report["tables"].items():
        print(f"  {t:<48} {v}")
    print(f"indexes never scanned on written tables: {report['indexes_never_scanned_on_written_tables']}")
    if report["logged"]:
        print(f"statements per ticket {report['statements_per_ticket']};"
              " transactions by service:")
        for s, kinds in report["transactions_by_service_from_log"].items():
            print(f"  {s:<20} {kinds}")
        print(f"statement ms by phase per ticket {report['statement_ms_by_phase']}")
        for s, kinds in report["statements_by_service"].items():
            print(f"  {s:<20} {kinds}")
        for title, rows in report["top"].items():
            print(f"top shapes {title}:")
            for r in rows:
                print(f"  {r['per_ticket']:>7} /t {r['ms_per_ticket']:>8} ms/t  {r['service']:<18}"
                      f" {r['shape'][:160]}")


PRICES = {
    "empty statement (a pool's pre-ping)": [""],
    "SELECT 1, autocommit": ["SELECT 1"],
    "BEGIN; SELECT 1; COMMIT": ["BEGIN", "SELECT 1", "COMMIT"],
    "one-row upsert, autocommit (a write commit: fsync)": [
        "INSERT INTO price (k, v) VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = price.v + 1"],
    "BEGIN; one-row upsert; COMMIT": [
        "BEGIN",
        "INSERT INTO price (k, v) VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = price.v + 1",
        "COMMIT"],
    "BEGIN; 5 one-row upserts; COMMIT": [
        "BEGIN",
        *["INSERT INTO price (k, v) VALUES (1, 1) ON CONFLICT (k) DO UPDATE SET v = price.v + 1"]
        * 5, "COMMIT"],
}


def price_list(settings: ServiceSettings, rounds: int) -> dict[str, float]:
    """The server's CPU (its backend's, from /proc) per operation, each ``rounds`` times, in a
    scratch database of its own: what one avoidable round trip or commit costs PostgreSQL."""
    import uuid

    database = f"pgcost_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_conninfo(settings), autocommit=True) as admin:
        admin.execute(SQL("CREATE DATABASE {}").format(Identifier(database)))
    prices = {}
    try:
        with psycopg.connect(admin_conninfo(settings, database), autocommit=True,
                             application_name=SELF) as conn:
            conn.execute("CREATE TABLE price (k int PRIMARY KEY, v bigint)")
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            for name, statements in PRICES.items():
                for text in statements:  # prepared before the count
                    conn.execute(text, prepare=bool(text) and text not in ("BEGIN", "COMMIT"))
                before = procs.read_stat(backend)
                for _ in range(rounds):
                    for text in statements:
                        conn.execute(text, prepare=bool(text) and text not in ("BEGIN", "COMMIT"))
                after = procs.read_stat(backend)
                assert before is not None and after is not None
                prices[name] = round((after.own_s - before.own_s) * 1e6 / rounds, 1)
    finally:
        with psycopg.connect(admin_conninfo(settings), autocommit=True) as admin:
            admin.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                Identifier(database)))
    return prices


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    parser = argparse.ArgumentParser(prog="python -m bench.statements",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--settle", type=float, default=5.0, help="s after ready, before measuring")
    parser.add_argument("--flush-wait", type=float, default=11.0)
    parser.add_argument("--no-log", action="store_true")
    parser.add_argument("--db-set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--from-log", metavar="DATABASE",
                        help="only read the statements of an earlier run's database from the"
                             " server log (--full: its full tickets)")
    parser.add_argument("--full", type=int, default=200)
    parser.add_argument("--prices", type=int, metavar="ROUNDS",
                        help="only the server's CPU per round trip, read-only and write commit"
                             " (in a scratch database), each ROUNDS times")
    args = parser.parse_args(argv)
    if args.prices:
        for name, us in price_list(ServiceSettings(), args.prices).items():
            print(f"{us:8.1f} us  {name}")
        return 0
    if args.from_log:
        report = log_report(args.from_log, 0, 0, args.full, args.top)
        for key in ("database", "e2e", "backend_cpu_ms_total"):
            report.setdefault(key, None)
        print(json.dumps(report, indent=1, default=str))
        return 0
    report = run(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    show(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
