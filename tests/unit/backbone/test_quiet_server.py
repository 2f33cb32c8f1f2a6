"""The services' HTTP server (`backbone.runtime.QuietServer`) sleeps until told to exit, and
makes the Date header when a request reads it (`DatedServerState`), instead of a loop that woke
every second to renew it: every answer still carries the Date of its second, and a server told
to exit stops at once."""

from __future__ import annotations

import asyncio
import socket
import time
from email.utils import parsedate_to_datetime

import httpx
import uvicorn
from fastapi import FastAPI

from backbone.runtime import DatedServerState, QuietServer
from tests.waiting import eventually_async, patient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_date_is_the_second_it_is_read_in(monkeypatch) -> None:
    config = uvicorn.Config(FastAPI(), headers=[("x-served-by", "test")])
    config.load()
    state = DatedServerState(config)
    now = [1_780_000_000.25]
    monkeypatch.setattr(time, "time", lambda: now[0])
    first = state.default_headers
    assert first[0] == (b"date", b"Thu, 28 May 2026 20:26:40 GMT")
    assert (b"x-served-by", b"test") in first
    now[0] += 0.5
    assert state.default_headers is first  # the same second: made once
    now[0] += 1
    assert state.default_headers[0] == (b"date", b"Thu, 28 May 2026 20:26:41 GMT")
    state.default_headers = []  # uvicorn's own renewal changes nothing
    assert state.default_headers[0][0] == b"date"


def test_no_date_when_the_config_says_none() -> None:
    config = uvicorn.Config(FastAPI(), date_header=False)
    config.load()
    assert all(name != b"date" for name, _ in DatedServerState(config).default_headers)


def test_answers_carry_the_date_and_exit_is_at_once() -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    port = free_port()
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                       lifespan="off"))

    ticks = []
    on_tick = server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(counter)

    server.on_tick = counted  # type: ignore[method-assign]

    async def scenario() -> None:
        serving = asyncio.create_task(server.serve())
        await eventually_async(lambda: server.started, what="the server started")
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                before = time.time()
                r = await client.get(f"http://127.0.0.1:{port}/ping")
                assert r.status_code == 200
                said = parsedate_to_datetime(r.headers["date"]).timestamp()
                assert int(before) <= said <= time.time()  # the answer's own second
                # the next answer in a later second: its Date is made anew
                second = int(before)
                await eventually_async(lambda s=second: int(time.time()) > s, interval=0.05,
                                       what="the next second")
        # a server with nothing to do does not wake: uvicorn's loop ticked 10 times a second,
        # the one before this every second (2 s here: 2-3 ticks)
        await asyncio.sleep(0.5)
        assert len(ticks) == 1, ticks
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=patient(10))
        assert len(ticks) == 2  # woken by the exit itself

    asyncio.run(scenario())
