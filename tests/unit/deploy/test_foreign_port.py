"""`make services` refuses to start a service whose port another process (one it did not
start: its pid file lost, or started by hand) still serves: the new process could not bind,
and the old one answered the readiness check in its place, so a reload said "all services
ready" while the old code went on serving (session 17, analytics)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests import local_files


def test_a_port_served_by_a_stranger_is_refused_not_launched(monkeypatch, tmp_path: Path,
                                                             capsys) -> None:
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    services = local_files.load("deploy/local/services.py", "services_foreign_port")
    (tmp_path / "run").mkdir()
    stranger = socket.socket()
    stranger.bind(("127.0.0.1", 0))
    stranger.listen()
    port = stranger.getsockname()[1]
    launched: list[str] = []
    monkeypatch.setattr(services, "process_ports", lambda service, name: [port])
    monkeypatch.setattr(services, "_launch", lambda name, service: launched.append(name))
    monkeypatch.setattr(services, "ready", lambda port, timeout=1.0: (True, "{}"))
    try:
        assert services._start_wave({"analytics": ("analytics", port)}, timeout=5) == 1
    finally:
        stranger.close()
    assert launched == []
    assert f"port(s) [{port}] are served by a process not started here" in capsys.readouterr().out


def test_a_launched_process_that_died_is_not_ready_whoever_answers(monkeypatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("MINSHENG_DATA", str(tmp_path))
    services = local_files.load("deploy/local/services.py", "services_died")
    (tmp_path / "run").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "analytics.log").write_text("Traceback ...\nSomeError: boom\n")
    monkeypatch.setattr(services, "process_ports", lambda service, name: [1])
    monkeypatch.setattr(services, "_listened_on", lambda port: False)
    monkeypatch.setattr(services, "_launch", lambda name, service: None)  # "died" at once
    monkeypatch.setattr(services, "ready", lambda port, timeout=1.0: (True, "{}"))
    assert services._start_wave({"analytics": ("analytics", 8105)}, timeout=5) == 1
