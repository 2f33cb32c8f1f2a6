"""The database itself refuses to change the ledger: privileges for the service's role,
triggers for everyone (even a superuser, unless they switch the triggers off)."""

from __future__ import annotations

import psycopg
import pytest

from tests import janitor
from tests.integration.audit.stored_ledger import build_ledger

pytestmark = pytest.mark.integration

CHANGES = [
    "UPDATE {s}.{t} SET {c} = {c}",
    "DELETE FROM {s}.{t}",
    "TRUNCATE {s}.{t}",
]
TABLES = {"ledger": "event", "merkle_node": "hash", "checkpoints": "note", "access_log": "sub"}


@pytest.fixture(scope="module")
def ledger(infra, tmp_path_factory):
    import uuid

    stored = build_ledger(infra, janitor.claim(uuid.uuid4().hex[:10]), tmp_path_factory.mktemp("key"),
                          tickets=2, checkpoint_at=(20,))
    with stored.parts.pool.connection() as conn:  # one access-log row, so DELETE has a target
        conn.execute(f'INSERT INTO "{stored.settings.schema}".access_log'
                     " (sub, role, unit, action, target, via) VALUES ('a','auditor','','t','x','t')")
    yield stored
    stored.close()


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("change", CHANGES)
def test_the_service_role_may_not_change_the_ledger(ledger, table, change):
    sql = change.format(s=f'"{ledger.settings.schema}"', t=table, c=TABLES[table])
    with ledger.parts.pool.connection() as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege) as refused:
        conn.execute(sql)
    assert "permission denied" in str(refused.value)


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("change", CHANGES)
def test_even_a_superuser_is_refused_by_the_triggers(ledger, table, change):
    sql = change.format(s=f'"{ledger.settings.schema}"', t=table, c=TABLES[table])
    with psycopg.connect(ledger.settings.pg_conninfo()) as conn, pytest.raises(
            psycopg.errors.InsufficientPrivilege) as refused:
        conn.execute(sql)
    assert "append-only" in str(refused.value)


def test_nothing_was_changed(ledger):
    report = ledger.parts.verification.verify()
    assert report["ok"] and report["ledger_size"] == ledger.size == 20
