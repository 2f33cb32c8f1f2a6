"""Proof bundles: the JSON an outside auditor feeds to ``tools/verify_ledger.py``.

Hashes travel as hex, raw event bytes and leaf data as base64, checkpoints as their signed-note
text. The bundle may carry the public key for convenience, but an auditor should verify with
their own copy (``--key``): a key shipped with the proof proves nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from services.audit.domain.chain import LedgerEntry


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "ledger_seq": entry.ledger_seq,
        "topic": entry.topic,
        "partition": entry.partition,
        "offset": entry.offset,
        "ticket_id": entry.ticket_id,
        "ticket_seq": entry.ticket_seq,
        "event": base64.b64encode(entry.event).decode(),
        "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
    }


def inclusion_bundle(
    *,
    entry: LedgerEntry,
    path: Sequence[bytes],
    checkpoint_note: str,
    public_key: str | None = None,
) -> dict[str, Any]:
    """Proof that ``entry`` is in the ledger the checkpoint signs."""
    bundle: dict[str, Any] = {
        "proof": {
            "type": "inclusion",
            "checkpoint": checkpoint_note,
            "leaf_index": entry.ledger_seq,
            "entry": entry_json(entry),
            "path": [h.hex() for h in path],
        }
    }
    if public_key is not None:
        bundle["public_key"] = public_key
    return bundle


def consistency_bundle(
    *,
    old_checkpoint_note: str,
    new_checkpoint_note: str,
    path: Sequence[bytes],
    public_key: str | None = None,
) -> dict[str, Any]:
    """Proof that the older signed ledger is a prefix of the newer one (nothing rewritten)."""
    bundle: dict[str, Any] = {
        "proof": {
            "type": "consistency",
            "old_checkpoint": old_checkpoint_note,
            "new_checkpoint": new_checkpoint_note,
            "path": [h.hex() for h in path],
        }
    }
    if public_key is not None:
        bundle["public_key"] = public_key
    return bundle
