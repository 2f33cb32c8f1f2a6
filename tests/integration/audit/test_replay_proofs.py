"""The replay's proofs, read partly with the history (each entry's lowest siblings), partly
from the cached upper levels and partly by a query of their own, are the tree's proofs: equal
to those built from the database alone, for every entry, at sizes whose right edge has
subtrees below the cached levels."""

from __future__ import annotations

import uuid

from backbone.auth import Principal
from services.audit.domain.merkle import verify_inclusion
from tests import janitor
from tests.integration.audit.stored_ledger import build_ledger


def test_replayed_proofs_equal_the_trees_and_verify(infra, tmp_path) -> None:
    stored = build_ledger(infra, janitor.claim(uuid.uuid4().hex[:10]), tmp_path,
                          checkpoint_at=(77,))  # 64 + 8 + 4 + 1: an edge of small subtrees
    try:
        histories, reader = stored.parts.histories, stored.parts.reader
        auditor = Principal("auditor-p", "auditor")
        with stored.superuser() as conn:
            tickets = [r[0] for r in conn.execute(  # the first ones fit the checkpoint of 77
                f'SELECT ticket_id FROM "{stored.settings.schema}".ledger'
                ' GROUP BY ticket_id ORDER BY max(ledger_seq)')]
        histories.history(auditor, tickets[0], proofs=True)  # loads the cached upper levels
        assert reader.proof_levels() > 0
        sizes = set()
        for ticket in tickets:
            served = histories.history(auditor, ticket, proofs=True)
            sizes.add(served.checkpoint.tree_size)
            assert histories.verification(served)["ok"], served.checked
            size = served.checkpoint.tree_size
            with reader.read_connection() as conn:
                tree = reader.tree(conn, cached=False, size=size)
                for row in served.rows:
                    seq = row["ledger_seq"]
                    assert served.proofs[seq] == tree.inclusion_proof(seq, size), (seq, size)
                    verify_inclusion(leaf=tree.leaf_hash_at(seq), leaf_index=seq,
                                     tree_size=size, path=served.proofs[seq],
                                     root=tree.root(size))
        assert sizes == {77, 80}
    finally:
        stored.close()
