"""Every HTTP service of the platform as its own process, isolated on the shared Kafka and
PostgreSQL (a random topic prefix, schemas named with the same id in one database), started
together and stopped together: what the fuzzing and access-matrix tests call."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backbone import auth
from backbone.settings import ServiceSettings
from tests import janitor
from tests.waiting import patient

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("identity", "intake", "dispatch", "sla", "feedback", "analytics", "audit",
            "workbench", "notifier")
GRPC = ("dispatch", "audit")


_TAKEN: set[int] = set()


def free_port() -> int:
    """A free port, never one this run handed out before (the OS may give a just-released
    port out again)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _TAKEN:
            _TAKEN.add(port)
            return port


class PortTakenError(RuntimeError):
    """A service could not bind the port picked for it."""


@dataclass
class Platform:
    id: str = field(default_factory=lambda: janitor.claim(uuid.uuid4().hex[:10]))
    http: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    grpc: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in GRPC})
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per service
    services: tuple[str, ...] = SERVICES

    @property
    def settings(self) -> ServiceSettings:
        """What tokens are minted with (the development keys the services verify with)."""
        return ServiceSettings(environment="test")

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.http[service]}"

    def token(self, role: str, unit: str = "", ticket: str = "") -> str:
        if role == "unit" and not unit:
            unit = "yingzhou"
        # every service of this platform (auth.SERVICES, the default audience, lacks the
        # notifier: a token identity mints by default is refused there, see the report)
        return auth.mint(self.settings, sub=f"fuzz-{role}", role=role, unit=unit, ticket=ticket,
                         audience=sorted({*auth.SERVICES, *SERVICES}))

    def log(self, service: str) -> Path:
        return ROOT / ".data" / "it" / f"fuzz-{service}-{self.id}.log"

    def env(self, service: str) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
               "MINSHENG_ENVIRONMENT": "test", "MINSHENG_SERVICE": service,
               "MINSHENG_HTTP_PORT": str(self.http[service]),
               "MINSHENG_GRPC_PORT": str(self.grpc.get(service, 0)),
               "MINSHENG_TOPIC_PREFIX": f"fz{self.id}.", "MINSHENG_PG_DBNAME": "fuzz_it",
               "MINSHENG_PG_SCHEMA": f"{service}_{self.id}",
               "MINSHENG_TOKEN_REVOCATION_SCHEMA": f"identity_{self.id}",
               "MINSHENG_EVENT_LOOP": "asyncio", "MINSHENG_LOG_LEVEL": "WARNING"}
        if service == "analytics":
            env["MINSHENG_AUDIT_URL"] = self.url("audit")
        if service == "feedback":
            env["MINSHENG_RATING_URL_BASE"] = self.url("feedback")
        if service == "notifier":
            env["MINSHENG_NOTIFIER_INTAKE_URL"] = self.url("intake")
        if service == "workbench":
            env.update({f"MINSHENG_{s.upper()}_URL": self.url(s)
                        for s in ("identity", "intake", "dispatch", "sla", "feedback", "audit")})
            env["MINSHENG_DISPATCH_GRPC"] = f"127.0.0.1:{self.grpc['dispatch']}"
        env.update(self.extra_env.get(service, {}))
        return env

    def _launch(self, service: str) -> None:
        self.log(service).parent.mkdir(parents=True, exist_ok=True)
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=self.env(service),
            stdout=open(janitor.log(self.log(service)), "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def start(self, timeout: float = 150, attempts: int = 3) -> None:
        """Start every service and wait until all are ready. A free port picked here can be
        taken by another process before the service binds it: then the whole platform starts
        again on new ports (the services know each other's addresses)."""
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
                return
            except PortTakenError:
                self.stop()
                if attempt == attempts - 1:
                    raise
                self.http = {s: free_port() for s in SERVICES}
                self.grpc = {s: free_port() for s in GRPC}

    def _start_once(self, timeout: float) -> None:
        for service in self.services:
            self._launch(service)
        waiting = set(self.services)
        deadline = time.monotonic() + patient(timeout)
        while waiting and time.monotonic() < deadline:
            for service in sorted(waiting):
                if self.procs[service].poll() is not None:
                    if "Address already in use" in self.tail(service):
                        raise PortTakenError(service)
                    raise RuntimeError(f"{service} exited:\n{self.tail(service)}")
                try:
                    if httpx.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200:
                        waiting.discard(service)
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        if waiting:
            raise RuntimeError(f"not ready: {sorted(waiting)}\n"
                               + "\n".join(self.tail(s) for s in sorted(waiting)))

    def tail(self, service: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log(service).read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
