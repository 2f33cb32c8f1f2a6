"""What processes cost, read from Linux's /proc: CPU time (user + system, with the reaped
children's), resident memory, and which process listens on a TCP port (to find the Kafka
broker and the PostgreSQL server the platform talks to).

A process group is counted as a tree: the root, its live descendants, and the root's
``cutime + cstime`` (what its exited children used: PostgreSQL's backends come and go), so a
delta between two readings is the CPU the whole tree used in between.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    own_s: float  # utime + stime
    children_s: float  # cutime + cstime (reaped children)
    rss_bytes: int


def parse_stat(text: str) -> Stat:
    """One /proc/<pid>/stat line (the command name may hold spaces and parentheses)."""
    head, rest = text.rsplit(")", 1)
    fields = rest.split()
    # fields[0] is the state (field 3 of proc(5)); field n of proc(5) is fields[n - 3]
    return Stat(pid=int(head.split("(", 1)[0]), ppid=int(fields[1]),
                own_s=(int(fields[11]) + int(fields[12])) / TICK,
                children_s=(int(fields[13]) + int(fields[14])) / TICK,
                rss_bytes=int(fields[21]) * PAGE)


def read_stat(pid: int) -> Stat | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None  # gone


def all_stats() -> dict[int, Stat]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def descendants(root: int, stats: dict[int, Stat]) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
            todo += children.get(pid, [])
    return found


def tree_cpu_s(root: int, stats: dict[int, Stat]) -> float:
    """CPU seconds used so far by the tree under ``root`` (0 when it is gone)."""
    if root not in stats:
        return 0.0
    return stats[root].children_s + sum(stats[p].own_s for p in descendants(root, stats))


def tree_rss_bytes(root: int, stats: dict[int, Stat]) -> int:
    return sum(stats[p].rss_bytes for p in descendants(root, stats))


def listening_inodes(lines: Iterable[str], port: int) -> set[str]:
    """Socket inodes listening on ``port`` in /proc/net/tcp(6) lines."""
    inodes = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1] or fields[0] == "sl":
            continue
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == LISTEN:
            inodes.add(fields[9])
    return inodes


def listening_pid(port: int) -> int | None:
    """The process that listens on TCP ``port`` (the oldest one, when several share it)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            inodes |= listening_inodes(Path(table).read_text().splitlines(), port)
        except OSError:
            pass
    wanted = {f"socket:[{i}]" for i in inodes}
    owners = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                    owners.append(int(entry))
                    break
        except OSError:
            continue
    return min(owners) if owners else None


class CpuMeter:
    """CPU seconds of named process trees between ``start()`` and ``stop()``."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots
        self._start: dict[str, float] = {}
        self._wall = 0.0
        self.used_s: dict[str, float] = {}
        self.wall_s = 0.0

    def start(self) -> CpuMeter:
        stats = all_stats()
        self._start = {name: tree_cpu_s(pid, stats) for name, pid in self.roots.items()}
        self._wall = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        stats = all_stats()
        self.wall_s = time.monotonic() - self._wall
        self.used_s = {name: max(0.0, tree_cpu_s(pid, stats) - self._start[name])
                       for name, pid in self.roots.items()}
        return self.used_s


def machine_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """The whole machine's CPU ticks since boot: (all, idle + iowait), every core summed."""
    fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def machine_busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How busy the whole machine was between two ``machine_ticks`` readings, % of all cores
    (every process counts: ours, Kafka, PostgreSQL, the load's driver, anyone else's)."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return round(100 * (1 - idle / total), 1) if total > 0 else float("nan")


def settle(roots: dict[str, int], *, below_pct: float = 10.0, window_s: float = 1.0,
           limit_s: float = 180.0) -> float:
    """Wait until the named process trees together use less than `below_pct` % of one core
    over a `window_s` window (the platform has digested the load of the figure before), at
    most `limit_s`; return the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        meter = CpuMeter(roots).start()
        time.sleep(window_s)
        used = meter.stop()
        if 100 * sum(used.values()) / meter.wall_s < below_pct:
            break
    return round(time.monotonic() - began, 1)


class RssSampler:
    """The largest resident set of each named process tree, sampled every ``every`` s in a
    thread while it runs (``with RssSampler(roots) as rss: ...; rss.max_mb``)."""

    # Every process of the machine is read only this often to find the trees' members (a
    # sampler reading all of /proc four times a second took ~10 % of the bench process's CPU
    # beside the closed loop's driver, and its GIL); in between, only the members are read.
    CENSUS_EVERY = 20

    def __init__(self, roots: dict[str, int], every: float = 0.25):
        self.roots, self.every = roots, every
        self.max_bytes: dict[str, int] = dict.fromkeys(roots, 0)
        self._members: dict[str, list[int]] = {}
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        if self._samples % self.CENSUS_EVERY == 0:
            stats = all_stats()
            self._members = {name: descendants(pid, stats) for name, pid in self.roots.items()}
        self._samples += 1
        for name, pids in self._members.items():
            rss = sum(stat.rss_bytes for stat in map(read_stat, pids) if stat is not None)
            self.max_bytes[name] = max(self.max_bytes[name], rss)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def max_mb(self) -> dict[str, float]:
        return {name: round(b / 2**20, 1) for name, b in self.max_bytes.items()}
