"""Command receipts: a retry with the same request id gets the first answer; another command
or body under the same id is refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.feedback.domain.errors import RequestIdReusedError
from services.feedback.domain.receipts import CommandReceipt, fingerprint


def test_fingerprint_ignores_key_order_and_tells_bodies_apart():
    a = fingerprint("record_callback", "FY-1", {"reached": True, "note": "无人接听"})
    assert a == fingerprint("record_callback", "FY-1", {"note": "无人接听", "reached": True})
    assert a != fingerprint("record_callback", "FY-1", {"reached": False, "note": "无人接听"})
    assert a != fingerprint("record_callback", "FY-2", {"reached": True, "note": "无人接听"})
    assert a != fingerprint("close", "FY-1", {"reached": True, "note": "无人接听"})


def test_a_receipt_replays_its_answer_and_refuses_other_commands():
    fp = fingerprint("reopen", "FY-1", {"reason": "仍未解决"})
    receipt = CommandReceipt(caller="dispatcher:staff-1", request_id="r-1", command="reopen",
                             fingerprint=fp, answer={"status": "awaiting_reply"},
                             timestamp=datetime(2026, 3, 2, tzinfo=UTC))
    assert receipt.replay_for("reopen", fp) == {"status": "awaiting_reply"}
    with pytest.raises(RequestIdReusedError, match="different body"):
        receipt.replay_for("reopen", fingerprint("reopen", "FY-1", {"reason": "另一个理由"}))
    with pytest.raises(RequestIdReusedError, match="another command"):
        receipt.replay_for("close", fingerprint("close", "FY-1", {}))


def test_receipt_ids_are_per_caller_and_request_id():
    assert CommandReceipt.create_id("a", "r") == CommandReceipt.create_id("a", "r")
    assert CommandReceipt.create_id("a", "r") != CommandReceipt.create_id("b", "r")
    assert CommandReceipt.create_id("a", "r") != CommandReceipt.create_id("a", "s")
