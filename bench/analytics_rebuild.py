"""Analytics rebuilt from the audit ledger, events/s: what `python -m services.analytics
rebuild` does (read the ledger over audit's HTTP API, its bulk export `GET /v1/ledger/export`,
normalise every envelope analytics counts as the live consumer does, fold the KPIs, replace
the facts table in one transaction), run in-process into a throw-away schema of the platform's
database, so the running analytics is not touched. Every ledger entry read counts as an
event, whether or not analytics counts its type. Also the fold alone, from entries already in
memory (no HTTP, no database), to show what the ledger read and the facts' COPY add.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import auth
from backbone.store import ensure_database
from bench.profile import cprofile
from services.analytics.adapters.ledger import Entry, ledger_export
from services.analytics.application.rebuild import fold_entries, rebuild
from services.analytics.entrypoints.consumer import CONSUMER
from services.analytics.settings import AnalyticsSettings


@dataclass(frozen=True)
class RebuildRun:
    envelopes: int
    facts: int
    seconds: float
    events_per_second: float
    fold_only_events_per_second: float


def _settings(pg_dbname: str) -> tuple[AnalyticsSettings, str]:
    settings = AnalyticsSettings(pg_dbname=pg_dbname, pg_schema=f"bench_rebuild_{uuid.uuid4().hex[:8]}")
    return settings, auth.mint(settings, sub="bench-rebuild", role="auditor", ttl_s=3600)


def _drop(settings: AnalyticsSettings) -> None:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(settings.schema)))


def profiled(audit_url: str, pg_dbname: str, limit: int | None = None) -> str:
    """One more rebuild (ledger read, fold, INSERTs) under cProfile, for docs/profiles."""
    settings, token = _settings(pg_dbname)
    try:
        ensure_database(settings)
        with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
            return cprofile(f"analytics rebuild from the ledger ({limit or 'all'} entries at most)",
                            lambda: rebuild(pool, settings.schema, CONSUMER,
                                            ledger_export(audit_url, token, limit=limit)))
    finally:
        _drop(settings)


def read(audit_url: str, limit: int | None = None) -> list[Entry]:
    """The ledger's first ``limit`` entries (for the fold alone, read once)."""
    settings = AnalyticsSettings()
    token = auth.mint(settings, sub="bench-rebuild", role="auditor", ttl_s=3600)
    return list(ledger_export(audit_url, token, limit=limit))


def measure(audit_url: str, pg_dbname: str, envelopes: list[Entry],
            limit: int | None = None) -> RebuildRun:
    """Rebuild from the ledger's first ``limit`` entries (all when None); the fold alone on
    ``envelopes`` (what ``read`` returned)."""
    settings, token = _settings(pg_dbname)
    try:
        ensure_database(settings)
        with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
            began = time.perf_counter()
            done = rebuild(pool, settings.schema, CONSUMER,
                           ledger_export(audit_url, token, limit=limit))
            seconds = time.perf_counter() - began
    finally:
        _drop(settings)
    began = time.perf_counter()
    fold_entries(envelopes)
    fold_s = time.perf_counter() - began
    return RebuildRun(done.envelopes, done.facts, round(seconds, 2),
                      round(done.envelopes / max(seconds, 1e-9)),
                      round(len(envelopes) / max(fold_s, 1e-9)))
