"""The audit service as an outside auditor meets it: a generic gRPC client (reflection), the
HTTP API with every role's token, the standalone verifier run outside the repository on what
was fetched over HTTP, and bad input of every kind (a reason, never a server error)."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from typing import Any

import grpc
import httpx
import pytest

from backbone import auth
from services.audit.domain.checkpoint import CheckpointSigner
from tests.integration.audit.conftest import ROOT, eventually
from tests.integration.audit.generic_grpc import SERVICE, call_stream, discover
from tests.integration.audit.lifecycle import new_ticket, ticket_lifecycle

pytestmark = pytest.mark.integration

OTHER_ROLES = [r for r in auth.ROLES if r not in ("auditor", "supervisor")]
# may replay a ticket's history but not read the whole ledger (a unit: its own tickets only)
NO_REPLAY = [r for r in OTHER_ROLES if r not in ("dispatcher", "unit")]


@pytest.fixture(scope="module")
async def tickets(audit, producer):
    """Two tickets, one after the other, so at least two checkpoints of different sizes."""
    topic = audit.settings.lifecycle_topic
    made = [new_ticket() for _ in range(2)]
    with audit.client() as c:
        for n, (tid, code) in enumerate(made, start=1):
            for env in ticket_lifecycle(tid, code):
                await producer.send_and_wait(topic, env.SerializeToString(), key=tid.encode())
            eventually(lambda code=code: len(c.get(f"/v1/tickets/{code}/history").json()
                                             .get("entries", [])) == 10,
                       what=f"{code} in the ledger")
            eventually(lambda n=n: c.get("/v1/checkpoints/latest").json()
                       .get("tree_size", 0) >= 10 * n, what="a checkpoint over it")
    return made


def token(audit, role: str, sub: str = "", unit: str = "yingzhou") -> str:
    return auth.mint(audit.settings, sub=sub or role, role=role,
                     unit=unit if role == "unit" else "")


# -- 1. replay with a generic client ---------------------------------------------------------

def test_a_generic_client_discovers_the_api_by_reflection_and_replays(audit, tickets):
    tid, code = tickets[0]
    target = f"127.0.0.1:{audit.settings.grpc_port}"
    with grpc.insecure_channel(target) as channel:
        services, service = discover(channel)
    assert SERVICE in services and "ReplayTicket" in service.methods_by_name
    by_code = call_stream(target, "ReplayTicket", {"ticket_code": code, "with_proofs": True},
                          token(audit, "auditor", "auditor-generic"))
    by_id = call_stream(target, "ReplayTicket", {"ticket_id": tid},
                        token(audit, "auditor", "auditor-generic"))
    with audit.client() as c:
        http = c.get(f"/v1/tickets/{tid}/history").json()["entries"]
    assert [m["ticket_seq"] for m in by_code] == [str(n) for n in range(1, 11)]  # int64: JSON str
    assert [m["entry_hash"] for m in by_id] == [m["entry_hash"] for m in by_code]
    assert [base64.b64decode(m["entry_hash"]).hex() for m in by_id] == [
        e["entry_hash"] for e in http]
    first = by_code[0]
    assert base64.b64decode(first["prev_hash"]) == bytes(32)  # the chain's genesis
    assert first["leaf_hash"] and first["inclusion_proof"]["checkpoint"].startswith(
        "minsheng.example/audit\n")


@pytest.mark.parametrize(("request_", "status"), [
    ({"ticket_code": "FY\u0000x"}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"ticket_id": "a\nb"}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"ticket_code": "x" * 201}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"ticket_code": "   "}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"ticket_code": "FY-250101-0000"}, grpc.StatusCode.NOT_FOUND),
])
def test_grpc_bad_references_are_refused_with_a_reason(audit, tickets, request_, status):
    with pytest.raises(grpc.RpcError) as err:
        call_stream(f"127.0.0.1:{audit.settings.grpc_port}", "ReplayTicket", request_,
                    token(audit, "auditor"))
    assert err.value.code() == status and err.value.details()


@pytest.mark.parametrize("role", NO_REPLAY)
def test_grpc_refuses_every_other_role(audit, tickets, role):
    with pytest.raises(grpc.RpcError) as err:
        call_stream(f"127.0.0.1:{audit.settings.grpc_port}", "ReplayTicket",
                    {"ticket_code": tickets[0][1]}, token(audit, role))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert role in err.value.details()


def test_grpc_lets_a_unit_replay_only_what_was_handed_to_it(audit, tickets):
    target = f"127.0.0.1:{audit.settings.grpc_port}"
    mine = call_stream(target, "ReplayTicket", {"ticket_code": tickets[0][1]},
                       token(audit, "unit", unit="yingzhou"))
    assert len(mine) == 10
    with pytest.raises(grpc.RpcError) as err:
        call_stream(target, "ReplayTicket", {"ticket_code": tickets[0][1]},
                    token(audit, "unit", unit="yingquan"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "yingquan" in err.value.details()


# -- 4. access ----------------------------------------------------------------------------------

def reads_of(tid: str, code: str) -> list[str]:
    return [f"/v1/tickets/{code}/history", f"/v1/tickets/{tid}/history?proofs=true",
            f"/v1/tickets/{code}/state"]


def ledger_reads() -> list[str]:
    return ["/v1/ledger/entries", "/v1/ledger/verification", "/v1/proofs/inclusion?ledger_seq=0",
            "/v1/proofs/consistency?first=1", "/v1/access-log", "/v1/access-log/verify"]


def test_every_role_but_auditor_and_supervisor_is_refused_with_a_reason(audit, tickets):
    tid, code = tickets[0]
    for role in NO_REPLAY:
        with audit.client(role=role) as c:
            for path in reads_of(tid, code) + ledger_reads():
                r = c.get(path)
                assert r.status_code == 403, (role, path, r.text)
                assert role in r.json()["detail"], r.text
    # the supervision office and the dispatchers replay any ticket; a unit the tickets handed
    # to it (the fixture's tickets went to yingzhou); none of them reads the whole ledger
    for role, unit in (("supervisor", ""), ("dispatcher", ""), ("unit", "yingzhou")):
        with audit.client(role=role, unit=unit) as c:
            for path in reads_of(tid, code):
                assert c.get(path).status_code == 200, (role, path)
            for path in ledger_reads():
                r = c.get(path)
                assert r.status_code == 403 and role in r.json()["detail"], (role, path)
    with audit.client(role="unit", unit="yingquan") as c:  # never handed this ticket
        for path in reads_of(tid, code):
            r = c.get(path)
            assert r.status_code == 403 and "yingquan" in r.json()["detail"], (path, r.text)
    for path in reads_of(tid, code) + ledger_reads():
        r = httpx.get(audit.url + path)
        assert r.status_code == 401 and r.json()["detail"], path
        forged = httpx.get(audit.url + path, headers={"authorization": "Bearer ms1.e30.AAAA"})
        assert forged.status_code == 401, path


def test_reads_are_listed_by_ticket_code_as_well_as_by_id(audit, tickets):
    tid, code = tickets[1]
    with audit.client(sub="auditor-zhao") as c:
        c.get(f"/v1/tickets/{code}/state")
    call_stream(f"127.0.0.1:{audit.settings.grpc_port}", "ReplayTicket", {"ticket_code": code},
                token(audit, "supervisor", "duchashi-li"))
    with audit.client(sub="auditor-zhao") as c:
        by_code = c.get("/v1/access-log", params={"ticket": code}).json()["reads"]
        by_id = c.get("/v1/access-log", params={"ticket": tid}).json()["reads"]
    assert by_code == by_id
    assert [(r["sub"], r["role"], r["action"], r["via"], r["target"]) for r in by_code][-2:] == [
        ("auditor-zhao", "auditor", "state", "http", tid),
        ("duchashi-li", "supervisor", "history", "grpc", tid)]
    assert all(r["at"] for r in by_code)


# -- 2. state at a moment -----------------------------------------------------------------------

def test_state_before_the_first_event_is_empty_and_says_so(audit, tickets):
    _, code = tickets[0]
    with audit.client() as c:
        before = c.get(f"/v1/tickets/{code}/state", params={"at": "2023-11-20T08:59:59Z"}).json()
        during = c.get(f"/v1/tickets/{code}/state", params={"at": "2023-11-20T12:30:00Z"}).json()
    assert (before["existed"], before["status"], before["events_applied"]) == (
        False, "unknown", 0)
    assert before["first_event_at"] == "2023-11-20T09:00:00+00:00"
    assert "first" in before["note"]
    assert during["existed"] and during["status"] == "assigned" and "note" not in during


def test_state_at_a_moment_over_grpc_matches_http(audit, tickets):
    from datetime import UTC, datetime

    from google.protobuf.json_format import MessageToDict
    from minsheng.v1 import audit_api_pb2 as pb
    from minsheng.v1 import audit_api_pb2_grpc as pb_grpc

    tid, code = tickets[0]
    auditor = [("authorization", f"Bearer {token(audit, 'auditor', 'auditor-qian')}")]
    with grpc.insecure_channel(f"127.0.0.1:{audit.settings.grpc_port}") as channel:
        stub = pb_grpc.AuditServiceStub(channel)
        answers = {}
        for at in ("2023-11-20T08:59:59+00:00", "2023-11-20T12:30:00+00:00", None):
            request = pb.GetTicketStateRequest(ticket_code=code)
            if at:
                request.at.FromDatetime(datetime.fromisoformat(at).astimezone(UTC))
            answers[at] = stub.GetTicketState(request, metadata=auditor, timeout=30)
        by_id = stub.GetTicketState(pb.GetTicketStateRequest(ticket_id=tid), metadata=auditor,
                                    timeout=30)
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetTicketState(pb.GetTicketStateRequest(ticket_code="FY-250101-00000-A"),
                                metadata=auditor, timeout=30)
        with pytest.raises(grpc.RpcError) as stranger:
            stub.GetTicketState(pb.GetTicketStateRequest(ticket_code=code), timeout=30,
                                metadata=[("authorization",
                                           f"Bearer {token(audit, 'unit', unit='yingquan')}")])
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND and missing.value.details()
    assert stranger.value.code() == grpc.StatusCode.PERMISSION_DENIED
    before, during, now = answers.values()
    assert not before.existed and before.status == "unknown" and "first" in before.note
    assert during.existed and during.status == "assigned" and during.owner_unit
    assert MessageToDict(now) == MessageToDict(by_id)
    with audit.client() as c:
        http = c.get(f"/v1/tickets/{code}/state").json()
        reads = c.get("/v1/access-log", params={"ticket": code}).json()["reads"]
    assert (now.status, now.owner_unit, now.events_applied, now.rating or None) == (
        http["status"], http["owner_unit"], http["events_applied"], http["rating"])
    assert [m.text for m in now.citizen_was_told] == [m["text"] for m in http["citizen_was_told"]]
    assert any((r["sub"], r["action"], r["via"]) == ("auditor-qian", "state", "grpc")
               for r in reads), reads


@pytest.mark.parametrize("at", ["garbage", "2023-11-20T12:00:00", "2023-13-01T00:00:00Z",
                                "99999-01-01T00:00:00Z", "2023-11-20T25:00:00Z", "%00",
                                "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                "-1", "1e400"])
def test_malformed_or_extreme_moments_are_a_client_error_or_an_answer(audit, tickets, at):
    _, code = tickets[0]
    with audit.client() as c:
        r = c.get(f"/v1/tickets/{code}/state", params={"at": at})
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code != 200:
        assert r.json()["detail"]


# -- 6. bad input everywhere --------------------------------------------------------------------

BAD_READS = [
    "/v1/tickets/%00/history", "/v1/tickets/FY%00X/state", "/v1/tickets/%09/history",
    "/v1/tickets/" + "x" * 300 + "/history", "/v1/tickets/FY-999999-99999-T/history",
    "/v1/tickets/%E4%B8%AD%E6%96%87/history", "/v1/tickets/FY'--/history",
    "/v1/tickets/x/history?proofs=maybe",
    "/v1/ledger/entries?after=-1", "/v1/ledger/entries?after=abc", "/v1/ledger/entries?limit=0",
    "/v1/ledger/entries?after=99999999999999999999999",
    "/v1/proofs/inclusion", "/v1/proofs/inclusion?ledger_seq=-5",
    "/v1/proofs/inclusion?ledger_seq=99999999999999999999999",
    "/v1/proofs/inclusion?ledger_seq=0&tree_size=0",
    # an entry outside the tree it names: a 4xx whichever sizes happen to be signed
    "/v1/proofs/inclusion?ledger_seq=5&tree_size=3",
    "/v1/proofs/inclusion?ledger_seq=0&tree_size=99999999999999999999999",
    "/v1/proofs/consistency", "/v1/proofs/consistency?first=-1",
    "/v1/proofs/consistency?first=3&second=2", "/v1/proofs/consistency?first=1e9",
    "/v1/proofs/consistency?first=99999999999999999999999",
    "/v1/access-log?ticket=%00", "/v1/access-log?after=-3", "/v1/access-log?limit=100000",
    "/v1/checkpoints?after=-7", "/v1/checkpoints?limit=0",
]


def test_a_tree_size_never_signed_is_a_404(audit, tickets):
    with audit.client() as c:
        signed = {cp["tree_size"] for cp in c.get("/v1/checkpoints", params={"limit": 1000})
                  .json()["checkpoints"]}
        unsigned = next(n for n in range(1, max(signed) + 2) if n not in signed)
        r = c.get("/v1/proofs/inclusion", params={"ledger_seq": 0, "tree_size": unsigned})
    assert r.status_code == 404 and str(unsigned) in r.json()["detail"], r.text


@pytest.mark.parametrize("path", BAD_READS)
def test_bad_input_is_a_4xx_with_a_reason_never_a_500(audit, tickets, path):
    with audit.client() as c:
        r = c.get(path)
    assert 400 <= r.status_code < 500 or (r.status_code == 200 and "99999" in path), r.text
    if r.status_code != 200:
        assert r.json()["detail"], r.text


# -- 3. the standalone verifier, outside the repository ---------------------------------------

@pytest.fixture(scope="module")
def outside(audit, tickets, tmp_path_factory) -> dict[str, Any]:
    """A fresh directory with only the tool, the public key and what HTTP handed out."""
    here = tmp_path_factory.mktemp("auditor")
    assert ROOT not in here.parents
    shutil.copy(ROOT / "tools" / "verify_ledger.py", here / "verify_ledger.py")
    _, code = tickets[0]
    anyone = httpx.Client(base_url=audit.url, timeout=30)
    (here / "ledger.vkey").write_text(anyone.get("/v1/checkpoints/public-key").json()["vkey"])
    sizes = [cp["tree_size"] for cp in anyone.get("/v1/checkpoints").json()["checkpoints"]]
    with audit.client(sub="auditor-outside") as c:
        got = {"history": c.get(f"/v1/tickets/{code}/history", params={"proofs": "true"}).json(),
               "inclusion": c.get("/v1/proofs/inclusion",
                                  params={"ledger_seq": 3}).json(),
               "consistency": c.get("/v1/proofs/consistency",
                                    params={"first": sizes[0]}).json()}
    for name, body in got.items():
        (here / f"{name}.json").write_text(json.dumps(body))
    return {"dir": here, **got}


def run_tool(outside: dict[str, Any], bundle: dict[str, Any] | str,
             key: str = "ledger.vkey") -> subprocess.CompletedProcess[str]:
    path = outside["dir"] / "input.json"
    path.write_text(bundle if isinstance(bundle, str) else json.dumps(bundle))
    return subprocess.run([sys.executable, "verify_ledger.py", path.name, "--key", key,
                           "--ledger-id", "minsheng.example/audit"], cwd=outside["dir"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"})


@pytest.mark.parametrize("kind", ["history", "inclusion", "consistency"])
def test_what_http_hands_out_verifies_outside_with_the_public_key_alone(outside, kind):
    done = run_tool(outside, outside[kind])
    assert done.returncode == 0 and done.stdout.startswith("VALID"), done.stdout + done.stderr


def flip(hex_hash: str) -> str:
    return ("0" if hex_hash[0] != "0" else "1") + hex_hash[1:]


def _history_forgeries() -> dict[str, Any]:
    def entry_hash(h: dict[str, Any]) -> None:
        h["entries"][2]["entry_hash"] = flip(h["entries"][2]["entry_hash"])

    def raw_byte(h: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(h["entries"][4]["raw"]))
        raw[-1] ^= 1
        h["entries"][4]["raw"] = base64.b64encode(bytes(raw)).decode()

    def wrong_index(h: dict[str, Any]) -> None:
        h["entries"][1]["ledger_seq"] += 1

    def wrong_tree_size(h: dict[str, Any]) -> None:
        h["entries"][0]["inclusion_proof"]["tree_size"] -= 1

    def truncated_path(h: dict[str, Any]) -> None:
        h["entries"][0]["inclusion_proof"]["path"].pop()

    def dropped_entry(h: dict[str, Any]) -> None:
        del h["entries"][5]

    def swapped(h: dict[str, Any]) -> None:
        h["entries"][6], h["entries"][7] = h["entries"][7], h["entries"][6]

    def other_ticket(h: dict[str, Any]) -> None:
        h["entries"][3]["ticket_id"] = "someone-else"

    def no_checkpoint(h: dict[str, Any]) -> None:
        h["checkpoint"] = None

    return {f.__name__: f for f in (entry_hash, raw_byte, wrong_index, wrong_tree_size,
                                    truncated_path, dropped_entry, swapped, other_ticket,
                                    no_checkpoint)}


HISTORY_FORGERIES = _history_forgeries()


@pytest.mark.parametrize("forgery", sorted(HISTORY_FORGERIES))
def test_a_forged_history_is_rejected_with_a_reason(outside, forgery):
    forged = copy.deepcopy(outside["history"])
    HISTORY_FORGERIES[forgery](forged)
    done = run_tool(outside, forged)
    assert done.returncode == 1 and done.stdout.startswith("INVALID: "), done.stdout
    assert len(done.stdout.strip()) > len("INVALID: ") + 10 and "Traceback" not in done.stderr


def _bundle_forgeries() -> dict[str, Any]:
    def changed_hash(b: dict[str, Any]) -> None:
        b["proof"]["path"][0] = flip(b["proof"]["path"][0])

    def wrong_index(b: dict[str, Any]) -> None:
        b["proof"]["leaf_index"] += 1
        b["proof"]["entry"]["ledger_seq"] += 1

    def truncated_path(b: dict[str, Any]) -> None:
        b["proof"]["path"].pop()

    def wrong_tree_size(b: dict[str, Any]) -> None:
        note = b["proof"]["checkpoint"].split("\n")
        note[1] = str(int(note[1]) + 1)
        b["proof"]["checkpoint"] = "\n".join(note)

    def short_hash(b: dict[str, Any]) -> None:
        b["proof"]["path"][0] = b["proof"]["path"][0][:-2]

    return {f.__name__: f for f in (changed_hash, wrong_index, truncated_path,
                                    wrong_tree_size, short_hash)}


BUNDLE_FORGERIES = _bundle_forgeries()


# every forgery of either proof, but a leaf index forged into a consistency proof, which has none
FORGED_PROOFS = [(kind, forgery) for kind in ("inclusion", "consistency")
                 for forgery in sorted(BUNDLE_FORGERIES)
                 if not (kind == "consistency" and forgery == "wrong_index")]


@pytest.mark.parametrize(("kind", "forgery"), FORGED_PROOFS)
def test_a_forged_proof_is_rejected_with_a_reason(outside, kind, forgery):
    forged = copy.deepcopy(outside[kind])
    if kind == "consistency":
        forged["proof"]["checkpoint"] = forged["proof"]["new_checkpoint"]
        BUNDLE_FORGERIES[forgery](forged)
        forged["proof"]["new_checkpoint"] = forged["proof"].pop("checkpoint")
    else:
        BUNDLE_FORGERIES[forgery](forged)
    done = run_tool(outside, forged)
    assert done.returncode == 1 and done.stdout.startswith("INVALID: "), done.stdout


@pytest.mark.parametrize("kind", ["history", "inclusion", "consistency"])
def test_another_key_rejects_everything(outside, kind):
    other = CheckpointSigner.generate("minsheng-audit").verifier.vkey()
    (outside["dir"] / "other.vkey").write_text(other)
    done = run_tool(outside, outside[kind], key="other.vkey")
    assert done.returncode == 1 and "not signed by" in done.stdout, done.stdout


@pytest.mark.parametrize("garbage", ["[]", "null", "42", '{"entries": []}', "{}", "not json"])
def test_garbage_is_invalid_not_a_traceback(outside, garbage):
    done = run_tool(outside, garbage)
    assert done.returncode == 1 and done.stdout.startswith("INVALID"), done.stdout
    assert "Traceback" not in done.stderr, done.stderr
