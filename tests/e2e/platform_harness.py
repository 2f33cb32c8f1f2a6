"""A whole, isolated Minsheng platform for end-to-end tests.

Starts the real service processes (`python -m services.<name>`) against the real Kafka and
PostgreSQL, but with their own database, topic prefix and ports, so tests can kill -9 and
restart processes without touching a running demo. Drive it only through public interfaces.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from backbone import auth
from backbone.settings import ServiceSettings
from backbone.store import ensure_database
from tests import janitor
from tests.waiting import eventually, patient  # noqa: F401  (the e2e tests import it from here)

ROOT = Path(__file__).resolve().parents[2]


def _local_services_module():
    """deploy/local/services.py, loaded under its own name (it must not shadow `services`)."""
    spec = importlib.util.spec_from_file_location(
        "minsheng_local_services", ROOT / "deploy" / "local" / "services.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LOCAL = _local_services_module()
LOCAL_PORTS: dict[str, tuple[int, int]] = _LOCAL.SERVICES
# Services that run as several processes (intake: api + projector), as deploy/local starts them:
# `start`, `kill` and `wait_ready` of the service act on all of them; each process can also be
# named on its own (e.g. kill("intake-projector")).
PARTS: dict[str, dict[str, tuple[str, int]]] = _LOCAL.PARTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distinct_ports() -> Callable[[], int]:
    """Free ports, never the same one twice (the OS may hand a just-released port out again,
    and two services on one port would make one of them fail while the other answers its
    readiness probe)."""
    taken: set[int] = set()

    def fresh() -> int:
        port = free_port()
        while port in taken:
            port = free_port()
        taken.add(port)
        return port

    return fresh


class Platform:
    def __init__(self, *, names: list[str] | None = None, extra_env: dict[str, str] | None = None):
        self.id = janitor.claim(uuid.uuid4().hex[:8])
        self.names = names or list(LOCAL_PORTS)
        self.settings = ServiceSettings()
        self.logs = janitor.log(ROOT / ".data" / "e2e" / self.id)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
            "MINSHENG_ENVIRONMENT": "test",
            "MINSHENG_PG_DBNAME": f"e2e_{self.id}",
            "MINSHENG_TOPIC_PREFIX": f"e2e{self.id}.",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        # free ports, so an isolated platform never collides with a demo or another test run
        port = distinct_ports()
        self.ports = {name: (port(), port() if grpc else 0)
                      for name, (_, grpc) in LOCAL_PORTS.items()}
        self.ports |= {process: (port(), 0) for service, parts in PARTS.items()
                       for process in parts if process != service}
        self.env |= extra_env or {}

    def addresses(self) -> dict[str, str]:
        """Where the services call one another, as deploy/local wires them, at these ports."""
        urls = {f"MINSHENG_{name.upper()}_URL": self.url(name)
                for name in ("identity", "intake", "dispatch", "sla", "feedback", "audit")}
        return urls | {"MINSHENG_DISPATCH_GRPC": self.grpc_target("dispatch"),
                       "MINSHENG_NOTIFIER_INTAKE_URL": self.url("intake"),
                       "MINSHENG_INTAKE_FEEDBACK_URL": self.url("feedback"),
                       "MINSHENG_RATING_URL_BASE": self.url("feedback")}

    # -- addresses ---------------------------------------------------------------------------
    def http_port(self, name: str) -> int:
        return self.ports[name][0]

    def grpc_target(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name][1]}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http_port(name)}"

    def topic(self, name: str) -> str:
        return f"e2e{self.id}.{name}"

    def token(self, role: str, sub: str = "", unit: str = "") -> str:
        return auth.mint(self.settings, sub=sub or unit or role, role=role, unit=unit)

    def client(self, name: str, role: str, sub: str = "", unit: str = "") -> httpx.Client:
        return httpx.Client(base_url=self.url(name), timeout=30,
                            headers={"authorization": f"Bearer {self.token(role, sub, unit)}"})

    # -- processes ---------------------------------------------------------------------------
    @staticmethod
    def _service_of(process: str) -> tuple[str, str]:
        """(service, role) of a process name; role "" for a one-process service."""
        for service, parts in PARTS.items():
            if process in parts:
                return service, parts[process][0]
        return process, ""

    @staticmethod
    def processes(name: str) -> list[str]:
        """The processes a name stands for: a service's every part, or one process."""
        return list(PARTS.get(name, {name: ("", 0)}))

    def start(self, name: str) -> None:
        for process in self.processes(name):
            self._start_process(process)

    def _start_process(self, process: str) -> None:
        service, role = self._service_of(process)
        # each service finds the others at this platform's ports, not at the demo's defaults
        # (what a test put in self.env wins)
        env = self.addresses() | self.env
        env["MINSHENG_HTTP_PORT"] = str(self.http_port(process))
        if self.ports[process][1]:
            env["MINSHENG_GRPC_PORT"] = str(self.ports[process][1])
        if role:
            env[f"MINSHENG_{service.upper()}_ROLE"] = role
        # static members of their consumer groups, as deploy/local runs them: a process killed
        # and restarted takes its partitions back at once (backbone/settings.py)
        env["MINSHENG_CONSUMER_INSTANCE"] = process
        log = open(self.logs / f"{process}.log", "ab")
        self.procs[process] = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, names: list[str] | None = None, timeout: float = 90) -> None:
        deadline = time.monotonic() + patient(timeout)
        for name in [p for n in (names or list(self.procs)) for p in self.processes(n)]:
            while True:
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")
                try:
                    if httpx.get(self.url(name) + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready in {timeout}s:\n{self.tail(name)}")
                time.sleep(0.3)

    def start_all(self) -> None:
        ensure_database(self.settings.model_copy(
            update={"pg_dbname": self.env["MINSHENG_PG_DBNAME"], "service": "e2e"}))
        try:
            for name in self.names:
                self.start(name)
            self.wait_ready(self.names)
        except BaseException:
            self._stop_processes()  # the fixture's teardown never runs when its setup fails
            raise

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        for process in self.processes(name):
            proc = self.procs[process]
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def restart(self, name: str) -> None:
        self.start(name)
        self.wait_ready([name])

    def stop_all(self) -> None:
        """Stop every process, then delete the platform's topics, consumer groups and database:
        a long test run must not fill the shared broker and server."""
        self._stop_processes()
        janitor.sweep({self.id}, self.settings)

    def _stop_processes(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
