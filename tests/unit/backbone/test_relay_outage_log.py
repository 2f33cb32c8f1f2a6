"""During a PostgreSQL outage the outbox relay logged a full traceback on every retry (one
every second or two, the log filled with the same stack): now the first failure is logged
with its traceback, then one short line per OUTAGE_LOG_EVERY_S while it lasts, and one line
when a round succeeds again. A fake store: no PostgreSQL, no Kafka."""

from __future__ import annotations

import asyncio
import logging

import psycopg

from backbone import relay as relay_module
from backbone.relay import OutboxRelay
from backbone.settings import ServiceSettings


class FakeLock:
    """The election lock's connection: gone while the database is down."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def execute(self, *_: object) -> None:
        if self.store.down:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    def close(self) -> None:
        pass


class FakeStore:
    """PostgreSQL as the relay meets it: up, down for `outage` attempts to reach it, up."""

    def __init__(self, outage: int) -> None:
        self.down = False
        self.outage = outage
        self.tries = 0
        self.rounds = 0

    def take_leadership(self) -> FakeLock:
        if self.down:
            self.tries += 1
            if self.tries >= self.outage:
                self.down = False  # back after this try
            raise psycopg.OperationalError(
                'connection to server at "127.0.0.1", port 55432 failed: Connection refused')
        return FakeLock(self)


class FakeNews:
    def __init__(self, *_: object) -> None:
        pass

    async def listen(self) -> None:
        pass

    def drain(self) -> None:
        pass

    async def wait(self, stop: asyncio.Event, **_: object) -> bool:
        await asyncio.sleep(0.001)
        return False

    async def close(self) -> None:
        pass


def test_an_outage_logs_one_traceback_then_short_lines_then_its_end(monkeypatch, caplog) -> None:
    store = FakeStore(outage=12)
    stop = asyncio.Event()
    relay = OutboxRelay(settings=ServiceSettings(environment="test", service="intake"),
                        app=None, pool=None, translate=lambda p: [])  # type: ignore[arg-type]

    async def run_once() -> int:
        store.rounds += 1
        if store.rounds == 1:  # the database goes away in the middle of the first round
            store.down = True
            raise psycopg.OperationalError("terminating connection due to administrator command")
        stop.set()  # the second round, after the outage, succeeds
        return 0

    monkeypatch.setattr(relay, "_take_leadership", store.take_leadership)
    monkeypatch.setattr(relay, "run_once", run_once)
    monkeypatch.setattr(relay_module, "CommitNews", FakeNews)
    monkeypatch.setattr(relay_module, "LEADERSHIP_RETRY_S", 0.01, raising=False)
    monkeypatch.setattr(relay_module, "OUTAGE_LOG_EVERY_S", 0.05, raising=False)
    caplog.set_level(logging.DEBUG, logger="backbone.relay")

    async def go() -> None:
        await asyncio.wait_for(relay.run(stop), timeout=60)

    asyncio.run(go())

    lines = [r for r in caplog.records if r.name == "backbone.relay"]
    assert store.tries == 12 and store.rounds == 2
    with_traceback = [r for r in lines if r.exc_info]
    assert len(with_traceback) == 1, [r.getMessage() for r in with_traceback]
    said = [r.getMessage() for r in lines]
    # 12 failed tries in ~0.12 s, one summary line per 0.05 s at most
    assert sum("still failing" in m for m in said) <= 4
    assert len(lines) <= 7, said
    assert "working again" in said[-1] and "13 failed tries" in said[-1]
    assert all("Connection refused" in m for m in said if "still failing" in m)


def test_a_new_outage_after_recovery_logs_its_traceback_again(caplog) -> None:
    now = [0.0]
    outage = relay_module.Outage("relay intake/lifecycle", every_s=10.0, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="backbone.relay")
    for second in range(25):
        now[0] = float(second)
        outage.failed("a round", OSError("Connection refused"))
    outage.over()
    outage.failed("a round", OSError("Connection refused"))
    said = [(r.getMessage(), bool(r.exc_info)) for r in caplog.records]
    assert [t for _, t in said] == [True, False, False, False, True]
    assert said[1][0].startswith("relay intake/lifecycle: still failing after 10 s (11 tries)")
    assert "working again after 24 s (25 failed tries)" in said[3][0]
