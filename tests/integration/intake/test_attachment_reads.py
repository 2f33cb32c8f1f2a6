"""A submission's attachments looked up on the event loop (SubmissionReads.usable), batched
with the other submissions waiting: the same answer as AttachmentStore.usable, which a worker
thread ran for every submission with files before."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta

import pytest
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.settings import ServiceSettings
from services.intake.adapters import attachment_store
from services.intake.adapters.submission_reads import SubmissionReads
from services.intake.domain.attachments import Attachment
from services.intake.domain.citizen import WrappedKey
from tests import janitor

pytestmark = pytest.mark.integration


@pytest.fixture
def store_and_reads():
    settings = ServiceSettings()
    schema = f"ar_{janitor.claim(uuid.uuid4().hex[:10])}"
    conninfo = settings.pg_conninfo().replace(f"dbname={settings.pg_dbname}", "dbname=postgres")
    pool = ConnectionPool(conninfo, min_size=1, max_size=2, open=True)
    with pool.connection() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    attachment_store.create_table(pool, schema)
    reads = SubmissionReads(conninfo, schema, citizen_capacity=5, citizen_rate=1,
                            answered_window=timedelta(days=30))
    yield attachment_store.AttachmentStore(pool, schema), reads, pool, schema
    asyncio.run(reads.close())
    with pool.connection() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    pool.close()


def test_usable_on_the_loop_is_the_stores_answer_for_every_case(store_and_reads):
    store, reads, pool, schema = store_and_reads
    shas = [os.urandom(32).hex() for _ in range(6)]
    key = WrappedKey("m1", b"n" * 12, b"k" * 48)
    for i, sha in enumerate(shas[:5]):
        store.put(Attachment(sha256=sha, mime="image/png", kind="image", size=100 + i), key,
                  b"n" * 12, b"sealed")
    # shas[0], [1]: upload copies there; [2]: shredded, a copy of citizen-a's; [3]: shredded,
    # a copy of someone else's; [4]: shredded, no copy; [5]: never uploaded
    with pool.connection() as conn:
        conn.execute(SQL("UPDATE {}.attachment_uploads SET ciphertext = NULL, nonce = NULL"
                         " WHERE sha256 = ANY(%s)").format(Identifier(schema)), (shas[2:5],))
        for sha, owner in ((shas[2], "citizen-a"), (shas[3], "citizen-b")):
            conn.execute(SQL("INSERT INTO {}.attachment_copies (sha256, owner, nonce, ciphertext)"
                             " VALUES (%s, %s, %s, %s)").format(Identifier(schema)),
                         (sha, owner, b"n", b"c"))
    asks = [(hashes, owner) for owner in ("citizen-a", "citizen-b", "")
            for hashes in ([shas[0]], shas[:3], shas, [shas[2], shas[2]], [shas[5]], [])]

    async def all_at_once():
        return await asyncio.gather(*(reads.usable(h, o) for h, o in asks))

    got = asyncio.run(all_at_once())
    for (hashes, owner), found in zip(asks, got, strict=True):
        assert found == store.usable(hashes, owner), (hashes, owner)
    assert set(got[1]) == {shas[0], shas[1], shas[2]}  # citizen-a: its own copy counts
    assert set(got[7]) == {shas[0], shas[1]}  # citizen-b: not citizen-a's copy
    assert got[1][shas[0]].pending and not got[1][shas[2]].pending
    assert got[1][shas[1]].size == 101 and got[1][shas[1]].media_type == "image/png"
