"""Citizen identity and its protection.

Name, phone, ID number and exact address never leave intake in clear. Events carry a pseudonym
(HMAC-SHA256 under a secret pepper: stable, so one citizen's tickets link up, and not reversible
without the pepper) and masked forms. The clear identity is sealed with AES-256-GCM under a data
key of its own per citizen; that data key is stored only wrapped by a master key (envelope
encryption), so rotating the master key re-wraps small keys instead of re-encrypting every record.

Erasure is crypto-shredding: destroying the citizen's wrapped data key makes every sealed copy
of their identity unreadable, including copies in backups and in the append-only ledger, whose
hash chains therefore stay intact.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import unicodedata
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backbone.privacy import mask_id_number, mask_name, mask_personal_data, mask_phone

_ANY_DIGIT = re.compile(r"[0-9０-９]")
_NONCE_BYTES = 12
_KEY_BYTES = 32


class RequesterKind(StrEnum):
    CITIZEN = "citizen"
    ENTERPRISE = "enterprise"


class IdentityErasedError(Exception):
    """The citizen's data key was destroyed (erasure request): their identity is gone for good."""


class IdentityTamperedError(Exception):
    """A sealed identity or wrapped key failed authentication: wrong key, or altered bytes."""


class MissingPepperError(ValueError):
    """The pseudonym pepper is missing or too short to keep pseudonyms unguessable."""


def ascii_digits(text: str) -> str:
    """The decimal digits of `text` (any script's: a Chinese IME types full-width １３８...),
    as ASCII digits; everything else left out."""
    digits = re.sub(r"\D", "", text)
    if digits.isascii():
        return digits
    return "".join(str(unicodedata.decimal(c)) for c in digits)


def normalise_phone(phone: str) -> str:
    """ASCII digits only, without a +86/0086 country prefix, so one phone gives one pseudonym
    however it was typed."""
    digits = ascii_digits(phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def normalise_id_number(id_number: str) -> str:
    return re.sub(r"\s", "", id_number).upper()


@dataclass(frozen=True, slots=True)
class CitizenIdentity:
    """Who asked. Every field is optional: anonymous requests are allowed."""

    name: str | None = None
    phone: str | None = None
    id_number: str | None = None  # resident ID, or an enterprise's unified social credit code
    address: str | None = None
    kind: str = RequesterKind.CITIZEN.value
    organisation: str | None = None  # the enterprise's name when kind is enterprise

    @property
    def is_anonymous(self) -> bool:
        return not (self.phone or self.id_number)

    def natural_key(self) -> str | None:
        """What identifies the person across tickets: the phone first, else the ID number."""
        if self.phone:
            return "phone:" + normalise_phone(self.phone)
        if self.id_number:
            return "id:" + normalise_id_number(self.id_number)
        return None

    def masked(self) -> MaskedContact:
        return MaskedContact(
            name=mask_name(self.name) if self.name else None,
            phone=mask_phone(self.phone) if self.phone else None,
            id_number=mask_id_number(self.id_number) if self.id_number else None,
            # no digit of a home address: "阳光花园12栋1203" is a household, whatever the patterns
            address=_ANY_DIGIT.sub("*", mask_personal_data(self.address)) if self.address else None,
            kind=self.kind,
        )

    def to_json(self) -> bytes:
        # the fields in sorted order, as json.dumps(asdict(self), sort_keys=True) wrote them
        # (the same bytes, without asdict's deep copy of every field)
        return json.dumps({name: getattr(self, name) for name in _IDENTITY_FIELDS},
                          ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> CitizenIdentity:
        return cls(**json.loads(data))


_IDENTITY_FIELDS = tuple(sorted(f.name for f in fields(CitizenIdentity)))


@dataclass(frozen=True, slots=True)
class MaskedContact:
    """What may travel in events and be shown to handling units: ``张*``, ``138****5678``."""

    name: str | None
    phone: str | None
    id_number: str | None
    address: str | None
    kind: str

    def as_event_dict(self) -> dict[str, str | None]:
        # what asdict(self) gives (every field a str or None: nothing to copy deeply), built
        # directly: once for every submission with a contact
        return {"name": self.name, "phone": self.phone, "id_number": self.id_number,
                "address": self.address, "kind": self.kind}


def pseudonym(pepper: bytes, identity: CitizenIdentity) -> str | None:
    """HMAC-SHA256(pepper, natural key) as hex; None for an anonymous requester."""
    if len(pepper) < 16:
        raise MissingPepperError("the pseudonym pepper must be a secret of at least 16 bytes")
    key = identity.natural_key()
    if key is None:
        return None
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def pseudonym_for_phone(pepper: bytes, phone: str) -> str:
    """The pseudonym a citizen proven by this phone number holds (to list their own tickets)."""
    result = pseudonym(pepper, CitizenIdentity(phone=phone))
    assert result is not None
    return result


@dataclass(frozen=True, slots=True)
class WrappedKey:
    master_key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class SealedIdentity:
    """The identity encrypted under the citizen's data key; safe to store anywhere."""

    citizen: str  # pseudonym, also the AEAD associated data: a record cannot be moved to another
    nonce: bytes
    ciphertext: bytes


class CitizenKeyStore(Protocol):
    """Where wrapped data keys live. The PostgreSQL implementation belongs to the adapters."""

    def get(self, citizen: str) -> WrappedKey | None: ...

    def put(self, citizen: str, key: WrappedKey) -> None: ...

    def destroy(self, citizen: str) -> None: ...

    def is_destroyed(self, citizen: str) -> bool:
        """True once the citizen was erased, even if they came back later with a new key."""
        ...

    def remember(self, citizen: str, key: WrappedKey) -> None:
        """``key`` was stored by the caller's own transaction (see IdentityVault.seal_unsaved)."""
        ...

    def forget(self, citizen: str) -> None:
        """Drop what this process knows of the citizen's key: the stored one is to be re-read."""
        ...


class InMemoryCitizenKeyStore:
    """Test double; keeps a tombstone so an erased citizen is not silently given a new key."""

    def __init__(self) -> None:
        self._keys: dict[str, WrappedKey] = {}
        self._destroyed: set[str] = set()

    def get(self, citizen: str) -> WrappedKey | None:
        return self._keys.get(citizen)

    def put(self, citizen: str, key: WrappedKey) -> None:
        self._keys[citizen] = key

    def destroy(self, citizen: str) -> None:
        self._keys.pop(citizen, None)
        self._destroyed.add(citizen)

    def is_destroyed(self, citizen: str) -> bool:
        return citizen in self._destroyed

    def remember(self, citizen: str, key: WrappedKey) -> None:
        self._keys.setdefault(citizen, key)

    def forget(self, citizen: str) -> None:
        pass


class IdentityVault:
    """Seals and opens identities with per-citizen keys wrapped by a master key."""

    def __init__(self, store: CitizenKeyStore, master_keys: dict[str, bytes], current_master: str) -> None:
        for key_id, key in master_keys.items():
            if len(key) != _KEY_BYTES:
                raise ValueError(f"master key {key_id!r} must be 32 bytes for AES-256")
        if current_master not in master_keys:
            raise ValueError(f"current master key {current_master!r} is not among the master keys")
        self._store = store
        self._masters = master_keys
        self._current = current_master
        # New citizens' keys made here and not yet known to be stored: concurrent requests of
        # one new citizen share the key instead of racing each other with two.
        self._unsaved: dict[str, WrappedKey] = {}

    def _wrap(self, citizen: str, data_key: bytes) -> WrappedKey:
        nonce = os.urandom(_NONCE_BYTES)
        aead = AESGCM(self._masters[self._current])
        return WrappedKey(self._current, nonce, aead.encrypt(nonce, data_key, citizen.encode()))

    def _unwrap(self, citizen: str, wrapped: WrappedKey) -> bytes:
        master = self._masters.get(wrapped.master_key_id)
        if master is None:
            raise IdentityTamperedError(f"unknown master key {wrapped.master_key_id!r}")
        try:
            return AESGCM(master).decrypt(wrapped.nonce, wrapped.ciphertext, citizen.encode())
        except InvalidTag as exc:
            raise IdentityTamperedError("the citizen's wrapped data key failed authentication") from exc

    def _data_key(self, citizen: str, *, create: bool) -> bytes:
        wrapped = self._store.get(citizen)
        if wrapped is None:
            if not create and self._store.is_destroyed(citizen):
                raise IdentityErasedError("this citizen's identity was erased at their request")
            if not create:
                raise IdentityErasedError("no data key exists for this citizen")
            data_key = AESGCM.generate_key(bit_length=256)
            self._store.put(citizen, self._wrap(citizen, data_key))
            return data_key
        return self._unwrap(citizen, wrapped)

    def seal(self, citizen: str, identity: CitizenIdentity) -> SealedIdentity:
        """Encrypt ``identity`` under the citizen's data key (made on first use).

        A citizen who was erased and comes back gets a fresh key: their old records stay dead.
        """
        return self._seal_with(self._data_key(citizen, create=True), citizen, identity)

    def seal_stored(self, citizen: str, identity: CitizenIdentity
                    ) -> tuple[SealedIdentity, WrappedKey]:
        """``seal``, with the stored key that sealed it (made and stored now on first use),
        for the caller's transaction to hold (see identity_store.hold)."""
        wrapped = self._store.get(citizen)
        if wrapped is None:
            data_key = AESGCM.generate_key(bit_length=256)
            wrapped = self._wrap(citizen, data_key)
            self._store.put(citizen, wrapped)
        else:
            data_key = self._unwrap(citizen, wrapped)
        return self._seal_with(data_key, citizen, identity), wrapped

    def reread(self, citizen: str) -> None:
        """Forget what this process holds of the citizen's stored key: the next use reads it."""
        self._store.forget(citizen)

    @staticmethod
    def _seal_with(data_key: bytes, citizen: str, identity: CitizenIdentity) -> SealedIdentity:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, identity.to_json(), citizen.encode())
        return SealedIdentity(citizen, nonce, ciphertext)

    def seal_unsaved(self, citizen: str, identity: CitizenIdentity
                     ) -> tuple[SealedIdentity, WrappedKey | None]:
        """Like ``seal``, but a new citizen's key is NOT stored here: it is returned, and the
        caller stores it in the same transaction as the sealed identity (a key store claim),
        then reports ``key_saved`` or, if another process stored a key first, ``key_lost``
        and seals again. None: the citizen's key was stored already."""
        sealed, key, new = self.seal_keyed(citizen, identity)
        return sealed, key if new else None

    def seal_keyed(self, citizen: str, identity: CitizenIdentity
                   ) -> tuple[SealedIdentity, WrappedKey, bool]:
        """``seal_unsaved``, saying which key sealed it and whether that key is new (to be
        claimed by the caller's transaction) or the one stored (to be held by it: an erasure
        that destroyed it meanwhile must refuse the save, see identity_store.hold)."""
        wrapped = self._store.get(citizen)
        new = wrapped is None
        if wrapped is None:
            wrapped = self._unsaved.get(citizen)
            if wrapped is None:
                made = self._wrap(citizen, AESGCM.generate_key(bit_length=256))
                wrapped = self._unsaved.setdefault(citizen, made)  # atomic: one key per citizen
        return self._seal_with(self._unwrap(citizen, wrapped), citizen, identity), wrapped, new

    def key_saved(self, citizen: str, key: WrappedKey) -> None:
        """The transaction that claimed ``key`` committed: it is the citizen's key."""
        self._store.remember(citizen, key)
        if self._unsaved.get(citizen) == key:
            self._unsaved.pop(citizen, None)

    def key_lost(self, citizen: str, key: WrappedKey) -> None:
        """Another process stored a different key first: forget ours and re-read theirs."""
        if self._unsaved.get(citizen) == key:
            self._unsaved.pop(citizen, None)
        self._store.forget(citizen)

    def open(self, sealed: SealedIdentity) -> CitizenIdentity:
        """Decrypt; raises ``IdentityErasedError`` once the citizen's key was destroyed."""
        data_key = self._data_key(sealed.citizen, create=False)
        try:
            plain = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, sealed.citizen.encode())
        except InvalidTag as exc:
            if self._store.is_destroyed(sealed.citizen):
                raise IdentityErasedError("this record predates the citizen's erasure") from exc
            raise IdentityTamperedError("the sealed identity failed authentication") from exc
        return CitizenIdentity.from_json(plain)

    # --- bytes under the same keys: attachments (photos, videos) -----------------------------

    def seal_bytes(self, owner: str, content: bytes, label: str) -> tuple[bytes, bytes]:
        """Encrypt ``content`` under ``owner``'s data key (a citizen's pseudonym, or
        ``ticket:<id>`` for an anonymous ticket), made on first use: (nonce, ciphertext).
        ``label`` (an attachment's SHA-256) is bound in as associated data with the owner, so
        a copy cannot be passed off as another file or another owner's. Erasing the owner
        (``erase``) makes it unreadable, like their sealed identity."""
        nonce = os.urandom(_NONCE_BYTES)
        aad = owner.encode() + b"\x00" + label.encode()
        return nonce, AESGCM(self._data_key(owner, create=True)).encrypt(nonce, content, aad)

    def open_bytes(self, owner: str, nonce: bytes, ciphertext: bytes, label: str) -> bytes:
        """Decrypt what ``seal_bytes`` made; ``IdentityErasedError`` once the owner was erased."""
        data_key = self._data_key(owner, create=False)
        try:
            return AESGCM(data_key).decrypt(nonce, ciphertext,
                                            owner.encode() + b"\x00" + label.encode())
        except InvalidTag as exc:
            if self._store.is_destroyed(owner):
                raise IdentityErasedError("this copy predates its owner's erasure") from exc
            raise IdentityTamperedError("the sealed bytes failed authentication") from exc

    def seal_bytes_under(self, owner: str, key: WrappedKey, content: bytes, label: str
                         ) -> tuple[bytes, bytes]:
        """``seal_bytes`` under this key of ``owner``'s (the one their ticket's contact was
        sealed with), never a key made here: (nonce, ciphertext)."""
        nonce = os.urandom(_NONCE_BYTES)
        aad = owner.encode() + b"\x00" + label.encode()
        return nonce, AESGCM(self._unwrap(owner, key)).encrypt(nonce, content, aad)

    def seal_bytes_once(self, owner: str, content: bytes, label: str
                        ) -> tuple[WrappedKey, bytes, bytes]:
        """Encrypt under a fresh data key of its own, wrapped by the master key but NOT put in
        the key store: (wrapped key, nonce, ciphertext). The caller keeps the wrapped key beside
        the ciphertext (an upload waiting for its ticket): deleting that row destroys both."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        aad = owner.encode() + b"\x00" + label.encode()
        return self._wrap(owner, data_key), nonce, AESGCM(data_key).encrypt(nonce, content, aad)

    def open_bytes_once(self, owner: str, wrapped: WrappedKey, nonce: bytes, ciphertext: bytes,
                        label: str) -> bytes:
        try:
            return AESGCM(self._unwrap(owner, wrapped)).decrypt(
                nonce, ciphertext, owner.encode() + b"\x00" + label.encode())
        except InvalidTag as exc:
            raise IdentityTamperedError("the sealed bytes failed authentication") from exc

    def was_erased(self, owner: str) -> bool:
        """The owner's key was destroyed at some time (they may have come back since)."""
        return self._store.is_destroyed(owner)

    def erase(self, citizen: str) -> None:
        """Crypto-shred: destroy the citizen's data key."""
        self._unsaved.pop(citizen, None)
        self._store.destroy(citizen)

    def rewrap(self, citizen: str) -> None:
        """Re-wrap the citizen's data key under the current master key (master key rotation)."""
        wrapped = self._store.get(citizen)
        if wrapped is not None and wrapped.master_key_id != self._current:
            self._store.put(citizen, self._wrap(citizen, self._unwrap(citizen, wrapped)))
