"""Sealing for intake alone (HPKE): only intake's key opens it, for this request id only."""

from __future__ import annotations

import pytest

from services.intake.domain.bus_seal import BusSealError, keyring_from, seal_for_intake, write_key


def test_only_the_right_key_and_request_open_a_sealed_part(tmp_path):
    ring = keyring_from(str(write_key(tmp_path, "intake-bus-a")), None)
    other = keyring_from(str(write_key(tmp_path, "intake-bus-b")), None)
    sealed = seal_for_intake(ring.current.public_raw, "王秀英 13812345678".encode(), "r-1")
    assert "王秀英".encode() not in sealed and b"13812345678" not in sealed
    assert ring.open(sealed, "intake-bus-a", "r-1").decode() == "王秀英 13812345678"
    with pytest.raises(BusSealError) as wrong_request:
        ring.open(sealed, "intake-bus-a", "r-2")
    assert wrong_request.value.code == "unreadable_sealed_part"
    with pytest.raises(BusSealError) as wrong_key:
        other.open(sealed, "intake-bus-b", "r-1")
    assert wrong_key.value.code == "unreadable_sealed_part"
    with pytest.raises(BusSealError) as unknown:
        ring.open(sealed, "intake-bus-z", "r-1")
    assert unknown.value.code == "unknown_bus_key" and "intake-bus-a" in unknown.value.reason


def test_two_keys_during_rotation(tmp_path):
    old, new = write_key(tmp_path, "intake-bus-old"), write_key(tmp_path, "intake-bus-new")
    ring = keyring_from(f"{new},{old}", None)
    assert ring.current.kid == "intake-bus-new"
    before = seal_for_intake(keyring_from(str(old), None).current.public_raw, b"x", "r")
    assert ring.open(before, "intake-bus-old", "r") == b"x"
