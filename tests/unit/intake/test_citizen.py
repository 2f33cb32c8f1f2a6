import os
from dataclasses import asdict, fields

import pytest

from services.intake.domain.citizen import (
    CitizenIdentity,
    IdentityErasedError,
    IdentityTamperedError,
    IdentityVault,
    InMemoryCitizenKeyStore,
    MissingPepperError,
    SealedIdentity,
    ascii_digits,
    pseudonym,
    pseudonym_for_phone,
)

PEPPER = b"test-pepper-0123456789abcdef"
ZHANG = CitizenIdentity(name="张三", phone="13812345678", id_number="341202199001011234",
                        address="颍州区人民路128号3栋501室")


def vault(store=None, masters=None, current="m1"):
    return IdentityVault(store or InMemoryCitizenKeyStore(), masters or {"m1": os.urandom(32)}, current)


def test_pseudonym_is_stable_normalised_and_keyed():
    p = pseudonym(PEPPER, ZHANG)
    assert p == pseudonym_for_phone(PEPPER, "+86 138-1234-5678")
    assert p != pseudonym(b"another-pepper-0123456789", ZHANG)
    assert "13812345678" not in p and len(p) == 64
    assert pseudonym(PEPPER, CitizenIdentity(name="匿名")) is None
    by_id = pseudonym(PEPPER, CitizenIdentity(id_number="34120219900101123x"))
    assert by_id == pseudonym(PEPPER, CitizenIdentity(id_number="34120219900101123X"))


def test_a_phone_typed_in_full_width_digits_is_the_same_phone():
    # a Chinese IME types １３８...: the same citizen, the same pseudonym, ASCII to the gateway
    assert ascii_digits("１３８-１２３４-５６７８") == "13812345678"
    assert ascii_digits("code: ١٢٣٤٥٦") == "123456"  # any script's decimal digits
    assert pseudonym_for_phone(PEPPER, "１３８１２３４５６７８") == pseudonym(PEPPER, ZHANG)
    assert pseudonym_for_phone(PEPPER, "+８６ 1３８1２３４５６７８") == pseudonym(PEPPER, ZHANG)


def test_short_pepper_is_refused():
    with pytest.raises(MissingPepperError):
        pseudonym(b"short", ZHANG)


def test_masked_forms():
    masked = ZHANG.masked()
    assert (masked.name, masked.phone, masked.id_number) == ("张*", "138****5678", "3412**********1234")
    assert masked.address == "颍州区人民路***号*栋***室"


def test_a_masked_contact_as_event_dict_is_its_asdict():
    # built field by field (asdict's deep copy was a share of every submission's CPU): the
    # same keys in the same order and the same values as asdict, for every field there is
    for identity in (ZHANG, CitizenIdentity(phone="0558-2211234"),
                     CitizenIdentity(name="某公司", kind="enterprise", organisation="某公司")):
        masked = identity.masked()
        assert list(masked.as_event_dict().items()) == list(asdict(masked).items())
        assert list(masked.as_event_dict()) == [f.name for f in fields(masked)]


def test_seal_open_round_trip_and_ciphertext_hides_identity():
    v = vault()
    sealed = v.seal("p1", ZHANG)
    assert "张三".encode() not in sealed.ciphertext and b"13812345678" not in sealed.ciphertext
    assert v.open(sealed) == ZHANG


def test_erasure_shreds_every_sealed_copy():
    v = vault()
    first, second = v.seal("p1", ZHANG), v.seal("p1", ZHANG)
    other = v.seal("p2", CitizenIdentity(phone="13900000000"))
    v.erase("p1")
    for sealed in (first, second):
        with pytest.raises(IdentityErasedError):
            v.open(sealed)
    assert v.open(other).phone == "13900000000"
    # Coming back after erasure gives a new key; old records stay unreadable.
    fresh = v.seal("p1", ZHANG)
    assert v.open(fresh) == ZHANG
    with pytest.raises(IdentityErasedError):
        v.open(first)


def test_record_cannot_be_moved_to_another_citizen_or_altered():
    v = vault()
    sealed = v.seal("p1", ZHANG)
    v.seal("p2", ZHANG)
    with pytest.raises(IdentityTamperedError):
        v.open(SealedIdentity("p2", sealed.nonce, sealed.ciphertext))
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(IdentityTamperedError):
        v.open(SealedIdentity("p1", sealed.nonce, flipped))


def test_master_key_rotation_rewraps_data_keys():
    store = InMemoryCitizenKeyStore()
    old, new = os.urandom(32), os.urandom(32)
    sealed = vault(store, {"m1": old}).seal("p1", ZHANG)
    rotated = vault(store, {"m1": old, "m2": new}, current="m2")
    rotated.rewrap("p1")
    assert store.get("p1").master_key_id == "m2"
    assert vault(store, {"m2": new}, current="m2").open(sealed) == ZHANG


def test_master_key_must_be_256_bits():
    with pytest.raises(ValueError):
        vault(masters={"m1": b"short"})


def test_seal_unsaved_leaves_a_new_key_to_the_callers_transaction():
    store = InMemoryCitizenKeyStore()
    v = vault(store)
    sealed, key = v.seal_unsaved("c1", ZHANG)
    assert key is not None and store.get("c1") is None  # not stored here
    again, same = v.seal_unsaved("c1", ZHANG)
    assert same == key  # a second request of the new citizen shares it
    v.key_saved("c1", key)
    assert store.get("c1") == key
    assert v.open(sealed) == ZHANG and v.open(again) == ZHANG
    assert v.seal_unsaved("c1", ZHANG)[1] is None  # stored: nothing more to claim


def test_a_lost_key_is_forgotten_and_the_winners_key_used():
    store = InMemoryCitizenKeyStore()
    v = vault(store)
    _, mine = v.seal_unsaved("c2", ZHANG)
    assert mine is not None
    v.seal("c2", ZHANG)  # stands in for another process storing its key first
    winner = store.get("c2")
    v.key_lost("c2", mine)
    sealed, claim = v.seal_unsaved("c2", ZHANG)
    assert claim is None and winner is not None and winner != mine
    assert v.open(sealed) == ZHANG


def test_erasure_drops_an_unsaved_key():
    v = vault()
    _, key = v.seal_unsaved("c3", ZHANG)
    v.erase("c3")
    _, fresh = v.seal_unsaved("c3", ZHANG)
    assert key is not None and fresh is not None and fresh != key
