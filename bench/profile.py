"""Where the services spend their time: py-spy sampling the busiest processes during an extra
end-to-end run (not one of the measured ones: sampling costs CPU), summarised as the functions
with the most samples, on their own (self) and with what they call (inclusive).

py-spy's raw output is one collapsed stack a line, ``frame;frame;...;leaf count``, each frame
``function (file:line)``; the summary folds line numbers away and shortens paths.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RATE = 67  # samples/s per process; odd so it does not beat with 50 or 100 ms timers


@dataclass(frozen=True)
class Summary:
    process: str
    samples: int
    top_self: list[tuple[str, int]]
    top_inclusive: list[tuple[str, int]]  # our code only (backbone/, services/, tools/)
    by_package: list[tuple[str, int]]  # self samples by package


def frame_name(frame: str) -> str:
    """``handle (services/x/entrypoints/consumer.py:42)`` -> ``handle (services/x/entrypoints/consumer.py)``,
    with site-packages and the standard library's paths cut to the package."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = path.split("/", 1)[-1]
    return f"{name} ({path})" if path else name


def parse_collapsed(lines: list[str]) -> list[tuple[list[str], int]]:
    stacks = []
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";") if f], int(count)))
    return stacks


OURS = ("backbone/", "services/", "tools/")


def package(name: str) -> str:
    """``f (psycopg/cursor.py)`` -> ``psycopg``; our code by service: ``services/dispatch``."""
    path = name.rpartition(" (")[2].rstrip(")")
    parts = path.split("/")
    if parts[0] == "services" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py") if len(parts) > 1 or path.endswith(".py") else path or "?"


def summarise(process: str, lines: list[str], top: int = 15) -> Summary:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for frames, count in parse_collapsed(lines):
        total += count
        if frames:
            own[frames[-1]] += count
            packages[package(frames[-1])] += count
        for name in set(frames):
            if name.rpartition(" (")[2].startswith(OURS) and not name.startswith("<module>"):
                inclusive[name] += count
    return Summary(process, total, own.most_common(top), inclusive.most_common(top),
                   packages.most_common(10))


def render(summaries: list[Summary], heading: str) -> str:
    out = [heading, ""]
    for s in summaries:
        out += [f"## {s.process}: {s.samples} samples (~{s.samples / RATE:.0f} s holding the GIL)", "",
                "By package (self): " + ", ".join(
                    f"{name} {100 * n / max(1, s.samples):.0f} %" for name, n in s.by_package), "",
                "| self % | function (file) |", "|---|---|"]
        out += [f"| {100 * n / max(1, s.samples):.1f} | `{name}` |" for name, n in s.top_self]
        out += ["", "| inclusive % | our function (file) |", "|---|---|"]
        out += [f"| {100 * n / max(1, s.samples):.1f} | `{name}` |" for name, n in s.top_inclusive]
        out.append("")
    return "\n".join(out)


def cprofile(title: str, fn: Callable[[], Any], top: int = 20) -> str:
    """``fn()`` under cProfile (this thread only): the top functions by own time and by
    cumulative time, as a markdown section with paths shortened."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    out = [f"## {title}", ""]
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(top)
        body = text.getvalue()
        at = body.find("   ncalls")
        out += [f"By {order}:", "", "```", body[at:].rstrip() if at >= 0 else body.strip(), "```", ""]
    return "\n".join(out)


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Recorder:
    """py-spy on each named pid while the block runs; ``summaries()`` afterwards."""

    def __init__(self, pids: dict[str, int], folder: Path):
        self.pids, self.folder = pids, folder
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.error = ""

    def __enter__(self) -> Recorder:
        exe = py_spy()
        if exe is None:
            self.error = "py-spy is not installed (pip install py-spy)"
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.procs[name] = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
                 "--gil", "--nonblocking", "--output", str(self.folder / f"{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=open(self.folder / f"{name}.log", "wb"))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                self.error += f" py-spy on {name} did not stop;"

    def summaries(self) -> list[Summary]:
        out = []
        for name in self.procs:
            path = self.folder / f"{name}.txt"
            if path.exists():
                out.append(summarise(name, path.read_text(errors="replace").splitlines()))
            else:
                log = (self.folder / f"{name}.log").read_text(errors="replace")[-300:]
                self.error += f" no profile of {name}: {log.strip()};"
        return out
