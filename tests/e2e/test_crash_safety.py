"""Kill -9 under the city simulator's load: nothing acknowledged is lost, nothing is applied
twice, and every ticket's history in the ledger stays in causal order.

The load is the simulator's (tools.simulator.load.CityLoad): requests over every channel,
units signing for, bouncing back and replying over gRPC, citizens rating, staff calling back,
each call retried with the same idempotency key while a process is down. Its record of what
the platform acknowledged is checked against the audit ledger, event by event.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable

import pytest

from backbone import events
from bench.platform import endpoints
from tests.e2e.platform_harness import Platform, eventually, patient
from tools.simulator.load import CityLoad, LoadRecord

pytestmark = pytest.mark.e2e

ROUTING = ("TicketAssigned", "TicketQueuedForDispatcher")
CALLED_BY_THE_LOAD = {"intake", "dispatch", "feedback"}


@pytest.fixture(scope="module")
def crash_platform(infra):
    p = Platform()
    p.start_all()
    yield p
    p.stop_all()


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


def by_ticket(platform: Platform) -> dict[str, list[events.DecodedEvent]]:
    found: dict[str, list[events.DecodedEvent]] = defaultdict(list)
    for d in ledger(platform):
        found[d.envelope.ticket_code].append(d)
    return found


def _complete(evs: list[events.DecodedEvent], expected: dict[str, int]) -> bool:
    types = [d.event_type for d in evs]
    if "TicketRejected" in types:
        return True
    routed = any(t in types for t in ROUTING) or "TicketMergedIntoCase" in types
    return routed and all(types.count(t) >= n for t, n in expected.items())


def check_exactly_once(platform: Platform, record: LoadRecord) -> dict[str, list]:
    """Every acknowledged ticket and action is in the ledger exactly once, in causal order."""
    codes = set(record.codes)

    def all_there():
        found = by_ticket(platform)
        done = all(_complete(found[c], record.expected_events(c)) for c in codes)
        return found if done else None

    found = eventually(all_there, timeout=180, interval=2,
                       what="every acknowledged ticket and action in the ledger")
    all_ids = [d.event_id for evs in found.values() for d in evs]
    assert len(all_ids) == len(set(all_ids)), "an event is in the ledger twice"
    for code in codes:
        evs = found[code]
        types = [d.event_type for d in evs]
        assert types.count("TicketSubmitted") == 1, (code, types)
        assert types.count("TicketAccepted") + types.count("TicketRejected") == 1, (code, types)
        assert types.index("TicketSubmitted") < 1 + types.index(
            "TicketAccepted" if "TicketAccepted" in types else "TicketRejected")
        if "TicketAccepted" in types:
            accepted = evs[types.index("TicketAccepted")].event_id
            # routed once on acceptance (later assignments have other causes: a bounce-back
            # decision, a reopening)
            first_routing = [d for d in evs if d.event_type in ROUTING
                             and d.envelope.causation_id == accepted]
            assert len(first_routing) <= 1, (code, types)
            assert first_routing or "TicketMergedIntoCase" in types, (code, types)
        for event_type, n in record.expected_events(code).items():
            assert types.count(event_type) == n, (code, event_type, n, types)
        seen: set[str] = set()
        ids = {e.event_id for e in evs}
        for d in evs:  # causal order: what caused an event is earlier in the ticket's log
            if d.envelope.causation_id and d.envelope.causation_id in ids:
                assert d.envelope.causation_id in seen, (code, d.event_type)
            seen.add(d.event_id)
    return found


def run_with_kills(platform: Platform, victims: list[str], *, seed: int, speed: float = 86_400.0,
                   while_down: Callable[[], None] | None = None) -> LoadRecord:
    """The city load, the victims killed with -9 mid-stream and restarted, the load on again.
    ``speed``: simulated seconds per second for the follow-ups (86,400: a day a second)."""
    load = CityLoad(endpoints(platform), rate=4, seed=seed, speed=speed)
    load.start()
    assert load.wait_for(submitted=15, timeout=patient(120)), "the load never got going"
    submitted, retried = load.submitted(), load.retried()
    for victim in victims:
        platform.kill(victim)  # SIGKILL
    # The load keeps calling while they are down. A service it calls (intake's API, dispatch's
    # gRPC, feedback's) must be met dead at least once, or the kill proved nothing; a consumer
    # it does not call (audit, sla) must miss new work, so the load goes on a while.
    if CALLED_BY_THE_LOAD & set(victims):
        assert load.wait_for(retried=retried + 1, timeout=patient(120)), \
            "no call met the dead service: the kill proved nothing"
    else:
        assert load.wait_for(submitted=submitted + 5, timeout=patient(120)), "the load stalled"
    if while_down is not None:
        while_down()
    for victim in victims:
        platform.restart(victim)
    before = load.submitted()
    assert load.wait_for(submitted=before + 15, timeout=patient(120)), "the load did not carry on"
    record = load.stop()
    assert len(record.codes) > 20, record.summary
    return record


def _acted(record: LoadRecord, kind: str) -> int:
    return sum(c[kind] for c in record.acted.values())


def test_killing_consumers_loses_nothing_and_applies_nothing_twice(crash_platform):
    record = run_with_kills(crash_platform, ["dispatch", "audit", "sla"], seed=41)
    found = check_exactly_once(crash_platform, record)
    # the richer load exercised the unit side too, across the kill
    assert _acted(record, "signed_for") > 0 and _acted(record, "replied") > 0, record.summary
    assert sum(1 for evs in found.values() if any(d.event_type == "DeadlineSet" for d in evs))


def test_killing_the_relay_loses_nothing_and_applies_nothing_twice(crash_platform):
    # intake's process hosts its outbox relay: kill it mid-stream
    record = run_with_kills(crash_platform, ["intake"], seed=42)
    assert record.retries > 0, "no call met the dead intake: the kill proved nothing"
    check_exactly_once(crash_platform, record)
