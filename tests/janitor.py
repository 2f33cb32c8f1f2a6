"""What the tests made on the shared broker and database, and its removal.

Every test resource is named after a random id (topics and consumer groups through a topic
prefix such as ``t<id>.``, schemas such as ``audit_<id>``, e2e databases ``e2e_<id>``). A test,
fixture or harness that makes such an id claims it here; at the end of the session (and when an
e2e platform stops) everything carrying a claimed id is deleted: topics, consumer groups,
schemas, databases. Only claimed ids are touched, so two test runs side by side on one
machine never delete each other's things, and a developer's demo is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections import defaultdict
from pathlib import Path

import psycopg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from psycopg.sql import SQL, Identifier

from backbone.settings import ServiceSettings

_claimed: set[str] = set()
_logs: set[Path] = set()
ID = re.compile(r"^[0-9a-f]{6,32}$")


def claim(resource_id: str) -> str:
    """Mark ``resource_id`` (the random part of test names) for removal; returns it."""
    if not ID.match(resource_id):
        raise ValueError(f"a test resource id is 6-32 lower-case hex digits, not {resource_id!r}")
    _claimed.add(resource_id)
    return resource_id


def claimed() -> set[str]:
    return set(_claimed)


def log(path: Path) -> Path:
    """Mark a log file or folder a harness writes under .data for removal at the end of a
    run in which no test failed (kept when one did: the logs say why); returns it."""
    _logs.add(Path(path))
    return path


def sweep_logs() -> int:
    """Delete every log marked with ``log``; returns how many there were."""
    gone = 0
    for path in sorted(_logs):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            gone += 1
        elif path.exists():
            path.unlink(missing_ok=True)
            gone += 1
    _logs.clear()
    return gone


def _mine(name: str, ids: set[str]) -> bool:
    return any(i in name for i in ids)


def sweep(ids: set[str] | None = None, settings: ServiceSettings | None = None) -> dict[str, int]:
    """Delete every topic, consumer group, schema and database named with one of ``ids``
    (default: all claimed so far). Returns how many of each went."""
    ids = set(ids if ids is not None else _claimed)
    settings = settings or ServiceSettings()
    if not ids:
        return {"topics": 0, "groups": 0, "schemas": 0, "databases": 0}
    gone = asyncio.run(_sweep_kafka(settings, ids))
    gone |= _sweep_postgres(settings, ids)
    _claimed.difference_update(ids)
    return gone


async def _sweep_kafka(settings: ServiceSettings, ids: set[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=60_000)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if _mine(t, ids)]
        for i in range(0, len(topics), 50):  # a few at a time: one huge request times out
            await admin.delete_topics(topics[i:i + 50], timeout_ms=60_000)
        groups = [g[0] for g in await admin.list_consumer_groups() if _mine(g[0], ids)]
        return {"topics": len(topics), "groups": await _delete_groups(admin, groups)}
    finally:
        await admin.close()


async def _delete_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> int:
    """aiokafka's admin client has no delete_consumer_groups: the DeleteGroups request (API 42)
    to each group's coordinator. Returns how many went; a group that still has members (a
    process killed with -9 stays a member until its session times out) is refused and left."""
    by_coordinator: dict[int, list[str]] = defaultdict(list)
    for group in groups:
        by_coordinator[await admin.find_coordinator(group)].append(group)
    deleted = 0
    for node, names in by_coordinator.items():
        response = await admin._send_request(DeleteGroupsRequest(names), node)
        deleted += sum(1 for _, error_code in response.results if error_code == 0)
    return deleted


def _sweep_postgres(settings: ServiceSettings, ids: set[str]) -> dict[str, int]:
    """Databases named with an id go whole; schemas named with one go from every database
    (services keep their schemas in several: minsheng, intake_it, e2e_<id>, ...)."""
    schemas = databases = 0
    admin = settings.model_copy(update={"pg_dbname": "postgres"})
    with psycopg.connect(admin.pg_conninfo(), autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate")]
        for name in [n for n in names if _mine(n, ids)]:
            conn.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))
            databases += 1
    for dbname in [n for n in names if not _mine(n, ids)]:
        where = settings.model_copy(update={"pg_dbname": dbname})
        with contextlib.suppress(psycopg.OperationalError), \
                psycopg.connect(where.pg_conninfo(), autocommit=True) as conn:
            for (name,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall():
                if _mine(name, ids):
                    conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(name)))
                    schemas += 1
    return {"schemas": schemas, "databases": databases}
