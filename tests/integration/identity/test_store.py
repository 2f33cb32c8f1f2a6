"""The identity store on the real PostgreSQL: a pooled connection is handed back as it was
taken (a read that wants dict rows asks its own cursor for them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from services.identity.adapters.store import IdentityStore, create_tables
from services.identity.domain.accounts import StaffAccount
from services.identity.domain.lockout import LockoutPolicy
from tests import janitor


def test_listing_the_accounts_leaves_the_pooled_connection_as_it_was(infra):
    schema = f"identity_{janitor.claim(uuid.uuid4().hex[:10])}"
    try:
        # one connection: every call below takes the one `all()` used
        with ConnectionPool(infra.pg_conninfo(), min_size=1, max_size=1) as pool:
            create_tables(pool, schema)
            store = IdentityStore(pool, schema)
            assert store.add(StaffAccount("li.wei", "李伟", "dispatcher"), "hash")
            listed = store.all()
            assert [(r["username"], r["display_name"]) for r in listed] == [("li.wei", "李伟")]
            found = store.get("li.wei")  # tuple rows again, not the listing's dicts
            assert found is not None and found[0].username == "li.wei" and found[1] == "hash"
            failures = store.record_failure("li.wei", LockoutPolicy(), datetime.now(UTC))
            assert store.lock_state("li.wei") == failures
    finally:
        with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
