"""Intake's submission path alone: one intake process (its own schema, topics and port, event
clock), `bench.intake_load` against it, and the CPU the process spent per submission (/proc).

Unlike `make bench`'s intake figure, nothing else of the platform runs, so the CPU per
submission is intake's own request handling (HTTP, validation, group commit, its relay and
read side). `--split` runs intake as the platform does, an api process and a projector process
(the read side: the projector with the 并单 detector, and the lifecycle consumer): CPU is then
reported for each, and `--profile` records the api process. `--tree` runs another checkout (e.g. `git archive <rev> | tar -x -C /tmp/old`) for a
before/after; `--profile FILE` records the process with py-spy meanwhile (folded stacks).

    python -m bench.intake_request_cost --requests 2000 --concurrency 32 [--tree /tmp/old]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from backbone import auth
from backbone.settings import ServiceSettings
from bench import intake_load
from tests import janitor
from tools.simulator.drive.settings import Endpoints

ROOT = Path(__file__).resolve().parent.parent


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"intake exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("intake not ready in time")


def server_side(url: str) -> dict[str, float]:
    """From intake's /metrics: the group commit's mean batch (commands per transaction) and
    the share of POST /v1/requests answered within 25, 100 and 250 ms by the server's own
    clock (from the request's first byte to its answer; the rest of the client's latency is
    waiting for the server to read the request at all)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        found[name] = float(value)
    batch = [v for k, v in found.items() if k.startswith("minsheng_group_commit_batch_size_sum")]
    count = [v for k, v in found.items()
             if k.startswith("minsheng_group_commit_batch_size_count")]
    route = 'route="/v1/requests"'
    total = next((v for k, v in found.items()
                  if k.startswith("minsheng_http_request_seconds_count") and route in k), 0.0)
    out = {"group_commit_mean_batch": round(sum(batch) / max(1.0, sum(count)), 1)}
    spent = next((v for k, v in found.items()
                  if k.startswith("minsheng_http_request_seconds_sum") and route in k), 0.0)
    out["server_mean_ms"] = round(1000 * spent / max(1.0, total), 1)  # first byte to answer
    for stage in ("read", "decide", "commit"):  # mean ms of a submission in each stage
        label = f'stage="{stage}"'
        spent = next((v for k, v in found.items() if k.startswith(
            "minsheng_intake_submission_stage_seconds_sum") and label in k), None)
        times = next((v for k, v in found.items() if k.startswith(
            "minsheng_intake_submission_stage_seconds_count") and label in k), 0.0)
        if spent is not None:
            out[f"server_{stage}_mean_ms"] = round(1000 * spent / max(1.0, times), 1)
    for le in ("0.025", "0.1", "0.25"):
        within = next((v for k, v in found.items() if k.startswith(
            "minsheng_http_request_seconds_bucket") and route in k and f'le="{le}"' in k), 0.0)
        out[f"server_share_within_{int(float(le) * 1000)}ms"] = round(within / max(1.0, total), 3)
    return out


def wakeups_and_kernel(pid: int) -> tuple[int, float, float]:
    """(context switches of all its threads so far, user CPU s, system CPU s) of a process:
    a thread hop or a wait costs a switch; system time is sockets, epoll, futexes, fsync
    waits' bookkeeping (/proc)."""
    switches = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except OSError:  # the thread ended meanwhile
            continue
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return switches, int(fields[11]) / tick, int(fields[12]) / tick


def table_writes(settings: ServiceSettings, schema: str) -> dict[str, tuple[int, int, int]]:
    """(rows inserted, updated, deleted) so far per table of the schema (pg_stat_user_tables:
    a backend reports its counts within a second or so of its transaction)."""
    import psycopg

    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del"
                            " FROM pg_stat_user_tables WHERE schemaname = %s",
                            (schema,)).fetchall()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def _ports_of(pids: list[int]) -> set[int]:
    """The local TCP ports of these processes' sockets (/proc: fd inodes, /proc/net/tcp*)."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def backend_cpu(settings: ServiceSettings, pids: list[int]) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving these processes' connections
    (matched by client port; the server runs on this machine)."""
    import psycopg

    ports = _ports_of(pids)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute("SELECT pid, client_port FROM pg_stat_activity"
                            " WHERE client_port IS NOT NULL").fetchall()
    found = {}
    for pid, port in rows:
        if port in ports:
            with contextlib.suppress(OSError):
                found[int(pid)] = intake_load.cpu_seconds(int(pid))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--port", type=int, default=18900)
    parser.add_argument("--tree", default=str(ROOT))
    parser.add_argument("--profile", default="")
    parser.add_argument("--split", action="store_true",
                        help="an api and a projector process, as the platform runs intake")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="an open loop at this many submissions/s, as the end-to-end run "
                             "sends them (pictures uploaded, one adapter per channel: "
                             "intake_load.paced), instead of --concurrency kept in flight")
    args = parser.parse_args()

    suffix = uuid.uuid4().hex[:8]
    schema = f"ircost_{suffix}"
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")  # the development token key
    settings = ServiceSettings()
    env = {**os.environ, "PYTHONPATH": f"{args.tree}:{args.tree}/proto",
           "MINSHENG_ENVIRONMENT": "development", "MINSHENG_CLOCK": "event",
           "MINSHENG_TOPIC_PREFIX": f"ircost{suffix}.", "MINSHENG_PG_SCHEMA": schema,
           "MINSHENG_HTTP_PORT": str(args.port), "MINSHENG_GRPC_PORT": str(args.port + 1),
           "MINSHENG_LOG_LEVEL": "WARNING",
           "MINSHENG_DATA": os.environ.get("MINSHENG_DATA", str(ROOT / ".data"))}  # dev keys
    url = f"http://127.0.0.1:{args.port}"
    log = open(f"/tmp/intake_request_cost_{suffix}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.intake"], cwd=args.tree,
                            env={**env, "MINSHENG_INTAKE_ROLE": "api" if args.split else "all"},
                            stdout=log, stderr=subprocess.STDOUT)
    pids = {"intake": proc.pid}
    projector = None
    if args.split:
        projector = subprocess.Popen(
            [sys.executable, "-m", "services.intake"], cwd=args.tree,
            env={**env, "MINSHENG_INTAKE_ROLE": "projector", "MINSHENG_HTTP_PORT": str(args.port + 2),
                 "MINSHENG_GRPC_PORT": str(args.port + 3)}, stdout=log, stderr=subprocess.STDOUT)
        pids["intake-projector"] = projector.pid
    spies: list[subprocess.Popen[bytes]] = []
    try:
        _wait_ready(url, proc)
        endpoints = Endpoints(urls={"intake": url}, dispatch_grpc="",
                              issuer=auth.issuer_for(settings),
                              kafka_bootstrap=settings.kafka_bootstrap)
        seed = int(time.time())
        if args.rate:
            plan = intake_load.plan_submissions(args.warmup + args.requests, seed=seed)
            asyncio.run(intake_load.paced(endpoints, plan[:args.warmup], rate=args.rate))
        else:
            bodies = intake_load.bodies(args.warmup + args.requests, seed=seed)
            asyncio.run(intake_load.load(endpoints, bodies[:args.warmup],
                                         concurrency=args.concurrency))
        time.sleep(2)  # the warm-up's relay and read side settle
        spies = []
        if args.profile:  # (with --split, the projector's in FILE.projector)
            for pid, out in ((proc.pid, args.profile),
                             *(((projector.pid, args.profile + ".projector"),) if projector
                               else ())):
                spies.append(subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid),
                     "-r", "200", "-f", "raw", "--gil", "-o", out],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(1)
        writes_before = table_writes(settings, schema)
        backends_before = backend_cpu(settings, list(pids.values()))
        load1 = os.getloadavg()[0]
        kernel_before = {name: wakeups_and_kernel(pid) for name, pid in pids.items()}
        after_load = intake_load.cpu_meter(pids)
        run = asyncio.run(
            intake_load.paced(endpoints, plan[args.warmup:], rate=args.rate, pids=pids)
            if args.rate else intake_load.load(endpoints, bodies[args.warmup:],
                                               concurrency=args.concurrency, pids=pids))
        time.sleep(3)  # the relay and the read side finish the run's tickets
        settled = after_load(1)  # CPU ms from the load's start until the read side is done
        total = intake_load.cpu_seconds(proc.pid)
        kernel = {}
        for name, pid in pids.items():
            (w0, u0, s0), (w1, u1, s1) = kernel_before[name], wakeups_and_kernel(pid)
            kernel[name] = {"switches_per_submission": round((w1 - w0) / max(1, run.ok), 2),
                            "system_share": round((s1 - s0) / max(1e-9, u1 - u0 + s1 - s0), 2)}
        backends_after = backend_cpu(settings, list(pids.values()))
        server = server_side(url)
        writes = {t: [round((n - writes_before.get(t, (0, 0, 0))[i]) / max(1, run.ok), 2)
                      for i, n in enumerate(counts)]
                  for t, counts in sorted(table_writes(settings, schema).items())}
        print(json.dumps({"tree": args.tree, "requests": run.requests, "ok": run.ok,
                          "errors": run.errors, "per_second": run.per_second,
                          "p50_ms": run.p50_ms, "p99_ms": run.p99_ms,
                          "cpu_ms_per_submission_during_load": run.cpu_ms.get("intake"),
                          "client_cpu_ms_per_submission": run.client_cpu_ms,
                          # from the load's start until 3 s after it (the read side done)
                          "cpu_ms_per_submission_with_read_side_done": {
                              name: round(ms / max(1, run.ok), 2)
                              for name, ms in settled.items()},
                          "process_cpu_s_total": round(total, 2), **server,
                          # thread/loop wake-ups and the kernel's share, per process
                          "switches_and_kernel": kernel,
                          # its PostgreSQL backends (open at the end), from the load's start
                          "pg_backend_cpu_ms_per_submission": round(1000 * sum(
                              cpu - backends_before.get(pid, 0.0)
                              for pid, cpu in backends_after.items()) / max(1, run.ok), 2),
                          "pg_backends": len(backends_after),
                          # rows [inserted, updated, deleted] per submission, by table
                          "row_writes_per_submission": {
                              t: w for t, w in writes.items() if any(w)},
                          "loadavg_1m_before": round(load1, 2),
                          "loadavg_1m_after": round(os.getloadavg()[0], 2)}))
    finally:
        for spy in spies:
            spy.send_signal(2)
            spy.wait(timeout=30)
        for p in (proc, projector):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        janitor.sweep({suffix}, settings)  # its topics, consumer groups and schema


if __name__ == "__main__":
    main()
