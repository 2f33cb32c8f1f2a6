"""What replay shows and folds, derived from raw envelope bytes (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from minsheng.v1 import envelope_pb2

from backbone import events
from services.audit.application.entries import decode_view, entry_view
from services.audit.application.histories import fold_input
from services.audit.domain.chain import link_entry
from services.audit.domain.replay import replay
from services.audit.entrypoints.ledger_consumer import decode_for_ledger
from tests.integration.audit.lifecycle import T0, new_ticket, ticket_lifecycle


def rows_of(envs: list[envelope_pb2.Envelope]) -> list[dict]:
    head, rows = None, []
    for i, env in enumerate(envs):
        e = link_entry(head, ledger_seq=i, topic="t", partition=0, offset=i,
                       ticket_id=env.ticket_id, event=env.SerializeToString())
        head = type("H", (), {"ticket_seq": e.ticket_seq, "entry_hash": e.entry_hash})()
        rows.append(e.to_row())
    return rows


def test_the_fold_gets_the_code_from_the_envelope():
    tid, code = new_ticket()
    history = fold_input(rows_of(ticket_lifecycle(tid, code)[:1]))
    assert history[0][2]["ticket_code"] == code
    assert replay(history)[-1].ticket_code == code


def test_an_event_stamped_before_its_cause_takes_effect_after_it():
    tid, code = new_ticket()
    envs = ticket_lifecycle(tid, code)[:3]
    envs[2].occurred_at.FromDatetime(T0 - timedelta(days=1))  # another service's clock
    times = [when for _, when, _ in fold_input(rows_of(envs))]
    assert times == sorted(times) and times[2] == times[1]
    assert replay(fold_input(rows_of(envs)))[-1].deadline_status == "running"


def test_an_unknown_event_type_is_kept_by_the_ledger_but_a_wrong_producer_is_not():
    env = envelope_pb2.Envelope(event_id=str(uuid.uuid4()), ticket_id="t", event_type="New",
                                producer="sla", schema_version=1)
    decoded = decode_for_ledger(env.SerializeToString())
    assert decoded.event_type == "New" and decoded.payload is None
    env.event_type, env.producer = "TicketAccepted", "dispatch"
    with pytest.raises(events.WrongProducerError):
        decode_for_ledger(env.SerializeToString())
    with pytest.raises(events.UndecodableEventError):
        decode_for_ledger(b"\xff\xff")


def test_an_entry_view_is_derived_from_the_raw_bytes():
    tid, code = new_ticket()
    row = {**rows_of(ticket_lifecycle(tid, code)[:1])[0],
           "recorded_at": datetime(2023, 11, 20, tzinfo=UTC)}
    view = entry_view(row, proof=[b"\x01" * 32], proof_tree_size=9)
    assert view["event_type"] == "TicketSubmitted" and view["payload"]["channel"]
    assert view["envelope"]["ticket_code"] == code and "payload" not in view["envelope"]
    assert view["inclusion_proof"] == {"tree_size": 9, "path": ["01" * 32]}
    assert decode_view(b"\xff\xff").problem


def test_a_refused_append_stalls_the_ledger_instead_of_dead_lettering(monkeypatch):
    import psycopg

    from backbone import consumer
    from services.audit.entrypoints import ledger_consumer

    def refuse(*_):  # type: ignore[no-untyped-def]
        raise psycopg.errors.InsufficientPrivilege("permission denied for table ledger")

    monkeypatch.setattr(ledger_consumer, "append_batch", refuse)
    tid, code = new_ticket()
    env = ticket_lifecycle(tid, code)[0]
    record = type("R", (), {"topic": "t", "partition": 0, "offset": 0,
                            "value": env.SerializeToString()})()
    with pytest.raises(consumer.TRANSIENT):
        ledger_consumer.ledger_handler("s")(events.decode(record.value), None, record)
