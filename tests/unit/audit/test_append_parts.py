"""The append's shortcuts equal what they replace (no I/O): one canonical encoding for the
entry and its leaf, the envelope's time without Timestamp.ToDatetime."""

from __future__ import annotations

from datetime import UTC

import pytest
from minsheng.v1 import envelope_pb2

from services.audit.domain.chain import ChainHead, link_entry, link_entry_and_leaf
from services.audit.entrypoints.ledger_consumer import occurred_at


def test_the_leaf_from_the_one_encoding_is_the_entrys_leaf():
    head = None
    for seq in range(5):
        entry, leaf = link_entry_and_leaf(head, ledger_seq=seq, topic="t", partition=seq,
                                          offset=10 * seq, ticket_id="tid", event=b"e" * seq)
        assert leaf == entry.leaf_hash()
        assert entry == link_entry(head, ledger_seq=seq, topic="t", partition=seq,
                                   offset=10 * seq, ticket_id="tid", event=b"e" * seq)
        head = ChainHead(entry.ticket_seq, entry.entry_hash)


@pytest.mark.parametrize(("seconds", "nanos"), [
    (1_700_000_000, 0), (1_700_000_000, 999), (1_700_000_000, 123_456_789), (0, 1),
    (-1, 999_999_999), (-62135596800, 0), (253402300799, 999_999_999), (951_782_400, 500_000)])
def test_the_envelopes_time_is_timestamps_own(seconds, nanos):
    env = envelope_pb2.Envelope()
    env.occurred_at.seconds, env.occurred_at.nanos = seconds, nanos
    assert occurred_at(env) == env.occurred_at.ToDatetime(tzinfo=UTC)
    assert occurred_at(env).tzinfo is not None


def test_no_time_and_an_impossible_time():
    assert occurred_at(envelope_pb2.Envelope()) is None
    env = envelope_pb2.Envelope()
    env.occurred_at.seconds, env.occurred_at.nanos = 1, -5
    with pytest.raises(ValueError):
        occurred_at(env)
