"""The Kafka broker's CPU per full ticket, by thread, and the requests behind it, by client.

    python -m bench.broker_cost [--tickets 300] [--repeats 3] [--warmup 300] [--shared]

Starts a broker of its own (one KRaft node from the project's jars, on free ports, with
`make infra`'s JVM flags and server.properties: deploy/local/infra.py, deploy/kafka/), so its
CPU is this platform's alone (the machine's broker serves everyone on it; `--shared` measures
that one instead), then an isolated platform on it (tests/e2e/platform_harness, event clock),
and runs the end-to-end closed loop (bench/e2e.py): one unmeasured warm-up run (the broker's
JIT compiles its hot paths over the first thousands of requests), then `--repeats` runs. For
each run, per ticket in the ledger:
- the broker's CPU (/proc of its pid) and by thread kind (/proc/<pid>/task: requests = the
  network and request-handler threads, jit, gc, metadata = the controller, raft and metadata
  publishing, purgatory = delayed fetches and produces, other);
- every Kafka request the platform's processes and the bench's own watch sent, by client id
  and kind (Fetch requests whose answer held no record bytes counted apart as `Fetch-empty`),
  counted client-side: each process imports a `sitecustomize` that wraps aiokafka's
  `AIOKafkaConnection.send` and writes its counts to a file every half second.
`--prop key=value` (repeatable) overrides a server property of the own broker; `--jvm FLAG`
adds a JVM flag. One JSON line per run; a summary (medians) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COUNTS_DIR_ENV = "MINSHENG_BENCH_KAFKA_COUNTS"
TICK = os.sysconf("SC_CLK_TCK")

# thread name (Linux comm: the first 15 characters of the JVM thread's name) -> kind
THREAD_KINDS = (("data-plane-kafk", "requests"), ("C2 CompilerThre", "jit"),
                ("C1 CompilerThre", "jit"), ("GC Thread", "gc"), ("G1 ", "gc"),
                ("VM Thread", "gc"), ("kafka-1-metadat", "metadata"),
                ("quorum-controll", "metadata"), ("kafka-1-raft", "metadata"),
                ("controller-1-", "metadata"), ("broker-1-", "metadata"),
                ("executor-", "purgatory"), ("ExpirationReape", "purgatory"),
                ("group-coordinat", "groups"))


# -- counting requests, in every process (sitecustomize) ----------------------------------------
def count_requests(folder: str) -> None:
    """Wrap aiokafka's `AIOKafkaConnection.send` to count requests by client id and kind;
    a thread writes this process's counts to `folder/<pid>.json` every half second."""
    from aiokafka import conn

    counts: collections.Counter[str] = collections.Counter()
    send = conn.AIOKafkaConnection.send
    process = process_label()

    def counted(self: Any, request: Any, expect_response: bool = True) -> Any:
        kind = type(request).__name__.split("_v")[0].removesuffix("Request")
        key = f"{process}:{self._client_id}|{kind}"
        counts[key] += 1
        result = send(self, request, expect_response)
        if kind != "Fetch" or not expect_response:
            return result

        async def inspect() -> Any:
            response = await result
            if not any(part[-1] for _, parts in response.topics for part in parts):
                counts[f"{key}-empty"] += 1
            return response

        return inspect()

    conn.AIOKafkaConnection.send = counted  # type: ignore[method-assign]
    path = Path(folder) / f"{os.getpid()}.json"

    def write() -> None:
        while True:
            time.sleep(0.5)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(dict(counts)))
            tmp.replace(path)

    threading.Thread(target=write, name="kafka-request-counts", daemon=True).start()


def process_label() -> str:
    """The platform process this is (`services.intake`'s projector: intake-projector), or
    "bench" for the bench itself."""
    args = Path("/proc/self/cmdline").read_bytes().split(b"\0")
    module = next((args[i + 1].decode() for i, a in enumerate(args[:-1]) if a == b"-m"), "")
    if not module.startswith("services."):
        return "bench"
    name = module.removeprefix("services.")
    role = os.environ.get(f"MINSHENG_{name.upper()}_ROLE", "")
    return f"{name}-{role}" if role else name


def read_counts(folder: Path) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            total.update(json.loads(path.read_text()))
    return total


def hook_folder(counts: Path) -> Path:
    """A folder holding the `sitecustomize` that starts counting in every Python process
    that has it first on PYTHONPATH."""
    folder = Path(tempfile.mkdtemp(prefix="minsheng-broker-cost-hook-"))
    (folder / "sitecustomize.py").write_text(
        "import os\n"
        f"if os.environ.get({COUNTS_DIR_ENV!r}):\n"
        "    from bench.broker_cost import count_requests\n"
        f"    count_requests(os.environ[{COUNTS_DIR_ENV!r}])\n")
    counts.mkdir(parents=True, exist_ok=True)
    return folder


# -- the broker's threads -------------------------------------------------------------------
def thread_ticks(pid: int) -> dict[str, tuple[str, int]]:
    """tid -> (thread name, user + system ticks) of a process's threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (comm, int(fields[11]) + int(fields[12]))
    return out


def thread_kind(name: str) -> str:
    return next((kind for prefix, kind in THREAD_KINDS if name.startswith(prefix)), "other")


def by_kind(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]
            ) -> dict[str, float]:
    """CPU seconds each kind of thread used between two readings (exited threads' are in
    neither: see the process's total)."""
    used: collections.Counter[str] = collections.Counter()
    for tid, (name, ticks) in after.items():
        used[thread_kind(name)] += (ticks - before.get(tid, (name, 0))[1]) / TICK
    return dict(used)


def process_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# -- a broker of its own ----------------------------------------------------------------------
def _infra() -> Any:
    spec = importlib.util.spec_from_file_location("minsheng_local_infra",
                                                  ROOT / "deploy" / "local" / "infra.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def own_broker(props: dict[str, str], jvm: list[str]) -> Iterator[tuple[str, int]]:
    """(bootstrap, pid) of a single-node broker configured as `make infra` configures the
    machine's, on free ports, in a throw-away folder."""
    from tests.e2e.platform_harness import distinct_ports

    infra = _infra()
    port = distinct_ports()
    kafka_port, controller_port = port(), port()
    folder = ROOT / ".data" / "bench" / f"broker-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    text = ((ROOT / "deploy/kafka/server.properties.template").read_text()
            .replace("${KAFKA_PORT}", str(kafka_port))
            .replace("${KAFKA_CONTROLLER_PORT}", str(controller_port))
            .replace("${KAFKA_DATA}", str(folder)))
    config = folder / "server.properties"
    config.write_text(infra.with_properties(text, props))
    subprocess.run(infra.java_cmd("kafka.tools.StorageTool", "format", "-t",
                                  uuid.uuid4().hex[:22], "-c", str(config), logs_dir=folder),
                   check=True, stdout=subprocess.DEVNULL)
    command = infra.java_cmd("kafka.Kafka", str(config), logs_dir=folder)
    command[1:1] = jvm
    with open(folder / "stdout.log", "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        infra.wait_for(lambda: infra.port_open(kafka_port) or proc.poll() is not None,
                       "the bench's broker", 90)
        if proc.poll() is not None:
            raise SystemExit(f"the bench's broker exited: {folder}/server.log")
        yield f"127.0.0.1:{kafka_port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


# -- runs -------------------------------------------------------------------------------------
def per_ticket(counts: collections.Counter[str], tickets: int) -> dict[str, float]:
    return {k: round(v / tickets, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
            if v > 0}


def totals_by_kind(counts: collections.Counter[str]) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for key, n in counts.items():
        out[key.rsplit("|", 1)[1]] += n
    return out


def measure(endpoints: Any, broker_pid: int, counts_dir: Path, *, tickets: int, seed: int,
            in_flight: int, platform: dict[str, int]) -> dict[str, Any]:
    from bench import e2e, procs

    time.sleep(1.0)  # the counters' last writes
    counts_before, threads_before = read_counts(counts_dir), thread_ticks(broker_pid)
    cpu_before = process_cpu_s(broker_pid)
    meter = procs.CpuMeter(platform).start()
    got = asyncio.run(e2e.run(endpoints, tickets=tickets, seed=seed, concurrency=in_flight))
    cpu = process_cpu_s(broker_pid) - cpu_before
    ours = meter.stop()
    threads = by_kind(threads_before, thread_ticks(broker_pid))
    time.sleep(1.0)
    counts = read_counts(counts_dir)
    counts.subtract(counts_before)
    done = max(1, got.in_ledger)
    return {"tickets": got.in_ledger, "tickets_per_second": got.tickets_per_second,
            "seconds": got.seconds,
            "broker_cpu_ms_per_ticket": round(1000 * cpu / done, 2),
            "ours_cpu_ms_per_ticket": round(1000 * sum(ours.values()) / done, 2),
            "ours_ms_per_ticket": {k: round(1000 * v / done, 2) for k, v in
                                   sorted(ours.items(), key=lambda kv: -kv[1])},
            "broker_threads_ms_per_ticket": {k: round(1000 * v / done, 2) for k, v in
                                             sorted(threads.items(), key=lambda kv: -kv[1])},
            "requests_per_ticket": round(sum(v for k, v in counts.items()
                                             if not k.endswith("-empty")) / done, 2),
            "by_kind_per_ticket": per_ticket(totals_by_kind(counts), done),
            "by_client_per_ticket": per_ticket(counts, done)}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    from bench.stats import median

    kinds = sorted({k for r in runs for k in r["by_kind_per_ticket"]})
    threads = sorted({k for r in runs for k in r["broker_threads_ms_per_ticket"]})
    return {"broker_cpu_ms_per_ticket": [r["broker_cpu_ms_per_ticket"] for r in runs],
            "median": median([r["broker_cpu_ms_per_ticket"] for r in runs]),
            "ours_median": median([r["ours_cpu_ms_per_ticket"] for r in runs]),
            "requests_per_ticket_median": median([r["requests_per_ticket"] for r in runs]),
            "threads_median": {k: median([r["broker_threads_ms_per_ticket"].get(k, 0.0)
                                          for r in runs]) for k in threads},
            "kinds_median": {k: median([r["by_kind_per_ticket"].get(k, 0.0) for r in runs])
                             for k in kinds}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_cost")
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--shared", action="store_true",
                        help="measure the machine's broker (MINSHENG_KAFKA_BOOTSTRAP)")
    parser.add_argument("--prop", action="append", default=[], help="key=value")
    parser.add_argument("--jvm", action="append", default=[], help="an extra JVM flag")
    parser.add_argument("--env", action="append", default=[],
                        help="KEY=VALUE for the platform's processes")
    args = parser.parse_args(argv)
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    props = dict(p.split("=", 1) for p in args.prop)
    counts_dir = Path(tempfile.mkdtemp(prefix="minsheng-broker-cost-counts-"))
    hooks = hook_folder(counts_dir)
    try:
        with contextlib.ExitStack() as stack:
            if args.shared:
                from backbone.settings import ServiceSettings
                from bench.procs import listening_pid

                bootstrap = ServiceSettings().kafka_bootstrap
                pid = listening_pid(int(bootstrap.rsplit(":", 1)[1]))
                assert pid is not None, f"no broker listening at {bootstrap}"
            else:
                bootstrap, pid = stack.enter_context(own_broker(props, args.jvm))
            os.environ["MINSHENG_KAFKA_BOOTSTRAP"] = bootstrap
            count_requests(str(counts_dir))  # the bench's own watch, in this process
            from bench import platform
            from bench.run import BENCH_ENV

            env = BENCH_ENV | dict(e.split("=", 1) for e in args.env) | {
                "MINSHENG_KAFKA_BOOTSTRAP": bootstrap, COUNTS_DIR_ENV: str(counts_dir),
                "PYTHONPATH": f"{hooks}:{ROOT}:{ROOT / 'proto'}"}
            running = stack.enter_context(platform.running(env))
            endpoints = platform.endpoints(running)
            pids = {name: proc.pid for name, proc in running.procs.items()}
            runs = []
            if args.warmup:
                warm = measure(endpoints, pid, counts_dir, tickets=args.warmup, seed=8900,
                               in_flight=args.in_flight, platform=pids)
                print(json.dumps({"warmup": True} | warm), flush=True)
            for i in range(args.repeats):
                runs.append(measure(endpoints, pid, counts_dir, tickets=args.tickets,
                                    seed=9000 + i, in_flight=args.in_flight, platform=pids))
                print(json.dumps(runs[-1]), flush=True)
            if runs:
                print(json.dumps({"summary": summary(runs)}), flush=True)
    finally:
        shutil.rmtree(hooks, ignore_errors=True)
        shutil.rmtree(counts_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
