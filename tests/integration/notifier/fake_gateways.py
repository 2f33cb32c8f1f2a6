"""Local stand-ins for the city's SMS gateway, the WeChat message service and intake's
contact endpoint. Each message's fate is set by its client_ref (the notice id): succeed,
fail n times first, or never answer in time."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.waiting import eventually_async


class Gateways:
    def __init__(self) -> None:
        self.fail_first: dict[str, int] = {}  # client_ref -> failures before success
        self.hang: set[str] = set()  # client_refs never answered in time
        self.calls: Counter[str] = Counter()
        self.called_at: dict[str, list[float]] = {}  # client_ref -> monotonic times of calls
        self.accepted: list[dict[str, Any]] = []
        self.phones: dict[str, str] = {}  # ticket code -> phone
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI()

        async def take(request: Request, route: str) -> JSONResponse:
            body = await request.json()
            ref = body["client_ref"]
            self.calls[ref] += 1
            self.called_at.setdefault(ref, []).append(time.monotonic())
            if ref in self.hang:
                await asyncio.sleep(5)
            if self.calls[ref] <= self.fail_first.get(ref, 0):
                return JSONResponse({"error": "busy"}, status_code=503)
            if all(a["client_ref"] != ref for a in self.accepted):  # the gateway dedupes
                self.accepted.append(body | {"route": route})
            return JSONResponse({"message_id": f"{route}-{ref}"})

        @app.post("/sms")
        async def sms(request: Request) -> JSONResponse:
            return await take(request, "sms")

        @app.post("/wechat")
        async def wechat(request: Request) -> JSONResponse:
            return await take(request, "wechat")

        @app.get("/v1/tickets/{code}/contact")
        async def contact(code: str, request: Request) -> JSONResponse:
            if not request.headers.get("authorization", "").startswith("Bearer "):
                return JSONResponse({"error": "unauthenticated"}, status_code=401)
            if code not in self.phones:
                return JSONResponse({"error": "not_found"}, status_code=404)
            return JSONResponse({"phone": self.phones[code]})

        return app


@contextlib.asynccontextmanager
async def running_gateways() -> AsyncIterator[Gateways]:
    gateways = Gateways()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gateways.port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(gateways.app(), host="127.0.0.1",
                                           port=gateways.port, log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        assert not task.done(), "the fake gateways stopped before they started"
        return server.started
    await eventually_async(started, timeout=10, interval=0.05, what="the fake gateways")
    try:
        yield gateways
    finally:
        server.should_exit = True
        await task
