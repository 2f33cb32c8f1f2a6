"""The fault suite: the simulator's city load through a 3-broker cluster with two replicas of
every process, faults injected at random moments, then a Jepsen-style check from the audit
ledger and the services' own answers.

    python -m tests.chaos.run [--short] [--seed N] [--report docs/reliability.md]

Faults (the full run; --short injects one of each kind that CI can afford):
- SIGKILL of the broker leading tickets.events partition 0, restart (3 times);
- SIGKILL of PostgreSQL (the whole server) during commits, restart (2 times);
- SIGKILL of a replica of each process, restart; SIGSTOP/SIGCONT pauses of 10-60 s;
- the bus link through a TCP proxy: delay, stalls (what packet loss looks like to TCP's user),
  and resets of every connection;
- broker 3's data folder, a small tmpfs, filled up mid-run, then freed and the broker restarted.
Then: every acknowledged submission and action in the ledger exactly once, no event twice,
each ticket's causal order intact; the ledger verified; every service's store reconciled with
the ledger (`python -m services.audit verify|reconcile`). Nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.platform import BROKERS, ROOT, ChaosPlatform
from tests.chaos.proxy import BusProxy


@dataclass
class Fault:
    kind: str
    target: str
    injected_at: float = 0.0
    healed_at: float = 0.0
    recovered_s: float | None = None
    acknowledged: int = 0  # submissions acknowledged from injection to recovery
    note: str = ""


@dataclass
class Run:
    faults: list[Fault] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


class Suite:
    def __init__(self, platform: ChaosPlatform, proxy: BusProxy, load, rng: random.Random,
                 pause_s: tuple[float, float]):  # type: ignore[no-untyped-def]
        self.p, self.proxy, self.load, self.rng, self.pause_s = platform, proxy, load, rng, pause_s
        self.run = Run()

    # -- one fault ------------------------------------------------------------------------------
    def inject(self, kind: str, target: str, break_it: Callable[[], str | None],
               mend_it: Callable[[], None], hold_s: float) -> Fault:
        fault = Fault(kind, target)
        before = self.load.submitted()
        fault.injected_at = time.monotonic() - self.run.started
        print(f"[chaos] {fault.injected_at:7.1f}s  {kind} {target}", flush=True)
        fault.note = break_it() or ""
        self._hold(hold_s)
        mend_it()
        fault.healed_at = time.monotonic() - self.run.started
        fault.recovered_s = self._recovered(before)
        fault.acknowledged = self.load.submitted() - before
        print(f"[chaos]          recovered in {fault.recovered_s} s; "
              f"{fault.acknowledged} acknowledged meanwhile {fault.note}", flush=True)
        self.run.faults.append(fault)
        return fault

    def _hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.load.wait_for(timeout=0.5)  # raises if the load itself broke
            time.sleep(0.5)

    def _recovered(self, submitted_before: int, timeout: float = 240) -> float | None:
        """Seconds from the repair until every process is ready and the platform has
        acknowledged two new submissions (None: not within the timeout)."""
        t0 = time.monotonic()
        target = max(submitted_before, self.load.submitted()) + 2
        while time.monotonic() - t0 < timeout:
            if self.p.all_ready() and self.load.submitted() >= target:
                return round(time.monotonic() - t0, 1)
            time.sleep(0.5)
        return None

    def gap(self) -> None:
        """A random moment: the load runs on for a few seconds between faults."""
        self._hold(self.rng.uniform(2, 8))

    # -- the kinds --------------------------------------------------------------------------------
    def broker_kill(self) -> Fault:
        node = self.p.leader_of("tickets.events") or self.rng.randint(1, BROKERS)
        return self.inject("broker SIGKILL (leader of tickets.events/0)", f"node {node}",
                           lambda: self.p.kill_broker(node), lambda: self.p.start_broker(node),
                           self.rng.uniform(3, 10))

    def pg_kill(self) -> Fault:
        return self.inject("PostgreSQL SIGKILL", "server", self.p.kill_pg, self.p.start_pg,
                           self.rng.uniform(2, 6))

    def replica_kill(self, process: str) -> Fault:
        return self.inject("replica SIGKILL", process,
                           lambda: self.p.signal_process(process, signal.SIGKILL),
                           lambda: self.p.restart_process(process), self.rng.uniform(2, 6))

    def pause(self, process: str) -> Fault:
        held = self.rng.uniform(*self.pause_s)
        return self.inject("SIGSTOP/SIGCONT pause", f"{process} {held:.0f}s",
                           lambda: self.p.signal_process(process, signal.SIGSTOP),
                           lambda: self.p.signal_process(process, signal.SIGCONT), held)

    def net_delay(self) -> Fault:
        ms = self.rng.choice([100, 250, 500])
        return self.inject("bus delay", f"{ms} ms per chunk",
                           lambda: self.proxy.delay(ms / 1000), lambda: self.proxy.delay(0),
                           self.rng.uniform(8, 15))

    def net_stall(self) -> Fault:
        return self.inject("bus stall (loss)", "all brokers", lambda: self.proxy.stall(True),
                           lambda: self.proxy.stall(False), self.rng.uniform(2, 6))

    def net_reset(self) -> Fault:
        return self.inject("bus reset", "every connection",
                           lambda: f"({self.proxy.reset_all()} connections cut)", lambda: None,
                           0.5)

    def disk_full(self) -> Fault:
        disk = self.p.disk
        assert disk is not None
        filler = disk / "filler"

        def fill() -> str:
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=100000"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            deadline = time.monotonic() + 60
            while self.p.broker_pid(3) is not None and time.monotonic() < deadline:
                time.sleep(0.5)  # the broker stops when its only log folder fails
            return "(broker 3 stopped by itself)" if self.p.broker_pid(3) is None else \
                "(broker 3 still running after 60 s on a full disk)"

        def free() -> None:
            filler.unlink(missing_ok=True)
            self.p.kill_broker(3)
            self.p.start_broker(3)

        return self.inject("data folder full", "broker 3 (tmpfs)", fill, free, 1)


def schedule(suite: Suite, processes: list[str], short: bool) -> list[Callable[[], Fault]]:
    rng = suite.rng
    if short:
        plan: list[Callable[[], Fault]] = [
            suite.broker_kill, suite.pg_kill, lambda: suite.replica_kill("dispatch"),
            lambda: suite.pause("sla.2"), suite.net_reset, suite.net_delay]
    else:
        plan = [suite.broker_kill] * 3 + [suite.pg_kill] * 2
        plan += [lambda p=p: suite.replica_kill(p) for p in processes]  # type: ignore[misc]
        plan += [lambda p=p: suite.pause(p)  # type: ignore[misc]
                 for p in rng.sample(processes, 2)]
        plan += [suite.net_delay, suite.net_delay, suite.net_stall, suite.net_stall,
                 suite.net_reset, suite.net_reset, suite.net_reset]
    rng.shuffle(plan)
    if not short and suite.p.disk is not None:
        plan.insert(rng.randint(1, len(plan) - 1), suite.disk_full)
    return plan


def audit_cli(command: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "services.audit", command, "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MINSHENG_SERVICE": "audit"})
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"ok": False, "error": (out.stderr or out.stdout)[-2000:]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run")
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--rate", type=float, default=3.0, help="city load, tickets/s")
    parser.add_argument("--report", default="", help="write the report (markdown) here")
    args = parser.parse_args(argv)

    platform = ChaosPlatform()  # sets this process's environment to the suite's
    from tests.chaos.checks import check, city_load, render  # after the environment is set

    rng = random.Random(args.seed)
    proxy = BusProxy(platform.proxy_pairs())
    load = None
    report: dict = {"seed": args.seed, "short": args.short}
    try:
        proxy.start()
        platform.start(disk_mb=0 if args.short else 512)
        load = city_load(platform, rate=args.rate, seed=args.seed)
        load.start()
        if not load.wait_for(submitted=10, timeout=180):
            raise RuntimeError("the load never got going")
        suite = Suite(platform, proxy, load, rng, (10, 15) if args.short else (10, 60))
        for fault in schedule(suite, platform.processes(), args.short):
            suite.gap()
            fault()
        suite.gap()
        record = load.stop()
        load = None
        report |= check(platform, record)
        report["ledger_verification"] = audit_cli("verify")
        report["reconciliation"] = audit_cli("reconcile")
        report["faults"] = [f.__dict__ for f in suite.run.faults]
    finally:
        if load is not None:
            try:
                load.stop(timeout=60)
            except Exception as exc:  # the platform is torn down anyway
                print(f"[chaos] load stopped with {exc!r}")
        platform.stop()
        proxy.stop()
    text = render(report)
    print(text)
    if args.report:
        write_report(Path(args.report), text)
    return 0 if report.get("ok") else 1


MARK = "<!-- chaos run: written by `make chaos` below this line -->"


def write_report(path: Path, text: str) -> None:
    """The run's section replaces the last one; the prose above the mark is kept."""
    before = path.read_text().split(MARK)[0] if path.exists() else "# Reliability\n\n"
    path.write_text(f"{before.rstrip()}\n\n{MARK}\n\n{text}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
