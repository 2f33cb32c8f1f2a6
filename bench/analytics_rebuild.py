"""Analytics rebuilt from the audit ledger, events/s: what `python -m services.analytics
rebuild` does (read the ledger over audit's HTTP API, its bulk export `GET /v1/ledger/export`,
normalise every envelope analytics counts as the live consumer does, fold the KPIs, replace
the facts table in one transaction), run in-process into a throw-away schema of the platform's
database, so the running analytics is not touched. The rebuild asks the export for the event
types analytics counts only (`types`: audit leaves the others out at the source); every ledger
position the rebuild covered counts as an event, whether audit sent it or left it out
(`Rebuilt.envelopes`: the export's end cursor less its start). Also the fold alone, from
entries already in memory (every type, no HTTP, no database), to show what the ledger read and
the facts' COPY add.

Alone (without a platform), on a ledger of the demo platform's recorded lifecycles copied
under fresh ids up to ``--ledger-rows`` entries, less their `DeadlineSet` entries (a type
analytics does not count) so that the ledger is as dense in facts as `make bench`'s (0.60
facts an entry there after its end-to-end runs; 0.49 with them, 0.62 without), built once per
size in database `bench_audit`, schema `rebuild_dense_<rows>`, appended as audit appends, and
served by audit's HTTP app (every route, the process's middleware; no Kafka loops) in a child
process:

    PYTHONPATH=.:proto .venv/bin/python -m bench.analytics_rebuild --ledger-rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import auth, events
from backbone.store import ensure_database
from bench.profile import cprofile
from services.analytics.adapters.fact_store import create_tables
from services.analytics.adapters.ledger import Entry, ledger_export
from services.analytics.application.rebuild import COUNTED_TYPES, fold_entries, rebuild
from services.analytics.entrypoints.consumer import CONSUMER
from services.analytics.settings import AnalyticsSettings


@dataclass(frozen=True)
class RebuildRun:
    envelopes: int
    facts: int
    seconds: float
    events_per_second: float
    fold_only_events_per_second: float


def _settings(pg_dbname: str) -> tuple[AnalyticsSettings, str]:
    settings = AnalyticsSettings(pg_dbname=pg_dbname, pg_schema=f"bench_rebuild_{uuid.uuid4().hex[:8]}")
    return settings, auth.mint(settings, sub="bench-rebuild", role="auditor", ttl_s=3600)


def _drop(settings: AnalyticsSettings) -> None:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(settings.schema)))


def profiled(audit_url: str, pg_dbname: str, limit: int | None = None) -> str:
    """One more rebuild (ledger read, fold, INSERTs) under cProfile, for docs/profiles."""
    settings, token = _settings(pg_dbname)
    try:
        ensure_database(settings)
        with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
            create_tables(pool, settings.schema)
            return cprofile(f"analytics rebuild from the ledger ({limit or 'all'} entries at most)",
                            lambda: rebuild(pool, settings.schema, CONSUMER,
                                            ledger_export(audit_url, token, limit=limit,
                                                          types=COUNTED_TYPES)))
    finally:
        _drop(settings)


def read(audit_url: str, limit: int | None = None) -> list[Entry]:
    """The ledger's first ``limit`` entries (for the fold alone, read once)."""
    settings = AnalyticsSettings()
    token = auth.mint(settings, sub="bench-rebuild", role="auditor", ttl_s=3600)
    return list(ledger_export(audit_url, token, limit=limit))


def measure(audit_url: str, pg_dbname: str, envelopes: list[Entry],
            limit: int | None = None, filtered: bool = True) -> RebuildRun:
    """Rebuild from the ledger's first ``limit`` entries (all when None; of them, audit sends
    the types analytics counts only, unless not ``filtered``); the fold alone on
    ``envelopes`` (what ``read`` returned)."""
    settings, token = _settings(pg_dbname)
    try:
        ensure_database(settings)
        with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
            # the schema as the service leaves it (ensure_database, and the facts table its
            # bootstrap makes at start): the rebuild replaces the rows of existing tables, as
            # `python -m services.analytics rebuild` does on a deployment. (Making the table
            # in the timed transaction, its sequence and three indexes, took a median of 72-88
            # ms against 11-16 ms to empty it: 2026-12-06, load ~10, see
            # docs/profiles/analytics-rebuild.md, session 10.)
            create_tables(pool, settings.schema)
            # the pool's connection made (PostgreSQL forking a backend for it) before the
            # clock starts: the rebuild is timed, not the connection (up to 30 ms under load)
            pool.wait()
            began = time.perf_counter()
            done = rebuild(pool, settings.schema, CONSUMER,
                           ledger_export(audit_url, token, limit=limit,
                                         types=COUNTED_TYPES if filtered else None))
            seconds = time.perf_counter() - began
    finally:
        _drop(settings)
    began = time.perf_counter()
    fold_entries(envelopes)
    fold_s = time.perf_counter() - began
    return RebuildRun(done.envelopes, done.facts, round(seconds, 2),
                      round(done.envelopes / max(seconds, 1e-9)),
                      round(len(envelopes) / max(fold_s, 1e-9)))


# -- alone: a ledger of recorded lifecycles, audit's export in a child process -----------------
def _ledger_settings(rows: int) -> Any:
    from services.audit.settings import AuditSettings
    return AuditSettings(pg_dbname="bench_audit", pg_schema=f"rebuild_dense_{rows}", writer_role="",
                         checkpoint_key_file="/tmp/bench-audit-checkpoint.pem")


def build_ledger(rows: int) -> None:
    """The recorded lifecycles (less their `DeadlineSet` entries) under fresh ids until
    ``rows`` entries, appended in batches of 500 as the ledger's consumer appends them (chains
    and Merkle tree as in production)."""
    from bench.service_cost import copies, recorded
    from services.audit.adapters.ledger_store import Message, append_batch
    from services.audit.bootstrap import build_parts
    settings = _ledger_settings(rows)
    ensure_database(settings)
    parts = build_parts(settings, pool_size=1)
    with parts.pool.connection() as conn:
        row = conn.execute(SQL("SELECT count(*) FROM {}.ledger")
                           .format(Identifier(settings.schema))).fetchone()
        have = row[0] if row else 0
    if have >= rows:
        parts.pool.close()
        return
    raw = [r for r in recorded() if events.decode_parts(r)[0].event_type != "DeadlineSet"]
    tickets = len({events.decode_parts(r)[0].ticket_id for r in raw})
    messages, _ = copies(raw, tickets * -(-rows // len(raw)))
    batch: list[Message] = []
    for offset, (_key, value, headers) in enumerate(messages[have:rows], start=have):
        h = {k: v.decode() for k, v in headers}
        env = events.decode_parts(value)[0]
        batch.append(Message("bench", 0, offset, value, env.event_id, env.ticket_id,
                             env.ticket_code, h["event_type"], env.producer,
                             env.occurred_at.ToDatetime()))
        if len(batch) == 500:
            with parts.pool.connection() as conn, conn.cursor() as cur:
                append_batch(cur, settings.schema, batch)
            batch = []
    if batch:
        with parts.pool.connection() as conn, conn.cursor() as cur:
            append_batch(cur, settings.schema, batch)
    parts.pool.close()


def serve(rows: int, port: int) -> None:
    """Audit's HTTP app on ``port`` as its process serves it (every route, bootstrap.build's
    wiring; not its Kafka consumer and checkpoint loops, which would append to this ledger)."""
    import uvicorn

    from backbone.http import create_app
    from backbone.runtime import QuietServer
    from services.audit.bootstrap import build_parts
    from services.audit.entrypoints import http_api
    from services.audit.entrypoints import ledger_export as export_route
    settings = _ledger_settings(rows)
    parts = build_parts(settings)
    app = create_app(settings=settings, title="audit", description="", readiness=[])
    app.include_router(http_api.router(
        histories=parts.histories, reader=parts.reader, checkpoints=parts.checkpoints,
        verification=parts.verification, access=parts.access, verifier=parts.signer.verifier,
        max_page=settings.max_page))
    app.include_router(export_route.router(pool=parts.pool, schema=settings.schema,
                                           access=parts.access))
    QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                               access_log=False, lifespan="off")).run()


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alone(rows: int, repeats: int, filtered: bool = True) -> dict[str, Any]:
    build_ledger(rows)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-m", "bench.analytics_rebuild", "--serve",
                              str(rows), str(port)], env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        envelopes = read(url, rows)
        runs = []
        for _ in range(repeats):
            me, them = time.process_time(), _cpu_s(child.pid)
            got = measure(url, "bench_audit", envelopes, limit=rows, filtered=filtered)
            runs.append(asdict(got) | {"client_cpu_s": round(time.process_time() - me, 3),
                                       "audit_cpu_s": round(_cpu_s(child.pid) - them, 3)})
    finally:
        child.terminate()
        child.wait(10)
    return {"rows": rows, "runs": runs, "median_events_per_second":
            statistics.median(r["events_per_second"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledger-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unfiltered", action="store_true",
                        help="the rebuild reads every entry (no `types` asked of the export)")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    if args.serve:
        serve(*args.serve)
        return
    print(json.dumps(alone(args.ledger_rows, args.repeats, not args.unfiltered), indent=1))


if __name__ == "__main__":
    main()
