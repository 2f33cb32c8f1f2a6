"""The demo: load a simulated month into the running platform, and say where to look.

    python -m tools.demo load     # what `make up` runs once the services are ready
    python -m tools.demo where    # URLs, ready-made tokens, how to follow one ticket

Knobs (environment): DEMO_DAYS (30), DEMO_PER_DAY (10), DEMO_SEED (7), DEMO_CONCURRENCY (32),
DEMO_MAX_LAG_MINUTES (120: how far in simulated time the load may run ahead of a slow ticket),
DEMO_PORT_OFFSET (0: the services on their usual ports plus this, e.g. an isolated copy);
full Fuyang scale is DEMO_PER_DAY=3000 (hours, not minutes). The month is the DEMO_DAYS days
before today, so `make demo`'s live stream continues it. Loading is recorded in a marker file
under .data/demo/ keyed by the database and topic prefix: a second `make up` does not load it
again (`load --force` does; the same seed then replays the same requests, which intake
recognises by their idempotency keys).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from backbone import auth
from backbone.settings import ServiceSettings
from tools.simulator.drive.driver import CHINA
from tools.simulator.drive.settings import LOCAL_PORTS, Endpoints

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MINSHENG_DATA", ROOT / ".data"))
PAGES = {"intake": ["/docs", "/me"], "dispatch": ["/docs", "/console"],
         "sla": ["/docs", "/supervision"], "feedback": ["/docs", "/hall"],
         "analytics": ["/docs", "/dashboard"], "audit": ["/docs"], "identity": ["/docs"],
         "workbench": ["/", "/docs"], "notifier": ["/docs"]}
STAFF_PORTS = {"identity": 8107, "workbench": 8108, "notifier": 8109}  # deploy/local/services.py
ROLES = (("channel_adapter", "", "demo-adapter"), ("dispatcher", "", "demo-dispatcher"),
         ("supervisor", "", "demo-supervisor"), ("auditor", "", "demo-auditor"),
         ("observer", "", "demo-observer"), ("deputy", "", "demo-deputy"),
         ("unit", "yingzhou", "yingzhou-oa"), ("unit", "urban-mgmt", "urban-mgmt-oa"))


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


def marker_path(settings: ServiceSettings) -> Path:
    """One marker per platform: the database and the topic prefix name it."""
    key = f"{settings.pg_host}:{settings.pg_port}/{settings.pg_dbname}|{settings.kafka_bootstrap}|{settings.topic_prefix}"
    return DATA / "demo" / f"loaded-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def wait_until_ready(endpoints: Endpoints, timeout: float = 120.0) -> list[str]:
    """Names of the services not ready after ``timeout`` (empty when all are)."""
    deadline = time.monotonic() + timeout
    waiting = list(LOCAL_PORTS)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            try:
                if httpx.get(endpoints.urls[name] + "/readyz", timeout=2).status_code == 200:
                    waiting.remove(name)
            except httpx.HTTPError:
                pass
        if waiting:
            time.sleep(0.5)
    return waiting


# Staff accounts of the demo city (development only; the password is public).
DEMO_PASSWORD = "minsheng-demo-2026"
DEMO_ACCOUNTS = (("dispatcher", "", "zhang.wei", "张伟（派单）"),
                 ("supervisor", "", "li.na", "李娜（督办）"),
                 ("auditor", "", "wang.fang", "王芳（审计）"),
                 ("unit", "yingzhou", "yingzhou.zhao", "赵强（颍州区）"),
                 ("unit", "urban-mgmt", "urban.chen", "陈静（城管局）"),
                 ("channel_adapter", "", "hotline.liu", "刘洋（话务员）"))


def demo_accounts() -> None:
    """Create the demo staff accounts in identity's tables (kept if they exist)."""
    import contextlib
    import io

    from services.identity.entrypoints import cli

    for role, unit, username, name in DEMO_ACCOUNTS:
        args = ["add", username, "--role", role, "--name", name] + (["--unit", unit] if unit else [])
        with contextlib.redirect_stderr(io.StringIO()):  # "exists already" on a second load
            cli.main(args, stdin=io.StringIO(DEMO_PASSWORD + "\n"))


def load(force: bool = False) -> int:
    demo_accounts()
    from tools.simulator.drive.run import RunOptions, drive, make_plan

    settings = ServiceSettings()
    marker = marker_path(settings)
    if marker.exists() and not force:
        done = json.loads(marker.read_text())
        print(f"demo month already loaded on {done['loaded_at']} ({done['tickets']} tickets); "
              f"`python -m tools.demo load --force` loads it again")
        return 0
    endpoints = Endpoints.local(settings=settings, port_offset=_int_env("DEMO_PORT_OFFSET", 0))
    missing = wait_until_ready(endpoints)
    if missing:
        print(f"not ready: {', '.join(missing)}; start them with `make services`")
        return 1
    options = RunOptions(days=_int_env("DEMO_DAYS", 30), per_day=_int_env("DEMO_PER_DAY", 10),
                         seed=_int_env("DEMO_SEED", 7), concurrency=_int_env("DEMO_CONCURRENCY", 32),
                         max_lag_minutes=_int_env("DEMO_MAX_LAG_MINUTES", 120))
    plan = make_plan(options)
    print(f"loading a simulated city: {len(plan.truths)} requests from {plan.start:%Y-%m-%d}, "
          f"{options.days} days x ~{options.per_day}/day (DEMO_DAYS, DEMO_PER_DAY)")
    tally = asyncio.run(drive(plan, endpoints, options))
    print(tally.render_summary())
    if not tally.done["submitted"]:
        print("nothing was submitted: is intake running with MINSHENG_CLOCK=event?")
        return 1
    codes = tally.sample_codes
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({
        "loaded_at": datetime.now(CHINA).isoformat(timespec="seconds"), "seed": options.seed,
        "days": options.days, "per_day": options.per_day, "tickets": len(plan.truths),
        "summary": tally.summary(), "sample_codes": codes}, ensure_ascii=False, indent=1))
    return 0


def where() -> int:
    settings = ServiceSettings()
    offset = _int_env("DEMO_PORT_OFFSET", 0)
    endpoints = Endpoints.local(settings=settings, port_offset=offset)
    # the simulator drives the six ticket services; the staff's and the notifier's pages too
    urls = {**{name: f"http://127.0.0.1:{port + offset}" for name, port in STAFF_PORTS.items()},
            **endpoints.urls}
    print("Minsheng (民声): where to look\n")
    for name, paths in PAGES.items():
        base = urls[name]
        grpc = LOCAL_PORTS.get(name, (0, 0))[1]
        extra = f"   gRPC 127.0.0.1:{grpc}" if grpc else ""
        print(f"  {name:<10} " + "  ".join(base + p for p in paths) + extra)
    print("\n  the staff workbench (工作台):  " + urls["workbench"] + "/")
    print("  my requests (我的诉求):         " + endpoints.intake + "/me")
    print("  the public hall (大厅):        " + endpoints.feedback + "/hall")
    print("  dispatcher console (统筹):     " + endpoints.dispatch + "/console")
    print("  supervision (督办):            " + endpoints.sla + "/supervision")
    print("  dashboard (亮晒比):            " + endpoints.analytics + "/dashboard")
    print(f"\nStaff log in at {urls['workbench']}/login "
          f"(password {DEMO_PASSWORD}): " + ", ".join(f"{u} ({r})" for r, _, u, _ in DEMO_ACCOUNTS))
    print("\nTokens (8 hours; `make token ROLE=.. UNIT=..` mints more):")
    for role, unit, sub in ROLES:
        token = auth.mint(settings, sub=sub, role=role, unit=unit)
        print(f"  {role + (':' + unit if unit else ''):<20} {token}")
    marker = marker_path(settings)
    code = "<code>"
    if marker.exists():
        loaded = json.loads(marker.read_text())
        code = (loaded.get("sample_codes") or [code])[0]
        print(f"\nDemo month loaded {loaded['loaded_at']}: {loaded['tickets']} requests.")
    else:
        print("\nNo demo month loaded yet: `python -m tools.demo load`.")
    print(f"""
Follow one ticket ({code}):
  curl -H "Authorization: Bearer $DISPATCHER" {endpoints.intake}/v1/tickets/{code}
  curl -H "Authorization: Bearer $AUDITOR" {endpoints.audit}/v1/tickets/{code}/history
  or search the hall: {endpoints.feedback}/hall
A live stream on top: `make demo` (RATE=5 requests/s).""")
    return 0


def main(argv: list[str] | None = None) -> int:
    # a development platform's client: its development keys mint the tokens
    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    loading = commands.add_parser("load", help="load the demo month once")
    loading.add_argument("--force", action="store_true", help="load again even if loaded")
    commands.add_parser("where", help="print URLs, tokens and how to follow a ticket")
    args = parser.parse_args(argv)
    return load(args.force) if args.command == "load" else where()


if __name__ == "__main__":
    sys.exit(main())
