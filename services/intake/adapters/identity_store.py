"""Citizen keys at rest: one wrapped data key per citizen, in intake's schema.

Sealed identities themselves are `SealedContact` aggregates in intake's event store (written in
the ticket's own transaction); only the keys that open them live here, in a mutable table,
because crypto-shredding must really delete bytes.

`citizen_keys` holds one wrapped data key per citizen (pseudonym). Erasure deletes the key's
bytes and leaves a tombstone (`destroyed_at`), so `is_destroyed` stays true for good and a
sealed identity of that citizen can never be opened again (crypto-shredding). A citizen who
comes back after erasure gets a fresh key; their old records stay dead.

A new citizen's key is written by the transaction that saves their first sealed identity
(`claim`, a Statement for the recorder), so a submission costs one commit, not two, and a
sealed identity is never stored without its key. `claim_citizen_key` refuses (unique_violation,
rolling that transaction back) when a DIFFERENT live key is there: two first submissions of
one citizen through two processes, the loser seals again with the winner's key.

Keys are cached in the process: a returning citizen costs no round trip on the hot path.
A returning citizen's save holds the key it sealed with (`hold`, a Statement for the same
transaction: `hold_citizen_key` takes a share lock on the key row and fails the transaction,
KEY_GONE, if that key is no longer the stored one). So an erasure (`destroy`, an UPDATE of that
row) either commits first, and the save is refused and seals again with a fresh key (a cached
copy of the destroyed key, here or in another replica, is forgotten then), or waits for the
save's commit, and then lists the ticket among the citizen's (its index row commits with it):
no ticket commits sealed under a destroyed key unseen by the erasure (session 19).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import autocommit
from services.intake.adapters.recorder import Statement
from services.intake.domain.citizen import WrappedKey

KEY_RACE = "citizen key race"  # the message claim_citizen_key raises with
KEY_GONE = "citizen key gone"  # hold_citizen_key's: the key sealed with was destroyed/replaced


def create_tables(pool: ConnectionPool, schema: str) -> None:
    s = Identifier(schema)
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.citizen_keys ("
                         " citizen text PRIMARY KEY, master_key_id text, nonce bytea,"
                         " ciphertext bytea, created_at timestamptz NOT NULL DEFAULT now(),"
                         " destroyed_at timestamptz)").format(s))
        # SHA-256 of each wrapped key destroyed (never the key): a claim of one of them (a
        # request sealed with a new citizen's key before an erasure destroyed it, saved after)
        # must not bring it back to life over the tombstone
        # (an ALTER only where it lacks it: one takes the table's exclusive lock, even a no-op)
        if conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                        " AND table_name = 'citizen_keys' AND column_name = 'destroyed_keys'",
                        (schema,)).fetchone() is None:
            conn.execute(SQL("ALTER TABLE {}.citizen_keys ADD COLUMN IF NOT EXISTS"
                             " destroyed_keys bytea[]").format(s))
        # A tombstone (erased citizen who came back) takes the new key; the same key again
        # (two requests of one new citizen in one process) is no conflict; another key is.
        conn.execute(SQL(
            "CREATE OR REPLACE FUNCTION {}.claim_citizen_key(p_citizen text, p_master text,"
            " p_nonce bytea, p_ciphertext bytea) RETURNS void LANGUAGE plpgsql AS $$"
            " BEGIN"
            "  INSERT INTO {}.citizen_keys AS k (citizen, master_key_id, nonce, ciphertext)"
            "  VALUES (p_citizen, p_master, p_nonce, p_ciphertext)"
            "  ON CONFLICT (citizen) DO UPDATE SET master_key_id = EXCLUDED.master_key_id,"
            "   nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext"
            "   WHERE (k.ciphertext IS NULL AND NOT coalesce(sha256(EXCLUDED.ciphertext)"
            "    = ANY(k.destroyed_keys), false)) OR k.ciphertext = EXCLUDED.ciphertext;"
            "  IF NOT FOUND THEN"
            "   RAISE EXCEPTION '" + KEY_RACE + "' USING ERRCODE = 'unique_violation';"
            "  END IF;"
            " END $$").format(s, s))
        # A save sealed under a key already stored: that key must still be the stored one, and
        # it stays so until the save commits (FOR SHARE: an erasure's UPDATE waits for it; one
        # that committed first leaves no row with that key here: refused).
        conn.execute(SQL(
            "CREATE OR REPLACE FUNCTION {}.hold_citizen_key(p_citizen text, p_ciphertext bytea)"
            " RETURNS void LANGUAGE plpgsql AS $$"
            " BEGIN"
            "  PERFORM 1 FROM {}.citizen_keys WHERE citizen = p_citizen"
            "   AND ciphertext = p_ciphertext FOR SHARE;"
            "  IF NOT FOUND THEN"
            "   RAISE EXCEPTION '" + KEY_GONE + "' USING ERRCODE = 'unique_violation';"
            "  END IF;"
            " END $$").format(s, s))


KEYS_KEPT = 20_000  # ~390 bytes each: ~7.5 MB (docs/profiles/memory.md)


class PostgresCitizenKeyStore:
    """`CitizenKeyStore` on PostgreSQL, with a process cache of live keys: at most ``kept``
    of them, the least recently used forgotten first (it kept every citizen ever seen, for
    good). A forgotten key is read from the table again, with the rest of the submission's
    facts (application.submissions: `cached` says it is not held)."""

    def __init__(self, pool: ConnectionPool, schema: str, kept: int = KEYS_KEPT):
        self.pool = pool
        self.schema = Identifier(schema)
        self.table = SQL("{}.citizen_keys").format(self.schema)
        self.kept = kept
        self._cache: OrderedDict[str, WrappedKey] = OrderedDict()
        # composed once: a new citizen's every submission claims a key
        self._claim = SQL("SELECT {}.claim_citizen_key(%s, %s, %s, %s)").format(self.schema)
        self._hold = SQL("SELECT {}.hold_citizen_key(%s, %s)").format(self.schema).as_bytes(None)
        self._absent: set[str] = set()  # looked up just now, with no key: the next get reads not
        self._lock = threading.Lock()

    def _row(self, citizen: str) -> tuple[Any, ...] | None:
        with autocommit(self.pool) as conn:
            return conn.execute(
                SQL("SELECT master_key_id, nonce, ciphertext, destroyed_at FROM {}"
                    " WHERE citizen = %s").format(self.table), (citizen,)).fetchone()

    def get(self, citizen: str) -> WrappedKey | None:
        cached = self._cache.get(citizen)
        if cached is not None:
            with self._lock:
                if citizen in self._cache:  # (unless forgotten meanwhile)
                    self._cache.move_to_end(citizen)
            return cached
        if self._absent:
            with self._lock:
                if citizen in self._absent:
                    self._absent.discard(citizen)
                    return None
        row = self._row(citizen)
        if row is None or row[2] is None:
            return None
        key = WrappedKey(row[0], bytes(row[1]), bytes(row[2]))
        with self._lock:
            self._keep(citizen, key)
        return key

    def _keep(self, citizen: str, key: WrappedKey) -> None:
        """(with the lock held)"""
        cache = self._cache
        cache[citizen] = key
        cache.move_to_end(citizen)
        while len(cache) > self.kept:
            cache.popitem(last=False)

    def put(self, citizen: str, key: WrappedKey) -> None:
        """Store a new key; if another process stored one first, theirs wins (and is cached)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL("INSERT INTO {} AS k (citizen, master_key_id, nonce, ciphertext)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (citizen) DO UPDATE SET"
                    " master_key_id = EXCLUDED.master_key_id, nonce = EXCLUDED.nonce,"
                    " ciphertext = EXCLUDED.ciphertext"
                    " WHERE k.ciphertext IS NULL OR k.master_key_id <> EXCLUDED.master_key_id"
                    " RETURNING master_key_id").format(self.table),
                (citizen, key.master_key_id, key.nonce, key.ciphertext)).fetchone()
        with self._lock:
            self._cache.pop(citizen, None)
        if row is None:
            raise KeyRaceError(citizen)

    def claim(self, citizen: str, key: WrappedKey) -> Statement:
        """Store a new citizen's key in the caller's transaction, or fail it (KEY_RACE)."""
        return Statement(self._claim, (citizen, key.master_key_id, key.nonce, key.ciphertext),
                         lock=f"citizen_keys:{citizen}")

    def hold(self, citizen: str, key: WrappedKey) -> Statement:
        """Keep the citizen's stored key ``key`` (what a contact was sealed with) until the
        caller's transaction commits, or fail that transaction (KEY_GONE) if it was destroyed
        (an erasure) or replaced (a master key rotation) meanwhile."""
        return Statement(self._hold, (citizen, key.ciphertext), lock=f"citizen_keys:{citizen}")

    def remember(self, citizen: str, key: WrappedKey) -> None:
        with self._lock:
            self._keep(citizen, key)

    def cached(self, citizen: str) -> bool:
        return citizen in self._cache

    def looked_up(self, citizen: str, key: WrappedKey | None) -> None:
        """The caller read the citizen's key row (or found none) a moment ago: the next `get`
        answers from that instead of reading it again."""
        with self._lock:
            if key is not None:
                self._keep(citizen, key)
            else:
                if len(self._absent) >= self.kept:  # (never asked after: a get reads then)
                    self._absent.clear()
                self._absent.add(citizen)

    def forget(self, citizen: str) -> None:
        with self._lock:
            self._cache.pop(citizen, None)

    def destroy(self, citizen: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                SQL("INSERT INTO {} AS k (citizen, destroyed_at) VALUES (%s, now())"
                    " ON CONFLICT (citizen) DO UPDATE SET master_key_id = NULL, nonce = NULL,"
                    " ciphertext = NULL, destroyed_at = now(),"
                    " destroyed_keys = CASE WHEN k.ciphertext IS NULL THEN k.destroyed_keys"
                    " ELSE array_append(k.destroyed_keys, sha256(k.ciphertext)) END")
                .format(self.table), (citizen,))
        with self._lock:
            self._cache.pop(citizen, None)

    def is_destroyed(self, citizen: str) -> bool:
        row = self._row(citizen)
        return row is not None and row[3] is not None


def lost_key_race(exc: BaseException) -> bool:
    """Whether a failed save failed because the key it sealed with is not the stored one:
    claim_citizen_key found another key there, or hold_citizen_key found its key destroyed
    (an erasure committed first) or replaced. Either way: forget it, seal again, save again."""
    text = str(exc.__cause__ or exc)
    return KEY_RACE in text or KEY_GONE in text


class KeyRaceError(Exception):
    """Another process made this citizen's key at the same moment; seal again to use theirs."""

    def __init__(self, citizen: str):
        super().__init__("a concurrent request created this citizen's key; retry")
        self.citizen = citizen
