"""Benchmark: replay with verification of a 30-event ticket from a big ledger.

    PYTHONPATH=.:proto .venv/bin/python -m bench.audit_replay --rows 1000000

(Run it as a module: bench/platform.py would shadow the standard library's `platform`.)

Builds (once per size) a ledger of `--rows` entries in its own database
(`bench_audit`, schema `ledger_<rows>`, reused by later runs): `--tickets` measured tickets of 30 real envelopes each,
spread over the whole ledger with valid chains and real leaf hashes, and filler rows generated in
SQL (generate_series, ~400-byte events). The Merkle subtree table is built level by level in
SQL, one checkpoint is signed over the whole ledger, and then each measured ticket is replayed
through the code the API runs (services.audit.application.histories): find the ticket by its
code and read its history, record the read in the access log (committed before the answer),
build an inclusion proof per entry against a signed checkpoint, and verify the chain and every
proof (services.audit.domain.verify.verify_history). Nothing is skipped because it was done
for an earlier sample except what the service itself keeps: the Merkle tree's upper levels
and a checkpoint read within the last second. The process's one-time start (the upper levels'
load by the first proof, statements prepared at their sixth run) happens in a warm-up on
filler tickets before the samples, and the first (cold) verified read is reported apart
(`cold_first_verified_ms`): inside the samples it took one of the five places above a p99 of
500. Prints medians and nearest-rank p99s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from minsheng.v1 import dispatch_events_pb2 as de

from backbone import events
from backbone.auth import Principal
from backbone.store import ensure_database
from bench.profile import cprofile
from services.audit.bootstrap import build_parts
from services.audit.domain.chain import ChainHead, link_entry
from services.audit.settings import AuditSettings
from tests.integration.audit.lifecycle import T0, new_ticket, ticket_lifecycle

EVENTS_PER_TICKET = 30


def thirty_events(ticket_id: str, code: str) -> list:
    """The ten-step lifecycle with twenty progress notes in the middle."""
    life = ticket_lifecycle(ticket_id, code)
    notes = [events.make_envelope(
        payload=de.AssignmentProgressNoted(unit="yingzhou", assignment_no=1,
                                           note_masked=f"第{i}次进展：已联系物业公司，正在清运"),
        event_id=str(uuid.uuid4()), ticket_id=ticket_id, ticket_code=code, producer="dispatch",
        occurred_at=T0 + timedelta(hours=4, minutes=i)) for i in range(20)]
    return life[:5] + notes + life[5:]


def settings_for(rows: int) -> AuditSettings:
    return AuditSettings(pg_dbname="bench_audit", pg_schema=f"ledger_{rows}",
                         checkpoint_key_file="/tmp/bench-audit-checkpoint.pem", writer_role="")


def place_tickets(rows: int, tickets: int, rng: random.Random) -> list[list[int]]:
    seqs = sorted(rng.sample(range(rows), tickets * EVENTS_PER_TICKET))
    rng.shuffle(seqs)
    return [sorted(seqs[i::tickets]) for i in range(tickets)]


def write_measured(conn: psycopg.Connection, schema: str, places: list[list[int]]) -> list[str]:
    """Measured tickets: real envelopes, chained, with their leaves; returns their codes."""
    codes = []
    by_seq = {}
    for seqs in places:
        tid, code = new_ticket()
        codes.append(code)
        for seq, env in zip(seqs, thirty_events(tid, code), strict=True):
            by_seq[seq] = env
    heads: dict[str, tuple[int, bytes]] = {}
    ledger, leaves = [], []
    for seq in sorted(by_seq):
        env = by_seq[seq]
        head = heads.get(env.ticket_id)
        e = link_entry(ChainHead(*head) if head else None, ledger_seq=seq, topic="bench",
                       partition=seq % 12, offset=seq, ticket_id=env.ticket_id,
                       event=env.SerializeToString())
        heads[env.ticket_id] = (e.ticket_seq, e.entry_hash)
        ledger.append((seq, env.event_id, "bench", seq % 12, seq, env.ticket_id, env.ticket_code,
                       e.ticket_seq, env.event_type, env.producer, env.occurred_at.ToDatetime(),
                       e.event, e.prev_hash, e.entry_hash))
        leaves.append((0, seq, e.leaf_hash()))
    with conn.cursor() as cur:  # bulk: COPY, not a statement per row
        with cur.copy(f"COPY {schema}.ledger (ledger_seq, event_id, topic, partition, \"offset\","
                      " ticket_id, ticket_code, ticket_seq, event_type, producer, occurred_at,"
                      " event, prev_hash, entry_hash) FROM STDIN") as copy:
            for row in ledger:
                copy.write_row(row)
        with cur.copy(f"COPY {schema}.merkle_node FROM STDIN") as copy:
            for row in leaves:
                copy.write_row(row)
    return codes


def fill(conn: psycopg.Connection, schema: str, rows: int, chunk: int = 500_000) -> None:
    """Filler entries and their leaves, generated inside PostgreSQL."""
    for start in range(0, rows, chunk):
        end = min(rows, start + chunk) - 1
        conn.execute(
            f"INSERT INTO {schema}.ledger SELECT i, 'f' || i, 'bench', i %% 12, i,"
            " 'filler-' || (i / 30), '', i %% 30 + 1, 'AssignmentProgressNoted', 'dispatch',"
            " now(), decode(repeat(md5(i::text), 12), 'hex'),"
            " sha256(int8send(i - 1)), sha256(int8send(i)), now()"
            " FROM generate_series(%s::bigint, %s::bigint) AS i ON CONFLICT DO NOTHING",
            (start, end))
        conn.execute(
            f"INSERT INTO {schema}.merkle_node SELECT 0, i, sha256('\\x00'::bytea || int8send(i))"
            " FROM generate_series(%s::bigint, %s::bigint) AS i ON CONFLICT DO NOTHING",
            (start, end))
        conn.commit()
        print(f"  filled {end + 1:,} / {rows:,}", flush=True)


def build_levels(conn: psycopg.Connection, schema: str, rows: int) -> None:
    """Every perfect subtree: level L from pairs of level L-1 (complete pairs only)."""
    level, width = 1, rows // 2
    while width >= 1:
        conn.execute(
            f"INSERT INTO {schema}.merkle_node SELECT %s, idx / 2,"
            " sha256('\\x01'::bytea || hash || right_hash) FROM (SELECT idx, hash,"
            " lead(hash) OVER (ORDER BY idx) AS right_hash"
            f" FROM {schema}.merkle_node WHERE level = %s AND idx < %s) pairs"
            " WHERE idx %% 2 = 0",
            (level, level - 1, 2 * width))
        conn.commit()
        level, width = level + 1, width // 2
    conn.execute(f"ANALYZE {schema}.ledger")
    conn.execute(f"ANALYZE {schema}.merkle_node")
    conn.commit()


def build(settings: AuditSettings, rows: int, tickets: int, rng: random.Random) -> list[str]:
    ensure_database(settings)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:  # a half-built one
        conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')
    ensure_database(settings)
    parts = build_parts(settings, pool_size=2)
    parts.pool.close()
    schema = f'"{settings.schema}"'
    t = time.perf_counter()
    with psycopg.connect(settings.pg_conninfo()) as conn:
        for table in ("ledger", "merkle_node"):
            conn.execute(f"ALTER TABLE {schema}.{table} DISABLE TRIGGER USER")
        codes = write_measured(conn, schema, place_tickets(rows, tickets, rng))
        conn.commit()
        fill(conn, schema, rows)
        build_levels(conn, schema, rows)
        for table in ("ledger", "merkle_node"):
            conn.execute(f"ALTER TABLE {schema}.{table} ENABLE TRIGGER USER")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.bench_tickets (code text)")
        conn.cursor().executemany(f"INSERT INTO {schema}.bench_tickets VALUES (%s)",
                                  [(c,) for c in codes])
    steady(settings, schema)
    print(f"built {rows:,} entries in {time.perf_counter() - t:.0f} s", flush=True)
    return codes


def steady(settings: AuditSettings, schema: str) -> None:
    """The freshly loaded tables as a live ledger's are: vacuumed (autovacuum would otherwise
    start on a million new rows in the middle of the samples, and each first read of a page
    would set its hint bits, a write) and checkpointed (the load's dirty pages written
    before the measurement, not during it)."""
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        for table in ("ledger", "merkle_node"):
            conn.execute(f"VACUUM (ANALYZE) {schema}.{table}")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # no pg_checkpoint
            conn.execute("CHECKPOINT")


def existing(settings: AuditSettings) -> list[str]:
    try:
        with psycopg.connect(settings.pg_conninfo()) as conn:
            return [r[0] for r in conn.execute(
                f'SELECT code FROM "{settings.schema}".bench_tickets').fetchall()]
    except psycopg.Error:
        return []


WARM_UP_READS = 20


def warm_up(parts: Any, who: Principal, rows: int) -> float:
    """The process's one-time start, outside the samples: the first proof loads the Merkle
    tree's upper levels (~0.1-0.25 s for 1,000,000 entries) and psycopg prepares a statement
    on a connection at its sixth run. Done by reading filler tickets (never a measured one:
    their pages are not warmed by it), each like a sample, replay then replay with proofs
    (their verification finds the filler's made-up chains, which is not asserted). Returns
    the first verified read's ms (the cold one), reported apart."""
    first = 0.0
    for k in range(WARM_UP_READS):
        ticket = f"filler-{(k * 7919 + 13) % max(1, rows // EVENTS_PER_TICKET)}"
        parts.histories.history(who, ticket)
        t = time.perf_counter()
        parts.histories.verification(parts.histories.history(who, ticket, proofs=True))
        first = first or (time.perf_counter() - t) * 1000
    return first


def percentile(xs: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` of the samples at or below it (p99
    of 500 samples is the 495th smallest; of 100, the 99th, not the largest)."""
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


class ReadTimes:
    """Where a verified read's time went: when its answer was built (proofs verified) and when
    its access-log row was committed, from the read's start. The read returns after both, so
    its time is about the later of the two: this tells a tail made by the disk (the commit's
    fsync, shared with everything else PostgreSQL writes) from one made by CPU. The write
    sent from the reader's own thread (backbone.access_log, session 24) is read back only once
    the answer is built, so "committed" comes after "built" by construction: the gap between
    the two is what the read waited for the disk."""

    def __init__(self, parts: Any):
        self.start = self.built = self.committed = 0.0
        histories, access = parts.histories, parts.access
        answer, write = histories._answer, access._write

        def timed_answer(*args: Any, **kwargs: Any) -> Any:
            try:
                return answer(*args, **kwargs)
            finally:
                self.built = time.perf_counter()

        def timed_write(*args: Any, **kwargs: Any) -> Any:  # the write's end (its commit read
            try:                                            # back), before the read is let go
                return write(*args, **kwargs)
            finally:
                self.committed = time.perf_counter()

        histories._answer, access._write = timed_answer, timed_write

    def begin(self) -> None:
        self.start, self.built, self.committed = time.perf_counter(), 0.0, 0.0

    def split(self) -> tuple[float, float]:
        """(answer built, access log committed), seconds after :meth:`begin`."""
        return self.built - self.start, self.committed - self.start


def measure(settings: AuditSettings, codes: list[str], rounds: int) -> dict[str, float]:
    """``rounds`` x each measured ticket: its replay, then its replay with proofs and their
    verification, one at a time (no other load), after the process's warm-up."""
    parts = build_parts(settings, pool_size=2)
    who = Principal("bench", "auditor")
    parts.checkpointer.sign_if_grown(datetime.now(UTC))  # no-op when the head is signed
    cold_ms = warm_up(parts, who, int(settings.schema.removeprefix("ledger_")))
    times = ReadTimes(parts)
    plain, verified, built, committed = [], [], [], []
    for _ in range(rounds):
        for code in codes:
            t = time.perf_counter()
            h = parts.histories.history(who, code)
            plain.append(time.perf_counter() - t)
            assert len(h.rows) == EVENTS_PER_TICKET
            times.begin()
            t = time.perf_counter()
            h = parts.histories.history(who, code, proofs=True)
            result = parts.histories.verification(h)
            verified.append(time.perf_counter() - t)
            assert result["ok"], result
            answer, commit = times.split()
            built.append(answer)
            committed.append(commit)
    parts.pool.close()

    return {"samples": len(verified),
            "replay_ms_p50": statistics.median(plain) * 1000,
            "replay_ms_p99": percentile(plain, 0.99) * 1000,
            "verified_ms_p50": statistics.median(verified) * 1000,
            "verified_ms_p99": percentile(verified, 0.99) * 1000,
            "verified_ms_max": max(verified) * 1000, "cold_first_verified_ms": cold_ms,
            # of the verified reads: the answer built (CPU and the two reads), and the access
            # log's row committed (its write began after the ticket id's look-up)
            "verified_answer_built_ms_p99": percentile(built, 0.99) * 1000,
            "verified_access_log_committed_ms_p99": percentile(committed, 0.99) * 1000,
            "verified_waited_for_the_commit_share": sum(
                c > b for b, c in zip(built, committed, strict=True)) / len(verified)}


def run(rows: int, *, tickets: int = 50, rounds: int = 20, repeats: int = 3,
        seed: int = 12345, keep: bool = False) -> dict:
    """For bench.run: build the ledger afresh (the audit schema may have changed since the
    last run; timed), measure ``repeats`` times, drop it unless ``keep``."""
    settings = settings_for(rows)
    began = time.perf_counter()
    codes = build(settings, rows, tickets, random.Random(seed))
    build_s = time.perf_counter() - began
    try:
        runs = [measure(settings, codes, rounds) for _ in range(repeats)]
        profiled = cprofile(f"audit replay + verify, {len(codes)} tickets once, {rows:,}-entry ledger",
                            lambda: measure(settings, codes, 1))
    finally:
        if not keep:
            with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')
    return {"rows": rows, "tickets": tickets, "events_per_ticket": EVENTS_PER_TICKET,
            "build_seconds": round(build_s, 1),
            "runs": [{k: round(v, 2) for k, v in r.items()} for r in runs], "profile": profiled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    settings = settings_for(args.rows)
    codes = existing(settings) or build(settings, args.rows, args.tickets,
                                        random.Random(args.seed))
    result = measure(settings, codes, args.rounds)
    print(json.dumps({"rows": args.rows, "machine": " ".join(os.uname()[::2]), "cpus": os.cpu_count(),
                      "date": datetime.now(UTC).isoformat(timespec="seconds"), **result},
                     indent=2))


if __name__ == "__main__":
    main()
