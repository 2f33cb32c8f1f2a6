"""One process per service: HTTP (uvicorn), optional gRPC, the outbox relay and consumers.

A service's `bootstrap.py` builds a `Service` (its parts) and calls `run(service)`. SIGTERM or
SIGINT stops the HTTP server first, then the background loops, then the clients.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, TypeVar

import grpc
import psycopg
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from uvicorn.server import ServerState

from backbone import logs
from backbone.grpc_guard import CountRequests, RefuseMalformedRequests
from backbone.kafka import base_topics, ensure_topics, make_producer
from backbone.settings import ServiceSettings
from backbone.store import ensure_database

log = logging.getLogger(__name__)

Loop = Callable[[asyncio.Event], Awaitable[None]]
T = TypeVar("T")


@dataclass
class Infrastructure:
    """The clients a service's parts share. Built by `connect`, never at import."""

    settings: ServiceSettings
    pool: ConnectionPool
    producer: AIOKafkaProducer

    async def pg_ready(self) -> tuple[bool, str]:
        def ping() -> None:
            with self.pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")

        await asyncio.wait_for(asyncio.to_thread(ping), timeout=3)
        return True, "postgresql ok"

    async def kafka_ready(self) -> tuple[bool, str]:
        client = self.producer.client
        ok = await asyncio.wait_for(client.force_metadata_update(), timeout=3)
        if not ok or not client.cluster.brokers():
            return False, "no kafka broker reachable"
        return True, "kafka ok"


STARTUP_RETRY_S = 5.0


async def reachable(settings: ServiceSettings, what: str,
                    attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, again every few seconds while PostgreSQL or Kafka does not answer (one
    warning line a try, saying why), for MINSHENG_STARTUP_WAIT_S; then one error line and
    exit 1. A wrong address, port or password is named at once, not in a traceback, and a
    service started before its infrastructure waits for it (deploy/k8s/README.md)."""
    deadline = time.monotonic() + settings.startup_wait_s
    while True:
        try:
            return await attempt()
        except (psycopg.OperationalError, KafkaError, OSError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if time.monotonic() + STARTUP_RETRY_S > deadline:
                log.error("cannot start: %s did not answer within %.0f s: %s", what,
                          settings.startup_wait_s, reason)
                raise SystemExit(1) from None
            log.warning("waiting for %s: %s (trying again in %.0f s)", what, reason,
                        STARTUP_RETRY_S)
            await asyncio.sleep(STARTUP_RETRY_S)


async def database_made(settings: ServiceSettings) -> None:
    """The service's database and schema made, once PostgreSQL answers (`reachable`)."""
    await reachable(settings, f"PostgreSQL at {settings.pg_host}:{settings.pg_port}",
                    lambda: asyncio.to_thread(ensure_database, settings))


async def connect(settings: ServiceSettings, *, min_size: int = 1) -> Infrastructure:
    await database_made(settings)
    await reachable(settings, f"Kafka at {settings.kafka_bootstrap}",
                    lambda: ensure_topics(settings, base_topics(settings)))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=min_size,
                          max_size=settings.pg_pool_size, open=False, name=settings.service)
    await asyncio.to_thread(pool.open, True, 30)
    producer = make_producer(settings)
    await producer.start()
    return Infrastructure(settings, pool, producer)


@dataclass
class Service:
    settings: ServiceSettings
    infra: Infrastructure
    http: FastAPI
    loops: list[Loop] = field(default_factory=list)
    grpc_servicers: list[Callable[[grpc.aio.Server], None]] = field(default_factory=list)
    on_stop: list[Callable[[], Any]] = field(default_factory=list)


def tls_files(settings: ServiceSettings) -> tuple[str, str] | None:
    """The certificate chain and private key (PEM files) this service's HTTP and gRPC listeners
    present (MINSHENG_TLS_CERT_FILE / _KEY_FILE), or None to listen in plain text."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError("TLS needs both MINSHENG_TLS_CERT_FILE and MINSHENG_TLS_KEY_FILE")
    return cert, key


def _uvicorn_tls(settings: ServiceSettings) -> dict[str, Any]:
    files = tls_files(settings)
    return {} if files is None else {"ssl_certfile": files[0], "ssl_keyfile": files[1]}


def grpc_server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    files = tls_files(settings)
    if files is None:
        return None
    cert, key = (Path(f).read_bytes() for f in files)
    return grpc.ssl_server_credentials([(key, cert)])


class DatedServerState(ServerState):
    """uvicorn's state shared by its connections, whose `default_headers` (read as each request
    begins) carry the Date of the second they are read in, made then (once a second at most),
    instead of a Date the server's loop renews every second whether or not anyone asks."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._date, self._extra = config.date_header, list(config.encoded_headers)
        self._second, self._headers = -1, self._extra
        super().__init__()

    @property  # type: ignore[override]
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        second = int(time.time())
        if self._date and second != self._second:
            self._second = second
            self._headers = [(b"date", formatdate(second, usegmt=True).encode()), *self._extra]
        return self._headers

    @default_headers.setter
    def default_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        pass  # uvicorn's own renewal (`Server.on_tick`): the Date is made when read


class QuietServer(uvicorn.Server):
    """uvicorn's server without its 100 ms poll: `Server.main_loop` wakes ten times a second
    to see whether it should exit (and, every tenth time, to renew the Date header), which was
    half of an idle service's wake-ups (strace: ~20 epoll returns a second in a process that
    has nothing else to do). Here the loop sleeps until told to exit (a signal, or
    `should_exit = True`), and the Date header is made when a request reads it
    (`DatedServerState`): a loop that woke every second for the Date was 48 ms of an idle
    dispatch's 327 ms of event-loop callbacks in 40 s. With a request limit or a notify callback
    configured (uvicorn's options, not used here) it wakes every second for them as before."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._told: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._should_exit = False
        super().__init__(config)
        self.server_state = DatedServerState(config)

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self._told is not None:  # (also from a signal handler: threadsafe)
            loop, told = self._told
            loop.call_soon_threadsafe(told.set)

    async def main_loop(self) -> None:
        told = asyncio.Event()
        self._told = (asyncio.get_running_loop(), told)
        ticking = (self.config.limit_max_requests is not None
                   or self.config.callback_notify is not None)
        # on_tick(0) answers whether to exit (and sees to the request limit and the callback)
        while not await self.on_tick(0):
            try:
                await asyncio.wait_for(told.wait(),
                                       timeout=1.0 - time.time() % 1.0 if ticking else None)
            except TimeoutError:
                pass


async def serve(service: Service) -> None:
    settings = service.settings
    stop = asyncio.Event()
    grpc_server = None
    if settings.grpc_port and service.grpc_servicers:
        grpc_server = grpc.aio.server(interceptors=[CountRequests(settings.service),
                                                    RefuseMalformedRequests()])
        for add in service.grpc_servicers:
            add(grpc_server)
        address = f"{settings.http_host}:{settings.grpc_port}"
        credentials = grpc_server_credentials(settings)
        try:
            if credentials is None:
                grpc_server.add_insecure_port(address)
            else:
                grpc_server.add_secure_port(address, credentials)
        except RuntimeError as exc:  # gRPC says only "Failed to bind", with a traceback
            log.error("gRPC port %s cannot be bound (is another %s running there?): %s",
                      address, settings.service, exc)
            raise SystemExit(1) from None
        await grpc_server.start()
        log.info("gRPC%s on %s", " (TLS)" if credentials else "", address)
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(loop(stop), name=getattr(loop, "__qualname__", "loop"))  # type: ignore[arg-type]
             for loop in service.loops]
    config = uvicorn.Config(service.http, host=settings.http_host, port=settings.http_port,
                            log_config=None, access_log=False, lifespan="off",
                            # longer than clients' usual keep-alive (httpx 5 s): a server that
                            # closes an idle connection first races the client's next request
                            timeout_keep_alive=75,
                            # uvicorn would believe X-Forwarded-For from 127.0.0.1; whom to
                            # believe is MINSHENG_TRUSTED_PROXIES' (backbone/forwarded.py)
                            proxy_headers=False, **_uvicorn_tls(settings))
    server = QuietServer(config)
    log.info("HTTP on %s:%s", settings.http_host, settings.http_port)
    try:
        await server.serve()
    finally:
        stop.set()
        if grpc_server is not None:
            await grpc_server.stop(grace=2)
        _, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        for t in pending:
            t.cancel()
        for cb in service.on_stop:
            res = cb()
            if asyncio.iscoroutine(res):
                await res
        await service.infra.producer.stop()
        service.infra.pool.close()
        log.info("stopped")


def give_back_freed_memory() -> None:
    """Hand the memory that start-up freed back to the system (glibc's malloc_trim; a no-op
    elsewhere): the parse of data files and models leaves freed pages that glibc keeps, and
    that stays in the process's RSS for good (dispatch: ~2-3 MB, docs/profiles/memory.md)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to give back this way


def run(build: Callable[[ServiceSettings], Awaitable[Service]],
        settings: ServiceSettings) -> None:
    logs.configure(settings.service, settings.log_level)

    async def main() -> None:
        try:
            service = await build(settings)
        except Exception as exc:  # (a key file missing or unreadable, a malformed secret...)
            # one JSON line naming the reason, its traceback in the line's "error", instead
            # of a bare traceback on stderr that no log collector reads as one record
            log.error("cannot start: %s", " ".join(f"{type(exc).__name__}: {exc}".split()),
                      exc_info=exc)
            raise SystemExit(1) from None
        # What `build` made (classifier tables, gazetteers, registries, modules, policies:
        # ~120,000 objects in dispatch) lives as long as the process: kept out of the cyclic
        # collector's full passes, which scanned it all (dispatch: one 48-69 ms pass every
        # ~30 s at 10 tickets/s, bench.dispatch_cost with gc callbacks, session 13). Start-up
        # garbage is collected first, so none is kept for good.
        gc.collect()
        gc.freeze()
        give_back_freed_memory()
        await serve(service)

    if settings.event_loop == "uvloop":
        import uvloop  # uvicorn[standard] brings it: a faster event loop than asyncio's

        uvloop.run(main())
    else:
        asyncio.run(main())
