"""HEAD is answered as GET without the body on every service (RFC 9110 9.3.2): load balancers
and monitors probe /healthz with HEAD, and a general-purpose server must support it. Served by
a real uvicorn, since it is the server that leaves the body out."""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn

from backbone.http import create_app
from services.audit.settings import AuditSettings


async def _served(app: object) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, port


def test_head_is_get_without_the_body() -> None:
    app = create_app(settings=AuditSettings(environment="test"), title="t", description="t",
                     readiness=[])

    @app.post("/v1/only-post")
    async def only_post() -> dict[str, str]:
        return {"posted": "yes"}

    async def run() -> None:
        server, task, port = await _served(app)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                got, head = await client.get("/healthz"), await client.head("/healthz")
                assert got.status_code == head.status_code == 200
                assert got.content and head.content == b""
                assert head.headers["content-type"] == got.headers["content-type"]
                assert head.headers["content-length"] == got.headers["content-length"]
                # a route HEAD cannot reach answers as GET would: method not allowed, not 500
                refused = await client.head("/v1/only-post")
                assert refused.status_code == 405 and refused.content == b""
                assert (await client.head("/nowhere")).status_code == 404
        finally:
            server.should_exit = True
            await task

    asyncio.run(run())
