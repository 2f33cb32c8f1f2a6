"""Kill -9 while tickets are submitted continuously: nothing acknowledged is lost, nothing is
applied twice, and every ticket's history in the ledger stays in causal order."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import defaultdict

import httpx
import pytest

from backbone import events
from tests.e2e.platform_harness import Platform, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def crash_platform(infra):
    p = Platform()
    p.start_all()
    yield p
    p.stop_all()


class Submitter(threading.Thread):
    """A channel adapter that keeps submitting; a failed call is retried with the SAME request
    id (the adapter's idempotency key) until intake acknowledges it."""

    def __init__(self, platform: Platform, adapter: str):
        super().__init__(daemon=True)
        self.platform = platform
        self.adapter = adapter
        self.stop = threading.Event()
        self.acked: dict[str, str] = {}  # request id -> code
        self.retries = 0

    def run(self) -> None:
        token = self.platform.token("channel_adapter", sub=self.adapter)
        n = 0
        while not self.stop.is_set():
            n += 1
            request_id = f"crash-{uuid.uuid4().hex}"
            body = {"channel": "wechat_mini", "request_id": request_id,
                    "text": f"第{n}次反映：颍东区向阳路的下水道堵塞，污水漫到路面，气味很大。",
                    "location": {"lat": 32.90, "lon": 115.85}}
            while True:
                try:
                    r = httpx.post(self.platform.url("intake") + "/v1/requests", json=body,
                                   headers={"authorization": f"Bearer {token}"}, timeout=10)
                    if r.status_code in (200, 201):
                        self.acked[request_id] = r.json()["code"]
                        break
                except httpx.HTTPError:
                    pass
                self.retries += 1
                if self.stop.is_set() and self.retries > 10_000:
                    return
                time.sleep(0.2)
            time.sleep(0.02)


def ledger(platform: Platform) -> list[events.DecodedEvent]:
    out = []
    after = 0  # the audit API's cursor: the first ledger_seq to return
    with platform.client("audit", "auditor", sub="crash-auditor") as c:
        while True:
            r = c.get("/v1/ledger/entries", params={"after": after, "limit": 1000})
            assert r.status_code == 200, r.text
            body = r.json()
            for e in body["entries"]:
                out.append(events.decode(base64.b64decode(e["raw"])))
            if not body["entries"]:
                return out
            after = body["next_after"]


def check_exactly_once(platform: Platform, codes: set[str]) -> None:
    def all_assigned():
        by_code: dict[str, list[events.DecodedEvent]] = defaultdict(list)
        for d in ledger(platform):
            by_code[d.envelope.ticket_code].append(d)
        done = all({"TicketAssigned", "DeadlineSet"} <= {d.event_type for d in by_code[c]}
                   or "TicketQueuedForDispatcher" in {d.event_type for d in by_code[c]}
                   for c in codes)
        return by_code if done else None

    by_code = eventually(all_assigned, timeout=120, interval=2,
                         what="every acknowledged ticket assigned, in the ledger")
    all_ids = [d.event_id for evs in by_code.values() for d in evs]
    assert len(all_ids) == len(set(all_ids)), "an event is in the ledger twice"
    for code in codes:
        evs = by_code[code]
        types = [d.event_type for d in evs]
        assert types.count("TicketSubmitted") == 1 and types.count("TicketAccepted") == 1, types
        assert types.count("TicketAssigned") + types.count("TicketQueuedForDispatcher") == 1, types
        assert types.index("TicketSubmitted") < types.index("TicketAccepted")
        seen: set[str] = set()
        for d in evs:  # causal order: what caused an event is earlier in the ticket's log
            if d.envelope.causation_id and d.envelope.causation_id in {
                    e.event_id for e in evs}:
                assert d.envelope.causation_id in seen, (code, d.event_type)
            seen.add(d.event_id)


def _run_with_kill(platform: Platform, victims: list[str]) -> set[str]:
    submitter = Submitter(platform, adapter=f"crash-adapter-{'-'.join(victims)}")
    submitter.start()
    time.sleep(4)
    for victim in victims:
        platform.kill(victim)  # SIGKILL
    time.sleep(2)
    for victim in victims:
        platform.restart(victim)
    time.sleep(6)
    submitter.stop.set()
    submitter.join(timeout=60)
    assert len(submitter.acked) > 20
    return set(submitter.acked.values())


def test_killing_consumers_loses_nothing_and_applies_nothing_twice(crash_platform):
    codes = _run_with_kill(crash_platform, ["dispatch", "audit", "sla"])
    check_exactly_once(crash_platform, codes)


def test_killing_the_relay_loses_nothing_and_applies_nothing_twice(crash_platform):
    # intake's process hosts its outbox relay: kill it mid-stream
    codes = _run_with_kill(crash_platform, ["intake"])
    check_exactly_once(crash_platform, codes)
