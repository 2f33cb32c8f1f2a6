"""After the faults: what the platform acknowledged, checked against the audit ledger, and the
report (docs/reliability.md is one of these, written by `make chaos`)."""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from typing import Any

import httpx

from backbone import auth, events
from backbone.settings import ServiceSettings
from tests.chaos.platform import ChaosPlatform
from tools.simulator.drive.driver import Waits
from tools.simulator.drive.settings import Endpoints
from tools.simulator.load import CityLoad, LoadRecord


def city_load(platform: ChaosPlatform, *, rate: float, seed: int, quick: bool = False
              ) -> CityLoad:
    """The simulator's city load against replica 1 of each service (a caller that meets a
    dead replica retries with the same idempotency key, as a channel adapter would).

    ``quick`` (CI): the load gives up on a call after 60 s rather than 120 s and waits 45 s
    for an assignment or a notice rather than 90 s; that bounds the time stopping it may take
    (actions under way finish) to 90 s. A call given up on is counted as uncertain, never as
    acknowledged, so the checks are unchanged."""
    from tests.chaos.platform import BROKERS

    settings = ServiceSettings()
    endpoints = Endpoints(urls={name: platform.url(name) for name in platform.names},
                          dispatch_grpc=f"127.0.0.1:{platform.grpc_port('dispatch')}",
                          issuer=auth.issuer_for(settings),
                          kafka_bootstrap=platform.infra.bootstrap(BROKERS), topic_prefix="")
    if quick:
        return CityLoad(endpoints, rate=rate, seed=seed, give_up_after=60,
                        waits=Waits(assignment=45, dispatcher_after=20, notice=45, stale=1.0))
    return CityLoad(endpoints, rate=rate, seed=seed)


def ledger(platform: ChaosPlatform) -> list[events.DecodedEvent]:
    token = auth.mint(ServiceSettings(), sub="chaos-auditor", role="auditor")
    out: list[events.DecodedEvent] = []
    after = 0
    with httpx.Client(base_url=platform.url("audit"), timeout=60,
                      headers={"authorization": f"Bearer {token}"}) as c:
        while True:
            r = c.get("/v1/ledger/entries", params={"after": after, "limit": 1000})
            r.raise_for_status()
            body = r.json()
            if not body["entries"]:
                return out
            out += [events.decode(base64.b64decode(e["raw"])) for e in body["entries"]]
            after = body["next_after"]


def _tally(found: dict[str, list[events.DecodedEvent]], record: LoadRecord) -> dict[str, Any]:
    lost, duplicated, disordered, missing_tickets = [], [], [], []
    for code in record.codes:
        evs = found.get(code, [])
        types = [d.event_type for d in evs]
        if types.count("TicketSubmitted") == 0:
            missing_tickets.append(code)
        if types.count("TicketSubmitted") > 1:
            duplicated.append((code, "TicketSubmitted", types.count("TicketSubmitted")))
        for event_type, n in record.expected_events(code).items():
            if types.count(event_type) < n:
                lost.append((code, event_type, n, types.count(event_type)))
            elif types.count(event_type) > n:
                duplicated.append((code, event_type, types.count(event_type)))
        ids, seen = {d.event_id for d in evs}, set()
        for d in evs:  # what caused an event is earlier in the ticket's log
            cause = d.envelope.causation_id
            if cause and cause in ids and cause not in seen:
                disordered.append((code, d.event_type))
            seen.add(d.event_id)
    return {"missing_tickets": missing_tickets, "lost_actions": lost,
            "duplicated": duplicated, "disordered": disordered}


def check(platform: ChaosPlatform, record: LoadRecord, timeout: float = 600) -> dict[str, Any]:
    """Wait (up to ``timeout``) until everything acknowledged is in the ledger, then count."""
    deadline = time.monotonic() + timeout
    while True:
        entries = ledger(platform)
        found: dict[str, list[events.DecodedEvent]] = defaultdict(list)
        for d in entries:
            found[d.envelope.ticket_code].append(d)
        tally = _tally(found, record)
        if not (tally["missing_tickets"] or tally["lost_actions"]) or \
                time.monotonic() > deadline:
            break
        time.sleep(1)  # a poll (a whole ledger read, ~3,000 entries), not a wait for anything
    ids = [d.event_id for d in entries]
    tally["ledger_entries"] = len(ids)
    tally["events_twice_in_ledger"] = len(ids) - len(set(ids))
    tally["acknowledged_tickets"] = len(record.codes)
    tally["acknowledged_actions"] = sum(sum(c.values()) for c in record.acted.values())
    tally["retries"] = record.retries
    tally["load_errors"] = dict(record.errors)
    tally["ok"] = not any([tally["missing_tickets"], tally["lost_actions"],
                           tally["duplicated"], tally["disordered"],
                           tally["events_twice_in_ledger"]])
    return tally


def render(report: dict[str, Any]) -> str:
    faults = report.get("faults", [])
    rows = "\n".join(
        f"| {f['injected_at']:.0f} s | {f['kind']} | {f['target']} {f['note']} | "
        f"{f['acknowledged']} | {f['recovered_s'] if f['recovered_s'] is not None else 'NOT'} |"
        for f in faults)
    kinds: dict[str, list[dict]] = defaultdict(list)
    for f in faults:
        kinds[f["kind"]].append(f)
    summary = "\n".join(
        f"| {k} | {len(fs)} | {sum(f['acknowledged'] for f in fs)} | "
        f"{sum(f.get('lost', 0) for f in fs)} | {sum(f.get('duplicated', 0) for f in fs)} | "
        f"{_longest(fs)} |" for k, fs in kinds.items())
    verification = report.get("ledger_verification", {})
    reconciliation = report.get("reconciliation", {})
    mode = report.get("mode") or ("short" if report.get("short") else "full")
    notes = "".join(f"\nNote: {n}." for n in report.get("notes", []))
    phases = ", ".join(f"{k} {v} s" for k, v in report.get("phases", {}).items())
    return f"""## Run (seed {report.get('seed')}, {mode})

Phases: {phases or '-'}.{notes}

Verdict: **{'PASS' if report.get('ok') else 'FAIL'}**. Acknowledged: {report.get('acknowledged_tickets')}
tickets and {report.get('acknowledged_actions')} actions; the load retried {report.get('retries')}
calls that met a platform away. Ledger: {report.get('ledger_entries')} entries.

| check | found |
|---|---|
| acknowledged tickets missing from the ledger (lost) | {len(report.get('missing_tickets', []))} |
| acknowledged actions missing (lost) | {len(report.get('lost_actions', []))} |
| tickets or actions in the ledger more than once (duplicated) | {len(report.get('duplicated', []))} |
| events in the ledger twice (same event id) | {report.get('events_twice_in_ledger')} |
| events before their cause in a ticket's log | {len(report.get('disordered', []))} |
| ledger verification (`services.audit verify`) | {'ok' if verification.get('ok') else verification} |
| every service's store vs the ledger (`services.audit reconcile`) | {'ok' if reconciliation.get('ok') else _short(reconciliation)} |

| fault | injected | tickets acknowledged meanwhile | of those lost | of those duplicated | longest recovery |
|---|---|---|---|---|---|
{summary}

Every fault, in order (recovery: from the repair until every process answered /readyz and
two new submissions were acknowledged):

| at | fault | target | acknowledged | recovered in (s) |
|---|---|---|---|---|
{rows}

Details: lost {report.get('lost_actions', [])[:10]} missing {report.get('missing_tickets', [])[:10]}
duplicated {report.get('duplicated', [])[:10]} disordered {report.get('disordered', [])[:10]}
load errors {report.get('load_errors')}
"""


def _longest(faults: list[dict]) -> str:
    if any(f["recovered_s"] is None for f in faults):
        return "NOT RECOVERED (once or more)"
    return f"{max(f['recovered_s'] for f in faults):.1f} s"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 400 else text[:400] + "..."
