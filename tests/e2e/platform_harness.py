"""A whole, isolated Minsheng platform for end-to-end tests.

Starts the real service processes (`python -m services.<name>`) against the real Kafka and
PostgreSQL, but with their own database, topic prefix and ports, so tests can kill -9 and
restart processes without touching a running demo. Drive it only through public interfaces.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from backbone import auth
from backbone.settings import ServiceSettings
from backbone.store import ensure_database

ROOT = Path(__file__).resolve().parents[2]


def _local_services_module():
    """deploy/local/services.py, loaded under its own name (it must not shadow `services`)."""
    spec = importlib.util.spec_from_file_location(
        "minsheng_local_services", ROOT / "deploy" / "local" / "services.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCAL_PORTS: dict[str, tuple[int, int]] = _local_services_module().SERVICES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    def __init__(self, *, names: list[str] | None = None, extra_env: dict[str, str] | None = None):
        self.id = uuid.uuid4().hex[:8]
        self.names = names or list(LOCAL_PORTS)
        self.settings = ServiceSettings()
        self.logs = ROOT / ".data" / "e2e" / self.id
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
            "MINSHENG_ENVIRONMENT": "test",
            "MINSHENG_PG_DBNAME": f"e2e_{self.id}",
            "MINSHENG_TOPIC_PREFIX": f"e2e{self.id}.",
            **(extra_env or {}),
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        # free ports, so an isolated platform never collides with a demo or another test run
        self.ports = {name: (free_port(), free_port() if grpc else 0)
                      for name, (_, grpc) in LOCAL_PORTS.items()}

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
        return auth.mint(self.settings.token_secret, sub=sub or unit or role, role=role, unit=unit)

    def client(self, name: str, role: str, sub: str = "", unit: str = "") -> httpx.Client:
        return httpx.Client(base_url=self.url(name), timeout=30,
                            headers={"authorization": f"Bearer {self.token(role, sub, unit)}"})

    # -- processes ---------------------------------------------------------------------------
    def start(self, name: str) -> None:
        env = dict(self.env)
        env["MINSHENG_HTTP_PORT"] = str(self.http_port(name))
        if self.ports[name][1]:
            env["MINSHENG_GRPC_PORT"] = str(self.ports[name][1])
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, names: list[str] | None = None, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for name in names or list(self.procs):
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
        for name in self.names:
            self.start(name)
        self.wait_ready(self.names)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def restart(self, name: str) -> None:
        self.start(name)
        self.wait_ready([name])

    def stop_all(self) -> None:
        self._stop_processes()
        asyncio.run(self._delete_topics())  # keep the broker light over a long test run

    async def _delete_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            mine = [t for t in await admin.list_topics() if t.startswith(f"e2e{self.id}.")]
            if mine:
                await admin.delete_topics(mine)
        except Exception:  # best effort: a leftover topic only costs broker memory
            pass
        finally:
            await admin.close()

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


def eventually(check, timeout: float = 30, interval: float = 0.3, what: str = "condition"):
    """Poll `check` until it returns a truthy value; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
