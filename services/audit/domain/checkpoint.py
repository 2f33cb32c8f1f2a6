"""Signed checkpoints of the ledger in the C2SP tlog-checkpoint / signed-note text format.

A checkpoint body (https://c2sp.org/tlog-checkpoint)::

    minsheng.example/audit/ledger    <- origin = the ledger id
    1234                             <- tree size
    Xk3...=                          <- base64 root hash
    timestamp 2023-11-23T08:00:00Z   <- extension line (ours)

followed by a blank line and one signature line per signer (https://c2sp.org/signed-note)::

    — audit-2023 <base64(4-byte key id || Ed25519 signature)>

Using an existing format means auditors can check our checkpoints with stock tooling
(golang.org/x/mod/sumdb/note) and not only with our verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ED25519_ALG = b"\x01"  # signed-note algorithm byte for Ed25519
SIG_PREFIX = "\u2014 "  # em dash + space starts every signature line
_NAME = re.compile(r"^[^\s+\u2014]+$")
_TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"


class CheckpointFormatError(ValueError):
    """The text is not a well-formed checkpoint / signed note; the message says where."""


class CheckpointSignatureError(ValueError):
    """No valid signature by the expected key: forged, altered, or signed by someone else."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    ledger_id: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime

    def body(self) -> str:
        if not self.ledger_id or "\n" in self.ledger_id:
            raise CheckpointFormatError("a ledger id is one non-empty line")
        if self.timestamp.tzinfo is None:
            raise CheckpointFormatError("a checkpoint timestamp must carry its time zone")
        when = self.timestamp.astimezone(UTC).strftime(_TIME_FMT)
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.ledger_id}\n{self.tree_size}\n{root}\ntimestamp {when}\n"


def parse_checkpoint_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 5 or lines[-1] != "":
        raise CheckpointFormatError("a checkpoint has origin, size, root and timestamp lines")
    origin, size, root, *extensions = lines[:-1]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise CheckpointFormatError(f"tree size {size!r} is not a decimal number")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise CheckpointFormatError("root hash is not base64") from None
    if len(root_hash) != 32:
        raise CheckpointFormatError(f"root hash has {len(root_hash)} bytes, not 32")
    stamps = [e for e in extensions if e.startswith("timestamp ")]
    if len(stamps) != 1:
        raise CheckpointFormatError("a checkpoint needs exactly one timestamp line")
    try:
        when = datetime.strptime(stamps[0].removeprefix("timestamp "), _TIME_FMT)
    except ValueError:
        raise CheckpointFormatError(f"bad timestamp line {stamps[0]!r}") from None
    return Checkpoint(origin, int(size), root_hash, when.replace(tzinfo=UTC))


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note key id: the first 4 bytes of SHA-256(name || '\\n' || alg || key)."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALG + public_key).digest()[:4]


OPENED_KEPT = 16  # notes a verifier remembers having verified


@dataclass(frozen=True)
class CheckpointVerifier:
    name: str
    public_key: Ed25519PublicKey
    # notes this verifier verified already (text -> what it says): a replay server checks
    # every history it serves against the same few recent checkpoints
    _opened: dict[str, Checkpoint] = field(default_factory=dict, init=False, repr=False,
                                           compare=False)

    @property
    def raw(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.raw)

    def vkey(self) -> str:
        """The signed-note verifier key string: ``name+hexid+base64(alg||key)``."""
        return (
            f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519_ALG + self.raw).decode()}"
        )

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def public_base64(self) -> str:
        return base64.b64encode(self.raw).decode()

    @classmethod
    def from_vkey(cls, vkey: str) -> CheckpointVerifier:
        parts = vkey.strip().split("+", 2)  # base64 may hold "+", the name may not
        if len(parts) != 3:
            raise CheckpointFormatError("a verifier key reads name+keyid+base64key")
        name, hexid, b64 = parts
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise CheckpointFormatError("verifier key is not base64") from None
        if len(raw) != 33 or raw[:1] != ED25519_ALG:
            raise CheckpointFormatError("verifier key is not an Ed25519 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != hexid.lower():
            raise CheckpointFormatError("verifier key id does not match its name and key")
        return verifier

    @classmethod
    def from_pem(cls, name: str, pem: str | bytes) -> CheckpointVerifier:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointFormatError("the PEM key is not an Ed25519 public key")
        return cls(name, key)

    @classmethod
    def from_base64(cls, name: str, b64: str) -> CheckpointVerifier:
        return cls(name, Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True)))

    def open(self, note: str) -> Checkpoint:
        """Verify a signed checkpoint note and return what it says; raise otherwise. A note
        verified before is not verified again: the same text with the same key gives the
        same answer (only notes that verified are remembered, a few)."""
        opened = self._opened.get(note)
        if opened is None:
            opened = self._verify(note)
            if len(self._opened) >= OPENED_KEPT:
                self._opened.clear()
            self._opened[note] = opened
        return opened

    def _verify(self, note: str) -> Checkpoint:
        body, signatures = split_note(note)
        for name, sig in signatures:
            if name == self.name and sig[:4] == self.key_id:
                try:
                    self.public_key.verify(sig[4:], body.encode())
                except InvalidSignature:
                    raise CheckpointSignatureError(
                        f"the signature by {name} does not match the checkpoint text"
                    ) from None
                return parse_checkpoint_body(body)
        raise CheckpointSignatureError(f"the checkpoint carries no signature by {self.name}")


@dataclass(frozen=True)
class CheckpointSigner:
    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise CheckpointFormatError(f"key name {self.name!r} may not hold spaces or '+'")

    @classmethod
    def generate(cls, name: str) -> CheckpointSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, name: str, pem: str | bytes) -> CheckpointSigner:
        key = serialization.load_pem_private_key(
            pem.encode() if isinstance(pem, str) else pem, password=None
        )
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointFormatError("the PEM key is not an Ed25519 private key")
        return cls(name, key)

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def verifier(self) -> CheckpointVerifier:
        return CheckpointVerifier(self.name, self.private_key.public_key())

    def sign(self, checkpoint: Checkpoint) -> str:
        """The checkpoint as a signed note (body, blank line, signature line)."""
        body = checkpoint.body()
        sig = self.verifier.key_id + self.private_key.sign(body.encode())
        return f"{body}\n{SIG_PREFIX}{self.name} {base64.b64encode(sig).decode()}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text and its (key name, key id || signature) pairs."""
    body, sep, sigblock = note.rpartition("\n\n")
    if not sep or not sigblock.endswith("\n"):
        raise CheckpointFormatError("a signed note is text, a blank line, then signature lines")
    signatures: list[tuple[str, bytes]] = []
    for line in sigblock[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise CheckpointFormatError(f"not a signature line: {line[:40]!r}")
        name, _, b64 = line.removeprefix(SIG_PREFIX).rpartition(" ")
        try:
            sig = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise CheckpointFormatError("signature is not base64") from None
        if len(sig) < 5:
            raise CheckpointFormatError("signature too short")
        signatures.append((name, sig))
    return body + "\n", signatures
