"""Intake's GET /v1/tickets/{code}/contact alone, the notifier's read for each SMS notice
(`python -m bench.contact_cost`, added by helper-92, session 15).

One intake process (role api, event clock, its own schema and topic prefix) from `--tree` (an
older checkout can be measured side by side); up to `--n` x 2 simulator submissions with
contacts are made first (not measured), 30 reads warm the route up, then `--n` contact reads
with the notifier's system token, `--concurrency` in flight: the process's CPU (user +
system, /proc) per read. `--profile FILE`: py-spy (GIL, threads, 250 Hz) on the process
during the reads, folded stacks in FILE. The PostgreSQL backends serving the process (its
connections are named by PGAPPNAME) are measured too: their CPU per read (/proc, the server
on this host), `pg_cpu_ms_per_read` (session 16, helper-107).

    python -m bench.contact_cost --n 800 [--tree /tmp/old]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.sql import SQL, Identifier

from backbone import auth
from backbone.kafka import drop_topics
from backbone.settings import ServiceSettings
from bench import intake_load
from bench.intake_request_cost import _wait_ready
from tools.simulator.drive.settings import Endpoints

ROOT = Path(__file__).resolve().parent.parent


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(settings: ServiceSettings, name: str) -> dict[int, float]:
    """The CPU seconds so far of each PostgreSQL backend whose application_name is `name`."""
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))]
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_s(pid)
        except OSError:  # (gone, or not on this host)
            pass
    return found


async def measure(url: str, pid: int, settings: ServiceSettings, *, n: int, concurrency: int,
                  profile: str, appname: str = "") -> dict[str, Any]:
    endpoints = Endpoints(urls={"intake": url}, dispatch_grpc="",
                          issuer=auth.issuer_for(settings),
                          kafka_bootstrap=settings.kafka_bootstrap)
    bodies = [b for b in intake_load.bodies(n * 3, seed=4242) if b.get("contact")]
    codes: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=endpoints.bearer(
            "channel_adapter", sub="bench-adapter")) as client:
        for body in bodies[:n * 2]:
            answer = await client.post("/v1/requests", json=body)
            if answer.status_code < 300:
                codes.append(answer.json()["code"])
    token = auth.mint(settings, sub="notifier", role="system", ttl_s=600, audience=["intake"])
    status: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30,
                                 headers={"authorization": f"Bearer {token}"}) as client:
        for code in codes[:30]:  # the route's first requests, not measured
            await client.get(f"/v1/tickets/{code}/contact", params={"why": "短信通知"})
        queue = list(codes[30:30 + n])
        spy = None
        if profile:
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "--threads",
                 "--nonblocking", "-r", "250", "-f", "raw", "-o", profile, "--pid", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.5)
        pg0 = backends(settings, appname) if appname else {}
        cpu0, wall0 = cpu_s(pid), time.perf_counter()

        async def worker() -> None:
            while queue:
                code = queue.pop()
                answer = await client.get(f"/v1/tickets/{code}/contact",
                                          params={"why": "短信通知"})
                status[answer.status_code] = status.get(answer.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = cpu_s(pid) - cpu0, time.perf_counter() - wall0
        pg1 = backends(settings, appname) if appname else {}
        pg = sum(t - pg0.get(p, 0.0) for p, t in pg1.items())
        if spy is not None:
            spy.send_signal(2)
            spy.wait(20)
    reads = sum(status.values())
    return {"reads": reads, "status": status, "cpu_ms_per_read": round(cpu * 1000 / reads, 3),
            "pg_cpu_ms_per_read": round(pg * 1000 / reads, 3), "backends": len(pg1),
            "seconds": round(wall, 2), "submitted": len(codes),
            "loadavg_1m": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=str(ROOT))
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=18960)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:8]
    schema, prefix = f"h92c_{suffix}", f"h92c{suffix}."
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")  # the development token key
    settings = ServiceSettings()
    env = {**os.environ, "PYTHONPATH": f"{args.tree}:{args.tree}/proto",
           "MINSHENG_ENVIRONMENT": "development", "MINSHENG_CLOCK": "event",
           "MINSHENG_TOPIC_PREFIX": prefix, "MINSHENG_PG_SCHEMA": schema,
           "MINSHENG_HTTP_PORT": str(args.port), "MINSHENG_GRPC_PORT": str(args.port + 1),
           "MINSHENG_LOG_LEVEL": "WARNING", "MINSHENG_INTAKE_ROLE": "api",
           "MINSHENG_DATA": os.environ.get("MINSHENG_DATA", str(ROOT / ".data")),
           "PGAPPNAME": f"contact_cost_{suffix}"}
    url = f"http://127.0.0.1:{args.port}"
    log = open(f"/tmp/contact_cost_{suffix}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.intake"], cwd=args.tree, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, proc)
        result = asyncio.run(measure(url, proc.pid, settings, n=args.n,
                                     concurrency=args.concurrency, profile=args.profile,
                                     appname=f"contact_cost_{suffix}"))
        print(json.dumps({"tree": args.tree, **result}))
    finally:
        proc.terminate()
        proc.wait(30)
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        asyncio.run(drop_topics(settings.model_copy(update={"topic_prefix": prefix})))


if __name__ == "__main__":
    main()
