"""An isolated audit service (own schema, topics, ports and key) for each test module, and a
producer that impersonates the upstream services."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backbone import auth
from backbone.kafka import make_producer
from services.audit.settings import AuditSettings
from tests import janitor
from tests.waiting import eventually, patient  # noqa: F401  (the audit tests import it from here)

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AuditProcess:
    """`python -m services.audit` as a child process with its own settings."""

    def __init__(self, settings: AuditSettings, log: Path):
        self.settings, self.log = settings, log
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        s = self.settings
        return {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
                "MINSHENG_ENVIRONMENT": "test", "MINSHENG_PG_SCHEMA": s.pg_schema,
                "MINSHENG_TOPIC_PREFIX": s.topic_prefix, "MINSHENG_HTTP_PORT": str(s.http_port),
                "MINSHENG_GRPC_PORT": str(s.grpc_port),
                "MINSHENG_CHECKPOINT_KEY_FILE": s.checkpoint_key_file,
                "MINSHENG_CHECKPOINT_INTERVAL_S": str(s.checkpoint_interval_s),
                "MINSHENG_CONSUMER_BATCH": str(s.consumer_batch)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def start(self) -> None:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "services.audit"], cwd=ROOT,
                                     env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + patient(60)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"audit exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"audit not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def client(self, role: str = "auditor", sub: str = "", unit: str = "") -> httpx.Client:
        token = auth.mint(self.settings, sub=sub or role, role=role, unit=unit)
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"authorization": f"Bearer {token}"})


def ledger_entries(audit, page: int = 7) -> list[dict]:
    """Every ledger entry, read page by page (`page` entries each) through /v1/ledger/entries."""
    out, after = [], 0
    with audit.client() as c:
        while True:
            got = c.get("/v1/ledger/entries", params={"after": after, "limit": page}).json()
            if not got["entries"]:
                return out
            out += got["entries"]
            after = got["next_after"]


def audit_settings(infra, unique: str, key_dir: Path, **extra: object) -> AuditSettings:
    return AuditSettings(**{
        "environment": "test", "pg_dbname": infra.pg_dbname, "pg_schema": f"audit_{unique}",
        "topic_prefix": f"t{unique}.", "http_port": free_port(), "grpc_port": free_port(),
        "checkpoint_key_file": str(key_dir / "checkpoint.pem"), "checkpoint_interval_s": 0.3,
        **extra})


@pytest.fixture(scope="module")
def audit(infra, tmp_path_factory):
    import uuid

    unique = janitor.claim(uuid.uuid4().hex[:10])
    tmp = tmp_path_factory.mktemp("audit")
    process = AuditProcess(audit_settings(infra, unique, tmp), tmp / "audit.log")
    process.start()
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
async def producer(audit):
    p = make_producer(audit.settings)
    await p.start()
    yield p
    await p.stop()


