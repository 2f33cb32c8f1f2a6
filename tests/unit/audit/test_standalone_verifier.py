"""Proofs checked by tools/verify_ledger.py, run as an outside auditor would run it."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.bundle import consistency_bundle, inclusion_bundle
from services.audit.domain.chain import InMemoryLedger
from services.audit.domain.checkpoint import Checkpoint, CheckpointSigner
from services.audit.domain.merkle import leaf_hash

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "tools" / "verify_ledger.py"
LEDGER_ID = "minsheng.example/audit"


def load_tool() -> Any:
    spec = importlib.util.spec_from_file_location("verify_ledger_tool", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    signer = CheckpointSigner.generate("minsheng-audit")
    ledger = InMemoryLedger()
    for n in range(37):
        ledger.record(
            topic="tickets.events",
            partition=n % 3,
            offset=n // 3,
            ticket_id=f"工单-{n % 5}",
            event=f"事件 {n}".encode(),
        )
    notes = {
        s: signer.sign(
            Checkpoint(LEDGER_ID, s, ledger.tree.root(s), datetime(2023, 11, 23, tzinfo=UTC))
        )
        for s in (13, 37)
    }
    return {"signer": signer, "ledger": ledger, "notes": notes}


def inclusion(world: dict[str, Any], seq: int, size: int = 37) -> dict[str, Any]:
    ledger = world["ledger"]
    return inclusion_bundle(
        entry=ledger.entries[seq],
        path=ledger.tree.inclusion_proof(seq, size),
        checkpoint_note=world["notes"][size],
    )


def consistency(world: dict[str, Any]) -> dict[str, Any]:
    return consistency_bundle(
        old_checkpoint_note=world["notes"][13],
        new_checkpoint_note=world["notes"][37],
        path=world["ledger"].tree.consistency_proof(13, 37),
    )


def run(
    tmp_path: Path, bundle: dict[str, Any], key: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    proof = tmp_path / "bundle.json"
    proof.write_text(json.dumps(bundle, ensure_ascii=False))
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(key)
    return subprocess.run(
        [sys.executable, str(TOOL), str(proof), "--key", str(keyfile), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_valid_inclusion_and_consistency_proofs_pass(world: dict[str, Any], tmp_path: Path) -> None:
    vkey = world["signer"].verifier.vkey()
    for bundle in (
        inclusion(world, 0),
        inclusion(world, 36),
        inclusion(world, 5, 13),
        consistency(world),
    ):
        done = run(tmp_path, bundle, vkey, "--ledger-id", LEDGER_ID)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("VALID")


def test_pem_key_works(world: dict[str, Any], tmp_path: Path) -> None:
    v = world["signer"].verifier
    done = run(tmp_path, inclusion(world, 20), v.public_pem(), "--key-name", v.name)
    assert done.returncode == 0, done.stdout


def _flip_hex(h: str) -> str:
    return ("1" if h[0] == "0" else "0") + h[1:]


FORGERIES = {
    "changed path hash": lambda b: b["proof"]["path"].__setitem__(
        0, _flip_hex(b["proof"]["path"][0])
    ),
    "swapped path": lambda b: b["proof"]["path"].reverse(),
    "dropped path hash": lambda b: b["proof"]["path"].pop(),
    "wrong index": lambda b: b["proof"].__setitem__("leaf_index", b["proof"]["leaf_index"] + 1),
    "altered event": lambda b: b["proof"]["entry"].__setitem__("event", "ZmFrZQ=="),
    "altered entry hash": lambda b: b["proof"]["entry"].__setitem__(
        "entry_hash", _flip_hex(b["proof"]["entry"]["entry_hash"])
    ),
    "wrong size": lambda b: b["proof"].__setitem__(
        "checkpoint", b["proof"]["checkpoint"].replace("\n37\n", "\n38\n", 1)
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_inclusion_proofs_are_invalid(
    world: dict[str, Any], tmp_path: Path, forgery: str
) -> None:
    bundle = copy.deepcopy(inclusion(world, 9))
    FORGERIES[forgery](bundle)
    done = run(tmp_path, bundle, world["signer"].verifier.vkey())
    assert done.returncode == 1 and done.stdout.startswith("INVALID"), done.stdout


def test_forged_consistency_and_foreign_key_are_invalid(
    world: dict[str, Any], tmp_path: Path
) -> None:
    vkey = world["signer"].verifier.vkey()
    swapped = consistency(world)
    swapped["proof"]["path"].reverse()
    resized = consistency(world)
    resized["proof"]["old_checkpoint"], resized["proof"]["new_checkpoint"] = (
        world["notes"][37],
        world["notes"][13],
    )
    other = CheckpointSigner.generate("minsheng-audit").verifier.vkey()
    for bundle, key in ((swapped, vkey), (resized, vkey), (consistency(world), other)):
        done = run(tmp_path, bundle, key)
        assert done.returncode == 1 and done.stdout.startswith("INVALID"), done.stdout
    done = run(tmp_path, consistency(world), vkey, "--ledger-id", "other.example")
    assert done.returncode == 1 and "ledger" in done.stdout


def test_garbage_input_is_invalid_not_a_crash(world: dict[str, Any], tmp_path: Path) -> None:
    done = run(tmp_path, {"proof": {"type": "inclusion"}}, world["signer"].verifier.vkey())
    assert done.returncode == 1 and done.stdout.startswith("INVALID: malformed")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 37), data=st.data())
def test_tool_and_domain_agree_on_every_proof(
    world: dict[str, Any], n: int, data: st.DataObject
) -> None:
    tool = load_tool()
    tree = world["ledger"].tree
    m = data.draw(st.integers(0, n - 1))
    leaf = leaf_hash(world["ledger"].entries[m].leaf_data())
    assert tool.inclusion_root(leaf, m, n, tree.inclusion_proof(m, n)) == tree.root(n)
    k = data.draw(st.integers(0, n))
    tool.check_consistency(k, n, tree.root(k), tree.root(n), tree.consistency_proof(k, n))
