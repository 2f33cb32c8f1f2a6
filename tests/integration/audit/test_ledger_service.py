"""The audit service on the real Kafka and PostgreSQL: the ledger, replay, proofs, access."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import grpc
import pytest
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import audit_api_pb2 as apb
from minsheng.v1 import audit_api_pb2_grpc as apb_grpc
from minsheng.v1 import envelope_pb2, intake_events_pb2

from backbone import auth, events
from backbone.privacy import find_personal_data
from tests.integration.audit.conftest import ROOT, eventually, ledger_entries, patient
from tests.integration.audit.lifecycle import new_ticket, ticket_lifecycle

pytestmark = pytest.mark.integration

TICKETS = 6
VERIFIER = ROOT / "tools" / "verify_ledger.py"


async def publish(producer, topic: str, envs: list[envelope_pb2.Envelope]) -> None:
    for env in envs:
        await producer.send_and_wait(topic, env.SerializeToString(), key=env.ticket_id.encode())


@pytest.fixture(scope="module")
async def published(audit, producer):
    """Six tickets, interleaved; three republished copies; two poison messages; one event type
    of a newer producer this build does not know."""
    topic = audit.settings.lifecycle_topic
    tickets = [new_ticket() for _ in range(TICKETS)]
    lifecycles = {tid: ticket_lifecycle(tid, code) for tid, code in tickets}
    for step in range(10):
        await publish(producer, topic, [lifecycles[tid][step] for tid, _ in tickets])
    first = tickets[0][0]
    await publish(producer, topic, lifecycles[first][:3])  # the relay's at-least-once copies
    await producer.send_and_wait(topic, b"\x00not an envelope", key=first.encode())
    forged = events.make_envelope(payload=intake_events_pb2.TicketAccepted(), event_id=str(
        uuid.uuid4()), ticket_id=first, ticket_code="", producer="intake",
        occurred_at=events.utcnow())
    forged.producer = "dispatch"  # dispatch may not say a ticket was accepted
    await producer.send_and_wait(topic, forged.SerializeToString(), key=first.encode())
    newer = envelope_pb2.Envelope(event_id=str(uuid.uuid4()), ticket_id=first,
                                  event_type="SupervisionEscalatedToMayor", producer="sla",
                                  schema_version=1, payload=b"\x0a\x03abc")
    newer.occurred_at.FromDatetime(lifecycles[first][-1].occurred_at.ToDatetime())
    await producer.send_and_wait(topic, newer.SerializeToString(), key=first.encode())
    expected = TICKETS * 10 + 1
    eventually(lambda: len(ledger_entries(audit, page=7)) >= expected, what="the ledger to fill")
    return {"tickets": tickets, "lifecycles": lifecycles, "newer": newer,
            "expected": expected}


def test_every_message_is_in_the_ledger_once_in_partition_order(audit, published):
    entries = ledger_entries(audit, page=7)
    assert [e["ledger_seq"] for e in entries] == list(range(published["expected"]))
    ids = [e["event_id"] for e in entries]
    assert len(ids) == len(set(ids))
    wanted = {env.event_id for envs in published["lifecycles"].values() for env in envs}
    assert wanted | {published["newer"].event_id} == set(ids)
    by_partition = defaultdict(list)
    for e in entries:
        by_partition[e["partition"]].append(e["offset"])
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())
    for tid, envs in published["lifecycles"].items():
        mine = [e for e in entries if e["ticket_id"] == tid]
        assert [e["event_id"] for e in mine][:10] == [env.event_id for env in envs]
        assert [e["ticket_seq"] for e in mine] == list(range(1, len(mine) + 1))


def test_an_unknown_event_type_is_kept_and_shown_undecoded(audit, published):
    entry = next(e for e in ledger_entries(audit, page=7) if e["event_id"] == published["newer"].event_id)
    assert entry["event_type"] == "SupervisionEscalatedToMayor" and entry["payload"] is None
    assert "unknown event type" in entry["decode_problem"]


async def test_poison_messages_go_to_the_dead_letter_topic_not_the_ledger(audit, published):
    consumer = AIOKafkaConsumer(audit.settings.dead_letter_topic, group_id=None,
                                bootstrap_servers=audit.settings.kafka_bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        got: list = []
        deadline = time.monotonic() + patient(10)
        while len(got) < 2 and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    reasons = sorted(dict(r.headers)["error"].decode().split(":")[0] for r in got)
    assert reasons == ["UndecodableEventError", "WrongProducerError"]


def test_history_by_code_verifies_and_its_proofs_pass_the_standalone_verifier(
        audit, published, tmp_path):
    tid, code = published["tickets"][1]
    with audit.client() as c:
        body = c.get(f"/v1/tickets/{code}/history", params={"proofs": "true"}).json()
        key = c.get("/v1/checkpoints/public-key").json()["vkey"]
    assert body["ticket_id"] == tid and body["verification"]["ok"] is True
    assert [e["envelope"]["event_type"] for e in body["entries"]][:2] == [
        "TicketSubmitted", "TicketAccepted"]
    keyfile = tmp_path / "ledger.vkey"
    keyfile.write_text(key)
    for entry in body["entries"]:
        bundle = history_bundle(entry, body["checkpoint"]["note"])
        assert run_verifier(bundle, keyfile, tmp_path) == (0, "VALID"), entry["ledger_seq"]


def history_bundle(entry: dict, note: str) -> dict:
    fields = ("ledger_seq", "topic", "partition", "offset", "ticket_id", "ticket_seq",
              "prev_hash", "entry_hash")
    return {"proof": {"type": "inclusion", "checkpoint": note, "leaf_index": entry["ledger_seq"],
                      "entry": {**{k: entry[k] for k in fields}, "event": entry["raw"]},
                      "path": entry["inclusion_proof"]["path"]}}


def run_verifier(bundle: dict, keyfile: Path, tmp: Path, ledger_id: str = "") -> tuple[int, str]:
    path = tmp / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(bundle))
    args = [sys.executable, str(VERIFIER), str(path), "--key", str(keyfile)]
    if ledger_id:
        args += ["--ledger-id", ledger_id]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.split(":")[0].strip()


async def test_api_proofs_verify_alone_and_forgeries_are_rejected(audit, published, producer,
                                                                  tmp_path):
    with audit.client() as c:
        first = eventually(lambda: c.get("/v1/checkpoints/latest").json().get("tree_size"))
        tid, code = new_ticket()
        await publish(producer, audit.settings.lifecycle_topic, ticket_lifecycle(tid, code)[:2])
        eventually(lambda: c.get("/v1/checkpoints/latest").json()["tree_size"] >= first + 2,
                   what="a newer checkpoint")
        keyfile = tmp_path / "ledger.vkey"
        keyfile.write_text(c.get("/v1/checkpoints/public-key").json()["vkey"])
        inclusion = c.get("/v1/proofs/inclusion", params={"ledger_seq": 5}).json()
        consistency = c.get("/v1/proofs/consistency", params={"first": first}).json()
        assert c.get("/v1/proofs/inclusion", params={"ledger_seq": 10**9}).status_code == 404
        # a size no checkpoint was signed at has no proof (checkpoints follow the ledger's
        # pace: which sizes have one is read, not assumed; 3 had one in a CI run)
        signed = {cp["tree_size"] for cp in c.get("/v1/checkpoints", params={
            "limit": 1000}).json()["checkpoints"]}
        unsigned = next(n for n in range(1, max(signed) + 2) if n not in signed)
        assert c.get("/v1/proofs/consistency", params={"first": unsigned}).status_code == 404
    ledger_id = audit.settings.ledger_id
    assert run_verifier(inclusion, keyfile, tmp_path, ledger_id) == (0, "VALID")
    assert run_verifier(consistency, keyfile, tmp_path, ledger_id) == (0, "VALID")
    for forged in forgeries(inclusion, consistency):
        assert run_verifier(forged, keyfile, tmp_path, ledger_id) == (1, "INVALID")
    assert run_verifier(inclusion, keyfile, tmp_path, "someone.else/ledger") == (1, "INVALID")


def forgeries(inclusion: dict, consistency: dict) -> list[dict]:
    def edit(bundle: dict, change) -> dict:  # type: ignore[no-untyped-def]
        copy = json.loads(json.dumps(bundle))
        change(copy["proof"])
        return copy

    def flip_hex(h: str) -> str:
        return ("0" if h[0] != "0" else "1") + h[1:]

    def flip_event(p: dict) -> None:
        raw = bytearray(base64.b64decode(p["entry"]["event"]))
        raw[-1] ^= 1
        p["entry"]["event"] = base64.b64encode(bytes(raw)).decode()

    def other_root(note: str) -> str:
        lines = note.split("\n")
        lines[2] = base64.b64encode(bytes(32)).decode()
        return "\n".join(lines)

    return [
        edit(inclusion, lambda p: p["path"].__setitem__(0, flip_hex(p["path"][0]))),
        edit(inclusion, flip_event),
        edit(inclusion, lambda p: p.__setitem__("leaf_index", p["leaf_index"] + 1)),
        edit(inclusion, lambda p: p.__setitem__("checkpoint", other_root(p["checkpoint"]))),
        edit(inclusion, lambda p: p["path"].pop()),
        edit(consistency, lambda p: p["path"].__setitem__(0, flip_hex(p["path"][0]))),
        edit(consistency, lambda p: p.__setitem__("new_checkpoint",
                                                  other_root(p["new_checkpoint"]))),
    ]


def test_state_at_past_moments(audit, published):
    tid, code = published["tickets"][2]
    with audit.client(role="supervisor") as c:
        early = c.get(f"/v1/tickets/{tid}/state", params={"at": "2023-11-20T12:30:00+00:00"})
        late = c.get(f"/v1/tickets/{code}/state").json()
        before = c.get(f"/v1/tickets/{code}/state", params={"at": "2023-11-20T08:00:00Z"}).json()
    assert early.status_code == 200
    e = early.json()
    assert (e["status"], e["owner_unit"], e["deadline_status"], e["citizen_was_told"]) == (
        "assigned", "yingzhou", "running", [])
    assert e["deadline"] == "2023-11-27T09:00:00+00:00" and e["ticket_code"] == code
    assert (late["status"], late["rating"], late["deadline_status"]) == (
        "closed", "satisfied", "met")
    assert [m["text"] for m in late["citizen_was_told"]] == ["已组织物业公司清运完毕"]
    assert before["status"] == "unknown" and before["events_applied"] == 0


def test_http_access_and_bad_input(audit, published):
    tid, _ = published["tickets"][0]
    import httpx

    assert httpx.get(f"{audit.url}/v1/tickets/{tid}/history").status_code == 401
    with audit.client(role="unit", unit="yingquan") as c:  # a unit never handed this ticket
        assert c.get(f"/v1/tickets/{tid}/history").status_code == 403
    with audit.client(role="unit", unit="yingzhou") as c:  # the unit that handled it
        assert c.get(f"/v1/tickets/{tid}/history").status_code == 200
    with audit.client(role="supervisor") as c:
        assert c.get(f"/v1/tickets/{tid}/history").status_code == 200
        assert c.get("/v1/ledger/entries").status_code == 403  # the feed is for auditors
    with audit.client() as c:
        missing = c.get("/v1/tickets/FY-000000-00000-X/history")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        naive = c.get(f"/v1/tickets/{tid}/state", params={"at": "2023-11-20T12:00:00"})
        assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
        assert c.get(f"/v1/tickets/{tid}/state", params={"at": "yesterday"}).status_code == 422
        assert c.get("/v1/ledger/entries", params={"after": -1}).status_code == 422
        assert c.post(f"/v1/tickets/{tid}/history").status_code == 405  # read-only


def test_every_read_of_a_history_is_recorded(audit, published):
    tid, code = published["tickets"][3]
    with audit.client(sub="auditor-wang") as c:
        c.get(f"/v1/tickets/{code}/history")
        c.get(f"/v1/tickets/{tid}/state")
        reads = c.get("/v1/access-log", params={"ticket": tid}).json()["reads"]
    assert [(r["sub"], r["role"], r["action"]) for r in reads] == [
        ("auditor-wang", "auditor", "history"), ("auditor-wang", "auditor", "state")]
    assert all(r["at"] for r in reads)


def test_a_read_with_proofs_is_recorded_once_under_the_ticket_id_and_a_miss_not_at_all(
        audit, published):
    tid, code = published["tickets"][5]
    with audit.client(sub="auditor-li") as c:
        after = 0
        while page := c.get("/v1/access-log", params={"after": after}).json()["reads"]:
            after = page[-1]["id"]
        assert c.get("/v1/tickets/FY-000000-00000-Y/history",
                     params={"proofs": "true"}).status_code == 404
        answer = c.get(f"/v1/tickets/{code}/history", params={"proofs": "true"}).json()
        reads = c.get("/v1/access-log", params={"after": after}).json()["reads"]
    assert answer["ticket_id"] == tid and answer["verification"]["ok"]
    assert [(r["sub"], r["action"], r["target"]) for r in reads] == [
        ("auditor-li", "history+proofs", tid)]


def grpc_replay(audit, request: apb.ReplayTicketRequest, role: str | None = "auditor"):
    target = f"127.0.0.1:{audit.settings.grpc_port}"
    metadata = []
    if role:
        token = auth.mint(audit.settings, sub=role, role=role,
                          unit="yingzhou" if role == "unit" else "")
        metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(target) as channel:
        return list(apb_grpc.AuditServiceStub(channel).ReplayTicket(
            request, metadata=metadata, timeout=30))


def test_grpc_replay_streams_the_history_in_order_with_proofs(audit, published):
    tid, code = published["tickets"][4]
    got = grpc_replay(audit, apb.ReplayTicketRequest(ticket_code=code, with_proofs=True))
    assert [m.ticket_seq for m in got] == list(range(1, 11))
    assert [m.envelope.event_id for m in got] == [
        e.event_id for e in published["lifecycles"][tid]]
    assert all(m.raw == published["lifecycles"][tid][i].SerializeToString()
               for i, m in enumerate(got))
    assert all(m.inclusion_proof.tree_size > 0 and m.inclusion_proof.checkpoint for m in got)
    assert json.loads(got[0].payload_json)["channel"] == "hotline_12345"


@pytest.mark.parametrize(("request_", "role", "status"), [
    (apb.ReplayTicketRequest(ticket_id="x"), None, grpc.StatusCode.UNAUTHENTICATED),
    (apb.ReplayTicketRequest(ticket_id="x"), "unit", grpc.StatusCode.PERMISSION_DENIED),
    (apb.ReplayTicketRequest(), "auditor", grpc.StatusCode.INVALID_ARGUMENT),
    (apb.ReplayTicketRequest(ticket_code="FY-000000-00000-X"), "auditor",
     grpc.StatusCode.NOT_FOUND),
])
def test_grpc_replay_refusals_carry_a_status_and_reason(audit, published, request_, role,
                                                        status):
    with pytest.raises(grpc.RpcError) as err:
        grpc_replay(audit, request_, role)
    assert err.value.code() == status and err.value.details()


async def test_after_erasure_the_history_still_verifies_and_holds_no_personal_data(
        audit, published, producer):
    tid, code = published["tickets"][5]
    erased = events.make_envelope(
        payload=intake_events_pb2.CitizenIdentityErased(), event_id=str(uuid.uuid4()),
        ticket_id=tid, ticket_code=code, producer="intake", occurred_at=events.utcnow())
    await publish(producer, audit.settings.lifecycle_topic, [erased])
    with audit.client() as c:
        body = eventually(lambda: (b := c.get(f"/v1/tickets/{tid}/history",
                                              params={"proofs": "true"}).json())
                          and len(b["entries"]) == 11 and b)
    assert body["verification"]["ok"] is True
    assert body["entries"][-1]["event_type"] == "CitizenIdentityErased"
    texts = [v for e in body["entries"] for v in (e["payload"] or {}).values()
             if isinstance(v, str)]
    assert texts and not [t for t in texts if find_personal_data(t)]


def test_the_verify_command_finds_the_stored_ledger_intact(audit, published):
    done = subprocess.run([sys.executable, "-m", "services.audit", "verify"], cwd=ROOT,
                          env=audit.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VERIFIED" in done.stdout


def test_a_code_typed_in_lower_case_or_without_hyphens_finds_the_ticket(audit, published):
    """Intake and the workbench take a code however it was typed or read out; audit answered
    404 to `fy-...`, so an auditor who copied a code from a letter found nothing."""
    tid, code = published["tickets"][2]
    typed = code.lower().replace("-", " ")
    with audit.client() as c:
        assert c.get(f"/v1/tickets/{typed}/history").json()["ticket_id"] == tid
        assert c.get(f"/v1/tickets/{code.lower()}/state").json()["ticket_id"] == tid
        reads = c.get("/v1/access-log", params={"ticket": code.lower()}).json()["reads"]
        assert {r["target"] for r in reads} == {tid}
        missing = c.get("/v1/tickets/13912345678/history")  # a phone typed for a code
        assert missing.status_code == 404 and "13912345678" not in missing.text
    got = grpc_replay(audit, apb.ReplayTicketRequest(ticket_code=code.lower()))
    assert [m.ticket_id for m in got][:1] == [tid]
