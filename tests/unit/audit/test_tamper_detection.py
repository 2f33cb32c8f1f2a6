"""Mutation test: tamper with an in-memory ledger in many ways; every one is caught and located."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.chain import ChainHead, InMemoryLedger, LedgerEntry, link_entry
from services.audit.domain.checkpoint import Checkpoint, CheckpointSigner
from services.audit.domain.verify import Finding, verify_history, verify_ledger

LEDGER_ID = "minsheng.example/audit"
T0 = datetime(2023, 11, 23, 8, 0, tzinfo=UTC)
Row = dict[str, Any]


@cache
def signer() -> CheckpointSigner:
    return CheckpointSigner.generate("minsheng-audit")


def build_ledger(seed: int, size: int) -> InMemoryLedger:
    rnd = random.Random(seed)
    ledger = InMemoryLedger()
    tickets = [f"票-{seed}-{i}" for i in range(rnd.randint(1, 7))]
    offsets = [0, 0, 0]
    while len(ledger.entries) < size:
        ticket = rnd.choice(tickets)
        partition = hash(ticket) % 3  # one ticket, one partition, as Kafka keys it
        event = rnd.randbytes(rnd.randint(1, 40))
        ledger.record(
            topic="tickets.events",
            partition=partition,
            offset=offsets[partition],
            ticket_id=ticket,
            event=event,
        )
        offsets[partition] += 1 + rnd.choice([0, 0, 0, 2])  # transactional gaps are legal
    return ledger


def sign_sizes(ledger: InMemoryLedger, sizes: list[int]) -> list[str]:
    return [
        signer().sign(Checkpoint(LEDGER_ID, s, ledger.tree.root(s), T0 + timedelta(minutes=s)))
        for s in sorted(set(sizes))
    ]


def check(rows: list[Row], notes: list[str]) -> list[Finding]:
    return verify_ledger(rows, notes, signer().verifier, ledger_id=LEDGER_ID)


def relink(rows: list[Row]) -> list[Row]:
    """What an attacker with database access but no signing key can do: recompute every
    sequence number and chain hash so the chains look perfect."""
    heads: dict[str, ChainHead] = {}
    out = []
    for seq, row in enumerate(rows):
        e = link_entry(
            heads.get(row["ticket_id"]),
            ledger_seq=seq,
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            ticket_id=row["ticket_id"],
            event=row["event"],
        )
        heads[e.ticket_id] = ChainHead(e.ticket_seq, e.entry_hash)
        out.append(e.to_row())
    return out


def flip(b: bytes, bit: int) -> bytes:
    i = (bit // 8) % len(b)
    return b[:i] + bytes([b[i] ^ (1 << (bit % 8))]) + b[i + 1 :]


MUTATIONS = [
    "flip_event_bit",
    "edit_entry_hash",
    "edit_prev_hash",
    "edit_ticket_id",
    "edit_offset",
    "edit_ticket_seq",
    "delete",
    "delete_and_renumber",
    "insert_forged",
    "duplicate",
    "swap_rows",
    "swap_contents",
    "truncate",
    "flip_and_relink",
    "delete_and_relink",
    "swap_and_relink",
]


def mutate(rows: list[Row], kind: str, i: int, j: int, bit: int) -> int:
    """Tamper in place; return the ledger seq where the tampering is."""
    r = rows[i]
    if kind == "flip_event_bit":
        r["event"] = flip(r["event"], bit)
    elif kind == "edit_entry_hash":
        r["entry_hash"] = flip(r["entry_hash"], bit)
    elif kind == "edit_prev_hash":
        r["prev_hash"] = flip(r["prev_hash"], bit)
    elif kind == "edit_ticket_id":
        r["ticket_id"] = r["ticket_id"] + "x"
    elif kind == "edit_offset":
        r["offset"] += 1 + bit
    elif kind == "edit_ticket_seq":
        r["ticket_seq"] += 1
    elif kind == "delete":
        del rows[i]
    elif kind == "delete_and_renumber":
        del rows[i]
        for k in range(i, len(rows)):
            rows[k]["ledger_seq"] -= 1
    elif kind == "insert_forged":
        # A well-formed event linked onto the ticket's chain as it stood at seq i.
        prev = [x for x in rows[:i] if x["ticket_id"] == r["ticket_id"]]
        head = ChainHead(prev[-1]["ticket_seq"], prev[-1]["entry_hash"]) if prev else None
        forged = link_entry(
            head,
            ledger_seq=i,
            topic=r["topic"],
            partition=r["partition"],
            offset=r["offset"],
            ticket_id=r["ticket_id"],
            event=b"forged",
        )
        rows.insert(i, forged.to_row())
    elif kind == "duplicate":
        rows.insert(i, dict(r))
    elif kind == "swap_rows":
        rows[i], rows[j] = rows[j], rows[i]
    elif kind == "swap_contents":  # an UPDATE that swaps everything but the ledger seq
        a, b = dict(rows[j]), dict(r)
        a["ledger_seq"], b["ledger_seq"] = i, j
        rows[i], rows[j] = a, b
    elif kind == "truncate":
        del rows[i:]
    elif kind == "flip_and_relink":
        r["event"] = flip(r["event"], bit)
        rows[:] = relink(rows)
    elif kind == "delete_and_relink":
        del rows[i]
        rows[:] = relink(rows)
    elif kind == "swap_and_relink":
        rows[i], rows[j] = rows[j], rows[i]
        rows[:] = relink(rows)
    return i


@settings(max_examples=600, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(4, 60),
    kind=st.sampled_from(MUTATIONS),
    data=st.data(),
)
def test_every_tampering_is_caught_and_located(
    seed: int, size: int, kind: str, data: st.DataObject
) -> None:
    ledger = build_ledger(seed, size)
    cuts = data.draw(st.lists(st.integers(1, size), max_size=4))
    notes = sign_sizes(ledger, [*cuts, size])  # the service signs the whole ledger regularly
    rows = ledger.rows()
    assert check(rows, notes) == []

    i = data.draw(st.integers(0, size - 2))
    j = data.draw(st.integers(i + 1, size - 1))
    if (
        kind in ("swap_rows", "swap_contents", "swap_and_relink")
        and rows[i]["event"] == rows[j]["event"]
    ):
        return  # swapping identical rows changes nothing
    where = mutate(rows, kind, i, j, data.draw(st.integers(0, 255)))
    assert_caught_and_located(check(rows, notes), kind, where)


def assert_caught_and_located(findings: list[Finding], kind: str, where: int) -> None:
    assert findings, f"{kind} at {where} went unnoticed"
    assert any(f.covers(where) for f in findings), (kind, where, findings)
    if not kind.endswith("_relink") and kind != "truncate":
        # Tampering that leaves the chains broken is pinned to its entry by the chains alone,
        # not just to the range between two checkpoints.
        exact = [f for f in findings if f.kind not in ("root_mismatch", "truncated")]
        assert any(f.covers(where) for f in exact), (kind, where, findings)
    located = [f for f in findings if f.ledger_seq is not None]
    # Nothing is blamed on entries before the tampering (ranges may start earlier but reach it).
    assert all(f.covers(where) or f.ledger_seq > where for f in located), (kind, where, findings)


@pytest.mark.parametrize("kind", MUTATIONS)
def test_each_kind_at_every_position(kind: str) -> None:
    ledger = build_ledger(42, 24)
    notes = sign_sizes(ledger, [5, 16, 24])
    for i in range(23):
        rows = ledger.rows()
        j = (i * 7 + 3) % (24 - i - 1) + i + 1
        if rows[i]["event"] == rows[j]["event"]:
            continue
        where = mutate(rows, kind, i, j, i * 13)
        assert_caught_and_located(check(rows, notes), kind, where)


def test_untouched_ledger_verifies() -> None:
    ledger = build_ledger(7, 50)
    assert check(ledger.rows(), sign_sizes(ledger, [0, 1, 17, 32, 50])) == []


def test_a_forged_checkpoint_is_reported() -> None:
    ledger = build_ledger(3, 20)
    good = sign_sizes(ledger, [20])[0]
    altered = good.replace("\n20\n", "\n19\n", 1)
    other_key = CheckpointSigner.generate("minsheng-audit").sign(
        Checkpoint(LEDGER_ID, 20, bytes(32), T0)
    )
    findings = check(ledger.rows(), [good, altered, other_key])
    assert [f.kind for f in findings] == ["checkpoint_forged", "checkpoint_forged"]


def test_two_signed_roots_for_one_size_is_a_fork() -> None:
    ledger = build_ledger(3, 20)
    good = sign_sizes(ledger, [20])[0]
    fork = signer().sign(Checkpoint(LEDGER_ID, 20, bytes(32), T0))
    assert [f.kind for f in check(ledger.rows(), [good, fork])] == ["checkpoint_fork"]


def test_checkpoint_of_another_ledger_is_refused() -> None:
    ledger = build_ledger(3, 5)
    note = signer().sign(Checkpoint("other.example/ledger", 5, ledger.tree.root(), T0))
    assert [f.kind for f in check(ledger.rows(), [note])] == ["checkpoint_forged"]


def test_malformed_row_is_reported_not_raised() -> None:
    ledger = build_ledger(3, 5)
    rows = ledger.rows()
    del rows[2]["event"]
    assert "malformed_row" in {f.kind for f in check(rows, sign_sizes(ledger, [5]))}


def history_proofs(ledger: InMemoryLedger, ticket: str) -> tuple[list[Row], dict[int, list[bytes]]]:
    entries = list(ledger.history(ticket))
    return [e.to_row() for e in entries], {
        e.ledger_seq: ledger.tree.inclusion_proof(e.ledger_seq) for e in entries
    }


def test_one_ticket_history_verifies_with_inclusion_proofs() -> None:
    ledger = build_ledger(11, 60)
    note = sign_sizes(ledger, [60])[0]
    for ticket in {e.ticket_id for e in ledger.entries}:
        rows, proofs = history_proofs(ledger, ticket)
        assert (
            verify_history(rows, checkpoint_note=note, verifier=signer().verifier, proofs=proofs)
            == []
        )


def test_one_ticket_history_catches_a_relinked_edit_and_a_missing_entry() -> None:
    ledger = build_ledger(11, 60)
    note = sign_sizes(ledger, [60])[0]
    ticket = ledger.entries[0].ticket_id
    rows, proofs = history_proofs(ledger, ticket)
    assert len(rows) >= 3
    edited = relink_ticket([*rows[:1], {**rows[1], "event": b"changed"}, *rows[2:]])
    kinds = {
        (f.kind, f.ledger_seq)
        for f in verify_history(
            edited, checkpoint_note=note, verifier=signer().verifier, proofs=proofs
        )
    }
    assert ("not_in_tree", rows[1]["ledger_seq"]) in kinds
    missing = [rows[0], *rows[2:]]
    kinds = {
        (f.kind, f.ledger_seq)
        for f in verify_history(
            missing, checkpoint_note=note, verifier=signer().verifier, proofs=proofs
        )
    }
    assert ("chain_break", rows[2]["ledger_seq"]) in kinds


def relink_ticket(rows: list[Row]) -> list[Row]:
    head = None
    out = []
    for row in rows:
        e = link_entry(
            head,
            ledger_seq=row["ledger_seq"],
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            ticket_id=row["ticket_id"],
            event=row["event"],
        )
        head = ChainHead(e.ticket_seq, e.entry_hash)
        out.append(e.to_row())
    assert LedgerEntry.from_row(out[0]).expected_hash() == out[0]["entry_hash"]
    return out
