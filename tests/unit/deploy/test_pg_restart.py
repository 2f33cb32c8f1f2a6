"""PostgreSQL that will not start again: the cause is shown, and the fault suite's power cut
leaves nothing of the old server behind.

In one CI run the short fault run's PostgreSQL SIGKILL was followed by three refused starts
(`pg_ctl start -w` failed; session 19) and nothing told why: pg_ctl's exit code does not say,
the server's log does, and it was removed with the run's data. A backend forked by the
postmaster between the kill's census of its children and the kill lives on (reparented to
init), holds the shared memory, and every start after is refused; with the pid file gone, the
retry's kill found nothing to kill."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests import local_files
from tests.chaos.platform import ChaosPlatform, _alive
from tests.waiting import eventually


def test_a_refused_start_prints_the_end_of_the_server_log(monkeypatch, tmp_path: Path,
                                                          capsys) -> None:
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    infra = local_files.load("deploy/local/infra.py", "infra_pg_restart")
    monkeypatch.setattr(infra, "PG_DIR", tmp_path / "postgres")
    (tmp_path / "postgres" / "data").mkdir(parents=True)
    (tmp_path / "postgres" / "data" / "PG_VERSION").write_text("15\n")
    server_log = tmp_path / "postgres" / "server.log"
    server_log.write_text("an old run's line\n")
    for name in ("reserve_ports", "write_pg_settings"):
        monkeypatch.setattr(infra, name, lambda *a, **k: None)
    monkeypatch.setattr(infra, "port_open", lambda port: False)
    monkeypatch.setattr(infra, "_as_pg_user", lambda: {})

    def pg_ctl(argv, **kwargs):
        with server_log.open("a") as f:
            f.write("FATAL:  pre-existing shared memory block (key 5432001, ID 7) is still in use\n")
        raise subprocess.CalledProcessError(1, argv)

    monkeypatch.setattr(infra.subprocess, "run", pg_ctl)
    with pytest.raises(subprocess.CalledProcessError):
        infra.pg_up()
    err = capsys.readouterr().err
    assert "pre-existing shared memory block" in err
    assert "an old run's line" not in err  # only what this start wrote


def _platform(pg_dir: Path) -> ChaosPlatform:
    platform = ChaosPlatform.__new__(ChaosPlatform)  # no cluster: only its PostgreSQL kill
    platform.infra = types.SimpleNamespace(PG_DIR=pg_dir)
    return platform


def _stand_in(cwd: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *argv], cwd=cwd)


def test_the_power_cut_kills_a_server_left_without_its_pid_file(tmp_path: Path) -> None:
    data = tmp_path / "postgres" / "data"
    data.mkdir(parents=True)
    orphans = [_stand_in(data) for _ in range(2)]  # backends whose postmaster is gone
    bystander = _stand_in(tmp_path)
    try:
        _platform(tmp_path / "postgres").kill_pg()
        eventually(lambda: not any(_alive(p.pid) for p in orphans),
                   what="the old server's processes are gone")
        assert _alive(bystander.pid)
    finally:
        for p in [*orphans, bystander]:
            p.kill()
            p.wait()


def test_the_power_cut_kills_the_postmaster_and_its_children(tmp_path: Path) -> None:
    pg_dir = tmp_path / "postgres"
    data = pg_dir / "data"
    data.mkdir(parents=True)
    # a stand-in postmaster that names its folder on its command line and has a backend
    postmaster = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
         "time.sleep(120)", str(pg_dir)], cwd=tmp_path)
    (data / "postmaster.pid").write_text(f"{postmaster.pid}\n{data}\n")
    children: list[int] = []

    def forked() -> bool:
        children[:] = [int(p.name) for p in Path("/proc").glob("[0-9]*")
                       if _parent(int(p.name)) == postmaster.pid]
        return bool(children)

    eventually(forked, what="the stand-in forked its backend")
    try:
        _platform(pg_dir).kill_pg()
        eventually(lambda: not _alive(postmaster.pid) and not any(map(_alive, children)),
                   what="the postmaster and its backend are gone")
        assert not (data / "postmaster.pid").exists()
    finally:
        postmaster.kill()
        postmaster.wait()
        for pid in children:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
