"""One identity service, in-process, on the real PostgreSQL, in a schema of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from backbone.runtime import serve
from services.identity.bootstrap import build
from services.identity.settings import IdentitySettings
from tests import janitor
from tests.waiting import eventually_async


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Identity:
    def __init__(self, settings: IdentitySettings, service: Any):
        self.settings = settings
        self.service = service
        self.url = f"http://127.0.0.1:{settings.http_port}"
        self.sessions = service.http.state.sessions

    def add_user(self, username: str, password: str, role: str = "dispatcher",
                 unit: str = "", name: str = "张伟") -> None:
        self.sessions.add_user(username=username, display_name=name, role=role, unit=unit,
                               password=password)


@contextlib.asynccontextmanager
async def running_identity(settings: IdentitySettings) -> AsyncIterator[Identity]:
    service = await build(settings)
    task = asyncio.create_task(serve(service))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}") as client:
        async def ready() -> bool:
            if task.done():  # it failed to start: say why now, not at the deadline
                await task
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get("/readyz")).status_code == 200
            return False
        await eventually_async(ready, timeout=20, interval=0.05, what="identity ready")
    try:
        yield Identity(settings, service)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 30)


def identity_settings(**overrides: Any) -> IdentitySettings:
    values: dict[str, Any] = {
        "environment": "development", "http_port": free_port(),
        "pg_schema": f"identity_{janitor.claim(uuid.uuid4().hex[:10])}", "token_revocation_refresh_s": 0.2,
        "logins_per_minute": 1000,  # the login limit has a test of its own
        **overrides}
    return IdentitySettings(**values)


def drop_schema(settings: IdentitySettings) -> None:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(settings.schema)))


@pytest.fixture(scope="package")
async def identity(infra) -> AsyncIterator[Identity]:
    settings = identity_settings()
    try:
        async with running_identity(settings) as here:
            yield here
    finally:
        drop_schema(settings)
