"""Walking skeleton through the real processes: a channel adapter submits to intake, the
ledger (audit) keeps the events, an auditor replays and verifies the ticket over HTTP and
gRPC, and the citizen's phone number is nowhere in the ledger."""

from __future__ import annotations

import base64

import grpc
import pytest
from minsheng.v1 import audit_api_pb2 as apb
from minsheng.v1 import audit_api_pb2_grpc as apb_grpc

from tests.e2e.platform_harness import Platform, eventually

pytestmark = pytest.mark.e2e

PHONE = "13812345678"


@pytest.fixture(scope="module")
def two_services(infra):
    p = Platform(names=["intake", "audit"])
    p.start_all()
    yield p
    p.stop_all()


def test_a_submitted_ticket_is_replayed_and_verified_from_the_ledger(two_services):
    p = two_services
    with p.client("intake", "channel_adapter", sub="hotline-adapter") as intake:
        answer = intake.post("/v1/requests", json={
            "channel": "hotline_12345", "request_id": "call-e2e-audit-1", "call_id": "C-1",
            "caller_number": PHONE, "operator_id": "op-1",
            "summary": f"市民来电（{PHONE}）反映：阳光小区电梯经常困人，物业不处理",
            "address": "颍州区阳光小区5号楼"})
    assert answer.status_code == 201, answer.text
    code = answer.json()["code"]
    with p.client("audit", "auditor", sub="auditor-e2e") as audit:
        body = eventually(lambda: (b := audit.get(f"/v1/tickets/{code}/history",
                                                  params={"proofs": "true"})).status_code == 200
                          and len(b.json()["entries"]) >= 2 and b.json(),
                          timeout=60, what="the ticket in the ledger")
        reads = audit.get("/v1/access-log", params={"ticket": body["ticket_id"]}).json()
    types = [e["event_type"] for e in body["entries"]]
    assert types[0] == "TicketSubmitted" and types[1] in ("TicketAccepted", "TicketRejected")
    assert body["verification"]["ok"] is True
    assert all(PHONE.encode() not in base64.b64decode(e["raw"]) for e in body["entries"])
    assert {r["sub"] for r in reads["reads"]} == {"auditor-e2e"}

    token = p.token("auditor", sub="auditor-grpc")
    with grpc.insecure_channel(p.grpc_target("audit")) as channel:
        stream = apb_grpc.AuditServiceStub(channel).ReplayTicket(
            apb.ReplayTicketRequest(ticket_code=code),
            metadata=[("authorization", f"Bearer {token}")], timeout=30)
        replayed = [m.envelope.event_type for m in stream]
    assert replayed[:2] == types[:2]
