"""Attachments at rest, encrypted, in intake's schema (see application/attachments.py).

`attachment_uploads`: one row per content hash: the type and size (no personal data) and,
while the upload waits for its ticket, its bytes sealed under a key of its own (wrapped by
intake's master key and kept in the same row). Shredding nulls the key and the bytes.

`attachment_copies`: the bytes sealed under the key of the citizen whose ticket carries them
(owner = pseudonym, or ``ticket:<id>`` for an anonymous ticket), one row per (hash, owner).
Erasing the citizen destroys that key (crypto-shredding) and deletes these rows.

Events only ever carry the reference (the SHA-256).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import autocommit
from services.intake.domain.attachments import Attachment
from services.intake.domain.citizen import WrappedKey


def create_table(pool: ConnectionPool, schema: str) -> None:
    s = Identifier(schema)
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.attachment_uploads ("
                         " sha256 text PRIMARY KEY, media_type text NOT NULL, kind text NOT NULL,"
                         " size bigint NOT NULL, key_master text, key_nonce bytea, key_ct bytea,"
                         " nonce bytea, ciphertext bytea,"
                         " stored_at timestamptz NOT NULL DEFAULT now(), shredded_at timestamptz)"
                         ).format(s))
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.attachment_copies ("
                         " sha256 text NOT NULL, owner text NOT NULL, nonce bytea NOT NULL,"
                         " ciphertext bytea NOT NULL, sealed_at timestamptz NOT NULL DEFAULT now(),"
                         " PRIMARY KEY (sha256, owner))").format(s))
        conn.execute(SQL("CREATE INDEX IF NOT EXISTS attachment_copies_owner"
                         " ON {}.attachment_copies (owner)").format(s))
        # the expiry sweep reads the upload copies still there, oldest first (not the table)
        conn.execute(SQL("CREATE INDEX IF NOT EXISTS attachment_uploads_pending"
                         " ON {}.attachment_uploads (stored_at) WHERE ciphertext IS NOT NULL")
                     .format(s))


@dataclass(frozen=True)
class StoredAttachment:
    sha256: str
    media_type: str
    kind: str
    size: int
    pending: bool = False  # its upload copy (sealed for intake) is still there


@dataclass(frozen=True)
class PendingUpload:
    meta: StoredAttachment
    key: WrappedKey
    nonce: bytes
    ciphertext: bytes


def usable_statement(schema: str) -> str:
    """The attachments new tickets may carry, for several submissions at once (numbered 0..n-1,
    each with its hashes and its citizen): an upload copy is there, or the citizen has a copy
    of their own. Rows (n, sha256, media type, kind, size, pending), read by `usable_found`.
    The one statement of the rule: `AttachmentStore.usable` (one submission) and the event
    loop's batched reads (adapters/submission_reads.py) both run it."""
    s = Identifier(schema)
    return SQL(
        "SELECT x.n, u.sha256, u.media_type, u.kind, u.size, u.ciphertext IS NOT NULL"
        " FROM unnest(%s::int[], %s::text[], %s::text[]) AS x(n, sha, owner)"
        " JOIN {s}.attachment_uploads AS u ON u.sha256 = x.sha"
        " WHERE u.ciphertext IS NOT NULL OR EXISTS (SELECT 1 FROM {s}.attachment_copies"
        " AS c WHERE c.sha256 = u.sha256 AND c.owner = x.owner)").format(s=s).as_string()


def usable_parameters(asks: list[tuple[list[str], str]]
                      ) -> tuple[list[int], list[str], list[str]]:
    """`usable_statement`'s arrays for ``asks`` ((hashes, citizen) per submission, in order)."""
    ns: list[int] = []
    shas: list[str] = []
    owners: list[str] = []
    for n, (hashes, owner) in enumerate(asks):
        ns.extend([n] * len(hashes))
        shas.extend(hashes)
        owners.extend([owner] * len(hashes))
    return ns, shas, owners


def usable_found(rows: list[Any], count: int) -> list[dict[str, StoredAttachment]]:
    """`usable_statement`'s rows as each of ``count`` submissions' usable attachments."""
    found: list[dict[str, StoredAttachment]] = [{} for _ in range(count)]
    for n, sha, media_type, kind, size, pending in rows:
        found[n][sha] = StoredAttachment(sha, media_type, kind, int(size), bool(pending))
    return found


class AttachmentStore:
    """Each method of one statement runs it in autocommit (one round trip: no BEGIN and
    COMMIT around a lone read or a write atomic alone); `shred` is one transaction."""

    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.schema = schema
        self.uploads = SQL("{}.attachment_uploads").format(Identifier(schema))
        self.copies = SQL("{}.attachment_copies").format(Identifier(schema))
        # a submission's attachments, on every submission that carries any: composed once
        self._usable = usable_statement(schema)

    def put(self, attachment: Attachment, key: WrappedKey, nonce: bytes, ciphertext: bytes
            ) -> bool:
        """Store an upload's sealed bytes once; True when the hash is new. A hash whose upload
        copy was shredded (expired, or erased) takes the new one."""
        with autocommit(self.pool) as conn:
            row = conn.execute(
                SQL("INSERT INTO {} AS u (sha256, media_type, kind, size, key_master, key_nonce,"
                    " key_ct, nonce, ciphertext) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (sha256) DO UPDATE SET key_master = EXCLUDED.key_master,"
                    " key_nonce = EXCLUDED.key_nonce, key_ct = EXCLUDED.key_ct,"
                    " nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,"
                    " stored_at = now(), shredded_at = NULL WHERE u.ciphertext IS NULL"
                    " RETURNING (xmax = 0)").format(self.uploads),
                (attachment.sha256, attachment.mime, attachment.kind, attachment.size,
                 key.master_key_id, key.nonce, key.ciphertext, nonce, ciphertext)).fetchone()
        return bool(row and row[0])

    def describe(self, hashes: list[str]) -> dict[str, StoredAttachment]:
        """What is known of these hashes (one round trip; unknown hashes are absent)."""
        if not hashes:
            return {}
        with autocommit(self.pool) as conn:
            rows = conn.execute(
                SQL("SELECT sha256, media_type, kind, size, ciphertext IS NOT NULL FROM {}"
                    " WHERE sha256 = ANY(%s)").format(self.uploads), (hashes,)).fetchall()
        return {r[0]: StoredAttachment(r[0], r[1], r[2], int(r[3]), bool(r[4])) for r in rows}

    def usable(self, hashes: list[str], owner: str) -> dict[str, StoredAttachment]:
        """The hashes a new ticket of ``owner`` may carry: an upload copy is there, or
        ``owner`` has a copy of its own (`describe` and `owned` in one round trip)."""
        if not hashes:
            return {}
        asks = [(hashes, owner)]
        with autocommit(self.pool) as conn:
            rows = conn.execute(self._usable, usable_parameters(asks)).fetchall()
        return usable_found(rows, len(asks))[0]

    def pending(self, sha256: str) -> PendingUpload | None:
        with autocommit(self.pool) as conn:
            row = conn.execute(
                SQL("SELECT sha256, media_type, kind, size, key_master, key_nonce, key_ct, nonce,"
                    " ciphertext FROM {} WHERE sha256 = %s AND ciphertext IS NOT NULL")
                .format(self.uploads), (sha256,)).fetchone()
        if row is None:
            return None
        return PendingUpload(StoredAttachment(row[0], row[1], row[2], int(row[3]), True),
                             WrappedKey(row[4], bytes(row[5]), bytes(row[6])), bytes(row[7]),
                             bytes(row[8]))

    def pending_without_copy(self, hashes: list[str], owner: str) -> dict[str, PendingUpload]:
        """The upload copies of these hashes that ``owner`` has no copy of yet (one round
        trip: what `owned` and then `pending` per hash read)."""
        if not hashes:
            return {}
        with autocommit(self.pool) as conn:
            rows = conn.execute(
                SQL("SELECT u.sha256, u.media_type, u.kind, u.size, u.key_master, u.key_nonce,"
                    " u.key_ct, u.nonce, u.ciphertext FROM {} AS u WHERE u.sha256 = ANY(%s)"
                    " AND u.ciphertext IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} AS c"
                    " WHERE c.sha256 = u.sha256 AND c.owner = %s)")
                .format(self.uploads, self.copies), (hashes, owner)).fetchall()
        return {r[0]: PendingUpload(StoredAttachment(r[0], r[1], r[2], int(r[3]), True),
                                    WrappedKey(r[4], bytes(r[5]), bytes(r[6])), bytes(r[7]),
                                    bytes(r[8])) for r in rows}

    def put_copies(self, owner: str, copies: list[tuple[str, bytes, bytes]],
                   held: WrappedKey | None = None) -> bool:
        """Several (sha256, nonce, ciphertext) copies for ``owner`` in one statement.
        ``held``: the owner's key that sealed them; they are stored only while it is still
        the owner's stored key (a share lock on its row: an erasure's destroy waits, then
        shreds them), never once it was destroyed. False: not stored (destroyed)."""
        if not copies:
            return True
        guard: Composable = SQL("")
        extra: tuple[Any, ...] = ()
        if held is not None:
            guard = SQL(" WHERE EXISTS (SELECT 1 FROM {}.citizen_keys WHERE citizen = %s"
                        " AND ciphertext = %s FOR SHARE)").format(Identifier(self.schema))
            extra = (owner, held.ciphertext)
        with autocommit(self.pool) as conn:
            cur = conn.execute(SQL("INSERT INTO {} (sha256, owner, nonce, ciphertext)"
                                   " SELECT h, %s, n, c FROM unnest(%s::text[], %s::bytea[],"
                                   " %s::bytea[]) AS x(h, n, c){} ON CONFLICT DO NOTHING")
                               .format(self.copies, guard),
                               (owner, [c[0] for c in copies], [c[1] for c in copies],
                                [c[2] for c in copies], *extra))
            return held is None or cur.rowcount > 0 or self._held(conn, owner, held)

    def _held(self, conn: Any, owner: str, key: WrappedKey) -> bool:
        """(nothing inserted: the copies were there already, or the key is gone)"""
        return conn.execute(SQL("SELECT 1 FROM {}.citizen_keys WHERE citizen = %s"
                                " AND ciphertext = %s").format(Identifier(self.schema)),
                            (owner, key.ciphertext)).fetchone() is not None

    def owned(self, hashes: list[str], owner: str) -> set[str]:
        """Which of these hashes have a copy sealed for ``owner``."""
        if not hashes:
            return set()
        with autocommit(self.pool) as conn:
            rows = conn.execute(SQL("SELECT sha256 FROM {} WHERE owner = %s AND sha256 = ANY(%s)")
                                .format(self.copies), (owner, hashes)).fetchall()
        return {r[0] for r in rows}

    def copy(self, sha256: str, owner: str) -> tuple[bytes, bytes] | None:
        with autocommit(self.pool) as conn:
            row = conn.execute(SQL("SELECT nonce, ciphertext FROM {} WHERE sha256 = %s"
                                   " AND owner = %s").format(self.copies),
                               (sha256, owner)).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def put_copy(self, sha256: str, owner: str, nonce: bytes, ciphertext: bytes) -> None:
        with autocommit(self.pool) as conn:
            conn.execute(SQL("INSERT INTO {} (sha256, owner, nonce, ciphertext)"
                             " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING")
                         .format(self.copies), (sha256, owner, nonce, ciphertext))

    def shred(self, hashes: list[str], owner: str) -> None:
        """Erasure: delete the owner's copies and the upload copies of these hashes."""
        with self.pool.connection() as conn:
            conn.execute(SQL("DELETE FROM {} WHERE owner = %s").format(self.copies), (owner,))
            if hashes:
                conn.execute(SQL("UPDATE {} SET key_master = NULL, key_nonce = NULL,"
                                 " key_ct = NULL, nonce = NULL, ciphertext = NULL,"
                                 " shredded_at = now() WHERE sha256 = ANY(%s)")
                             .format(self.uploads), (hashes,))

    def expire(self, older_than_s: float) -> int:
        """Shred upload copies older than this (their tickets hold their own copies by then).
        Run on a timer (entrypoints/upload_sweep.py), not per upload; the partial index
        `attachment_uploads_pending` finds the old copies without reading the table."""
        with autocommit(self.pool) as conn:
            cur = conn.execute(
                SQL("UPDATE {} SET key_master = NULL, key_nonce = NULL, key_ct = NULL,"
                    " nonce = NULL, ciphertext = NULL, shredded_at = now()"
                    " WHERE ciphertext IS NOT NULL"
                    " AND stored_at < now() - make_interval(secs => %s)").format(self.uploads),
                (older_than_s,))
            return cur.rowcount

    def legacy_clear(self) -> list[tuple[str, bytes]]:
        """Rows of the old `attachments` table (clear bytes), if it is still there."""
        with self.pool.connection() as conn:
            found = conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
                                 " AND table_name = 'attachments'", (self.schema,)).fetchone()
            if not found:
                return []
            rows = conn.execute(SQL("SELECT sha256, content FROM {}.attachments")
                                .format(Identifier(self.schema))).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def drop_legacy(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(SQL("DROP TABLE IF EXISTS {}.attachments").format(Identifier(self.schema)))
