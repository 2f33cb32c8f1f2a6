"""Erasure seen by an outside auditor (issue #6 item 5), on the real processes.

A citizen's tickets are in the ledger; the supervision office has intake destroy the citizen's
key; afterwards the auditor, with only the public key fetched over HTTP and the standalone
verifier copied to a directory outside the repository, checks that: every entry from before
the erasure is byte for byte what it was, each history chains from genesis and every entry is
in a signed tree, the newer checkpoint is consistent with the one from before, the whole
ledger verifies (API and `verify` command), and no personal data is in any entry."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from backbone.privacy import find_personal_data
from tests.e2e.actors import submit, wait_for_event
from tests.e2e.platform_harness import ROOT, Platform

pytestmark = pytest.mark.e2e

PHONE = "13911112222"
NAME = "赵秀英"


@pytest.fixture(scope="module")
def platform(infra):
    p = Platform(names=["intake", "sla", "audit"])  # enough for tickets with a few events
    p.start_all()
    yield p
    p.stop_all()


def with_proofs(p: Platform, code: str) -> dict[str, Any]:
    with p.client("audit", "auditor", sub="auditor-erasure") as c:
        r = c.get(f"/v1/tickets/{code}/history", params={"proofs": "true"})
    assert r.status_code == 200, r.text
    return r.json()


def verify_outside(folder: Path, name: str, body: dict[str, Any]) -> str:
    (folder / name).write_text(json.dumps(body))
    done = subprocess.run([sys.executable, "verify_ledger.py", name, "--key", "ledger.vkey",
                           "--ledger-id", "minsheng.example/audit"], cwd=folder,
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"})
    assert done.returncode == 0 and done.stdout.startswith("VALID"), done.stdout + done.stderr
    return done.stdout


def test_after_the_key_is_destroyed_the_histories_still_verify(platform, tmp_path):
    p = platform
    codes = [submit(p, text=t, contact={"name": NAME, "phone": PHONE})["code"] for t in (
        "颍州区清河路的路灯坏了三天了，晚上很黑，请尽快修。",
        "颍州区清河路口的井盖松动，车辆经过时声音很大。")]
    for code in codes:
        wait_for_event(p, code, "DeadlineSet")
    before = {code: with_proofs(p, code) for code in codes}
    assert all(b["verification"]["ok"] for b in before.values())
    old_size = max(b["checkpoint"]["tree_size"] for b in before.values())

    with p.client("intake", "supervisor", sub="duchashi-erasure") as c:
        erased = c.post("/v1/citizens/erasure", json={"ticket_code": codes[0]})
        assert erased.status_code == 200, erased.text
    # the named ticket always; the citizen's others as far as intake's read model lists them
    assert codes[0] in erased.json()["tickets"], erased.text
    codes = [c for c in codes if c in erased.json()["tickets"]]
    with p.client("intake", "dispatcher", sub="dispatcher-e2e") as c:
        assert c.get(f"/v1/tickets/{codes[0]}/contact").status_code == 410  # key is gone

    for code in codes:
        wait_for_event(p, code, "CitizenIdentityErased")
    after = {code: with_proofs(p, code) for code in codes}
    for code in codes:
        old, new = before[code]["entries"], after[code]["entries"]
        assert [e["entry_hash"] for e in new[:len(old)]] == [e["entry_hash"] for e in old]
        assert [e["raw"] for e in new[:len(old)]] == [e["raw"] for e in old]
        assert "CitizenIdentityErased" in [e["event_type"] for e in new[len(old):]]
        assert after[code]["verification"]["ok"] is True, after[code]["verification"]
        for e in new:
            raw = base64.b64decode(e["raw"])
            assert PHONE.encode() not in raw and NAME.encode() not in raw
            assert not [v for v in (e["payload"] or {}).values()
                        if isinstance(v, str) and find_personal_data(v)], e["payload"]

    # the outside auditor: their own folder, the tool, the public key, data fetched over HTTP
    folder = tmp_path / "auditor"
    folder.mkdir()
    assert ROOT not in folder.parents
    shutil.copy(ROOT / "tools" / "verify_ledger.py", folder / "verify_ledger.py")
    (folder / "ledger.vkey").write_text(
        httpx.get(p.url("audit") + "/v1/checkpoints/public-key", timeout=30).json()["vkey"])
    for code in codes:
        assert "chained from genesis" in verify_outside(folder, f"{code}.json", after[code])
    new_size = max(a["checkpoint"]["tree_size"] for a in after.values())
    assert new_size > old_size
    with p.client("audit", "auditor", sub="auditor-erasure") as c:
        consistency = c.get("/v1/proofs/consistency",
                            params={"first": old_size, "second": new_size})
        assert consistency.status_code == 200, consistency.text
        assert "is a prefix" in verify_outside(folder, "consistency.json", consistency.json())
        report = c.get("/v1/ledger/verification").json()
    assert report["ok"] and report["findings"] == [] and report["ledger_size"] >= new_size

    env = {**p.env, "MINSHENG_PG_SCHEMA": "audit"}
    done = subprocess.run([sys.executable, "-m", "services.audit", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "VERIFIED" in done.stdout, done.stdout + done.stderr
