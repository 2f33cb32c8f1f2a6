"""The fault suite under the city load, on a cluster of its own (tests/chaos/run.py,
docs/reliability.md); then nothing lost, nothing twice, every ticket's order intact, the ledger
verified and every service's store reconciled with it.

- `test_ci_fault_suite...` runs in `make test` (about 3-4 minutes on a 2-core machine): three
  brokers with small heaps, PostgreSQL, one process of each kind, and one fault of each kind:
  the partition leader's broker SIGKILLed and restarted, PostgreSQL SIGKILLed during commits
  and restarted, dispatch SIGKILLed and restarted, a process paused 10 s, the bus link reset,
  delayed and stalled, and PostgreSQL's WAL disk turned read-only (when the runner is root with
  loop devices; else the report says it was left out).
- `test_short_fault_suite...` is the longer short run on two replicas of every process (about
  ten minutes): only with MINSHENG_CHAOS=1. `make chaos` is the full run.

Both run the suite as a child process and always clean up after it (processes, ports, mounts;
the CI run also its data folder, .data/chaos-ci), also when it fails or overruns.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kafka_nodes import node_logs

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}"}


def _run_suite(mode: str, report: Path, timeout: float) -> tuple[int, str]:
    """Run the suite; on overrun SIGTERM it (its finally stops the platform), then SIGKILL."""
    seed = random.randrange(100_000)
    log = report.with_suffix(".log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.run", "--mode", mode, "--seed", str(seed),
             "--report", str(report)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(180)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            code = -1
        finally:
            subprocess.run([sys.executable, "-m", "tests.chaos.run", "--mode", mode,
                            "--cleanup"], cwd=ROOT, env=ENV, capture_output=True, timeout=300)
    text = report.read_text() if report.exists() else ""
    tail = log.read_text(errors="replace")[-6000:]
    return code, f"seed {seed}, exit {code}:\n{text}\n--- log tail ---\n{tail}"


def _assert_nothing_lost_or_twice(code: int, text: str) -> None:
    assert code == 0, text
    assert "Verdict: **PASS**" in text, text
    for line in ("lost) | 0 |", "(duplicated) | 0 |", "same event id) | 0 |",
                 "ticket's log | 0 |", "`services.audit verify`) | ok |",
                 "`services.audit reconcile`) | ok |"):
        assert line in text, (line, text)
    assert "NOT RECOVERED" not in text, text  # every fault recovered within its timeout


def _left_behind(data: Path, ports: list[int]) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(str(data))]
    listening = []
    for port in ports:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                listening.append(f"port {port}")
    pids = [p.name for p in (data / "run").glob("*.pid")] if (data / "run").exists() else []
    return mounts + listening + pids


def test_ci_fault_suite_loses_nothing_and_applies_nothing_twice(tmp_path):
    # generous: the machine may be busy; the run itself takes ~3-4 minutes on 2 idle cores
    data = ROOT / ".data" / "chaos-ci"
    try:
        code, text = _run_suite("ci", tmp_path / "reliability.md", timeout=1200)
        left = _left_behind(data, [30092, 30093, 30094, 30192, 30193, 30194, 30292, 30293,
                                   30294, 30432, 8101 + 14000, 8106 + 14000])
        if code != 0:
            text += "\n" + node_logs(data)
    finally:
        if not _left_behind(data, []):  # never delete through a mount that is still there
            shutil.rmtree(data, ignore_errors=True)
    assert not left, (left, text)
    _assert_nothing_lost_or_twice(code, text)
    kinds = ("broker SIGKILL", "PostgreSQL SIGKILL", "replica SIGKILL", "SIGSTOP/SIGCONT",
             "bus reset", "bus delay", "bus stall")
    for kind in kinds:
        assert f"| {kind}" in text, (kind, text)


@pytest.mark.skipif(os.environ.get("MINSHENG_CHAOS") != "1",
                    reason="the ten-minute short run: MINSHENG_CHAOS=1")
def test_short_fault_suite_loses_nothing_and_applies_nothing_twice(tmp_path):
    code, text = _run_suite("short", tmp_path / "reliability.md", timeout=2400)
    _assert_nothing_lost_or_twice(code, text)
