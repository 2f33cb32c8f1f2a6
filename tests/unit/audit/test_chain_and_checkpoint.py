"""Ledger entries, chains and signed checkpoints."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.domain.chain import (
    GENESIS_HASH,
    InMemoryLedger,
    LedgerEntry,
    LedgerEntryError,
    canonical_bytes,
    link_entry,
)
from services.audit.domain.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    CheckpointSigner,
    CheckpointVerifier,
)

WHEN = datetime(2023, 11, 23, 8, 30, tzinfo=UTC)


def test_first_entry_of_a_ticket_links_to_genesis() -> None:
    e = link_entry(
        None,
        ledger_seq=0,
        topic="tickets.events",
        partition=2,
        offset=7,
        ticket_id="t-1",
        event=b"\x0a\x03abc",
    )
    assert e.prev_hash == GENESIS_HASH and e.ticket_seq == 1
    assert e.entry_hash == hashlib.sha256(GENESIS_HASH + e.canonical()).digest()
    assert e.leaf_data() == e.canonical() + e.entry_hash


def test_canonical_bytes_change_with_every_field() -> None:
    base = dict(
        ledger_seq=1,
        topic="tickets.events",
        partition=0,
        offset=5,
        ticket_id="工单-1",
        ticket_seq=1,
        event=b"ev",
    )
    seen = {canonical_bytes(**base)}
    for name, other in [
        ("ledger_seq", 2),
        ("topic", "x"),
        ("partition", 1),
        ("offset", 6),
        ("ticket_id", "工单-2"),
        ("ticket_seq", 2),
        ("event", b"eW"),
    ]:
        seen.add(canonical_bytes(**{**base, name: other}))
    assert len(seen) == 8


def test_length_prefixes_keep_fields_apart() -> None:
    a = canonical_bytes(
        ledger_seq=0, topic="ab", partition=0, offset=0, ticket_id="c", ticket_seq=1, event=b""
    )
    b = canonical_bytes(
        ledger_seq=0, topic="a", partition=0, offset=0, ticket_id="bc", ticket_seq=1, event=b""
    )
    assert a != b


U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


@given(U64, st.text(max_size=20), U64, U64, st.text(max_size=20), U64, st.binary(max_size=50))
def test_canonical_bytes_are_the_documented_layout(
    ledger_seq: int, topic: str, partition: int, offset: int, ticket_id: str, ticket_seq: int,
    event: bytes,
) -> None:
    def blob(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    assert canonical_bytes(
        ledger_seq=ledger_seq, topic=topic, partition=partition, offset=offset,
        ticket_id=ticket_id, ticket_seq=ticket_seq, event=event,
    ) == (b"MSLE1" + struct.pack(">Q", ledger_seq) + blob(topic.encode()) + struct.pack(">Q", partition)
          + struct.pack(">Q", offset) + blob(ticket_id.encode()) + struct.pack(">Q", ticket_seq)
          + blob(event))


def test_one_encoding_gives_both_hashes() -> None:
    e = link_entry(None, ledger_seq=3, topic="t", partition=0, offset=9, ticket_id="A", event=b"x")
    assert e.checked_hashes() == (e.expected_hash(), e.leaf_hash())


def test_negative_numbers_are_refused() -> None:
    with pytest.raises(LedgerEntryError, match="offset"):
        canonical_bytes(
            ledger_seq=0, topic="t", partition=0, offset=-1, ticket_id="x", ticket_seq=1, event=b""
        )
    with pytest.raises(LedgerEntryError, match="ledger_seq"):
        canonical_bytes(
            ledger_seq=1 << 64, topic="t", partition=0, offset=0, ticket_id="x", ticket_seq=1,
            event=b"",
        )


def test_in_memory_ledger_chains_per_ticket_and_skips_redelivery() -> None:
    ledger = InMemoryLedger()
    a1 = ledger.record(topic="t", partition=0, offset=0, ticket_id="A", event=b"1")
    b1 = ledger.record(topic="t", partition=1, offset=0, ticket_id="B", event=b"1")
    a2 = ledger.record(topic="t", partition=0, offset=1, ticket_id="A", event=b"2")
    assert ledger.record(topic="t", partition=0, offset=1, ticket_id="A", event=b"2") is None
    assert a1 and b1 and a2
    assert a2.prev_hash == a1.entry_hash and a2.ticket_seq == 2
    assert b1.prev_hash == GENESIS_HASH
    assert [e.ledger_seq for e in ledger.entries] == [0, 1, 2]
    assert ledger.tree.size == 3
    assert [e.ledger_seq for e in ledger.history("A")] == [0, 2]


def test_row_round_trip_accepts_memoryview() -> None:
    e = link_entry(None, ledger_seq=3, topic="t", partition=0, offset=9, ticket_id="A", event=b"x")
    row = {k: memoryview(v) if isinstance(v, bytes) else v for k, v in e.to_row().items()}
    assert LedgerEntry.from_row(row) == e
    with pytest.raises(LedgerEntryError, match="event"):
        LedgerEntry.from_row({k: v for k, v in e.to_row().items() if k != "event"})


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner.generate("minsheng-audit-2023")


def checkpoint(size: int = 42) -> Checkpoint:
    return Checkpoint("minsheng.example/audit", size, hashlib.sha256(b"r").digest(), WHEN)


def test_signed_checkpoint_round_trip(signer: CheckpointSigner) -> None:
    note = signer.sign(checkpoint())
    assert note.startswith("minsheng.example/audit\n42\n")
    assert "\n\n\u2014 minsheng-audit-2023 " in note
    assert signer.verifier.open(note) == checkpoint()


def test_verifier_keys_export_and_import(signer: CheckpointSigner) -> None:
    note = signer.sign(checkpoint())
    v = signer.verifier
    for again in (
        CheckpointVerifier.from_vkey(v.vkey()),
        CheckpointVerifier.from_pem(v.name, v.public_pem()),
        CheckpointVerifier.from_base64(v.name, v.public_base64()),
    ):
        assert again.open(note) == checkpoint()
    again_signer = CheckpointSigner.from_pem(signer.name, signer.private_pem())
    assert again_signer.verifier.raw == v.raw


def test_vkey_with_wrong_id_is_refused(signer: CheckpointSigner) -> None:
    name, _, key = signer.verifier.vkey().split("+", 2)
    with pytest.raises(CheckpointFormatError, match="id"):
        CheckpointVerifier.from_vkey(f"{name}+00000000+{key}")


@pytest.mark.parametrize(
    "edit",
    [
        lambda n: n.replace("\n42\n", "\n43\n", 1),
        lambda n: n.replace("minsheng.example", "minsheng.evil", 1),
        lambda n: n.replace("timestamp 2023", "timestamp 2022", 1),
    ],
)
def test_an_altered_checkpoint_fails_its_signature(signer: CheckpointSigner, edit) -> None:  # type: ignore[no-untyped-def]
    note = edit(signer.sign(checkpoint()))
    with pytest.raises(CheckpointSignatureError):
        signer.verifier.open(note)


def test_a_verifier_that_opened_a_note_still_refuses_its_alterations(
        signer: CheckpointSigner) -> None:
    """It remembers notes that verified (by their whole text): an edited one is checked anew."""
    verifier, note = signer.verifier, signer.sign(checkpoint())
    assert verifier.open(note) == verifier.open(note) == checkpoint()
    for edited in (note.replace("\n42\n", "\n43\n", 1), note[:-3] + "AA\n"):
        with pytest.raises((CheckpointSignatureError, CheckpointFormatError)):
            verifier.open(edited)
    forger = CheckpointSigner.generate(signer.name)
    with pytest.raises(CheckpointSignatureError):
        verifier.open(forger.sign(checkpoint()))
    for size in range(40):  # it remembers a few: the oldest are verified again
        assert verifier.open(signer.sign(checkpoint(size))).tree_size == size


def test_a_checkpoint_by_another_key_of_the_same_name_is_refused(signer: CheckpointSigner) -> None:
    forger = CheckpointSigner.generate(signer.name)
    with pytest.raises(CheckpointSignatureError):
        signer.verifier.open(forger.sign(checkpoint()))


def test_malformed_notes_are_format_errors(signer: CheckpointSigner) -> None:
    with pytest.raises(CheckpointFormatError):
        signer.verifier.open("no blank line and no signature")
    with pytest.raises(CheckpointFormatError):
        signer.verifier.open("a\n1\nAAAA\n\nnot a signature line\n")


def test_naive_timestamp_is_refused(signer: CheckpointSigner) -> None:
    with pytest.raises(CheckpointFormatError, match="time zone"):
        signer.sign(Checkpoint("x", 1, bytes(32), datetime(2023, 1, 1)))
