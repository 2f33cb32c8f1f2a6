#!/usr/bin/env python3
"""Standalone verifier for Minsheng audit-ledger proofs.

Needs only Python 3.11+ and the ``cryptography`` package: an outside auditor copies this one
file, the proof bundle the audit service handed out, and the ledger's public key, and checks.
It deliberately re-implements (rather than imports) the RFC 9162 algorithms, the C2SP
signed-note checkpoint format and the ledger entry layout, so trusting it does not mean
trusting the project's code.

    verify_ledger.py BUNDLE.json [--key KEYFILE] [--ledger-id ID]

BUNDLE.json is either a proof bundle (GET /v1/proofs/inclusion, /v1/proofs/consistency) or a
ticket's whole history as served with proofs (GET /v1/tickets/{code}/history?proofs=true):
then every entry's chain link from the ticket's genesis and its inclusion proof are checked.
A proof bundle::

    {"public_key": "<name+keyid+base64 vkey> | {name, pem} | {name, base64}",
     "proof": {"type": "inclusion", "checkpoint": "<signed note>", "leaf_index": 7,
               "leaf_hash": "<hex>" | "leaf_data": "<base64>" | "entry": {...},
               "path": ["<hex>", ...]}
           | {"type": "consistency", "old_checkpoint": "<note>", "new_checkpoint": "<note>",
               "path": ["<hex>", ...]}}

Prints ``VALID: ...`` and exits 0, or ``INVALID: <reason>`` and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    pass


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


# ---- RFC 9162 §2.1.3.2: inclusion ------------------------------------------------------------
def inclusion_root(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    if not 0 <= index < size:
        raise Invalid(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Invalid("inclusion path is too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid("inclusion path is too short")
    return r


# ---- RFC 9162 §2.1.4.2: consistency ----------------------------------------------------------
def check_consistency(m: int, n: int, old: bytes, new: bytes, path: list[bytes]) -> None:
    if not 0 <= m <= n:
        raise Invalid(f"the tree shrank from {m} to {n} entries")
    if m == n:
        if path or old != new:
            raise Invalid("same size, different roots (or a non-empty proof): a fork")
        return
    if m == 0:
        if path:
            raise Invalid("a proof from the empty tree must be empty")
        return
    if not path:
        raise Invalid("consistency path is empty")
    if m & (m - 1) == 0:
        path = [old, *path]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Invalid("consistency path is too long")
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid("consistency path is too short")
    if fr != old:
        raise Invalid("consistency path does not lead to the old root")
    if sr != new:
        raise Invalid("consistency path does not lead to the new root")


# ---- C2SP signed note / tlog checkpoint ------------------------------------------------------
class Key:
    def __init__(self, name: str, raw: bytes) -> None:
        self.name, self.raw = name, raw
        self.key = Ed25519PublicKey.from_public_bytes(raw)
        self.id = _h(name.encode() + b"\n\x01" + raw)[:4]


def load_key(spec: Any) -> Key:
    if isinstance(spec, str) and spec.count("+") >= 2 and "-----" not in spec:
        name, hexid, b64 = spec.strip().split("+", 2)
        raw = base64.b64decode(b64, validate=True)
        if len(raw) != 33 or raw[0] != 1:
            raise Invalid("verifier key is not Ed25519")
        key = Key(name, raw[1:])
        if key.id.hex() != hexid.lower():
            raise Invalid("verifier key id does not match the key")
        return key
    if isinstance(spec, dict) and "pem" in spec:
        pub = serialization.load_pem_public_key(spec["pem"].encode())
        if not isinstance(pub, Ed25519PublicKey):
            raise Invalid("PEM key is not Ed25519")
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Key(spec["name"], raw)
    if isinstance(spec, dict) and "base64" in spec:
        return Key(spec["name"], base64.b64decode(spec["base64"], validate=True))
    raise Invalid("public key must be a vkey string or {name, pem} or {name, base64}")


def open_checkpoint(note: str, key: Key, ledger_id: str | None) -> tuple[int, bytes]:
    body, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise Invalid("checkpoint is not a signed note")
    text = (body + "\n").encode()
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Invalid("malformed signature line")
        name, _, b64 = line[2:].rpartition(" ")
        sig = base64.b64decode(b64, validate=True)
        if name == key.name and sig[:4] == key.id:
            try:
                key.key.verify(sig[4:], text)
            except InvalidSignature:
                raise Invalid("checkpoint signature does not verify") from None
            break
    else:
        raise Invalid(f"checkpoint is not signed by {key.name}")
    lines = body.split("\n")
    if len(lines) < 3 or not (lines[1].isascii() and lines[1].isdigit()):
        raise Invalid("checkpoint body is malformed")
    if ledger_id is not None and lines[0] != ledger_id:
        raise Invalid(f"checkpoint is for ledger {lines[0]!r}, not {ledger_id!r}")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise Invalid("checkpoint root is not 32 bytes")
    return int(lines[1]), root


# ---- ledger entry layout (MSLE1) --------------------------------------------------------------
def entry_leaf(entry: dict[str, Any]) -> bytes:
    def blob(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    canonical = b"".join(
        (
            b"MSLE1",
            struct.pack(">Q", entry["ledger_seq"]),
            blob(entry["topic"].encode()),
            struct.pack(">Q", entry["partition"]),
            struct.pack(">Q", entry["offset"]),
            blob(entry["ticket_id"].encode()),
            struct.pack(">Q", entry["ticket_seq"]),
            blob(base64.b64decode(entry["event"] if "event" in entry else entry["raw"],
                                  validate=True)),
        )
    )
    entry_hash = bytes.fromhex(entry["entry_hash"])
    if _h(bytes.fromhex(entry["prev_hash"]) + canonical) != entry_hash:
        raise Invalid("the entry's hash does not match its content and previous hash")
    return _h(b"\x00" + canonical + entry_hash)


def _hashes(values: list[str]) -> list[bytes]:
    out = [bytes.fromhex(v) for v in values]
    if any(len(h) != 32 for h in out):
        raise Invalid("every proof hash must be 32 bytes")
    return out


GENESIS = bytes(32)


def check_history(history: dict[str, Any], key: Key, ledger_id: str | None) -> str:
    """A ticket's history as replay serves it: one chain from genesis, every entry in the
    signed tree. (That no entry FOLLOWS the last one cannot be shown from the history alone.)"""
    if not isinstance(history.get("checkpoint"), dict):
        raise Invalid("the history carries no checkpoint: fetch it with proofs=true")
    size, root = open_checkpoint(history["checkpoint"]["note"], key, ledger_id)
    entries = history["entries"]
    if not entries:
        raise Invalid("the history has no entries")
    prev, ticket = GENESIS, history.get("ticket_id", entries[0]["ticket_id"])
    for n, entry in enumerate(entries, start=1):
        where = f"entry {n} (ledger seq {entry['ledger_seq']})"
        if entry["ticket_id"] != ticket:
            raise Invalid(f"{where} belongs to ticket {entry['ticket_id']!r}, not {ticket!r}")
        if int(entry["ticket_seq"]) != n:
            raise Invalid(f"{where} has ticket seq {entry['ticket_seq']}: an entry is missing "
                          "or out of order")
        if bytes.fromhex(entry["prev_hash"]) != prev:
            raise Invalid(f"{where} does not chain to the entry before it")
        try:
            leaf = entry_leaf(entry)
        except Invalid as err:
            raise Invalid(f"{where}: {err}") from None
        proof = entry.get("inclusion_proof") or {}
        if int(proof.get("tree_size", -1)) != size:
            raise Invalid(f"{where}: its proof is not for the checkpoint's tree size {size}")
        try:
            proven = inclusion_root(leaf, int(entry["ledger_seq"]), size,
                                    _hashes(proof.get("path", [])))
        except Invalid as err:
            raise Invalid(f"{where}: {err}") from None
        if proven != root:
            raise Invalid(f"{where}: inclusion proof leads to a different root")
        prev = bytes.fromhex(entry["entry_hash"])
    return (f"ticket {ticket}: {len(entries)} entries chained from genesis, each in the ledger "
            f"of {size} entries")


def check(bundle: dict[str, Any], key: Key, ledger_id: str | None) -> str:
    if not isinstance(bundle, dict):
        raise Invalid("expected a JSON object (a proof bundle or a ticket history)")
    if "entries" in bundle:
        return check_history(bundle, key, ledger_id)
    proof = bundle["proof"]
    path = _hashes(proof.get("path", []))
    if proof["type"] == "inclusion":
        size, root = open_checkpoint(proof["checkpoint"], key, ledger_id)
        index = int(proof["leaf_index"])
        if "entry" in proof:
            leaf = entry_leaf(proof["entry"])
            if proof["entry"]["ledger_seq"] != index:
                raise Invalid("the entry's ledger seq is not the proven leaf index")
        elif "leaf_data" in proof:
            leaf = _h(b"\x00" + base64.b64decode(proof["leaf_data"], validate=True))
        else:
            leaf = bytes.fromhex(proof["leaf_hash"])
        if inclusion_root(leaf, index, size, path) != root:
            raise Invalid("inclusion proof leads to a different root than the checkpoint")
        return f"entry {index} is in the ledger of {size} entries"
    if proof["type"] == "consistency":
        m, old = open_checkpoint(proof["old_checkpoint"], key, ledger_id)
        n, new = open_checkpoint(proof["new_checkpoint"], key, ledger_id)
        check_consistency(m, n, old, new, path)
        return f"the ledger of {m} entries is a prefix of the ledger of {n}"
    raise Invalid(f"unknown proof type {proof['type']!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="proof bundle JSON file, or - for stdin")
    parser.add_argument("--key", help="file with the public key (vkey line or PEM)")
    parser.add_argument("--key-name", help="key name for a PEM key file")
    parser.add_argument("--ledger-id", help="refuse checkpoints of any other ledger")
    args = parser.parse_args(argv)
    try:
        raw = sys.stdin.read() if args.bundle == "-" else Path(args.bundle).read_text()
        bundle = json.loads(raw)
        spec: Any = bundle.get("public_key") if isinstance(bundle, dict) else None
        if args.key:
            text = Path(args.key).read_text()
            if "-----BEGIN" in text and not args.key_name:
                raise Invalid("a PEM key needs --key-name (the signer's name in the checkpoint)")
            spec = {"name": args.key_name, "pem": text} if "-----BEGIN" in text else text
        elif spec is not None:
            print("note: key taken from the bundle itself; pass --key with your own copy")
        if spec is None:
            raise Invalid("no public key given")
        print("VALID:", check(bundle, load_key(spec), args.ledger_id))
        return 0
    except Invalid as err:
        print("INVALID:", err)
    except (KeyError, TypeError, ValueError, OSError) as err:
        print(f"INVALID: malformed input ({type(err).__name__}: {err})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
