"""A new citizen's key is stored by the ticket's own transaction (identity_store.claim), and a
sealed identity is never saved under a key that lost a race with another process."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from backbone.store import Statement, ensure_database
from services.intake.adapters import attachment_store, identity_store
from services.intake.application.attachments import Attachments
from services.intake.application.sealing import ContactSealing
from services.intake.domain.citizen import (
    CitizenIdentity,
    IdentityErasedError,
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
    return vault, ContactSealing(vault, store.claim, store.hold)


def _saver(pool: ConnectionPool, calls: list[list[Statement]]):
    def save(aggregates: list, sql: list[Statement]) -> None:
        calls.append(sql)
        for a in aggregates:
            a.collect_events()  # what a real save does to the aggregates, even when it fails
        with pool.connection() as conn:
            for statement in sql:
                conn.execute(statement.sql, statement.params)
    return save


def _held(statement: Statement) -> bool:
    sql = statement.sql
    return b"hold_citizen_key" in (sql if isinstance(sql, bytes) else sql.as_bytes(None))


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
    # the key is now known: the next ticket of this citizen claims nothing, it holds the key
    _, again = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC), in_transaction=True)
    assert again is not None and not again.new and again.key == claim.key


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
    # refused once, then saved holding the winner's key (claiming none)
    assert len(calls) == 2 and [_held(s) for s in calls[1]] == [True]
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


def test_a_save_sealed_under_a_key_an_erasure_destroyed_since_seals_again_with_a_fresh_one(
        keys):
    """Session 19: a returning citizen's contact, sealed under their stored (cached) key, whose
    save comes after an erasure destroyed that key, is refused and sealed again under a fresh
    key; it never commits under the destroyed one (unreadable, and unseen by the erasure)."""
    pool, schema = keys
    vault, sealing = _process(pool, schema)
    who, citizen = CitizenIdentity(name="孙八", phone="13900005555"), f"c-{uuid.uuid4().hex}"
    old = vault.seal(citizen, who)
    contact, held = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                 in_transaction=True)
    assert held is not None and not held.new
    other, _ = _process(pool, schema)
    other.erase(citizen)  # another replica: this process's cache still has the old key
    calls: list[list[Statement]] = []
    [saved] = sealing.save(_saver(pool, calls), [contact], held, who)
    assert len(calls) == 2 and _held(calls[0][0]) and not _held(calls[1][0])  # then a claim
    assert saved is not contact and vault.open(saved.sealed) == who  # the fresh key opens it
    with pytest.raises(IdentityErasedError):
        vault.open(old)  # what the destroyed key sealed stays dead


def test_an_erasure_waits_for_a_save_that_holds_the_key(keys):
    """The other order: the save's hold comes first; the erasure's destroy waits for its
    commit (and then lists the ticket, committed with its index row)."""
    pool, schema = keys
    vault, sealing = _process(pool, schema)
    who, citizen = CitizenIdentity(phone="13900006666"), f"c-{uuid.uuid4().hex}"
    vault.seal(citizen, who)
    _, held = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC), in_transaction=True)
    assert held is not None
    done = threading.Event()
    with pool.connection() as conn:
        conn.execute(held.statement.sql, held.statement.params)  # the save's transaction
        eraser = threading.Thread(target=lambda: (_process(pool, schema)[0].erase(citizen),
                                                  done.set()))
        eraser.start()
        assert not done.wait(0.5)  # blocked by the hold
        assert _stored_key(pool, schema, citizen) == held.key.ciphertext
    eraser.join(10)  # committed: the erasure goes on
    assert done.is_set() and _stored_key(pool, schema, citizen) is None


def test_a_claim_of_a_new_key_destroyed_meanwhile_does_not_bring_it_back(keys):
    """Two requests of one new citizen share a key; the first commits, an erasure destroys
    the key, then the second claims it: the tombstone refuses THAT key (a race lost: sealed
    again under a fresh one), or the first ticket's erased contact would open again."""
    pool, schema = keys
    vault, sealing = _process(pool, schema)
    who, citizen = CitizenIdentity(phone="13900007777"), f"c-{uuid.uuid4().hex}"
    first, claim1 = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                 in_transaction=True)
    second, claim2 = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                  in_transaction=True)
    assert claim1 is not None and claim2 is not None and claim1.key == claim2.key
    sealing.save(_saver(pool, []), [first], claim1, who)
    _process(pool, schema)[0].erase(citizen)  # another replica erases
    calls: list[list[Statement]] = []
    [saved] = sealing.save(_saver(pool, calls), [second], claim2, who)
    assert len(calls) == 2  # refused once
    assert _stored_key(pool, schema, citizen) not in (None, claim1.key.ciphertext)
    assert vault.open(saved.sealed) == who
    with pytest.raises(IdentityErasedError):
        vault.open(first.sealed)  # stays dead


def test_on_the_bus_the_unit_of_work_holds_the_key_and_a_retry_reads_it_afresh(keys):
    """The bus seals outside the saving transaction (a new key is stored at once) and its unit
    of work runs the hold: an erasure that destroyed the key since fails it, and the request
    applied again (the consumer's retry) seals under a fresh key, not the cached one."""
    pool, schema = keys
    vault, sealing = _process(pool, schema)
    who, citizen = CitizenIdentity(phone="13900008888"), f"c-{uuid.uuid4().hex}"
    _, made = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC), in_transaction=False)
    assert made is not None and not made.new  # stored already: held, not claimed
    assert _stored_key(pool, schema, citizen) == made.key.ciphertext
    contact, held = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                 in_transaction=False)
    assert held is not None and held.key == made.key
    _process(pool, schema)[0].erase(citizen)  # another replica
    with (pytest.raises(psycopg.errors.UniqueViolation, match=identity_store.KEY_GONE),
          pool.connection() as conn):
        conn.execute(held.statement.sql, held.statement.params)
    again, fresh = sealing.seal(uuid.uuid4(), citizen, who, datetime.now(UTC),
                                in_transaction=False)
    assert fresh is not None and fresh.key != held.key
    with pool.connection() as conn:
        conn.execute(fresh.statement.sql, fresh.statement.params)
    assert vault.open(again.sealed) == who
    with pytest.raises(IdentityErasedError):
        vault.open(contact.sealed)


def test_a_tickets_files_are_kept_only_under_its_key_while_that_key_is_stored(keys):
    """The copies made after a ticket's save are sealed under the key its contact was sealed
    with and stored only while that key is the stored one: if an erasure destroyed it
    meanwhile, no copy is stored (none under a key made afresh, which would open)."""
    pool, schema = keys
    attachment_store.create_table(pool, schema)
    vault, _ = _process(pool, schema)
    store = attachment_store.AttachmentStore(pool, schema)
    files = Attachments(store, vault)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + uuid.uuid4().bytes + b"\x00" * 16
    found, _ = files.upload(png)
    keys_of = identity_store.PostgresCitizenKeyStore(pool, schema)
    kept, gone = f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    for citizen in (kept, gone):
        vault.seal(citizen, CitizenIdentity(phone="13900009999"))
    kept_key, gone_key = keys_of.get(kept), keys_of.get(gone)
    files.keep_for(kept, [found.sha256], key=kept_key)
    copy = store.copy(found.sha256, kept)
    assert copy is not None and vault.open_bytes(kept, *copy, found.sha256) == png
    _process(pool, schema)[0].erase(gone)  # another replica; this one still caches the key
    files.keep_for(gone, [found.sha256], key=gone_key)
    assert store.copy(found.sha256, gone) is None
