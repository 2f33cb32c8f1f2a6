"""The fault suite: the simulator's city load through a 3-broker cluster with two replicas of
every process, faults injected at random moments, then a Jepsen-style check from the audit
ledger and the services' own answers.

    python -m tests.chaos.run [--mode full|short|ci] [--seed N] [--report docs/reliability.md]
    python -m tests.chaos.run --cleanup [--mode ci]   # stop and unmount what a run left

Modes: full (`make chaos`, each fault more than once, below); short (`make chaos SHORT=1`, six
faults on the full platform); ci (tests/e2e/test_chaos_short.py in `make test`: the cluster
with one process of each kind, one fault of each kind, shorter holds and gaps).

Faults (the full run):
- SIGKILL of the broker leading tickets.events partition 0, restart (3 times);
- SIGKILL of PostgreSQL (the whole server) during commits, restart (2 times);
- SIGKILL of a replica of each process, restart; SIGSTOP/SIGCONT pauses of 10-60 s;
- the bus link through a TCP proxy: delay, stalls (what packet loss looks like to TCP's user),
  and resets of every connection;
- broker 3's log folder and PostgreSQL's WAL, each on a small ext4 loop disk, filled up and
  turned read-only mid-run, then freed or repaired (unmount, fsck, mount) and restarted.
Then: every acknowledged submission and action in the ledger exactly once, no event twice,
each ticket's causal order intact; the ledger verified; every service's store reconciled with
the ledger (`python -m services.audit verify|reconcile`). Nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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
    codes: list[str] = field(default_factory=list)  # those tickets (for lost/duplicated per fault)


@dataclass
class Run:
    faults: list[Fault] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


class Suite:
    def __init__(self, platform: ChaosPlatform, proxy: BusProxy, load, rng: random.Random,
                 pause_s: tuple[float, float],
                 quick: bool = False):  # type: ignore[no-untyped-def]
        self.p, self.proxy, self.load, self.rng, self.pause_s = platform, proxy, load, rng, pause_s
        self.quick = quick  # CI: shorter gaps and holds (the same faults)
        self.run = Run()

    def _between(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high) / (3 if self.quick else 1)

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
        with self.load._lock:  # codes are kept in the order they were acknowledged
            fault.codes = list(self.load.record.codes)[before:]
        print(f"[chaos]          recovered in {fault.recovered_s} s; "
              f"{fault.acknowledged} acknowledged meanwhile {fault.note}", flush=True)
        self.run.faults.append(fault)
        return fault

    def _hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.load.wait_for(timeout=0.5)  # raises if the load itself broke
            time.sleep(0.5)

    def _recovered(self, submitted_before: int, timeout: float = 420) -> float | None:
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
        self._hold(self._between(2, 8))

    # -- the kinds --------------------------------------------------------------------------------
    def broker_kill(self) -> Fault:
        node = self.p.leader_of("tickets.events") or self.rng.randint(1, BROKERS)
        return self.inject("broker SIGKILL (leader of tickets.events/0)", f"node {node}",
                           lambda: self.p.kill_broker(node), lambda: self.p.start_broker(node),
                           self._between(3, 10))

    def pg_kill(self) -> Fault:
        return self.inject("PostgreSQL SIGKILL", "server", self.p.kill_pg, self.p.start_pg,
                           self._between(2, 6))

    def replica_kill(self, process: str) -> Fault:
        return self.inject("replica SIGKILL", process,
                           lambda: self.p.signal_process(process, signal.SIGKILL),
                           lambda: self.p.restart_process(process), self._between(2, 6))

    def pause(self, process: str) -> Fault:
        held = self.rng.uniform(*self.pause_s)
        return self.inject("SIGSTOP/SIGCONT pause", f"{process} {held:.0f}s",
                           lambda: self.p.signal_process(process, signal.SIGSTOP),
                           lambda: self.p.signal_process(process, signal.SIGCONT), held)

    def net_delay(self) -> Fault:
        ms = self.rng.choice([100, 250, 500])
        return self.inject("bus delay", f"{ms} ms per chunk",
                           lambda: self.proxy.delay(ms / 1000), lambda: self.proxy.delay(0),
                           self._between(8, 15))

    def net_stall(self) -> Fault:
        return self.inject("bus stall (loss)", "all brokers", lambda: self.proxy.stall(True),
                           lambda: self.proxy.stall(False), self._between(2, 6))

    def net_reset(self) -> Fault:
        return self.inject("bus reset", "every connection",
                           lambda: f"({self.proxy.reset_all()} connections cut)", lambda: None,
                           0.5)

    # -- disks ----------------------------------------------------------------------------------
    def _broker_stops(self, node: int, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while self.p.broker_pid(node) is not None and time.monotonic() < deadline:
            self._hold(1)  # the broker stops by itself when its only log folder fails
        return (f"(broker {node} stopped by itself)" if self.p.broker_pid(node) is None else
                f"(broker {node} still running after {timeout:.0f} s)")

    def disk_full(self) -> Fault:
        disk = self.p.disk
        assert disk is not None

        def fill() -> str:
            disk.fill()
            return self._broker_stops(3)

        def free() -> None:
            self.p.kill_broker(3)
            disk.free()
            self.p.start_broker(3)

        return self.inject("data folder full", "broker 3 (ext4 loop disk)", fill, free, 1)

    def disk_read_only(self) -> Fault:
        disk = self.p.disk
        assert disk is not None

        def break_it() -> str:
            disk.turn_read_only()
            return self._broker_stops(3)

        def mend() -> None:
            self.p.kill_broker(3)
            disk.repair()
            self.p.start_broker(3)

        return self.inject("data folder read-only", "broker 3 (ext4 loop disk)", break_it, mend,
                           1)

    def _pg_panics(self) -> int:
        try:
            log = (self.p.infra.PG_DIR / "server.log").read_text(errors="replace")
        except OSError:
            return 0
        return log.count("PANIC:")

    def _pg_fails(self, panics_before: int, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._pg_panics() > panics_before:
                return "(PostgreSQL PANICked on its WAL)"
            self._hold(1)
        return f"(no PANIC within {timeout:.0f} s)"

    def wal_full(self) -> Fault:
        disk = self.p.wal_disk
        assert disk is not None

        def fill() -> str:
            before = self._pg_panics()
            disk.fill()
            for _ in range(8):  # new segments are needed at once, not at the next busy minute
                try:
                    self.p.sql("SELECT pg_switch_wal()")
                except Exception:
                    break
            return self._pg_fails(before)

        def free() -> None:
            self.p.kill_pg()
            disk.free()
            self.p.start_pg()

        return self.inject("data folder full", "PostgreSQL WAL (ext4 loop disk)", fill, free,
                           self._between(2, 6))

    def wal_read_only(self) -> Fault:
        disk = self.p.wal_disk
        assert disk is not None

        def break_it() -> str:
            before = self._pg_panics()
            disk.turn_read_only()
            return self._pg_fails(before)

        def mend() -> None:
            self.p.kill_pg()
            disk.repair()
            self.p.start_pg()

        return self.inject("data folder read-only", "PostgreSQL WAL (ext4 loop disk)",
                           break_it, mend, self._between(2, 6))


def schedule(suite: Suite, processes: list[str], mode: str) -> list[Callable[[], Fault]]:
    """The faults in a random (seeded) order; a random few seconds of load between two."""
    rng = suite.rng
    disks: list[Callable[[], Fault]] = []
    if suite.p.disk is not None:
        disks += [suite.disk_full, suite.disk_read_only]
    if suite.p.wal_disk is not None:
        disks += [suite.wal_full, suite.wal_read_only]
    if mode == "ci":
        plan: list[Callable[[], Fault]] = [
            suite.broker_kill, suite.pg_kill, lambda: suite.replica_kill("dispatch"),
            lambda: suite.pause(rng.choice(processes)), suite.net_reset, suite.net_delay,
            suite.net_stall]
        disks = disks[-1:]  # the WAL turning read-only (no second broker restart)
    elif mode == "short":
        plan = [
            suite.broker_kill, suite.pg_kill, lambda: suite.replica_kill("dispatch"),
            lambda: suite.pause("sla.2"), suite.net_reset, suite.net_delay]
    else:
        # one replica of each kind of process (a service's parts count as kinds), at random
        kinds: dict[str, list[str]] = {}
        for process in processes:
            kinds.setdefault(suite.p.services.replica_of(process)[0], []).append(process)
        victims = [rng.choice(replicas) for replicas in kinds.values()]
        plan = [suite.broker_kill] * 3 + [suite.pg_kill] * 2
        plan += [lambda p=p: suite.replica_kill(p) for p in victims]  # type: ignore[misc]
        plan += [lambda p=p: suite.pause(p)  # type: ignore[misc]
                 for p in rng.sample(processes, 3)]
        plan += [suite.net_delay, suite.net_delay, suite.net_stall, suite.net_stall,
                 suite.net_reset, suite.net_reset, suite.net_reset]
    plan += disks
    rng.shuffle(plan)
    return plan


def per_fault(fault: Fault, report: dict) -> dict:
    """The fault as the report shows it: of the tickets acknowledged from its injection until
    recovery, how many were lost or duplicated (from the whole run's check)."""
    mine = set(fault.codes)
    lost = {c for c in report.get("missing_tickets", [])} | \
        {item[0] for item in report.get("lost_actions", [])}
    duplicated = {item[0] for item in report.get("duplicated", [])}
    out = {k: v for k, v in fault.__dict__.items() if k != "codes"}
    return out | {"lost": len(mine & lost), "duplicated": len(mine & duplicated)}


def audit_cli(command: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "services.audit", command, "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MINSHENG_SERVICE": "audit"})
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"ok": False, "error": (out.stderr or out.stdout)[-2000:]}


def disks_possible() -> str:
    """Empty when small loop disks can be made here (root, mkfs.ext4, loop devices), else why
    not."""
    if os.geteuid() != 0:
        return "not root: no loop disks, the disk faults are left out"
    if not shutil.which("mkfs.ext4") or not Path("/dev/loop-control").exists():
        return "no mkfs.ext4 or loop devices: the disk faults are left out"
    return ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run")
    parser.add_argument("--mode", choices=["full", "short", "ci"], default="full")
    parser.add_argument("--short", action="store_true", help="the same as --mode short")
    parser.add_argument("--cleanup", action="store_true",
                        help="only stop and unmount whatever a run of this mode left")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="city load, tickets/s (default 3, ci 2)")
    parser.add_argument("--report", default="", help="write the report (markdown) here")
    args = parser.parse_args(argv)
    mode = "short" if args.short else args.mode
    # a SIGTERM (a CI timeout, `kill`) unwinds through the finally below like Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    platform = ChaosPlatform("ci" if mode == "ci" else "full")  # sets this process's environment
    if args.cleanup:
        platform.stop()
        return 0
    from tests.chaos.checks import check, city_load, render  # after the environment is set

    rng = random.Random(args.seed)
    proxy = BusProxy(platform.proxy_pairs())
    load = None
    no_disks = disks_possible()
    report: dict = {"seed": args.seed, "short": mode != "full", "mode": mode,
                    "notes": [no_disks] if no_disks else []}
    phases: dict[str, float] = {}
    began = time.monotonic()
    try:
        proxy.start()
        platform.start(disk_mb=1024 if mode == "full" and not no_disks else 0,
                       wal_disk_mb=0 if mode == "short" or no_disks else
                       (128 if mode == "ci" else 256))
        load = city_load(platform, rate=args.rate or (2.0 if mode == "ci" else 3.0),
                         seed=args.seed, quick=mode == "ci")
        load.start()
        if not load.wait_for(submitted=10, timeout=300):
            raise RuntimeError("the load never got going")
        phases["start"] = time.monotonic() - began
        suite = Suite(platform, proxy, load, rng, (10, 10) if mode == "ci" else
                      (10, 15) if mode == "short" else (10, 60), quick=mode == "ci")
        for fault in schedule(suite, platform.processes(), mode):
            suite.gap()
            fault()
        suite.gap()
        record = load.stop()
        load = None
        phases["faults"] = time.monotonic() - began - phases["start"]
        report |= check(platform, record)
        report["ledger_verification"] = audit_cli("verify")
        report["reconciliation"] = audit_cli("reconcile")
        report["ok"] = report["ok"] and bool(report["ledger_verification"].get("ok")) and \
            bool(report["reconciliation"].get("ok"))
        report["faults"] = [per_fault(f, report) for f in suite.run.faults]
        phases["checks"] = time.monotonic() - began - phases["start"] - phases["faults"]
    finally:
        if load is not None:
            try:
                load.stop(timeout=60)
            except Exception as exc:  # the platform is torn down anyway
                print(f"[chaos] load stopped with {exc!r}")
        stopping = time.monotonic()
        platform.stop()
        proxy.stop()
        phases["teardown"] = time.monotonic() - stopping
    report["phases"] = {k: round(v) for k, v in phases.items()}
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
