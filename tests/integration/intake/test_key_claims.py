"""A new citizen's key is stored by the ticket's own transaction (identity_store.claim), and a
sealed identity is never saved under a key that lost a race with another process."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from backbone.store import Statement, ensure_database
from services.intake.adapters import identity_store
from services.intake.application.sealing import ContactSealing
from services.intake.domain.citizen import (
    CitizenIdentity,
    IdentityTamperedError,
    IdentityVault,
)
from services.intake.domain.sealed_contact import SealedContact
from services.intake.settings import IntakeSettings

pytestmark = pytest.mark.integration
MASTER = {"m1": os.urandom(32)}


@pytest.fixture
def keys(infra, unique):
    settings = IntakeSettings(environment="test", pg_dbname="intake_it", pg_schema=f"keys_{unique}")
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4) as pool:
        identity_store.create_tables(pool, settings.schema)
        yield pool, settings.schema


def _process(pool: ConnectionPool, schema: str) -> tuple[IdentityVault, ContactSealing]:
    """What one intake process holds: its own key cache and vault over the shared table."""
    store = identity_store.PostgresCitizenKeyStore(pool, schema)
    vault = IdentityVault(store, MASTER, "m1")
    return vault, ContactSealing(vault, store.claim)


def _saver(pool: ConnectionPool, calls: list[list[Statement]]):
    def save(aggregates: list, sql: list[Statement]) -> None:
        calls.append(sql)
        for a in aggregates:
            a.collect_events()  # what a real save does to the aggregates, even when it fails
        with pool.connection() as conn:
            for statement in sql:
                conn.execute(statement.sql, statement.params)
    return save


def _stored_key(pool: ConnectionPool, schema: str, citizen: str) -> bytes | None:
    with pool.connection() as conn:
        row = conn.execute(f'SELECT ciphertext FROM "{schema}".citizen_keys WHERE citizen = %s',
                           (citizen,)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


def test_a_new_citizens_key_commits_with_the_first_save(keys):
    pool, schema = keys
    vault, sealing = _process(pool, schema)
    who, citizen = CitizenIdentity(name="赵六", phone="13900001111"), f"c-{uuid.uuid4().hex}"
    contact, claim = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                  in_transaction=True)
    assert claim is not None and _stored_key(pool, schema, citizen) is None  # not yet
    calls: list[list[Statement]] = []
    sealing.save(_saver(pool, calls), [contact], claim, who)
    assert _stored_key(pool, schema, citizen) == claim.key.ciphertext
    assert vault.open(contact.sealed) == who
    # the key is now known: the next ticket of this citizen claims nothing
    _, again = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC), in_transaction=True)
    assert again is None


def test_two_requests_of_one_new_citizen_in_one_process_share_the_key(keys):
    pool, schema = keys
    _, sealing = _process(pool, schema)
    who, citizen = CitizenIdentity(phone="13900002222"), f"c-{uuid.uuid4().hex}"
    _, first = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC), in_transaction=True)
    _, second = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC), in_transaction=True)
    assert first is not None and second is not None and first.key == second.key
    with pool.connection() as conn:  # both claims in one group-commit transaction: no conflict
        for claim in (first, second):
            conn.execute(claim.statement.sql, claim.statement.params)
    assert _stored_key(pool, schema, citizen) == first.key.ciphertext


def test_the_loser_of_a_key_race_seals_again_with_the_winners_key(keys):
    pool, schema = keys
    _, my_sealing = _process(pool, schema)
    theirs, _ = _process(pool, schema)  # another intake process
    who, citizen = CitizenIdentity(name="钱七", phone="13900003333"), f"c-{uuid.uuid4().hex}"
    contact, claim = my_sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                     in_transaction=True)
    assert claim is not None
    theirs.seal(citizen, who)  # the other process stores ITS new key first
    winner = _stored_key(pool, schema, citizen)
    assert winner is not None and winner != claim.key.ciphertext

    calls: list[list[Statement]] = []
    saved = my_sealing.save(_saver(pool, calls), [contact], claim, who)
    assert len(calls) == 2 and calls[1] == []  # refused once, then saved without a claim
    assert _stored_key(pool, schema, citizen) == winner
    [resealed] = saved
    assert isinstance(resealed, SealedContact) and resealed.pending_events == []
    assert theirs.open(resealed.sealed) == who  # readable with the key that is stored
    with pytest.raises(IdentityTamperedError):
        theirs.open(contact.sealed)  # what the lost key sealed was never saved


def test_a_claim_refuses_a_different_live_key_and_takes_over_a_tombstone(keys):
    pool, schema = keys
    vault, _ = _process(pool, schema)
    store = identity_store.PostgresCitizenKeyStore(pool, schema)
    citizen = f"c-{uuid.uuid4().hex}"
    vault.seal(citizen, CitizenIdentity(phone="13900004444"))
    _, other = IdentityVault(identity_store.PostgresCitizenKeyStore(pool, schema), MASTER,
                             "m1").seal_unsaved(f"{citizen}-x", CitizenIdentity(phone="1"))
    assert other is not None
    refused = store.claim(citizen, other)
    with (pytest.raises(psycopg.errors.UniqueViolation, match=identity_store.KEY_RACE),
          pool.connection() as conn):
        conn.execute(refused.sql, refused.params)
    vault.erase(citizen)  # tombstone: a citizen who comes back gets a fresh key
    with pool.connection() as conn:
        claim = store.claim(citizen, other)
        conn.execute(claim.sql, claim.params)
    assert _stored_key(pool, schema, citizen) == other.ciphertext
    assert store.is_destroyed(citizen)  # erased once stays true


def test_the_key_cache_is_bounded_and_a_forgotten_key_is_read_again(keys):
    """At most `kept` keys stay in memory, the least recently used go first; a forgotten
    citizen's key is read from the table: the same key, and the same identity opened."""
    pool, schema = keys
    try:
        writer = identity_store.PostgresCitizenKeyStore(pool, schema)
        vault = IdentityVault(writer, MASTER, "m1")
        citizens = [f"citizen-{n}-{uuid.uuid4().hex}" for n in range(6)]
        sealed = [vault.seal(c, CitizenIdentity(name=f"张{n}", phone=f"1381234567{n}"))
                  for n, c in enumerate(citizens)]
        stored = [_stored_key(pool, schema, c) for c in citizens]
        assert all(stored)
        store = identity_store.PostgresCitizenKeyStore(pool, schema, kept=2)
        reader = IdentityVault(store, MASTER, "m1")
        for n, c in enumerate(citizens):
            assert store.get(c).ciphertext == stored[n]
            assert len(store._cache) <= 2
        assert list(store._cache) == citizens[4:]
        store.get(citizens[4])  # used: the newest now, citizens[5] goes first
        store.remember(citizens[0], writer.get(citizens[0]))
        assert list(store._cache) == [citizens[4], citizens[0]]
        for n, c in enumerate(citizens):  # forgotten or kept: the same key, the same identity
            assert store.get(c).ciphertext == stored[n]
            assert reader.open(sealed[n]).phone == f"1381234567{n}"
            assert len(store._cache) <= 2
    finally:
        with pool.connection() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
