"""Tamper with the STORED ledger in PostgreSQL, as a superuser who switched the triggers off,
in every way we can think of: `verify` must catch each one and say where it is."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from services.audit.domain.chain import LedgerEntry, canonical_bytes
from tests import janitor
from tests.integration.audit.stored_ledger import StoredLedger, build_ledger

pytestmark = pytest.mark.integration

Tamper = Callable[[psycopg.Connection[Any], str], int]  # returns a ledger seq it touched


def row(conn: psycopg.Connection[Any], s: str, seq: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(f'SELECT * FROM {s}.ledger WHERE ledger_seq = %s', (seq,)).fetchone()


def flip_event_byte(seq: int, position: int = -1) -> Tamper:
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        event = bytearray(row(conn, s, seq)["event"])
        event[position] ^= 0x01
        conn.execute(f"UPDATE {s}.ledger SET event = %s WHERE ledger_seq = %s",
                     (bytes(event), seq))
        return seq

    return tamper


def set_column(seq: int, column: str, value: str) -> Tamper:
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        conn.execute(f'UPDATE {s}.ledger SET "{column}" = {value} WHERE ledger_seq = %s', (seq,))
        return seq

    return tamper


def delete(seq: int) -> Tamper:
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        conn.execute(f"DELETE FROM {s}.ledger WHERE ledger_seq = %s", (seq,))
        return seq

    return tamper


def truncate_tail(keep: int) -> Tamper:
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        conn.execute(f"DELETE FROM {s}.ledger WHERE ledger_seq >= %s", (keep,))
        return keep

    return tamper


def swap(a: int, b: int) -> Tamper:
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        conn.execute(f"UPDATE {s}.ledger SET ledger_seq = 1000000000 WHERE ledger_seq = %s", (a,))
        conn.execute(f"UPDATE {s}.ledger SET ledger_seq = %s WHERE ledger_seq = %s", (a, b))
        conn.execute(f"UPDATE {s}.ledger SET ledger_seq = %s WHERE ledger_seq = 1000000000", (b,))
        return a

    return tamper


def forged_copy(conn, s: str, like: int, ledger_seq: int, prev_hash: bytes) -> dict[str, Any]:
    """A plausible extra entry for the ticket of entry ``like``, hashed consistently."""
    r = row(conn, s, like)
    event = bytes(r["event"]) + b"\x00"
    canonical = canonical_bytes(ledger_seq=ledger_seq, topic=r["topic"],
                                partition=r["partition"], offset=r["offset"],
                                ticket_id=r["ticket_id"], ticket_seq=r["ticket_seq"] + 1,
                                event=event)
    return {**r, "ledger_seq": ledger_seq, "event_id": str(uuid.uuid4()), "event": event,
            "ticket_seq": r["ticket_seq"] + 1, "prev_hash": prev_hash,
            "entry_hash": hashlib.sha256(prev_hash + canonical).digest()}


def insert_row(conn, s: str, r: dict[str, Any]) -> None:
    cols = ", ".join(f'"{c}"' for c in r)
    conn.execute(f"INSERT INTO {s}.ledger ({cols}) VALUES ({', '.join(['%s'] * len(r))})",
                 list(r.values()))


def insert_in_middle(at: int) -> Tamper:
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        conn.execute(f"UPDATE {s}.ledger SET ledger_seq = ledger_seq + 1000000"
                     " WHERE ledger_seq >= %s", (at,))
        conn.execute(f"UPDATE {s}.ledger SET ledger_seq = ledger_seq - 999999"
                     " WHERE ledger_seq >= 1000000")
        conn.execute(f"ALTER TABLE {s}.ledger DROP CONSTRAINT IF EXISTS"
                     " ledger_ticket_id_ticket_seq_key")
        prev = row(conn, s, at - 1)
        insert_row(conn, s, forged_copy(conn, s, at - 1, at, bytes(prev["entry_hash"])))
        return at

    return tamper


def append_unchained(conn, s):  # type: ignore[no-untyped-def]
    size = conn.execute(f"SELECT max(ledger_seq) + 1 FROM {s}.ledger").fetchone()[0]
    insert_row(conn, s, forged_copy(conn, s, size - 1, size, b"\x07" * 32))
    return size


def rewrite_and_rechain(seq: int) -> Tamper:
    """The strongest attacker: changes an event, then recomputes every later hash."""

    def tamper(conn, s):  # type: ignore[no-untyped-def]
        flip_event_byte(seq)(conn, s)
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        rows = cur.execute(f"SELECT * FROM {s}.ledger ORDER BY ledger_seq").fetchall()
        heads: dict[str, bytes] = {}
        for r in rows:
            e = LedgerEntry.from_row(r)
            prev = heads.get(e.ticket_id, bytes(32))
            h = hashlib.sha256(prev + e.canonical()).digest()
            heads[e.ticket_id] = h
            if (bytes(r["prev_hash"]), bytes(r["entry_hash"])) != (prev, h):
                conn.execute(f"UPDATE {s}.ledger SET prev_hash = %s, entry_hash = %s"
                             " WHERE ledger_seq = %s", (prev, h, e.ledger_seq))
        return seq

    return tamper


def merkle_node(conn, s):  # type: ignore[no-untyped-def]
    conn.execute(f"UPDATE {s}.merkle_node SET hash = %s WHERE level = 2 AND idx = 3",
                 (b"\x01" * 32,))
    return 12


def forged_checkpoint(conn, s):  # type: ignore[no-untyped-def]
    note = conn.execute(f"SELECT note FROM {s}.checkpoints ORDER BY tree_size DESC"
                        " LIMIT 1").fetchone()[0]
    lines = note.split("\n")
    lines[1] = "81"
    conn.execute(f"INSERT INTO {s}.checkpoints VALUES (81, %s, now(), 'x', %s)",
                 (b"\x00" * 32, "\n".join(lines)))
    return -1


MUTATIONS: dict[str, tuple[Tamper, set[str]]] = {
    "flip first event byte": (flip_event_byte(0), {"entry_hash_mismatch"}),
    "flip a byte mid-ledger": (flip_event_byte(37, 5), {"entry_hash_mismatch"}),
    "flip last event byte": (flip_event_byte(79), {"entry_hash_mismatch"}),
    "edit partition": (set_column(12, "partition", "partition + 1"), {"entry_hash_mismatch"}),
    "edit offset": (set_column(44, "offset", '"offset" + 100'), {"entry_hash_mismatch"}),
    "edit ticket seq": (set_column(50, "ticket_seq", "ticket_seq + 5"),
                        {"entry_hash_mismatch"}),
    "edit entry hash": (set_column(30, "entry_hash", "sha256('x')"), {"entry_hash_mismatch"}),
    "edit prev hash": (set_column(31, "prev_hash", "sha256('x')"), {"entry_hash_mismatch"}),
    "move to another ticket": (set_column(33, "ticket_id", "'another'"),
                               {"entry_hash_mismatch"}),
    "delete first": (delete(0), {"ledger_seq_gap"}),
    "delete mid": (delete(41), {"ledger_seq_gap"}),
    "truncate the tail": (truncate_tail(70), {"truncated"}),
    "insert in the middle": (insert_in_middle(25), {"entry_hash_mismatch"}),
    "append without a chain": (append_unchained, {"chain_break"}),
    "swap two entries": (swap(10, 60), {"entry_hash_mismatch"}),
    "swap neighbours": (swap(45, 46), {"entry_hash_mismatch"}),
    "rewrite and recompute chains": (rewrite_and_rechain(35), {"root_mismatch"}),
    "tamper with the stored tree": (merkle_node, {"stored_tree_mismatch"}),
    "forge a checkpoint": (forged_checkpoint, {"checkpoint_forged"}),
}


@pytest.fixture
def fresh_ledger(infra, tmp_path):
    stored = build_ledger(infra, janitor.claim(uuid.uuid4().hex[:10]), tmp_path)
    yield stored
    stored.close()


def test_the_untouched_ledger_verifies(fresh_ledger: StoredLedger):
    report = fresh_ledger.parts.verification.verify()
    assert report["ok"], report["findings"]
    assert (report["ledger_size"], report["checkpoints"]) == (80, 3)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_every_tampering_is_caught_and_located(fresh_ledger: StoredLedger, name: str):
    tamper, kinds = MUTATIONS[name]
    s = f'"{fresh_ledger.settings.schema}"'
    with fresh_ledger.superuser() as conn:
        where = tamper(conn, s)
    report = fresh_ledger.parts.verification.verify()
    found = report["findings"]
    assert not report["ok"]
    assert kinds <= {f["kind"] for f in found}, found
    if where >= 0:
        assert any(f["ledger_seq"] is not None
                   and f["ledger_seq"] <= where <= (f["last_seq"] if f["last_seq"] is not None
                                                    else f["ledger_seq"])
                   for f in found), (where, found)


def swap_ticket_seqs(seq_a: int, seq_b: int) -> Tamper:
    """Reorder two entries of one ticket: the replay serves them in the other order."""
    def tamper(conn, s):  # type: ignore[no-untyped-def]
        a, b = row(conn, s, seq_a)["ticket_seq"], row(conn, s, seq_b)["ticket_seq"]
        conn.execute(f"UPDATE {s}.ledger SET ticket_seq = -1 WHERE ledger_seq = %s", (seq_a,))
        conn.execute(f"UPDATE {s}.ledger SET ticket_seq = %s WHERE ledger_seq = %s", (a, seq_b))
        conn.execute(f"UPDATE {s}.ledger SET ticket_seq = %s WHERE ledger_seq = %s", (b, seq_a))
        return seq_a

    return tamper


# Entries 0, 8, 16, ... are one ticket's (build_ledger: 8 tickets, their steps interleaved).
SERVED = {
    "a flipped byte": (flip_event_byte(16), {"entry_hash_mismatch", "not_in_tree"}),
    "two entries reordered": (swap_ticket_seqs(16, 24), {"chain_break"}),
    "a forged entry, chain recomputed": (rewrite_and_rechain(16), {"not_in_tree"}),
}


@pytest.mark.parametrize("name", list(SERVED))
def test_a_served_history_of_a_tampered_ticket_fails_its_verification(
        fresh_ledger: StoredLedger, name: str):
    """The replay path (cached upper tree levels, a reused checkpoint, the verification done
    while the access-log row commits) still finds a forged or reordered entry."""
    from backbone.auth import Principal

    histories, auditor = fresh_ledger.parts.histories, Principal("auditor-m", "auditor")
    with fresh_ledger.superuser() as conn:
        ticket = row(conn, f'"{fresh_ledger.settings.schema}"', 0)["ticket_id"]
    clean = histories.history(auditor, ticket, proofs=True)  # warms what the service keeps
    assert histories.verification(clean)["ok"], clean.checked
    tamper, kinds = SERVED[name]
    with fresh_ledger.superuser() as conn:
        tamper(conn, f'"{fresh_ledger.settings.schema}"')
    served = histories.history(auditor, ticket, proofs=True)
    report = histories.verification(served)
    assert not report["ok"]
    assert kinds <= {f["kind"] for f in report["findings"]}, report["findings"]
