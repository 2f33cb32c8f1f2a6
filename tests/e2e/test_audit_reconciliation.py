"""Reconciliation on a real run: tickets driven through all six services by their real users,
then every service's store is reconciled with the ledger, exactly (issue #6 item 4).

Then a copy of the ledger is tampered with (one published envelope deleted, one entry no
service wrote inserted) and the reconciliation, in-process and through the CLI, names both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest
from minsheng.v1 import dispatch_api_pb2, envelope_pb2

from services.audit.application.origins import default_origins, stored_publications
from services.audit.application.reconciliation import reconcile, render
from services.audit.settings import AuditSettings
from tests import janitor
from tests.e2e.actors import (
    DepartmentSystem,
    citizen_notice,
    event_types,
    history,
    payload_of,
    submit,
    wait_for_event,
)
from tests.e2e.platform_harness import ROOT, Platform, eventually

pytestmark = pytest.mark.e2e

SERVICES = ("intake", "dispatch", "sla", "feedback", "analytics")
TEXTS = ["颍州区清河路的路灯坏了三天了，晚上很黑，请尽快修。",
         "颍东区幸福小区门口垃圾堆了一周没人清运，味道很大。",
         "太和县城关镇菜市场占道经营，早上车辆无法通行。"]


@pytest.fixture(scope="module")
def platform(infra):
    p = Platform()
    p.start_all()
    yield p
    p.stop_all()


def settings_for(p: Platform, schema: str = "audit") -> AuditSettings:
    return AuditSettings(environment="test", pg_dbname=p.env["MINSHENG_PG_DBNAME"],
                         pg_schema=schema, topic_prefix=p.env["MINSHENG_TOPIC_PREFIX"])


def assigned_unit(p: Platform, code: str, local_unit: str) -> str:
    """The unit the router chose, or, when it queued the ticket for a person, the one the
    dispatcher chooses (属地管理)."""
    def routed() -> list[str] | None:
        types = event_types(history(p, code))
        return types if {"TicketAssigned", "TicketQueuedForDispatcher"} & set(types) else None

    if "TicketAssigned" not in eventually(routed, timeout=60, what=f"{code} routed"):
        with p.client("dispatch", "dispatcher", sub="dispatcher-e2e") as c:
            r = c.post(f"/v1/tickets/{code}/assign",
                       json={"unit": local_unit, "reason": "人工派单：属地管理"})
        assert r.status_code == 200, r.text
    return str(payload_of(wait_for_event(p, code, "TicketAssigned"), "TicketAssigned")["unit"])


def drive(p: Platform) -> list[str]:
    """Three tickets: one rated and closed, one answered, one bounced back by its unit."""
    codes = [submit(p, text=t, contact={"name": "李桂兰", "phone": "13900001111"})["code"]
             for t in TEXTS]
    for i, (code, local) in enumerate(zip(codes, ("yingzhou", "yingdong", "taihe"),
                                          strict=True)):
        department = DepartmentSystem(p, assigned_unit(p, code, local))
        try:
            if i == 2:
                department.call("BounceBack", dispatch_api_pb2.BounceBackRequest(
                    ticket_code=code, reason="不属于本单位职责范围", request_id=uuid.uuid4().hex))
                continue
            department.sign_for(code)
            department.reply(code, "已安排人员到场处理，问题已解决。")
        finally:
            department.close()
    wait_for_event(p, codes[0], "CitizenNotified")
    notice = citizen_notice(p, codes[0])
    with p.client("feedback", "citizen", sub="nobody") as c:
        r = c.post("/v1/ratings/link", json={"token": notice.rating_token,
                                              "rating": "satisfied"})
    assert r.status_code == 201, r.text
    wait_for_event(p, codes[0], "TicketClosed")
    wait_for_event(p, codes[1], "CitizenNotified")
    wait_for_event(p, codes[2], "AssignmentBouncedBack")
    return codes


@pytest.fixture(scope="module")
def reconciled(platform) -> dict[str, Any]:
    drive(platform)
    settings = settings_for(platform)
    # relays publish a moment after the store commits: wait until they caught up (the
    # assertions below are on the report itself)
    return eventually(lambda: (r := reconcile(settings))["ok"] and r, timeout=90, interval=1,
                      what="every service's relay to reach the ledger")


def test_every_service_reconciles_exactly_with_the_ledger(reconciled):
    report = reconciled
    by_service = {s["service"]: s for s in report["services"]}
    assert list(by_service) == list(SERVICES) and report["exact"]
    for s in by_service.values():
        assert s["method"] == "translate" and not s["error"], s
        assert (s["missing_from_ledger"], s["content_differs"], s["translate_errors"]) == \
            (0, 0, 0), s
        assert s["found_in_ledger"] == s["expected_on_lifecycle_topic"]
    for name in ("intake", "dispatch", "sla", "feedback"):
        assert by_service[name]["expected_on_lifecycle_topic"] > 0, name
        assert by_service[name]["private"] > 0, name  # some events stay inside
    assert by_service["dispatch"]["private_by_type"].get("UnitDirectory.UnitRegistered", 0) > 0
    assert report["entries_without_origin"] == 0
    assert report["entries_of_unchecked_producers"] == 0
    expected = sum(s["expected_on_lifecycle_topic"] for s in by_service.values())
    assert report["ledger_entries"] == expected  # the ledger holds nothing else
    assert "RECONCILED" in render(report)


def test_the_pure_translates_give_the_bytes_the_running_relays_published(platform, reconciled):
    """Independent of the reconciliation's own comparison: each lifecycle envelope that
    dispatch, sla and feedback's `lifecycle_from_store` derive from the store equals, byte for
    byte, what their running relays put on the topic (the ledger keeps the raw bytes)."""
    settings = settings_for(platform)
    with psycopg.connect(settings.pg_conninfo()) as conn:
        ledger = {eid: bytes(raw) for eid, raw in conn.execute(
            "SELECT event_id, event FROM audit.ledger WHERE producer IN "
            "('dispatch', 'sla', 'feedback')")}
    compared = 0
    for origin in default_origins(settings):
        if origin.service not in ("dispatch", "sla", "feedback"):
            continue
        app = origin.open_app()
        assert origin.lifecycle is not None
        translate = origin.lifecycle(app)
        with psycopg.connect(settings.pg_conninfo()) as conn:
            for pub in stored_publications(app, conn, origin.schema, origin.service):
                for env in translate(pub):
                    published = envelope_pb2.Envelope.FromString(ledger.pop(env.event_id))
                    if not pub.context.trace_id:  # the relay drew one at random
                        env.trace_id = published.trace_id
                    assert env.SerializeToString() == published.SerializeToString(), env
                    compared += 1
        app.close()
    assert compared > 10 and ledger == {}  # and each of their entries is accounted for


def tampered_copy(platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of the ledger without one of dispatch's envelopes and with an entry no service
    wrote (the real ledger refuses DELETE, so the copy is where the harm is done)."""
    copy = f"ledger_copy_{janitor.claim(uuid.uuid4().hex[:8])}"
    settings = settings_for(platform)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {copy}")
        conn.execute(f"CREATE TABLE {copy}.ledger AS SELECT * FROM audit.ledger")
        gone = conn.execute(
            f"DELETE FROM {copy}.ledger WHERE ledger_seq = (SELECT max(ledger_seq) FROM"
            f" {copy}.ledger WHERE event_type = 'TicketAssigned') RETURNING event_id,"
            " ticket_code, event_type").fetchone()
        forged_id = str(uuid.uuid4())
        planted = conn.execute(
            f"INSERT INTO {copy}.ledger SELECT (SELECT max(ledger_seq) + 1 FROM {copy}.ledger),"
            " %s, topic, partition, \"offset\", ticket_id, 'FY-FORGED-1', 99, event_type,"
            " producer, occurred_at, event, prev_hash, entry_hash, recorded_at"
            f" FROM {copy}.ledger WHERE event_type = 'DeadlineSet' LIMIT 1"
            " RETURNING ledger_seq, event_id",
            (forged_id,)).fetchone()
    assert gone and planted
    return ({"schema": copy, "event_id": gone[0], "ticket_code": gone[1],
             "event_type": gone[2]},
            {"ledger_seq": planted[0], "event_id": planted[1], "producer": "sla",
             "event_type": "DeadlineSet", "ticket_code": "FY-FORGED-1"})


def test_a_deleted_envelope_and_a_planted_entry_are_found_and_located(platform, reconciled):
    gone, planted = tampered_copy(platform)
    report = reconcile(settings_for(platform, gone["schema"]))
    by_service = {s["service"]: s for s in report["services"]}
    assert not report["ok"]
    assert [(m["event_id"], m["ticket_code"], m["event_type"])
            for m in by_service["dispatch"]["missing"]] == [
        (gone["event_id"], gone["ticket_code"], "TicketAssigned")]
    assert all(s["missing_from_ledger"] == 0 for n, s in by_service.items() if n != "dispatch")
    assert report["orphans"] == [planted] and report["entries_without_origin"] == 1

    # the operator's command says the same, from the outside
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'proto'}",
           "MINSHENG_ENVIRONMENT": "test",
           "MINSHENG_PG_DBNAME": platform.env["MINSHENG_PG_DBNAME"],
           "MINSHENG_PG_SCHEMA": gone["schema"],
           "MINSHENG_TOPIC_PREFIX": platform.env["MINSHENG_TOPIC_PREFIX"]}
    run = subprocess.run([sys.executable, "-m", "services.audit", "reconcile", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    cli = json.loads(run.stdout)
    assert cli["orphans"] == [planted]
    assert [m["event_id"] for s in cli["services"] for m in s["missing"]] == [gone["event_id"]]
    text = subprocess.run([sys.executable, "-m", "services.audit", "reconcile"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300).stdout
    assert f"missing  {gone['ticket_code']} TicketAssigned {gone['event_id']}" in text
    assert f"orphan at ledger_seq {planted['ledger_seq']}: sla DeadlineSet FY-FORGED-1" in text
    assert "DISCREPANCIES FOUND" in text
