"""Wires identity: settings -> PostgreSQL tables -> sessions -> HTTP. No I/O at import."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from psycopg_pool import ConnectionPool

from backbone import auth
from backbone.http import create_app
from backbone.rate_limits import SharedRateLimits
from backbone.runtime import Infrastructure, Service, database_made
from services.identity.adapters.passwords import Passwords
from services.identity.adapters.store import IdentityStore, create_tables
from services.identity.application.sessions import Sessions
from services.identity.domain.lockout import LockoutPolicy
from services.identity.entrypoints import http_api, web
from services.identity.settings import IdentitySettings

log = logging.getLogger(__name__)


@dataclass
class Parts:
    store: IdentityStore
    sessions: Sessions


def build_parts(settings: IdentitySettings, pool: ConnectionPool,
                revocations: auth.RevocationList | None) -> Parts:
    create_tables(pool, settings.schema)
    store = IdentityStore(pool, settings.schema)
    policy = LockoutPolicy(max_failures=settings.lockout_failures,
                           window=timedelta(seconds=settings.lockout_window_s),
                           lock_for=timedelta(seconds=settings.lockout_s))
    sessions = Sessions(store=store, passwords=Passwords(), issuer=auth.issuer_for(settings),
                        revocations=revocations, policy=policy, ttl_s=settings.token_ttl_s)
    return Parts(store, sessions)


def _sweeper(store: IdentityStore, every_s: float = 600):
    async def sweep(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                gone = await asyncio.to_thread(store.forget_expired)
                if gone:
                    log.info("forgot %d expired sessions and revocations", gone)
            except Exception as exc:  # the next round tries again
                log.warning("sweep failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                pass

    return sweep


class _NoKafka:
    """Identity publishes nothing: logging in must work while the bus is down."""

    async def stop(self) -> None:
        return None


async def connect_pg(settings: IdentitySettings) -> Infrastructure:
    await database_made(settings)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=settings.pg_pool_size,
                          open=False, name=settings.service)
    await asyncio.to_thread(pool.open, True, 30)
    return Infrastructure(settings, pool, _NoKafka())  # type: ignore[arg-type]


async def build(settings: IdentitySettings) -> Service:  # type: ignore[override]
    issuer = auth.issuer_for(settings)  # refuse to start without the signing key
    infra = await connect_pg(settings)
    http = create_app(settings=settings, title="Minsheng identity",
                      description="Staff accounts and login (登录): tokens for every Minsheng "
                                  "API, logout, lockout, the public keys.",
                      readiness=[infra.pg_ready])
    verifier: auth.Verifier = http.state.verifier
    if issuer.kid not in verifier.keys:
        raise SystemExit(f"the signing key {issuer.kid!r} is not in MINSHENG_TOKEN_PUBLIC_KEYS: "
                         "no service would accept its tokens")
    parts = await asyncio.to_thread(build_parts, settings, infra.pool, verifier.revocations)
    http.state.sessions = parts.sessions
    limits = await asyncio.to_thread(SharedRateLimits, infra.pool, settings.schema)
    http.include_router(http_api.router(parts.sessions, auth.public_keys_path(settings), limits,
                                        settings.logins_per_minute))
    http.include_router(web.router(settings.redirect_origins()))
    return Service(settings=settings, infra=infra, http=http, loops=[_sweeper(parts.store)])
