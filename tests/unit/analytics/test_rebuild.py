"""A rebuild's fast path gives what the live fold gives: the same facts folded ticket by ticket
once (LiveKpis.of_tickets) equal the live state fed in any order and batches; entries of types
analytics does not count are passed over undecoded; the export's frames split right."""

from __future__ import annotations

import dataclasses
import random
import struct
import uuid
from datetime import UTC

import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_events_pb2, feedback_events_pb2

from backbone import events
from services.analytics.adapters.fact_store import copy_row, copy_rows
from services.analytics.adapters.ledger import LedgerError, Marks, split_frames, split_marked
from services.analytics.application.normalise import (
    UnusableFactError,
    fact_of,
    fact_of_parts,
    fact_of_raw,
    occurred_at,
)
from services.analytics.application.rebuild import fold_entries, fold_envelopes, state_digest
from services.analytics.domain.fold import LiveKpis
from tests.integration.analytics.month import simulate

FRAME = struct.Struct(">QHI")


@pytest.fixture(scope="module")
def month() -> list[bytes]:
    return [env.SerializeToString() for env in simulate(seed=7, per_unit=6).envelopes]


def test_each_ticket_folded_once_equals_the_live_fold_in_any_order(month):
    facts = [f for f in (fact_of(events.decode(raw)) for raw in month) if f is not None]
    tickets: dict = {}
    for f in facts:
        tickets.setdefault(f.ticket_id, {})[f.event_id] = f
    once = LiveKpis.of_tickets(tickets)
    rng = random.Random(3)
    for _ in range(3):
        live, shuffled = LiveKpis(), facts[:]
        rng.shuffle(shuffled)
        for i in range(0, len(shuffled), 97):  # batches cut tickets in pieces: refolds
            live.apply(shuffled[i:i + 97])
        assert live.model.to_dict() == once.model.to_dict()
        assert (live.fact_count, live.latest, live.unit_kinds) == (
            once.fact_count, once.latest, once.unit_kinds)
        assert dict(live.facts) == dict(once.facts)


def test_the_ledger_types_spare_decoding_and_change_nothing(month):
    entries = [(events.decode(raw).event_type, raw) for raw in month]
    filler = [("DeadlineSet", b"\x00not decoded, not counted") for _ in range(50)]
    typed = fold_entries(entries + filler)
    untyped = fold_envelopes(month)
    assert typed.digest == untyped.digest == state_digest(untyped.kpis.model)
    assert (typed.envelopes, typed.facts, typed.skipped) == (len(month) + 50, untyped.facts, 0)
    assert fold_envelopes([b"\x00junk", *month, month[0]]).skipped == 1  # a copy is no error


class Covered(list):
    """A source that left some entries out at the ledger and says how many positions it
    covered (as `ledger_export(types=...)` does)."""
    positions = 0


def test_a_source_filtered_at_the_ledger_counts_the_positions_it_covered(month):
    counted = [(events.decode(raw).event_type, raw) for raw in month]
    source = Covered(counted)
    source.positions = len(month) + 50  # 50 entries of other types left out by the ledger
    filtered = fold_entries(source)
    whole = fold_entries(counted + [("DeadlineSet", b"\x00") for _ in range(50)])
    assert (filtered.envelopes, filtered.facts, filtered.skipped, filtered.digest) == (
        whole.envelopes, whole.facts, whole.skipped, whole.digest)


def test_frames_with_gaps_and_marks_split_wherever_the_bytes_are_cut():
    entries = [(5 + 3 * i, "TicketAccepted", uuid.uuid4().bytes * (i % 4)) for i in range(40)]
    parts = []
    for i, (seq, t, e) in enumerate(entries):
        parts.append(frame(seq, t, e))
        if i % 9 == 8:  # a range ends after this entry's position and the one after it
            parts.append(FRAME.pack(seq + 2, 0, 8) + (i + 1).to_bytes(8, "big"))
    parts.append(FRAME.pack(125, 0, 8) + (40).to_bytes(8, "big") + FRAME.pack(125, 0, 0))
    stream = b"".join(parts)
    for cut in (1, 7, 14, 22, 100, len(stream)):
        got, buf, end, marks = [], b"", None, Marks(5)
        for i in range(0, len(stream), cut):
            buf += stream[i:i + cut]
            out, used, end = split_marked(buf, 0, marks, {})
            got += out
            buf = buf[used:]
            if end is not None:
                break
        assert (got, end, buf) == ([(t, e) for _, t, e in entries], 125, b"")


def frame(seq: int, event_type: str, event: bytes) -> bytes:
    return FRAME.pack(seq, len(event_type), len(event)) + event_type.encode() + event


def test_frames_split_wherever_the_bytes_are_cut():
    entries = [("TicketAccepted", uuid.uuid4().bytes * (i % 4)) for i in range(40)]
    stream = b"".join(frame(5 + i, t, e) for i, (t, e) in enumerate(entries)) + FRAME.pack(45, 0, 0)
    for cut in (1, 7, 14, 100, len(stream)):
        got, buf, expected, end, types = [], b"", 5, None, {}
        for i in range(0, len(stream), cut):
            buf += stream[i:i + cut]
            out, used, expected, end = split_frames(buf, 0, expected, types)
            got += out
            buf = buf[used:]
            if end is not None:
                break
        assert (got, end, buf) == (entries, 45, b"")


def test_a_gap_in_the_ledger_sequence_stops_the_read():
    stream = frame(0, "TicketAccepted", b"a") + frame(2, "TicketAccepted", b"b")
    with pytest.raises(LedgerError, match="from ledger_seq 1 to 2"):
        split_frames(stream, 0, 0, {})


@pytest.mark.parametrize(("seconds", "nanos"), [(0, 0), (1_709_250_000, 999_999_999),
                                                (1_709_250_000, 1_500), (-86_400, 7)])
def test_times_are_what_protobuf_says(seconds, nanos):
    ts = Timestamp(seconds=seconds, nanos=nanos)
    assert occurred_at(ts) == ts.ToDatetime(tzinfo=UTC) and occurred_at(ts).tzinfo is UTC


def test_an_impossible_time_is_refused_as_protobuf_refuses_it():
    ts = Timestamp(seconds=1, nanos=-5)
    with pytest.raises(ValueError):
        ts.ToDatetime(tzinfo=UTC)
    with pytest.raises(ValueError):
        occurred_at(ts)


def _slow(raw: bytes):
    """What the live consumer does with an envelope: decode, then normalise."""
    try:
        return fact_of_parts(*events.decode_parts(raw))
    except (events.EnvelopeError, UnusableFactError) as exc:
        return type(exc)


def _fast(raw: bytes):
    try:
        return fact_of_raw(raw)
    except (events.EnvelopeError, UnusableFactError) as exc:
        return type(exc)


def _envelope(message, owner: str, **fields):
    env = events.make_envelope(payload=message, event_id=str(uuid.uuid4()), ticket_id="t-1",
                               ticket_code="FY", producer=owner,
                               occurred_at=events.utcnow())
    for name, value in fields.items():
        setattr(env, name, value)
    return env.SerializeToString()


def test_the_rebuilds_decoder_gives_the_live_consumers_facts_and_refusals(month):
    rated = feedback_events_pb2.TicketRated(rating="satisfied", unit="funan")
    odd = [
        b"\x00junk", b"",
        _envelope(rated, "feedback", producer="dispatch"),  # not its owner
        _envelope(rated, "feedback", event_type="NoSuchEvent"),
        _envelope(rated, "feedback", schema_version=events.SCHEMA_VERSION + 1),
        _envelope(rated, "feedback", event_id=""),
        _envelope(rated, "feedback", ticket_id=""),
        _envelope(rated, "feedback", payload=b"\xff\xff\xff"),  # not a TicketRated
        _envelope(feedback_events_pb2.TicketRated(rating="excellent"), "feedback"),
        _envelope(feedback_events_pb2.CallbackRecorded(reached=True, satisfaction="meh"),
                  "feedback"),
        _envelope(dispatch_events_pb2.DispatchClosed(), "dispatch"),  # not counted: no fact
        _envelope(rated, "feedback"),
    ]
    for raw in month + odd:
        slow, fast = _slow(raw), _fast(raw)
        if isinstance(slow, type) or slow is None:
            assert fast is slow, raw
        else:  # Fact's equality leaves its attrs out: compare every field
            assert (fast.event_id, fast.ticket_id, fast.kind, fast.at, fast.attrs) == (
                slow.event_id, slow.ticket_id, slow.kind, slow.at, slow.attrs)
            assert type(fast) is type(slow) and fast.at.tzinfo is slow.at.tzinfo
            assert fast == slow and hash(fast) == hash(slow)
            with pytest.raises(dataclasses.FrozenInstanceError):
                fast.kind = "closed"  # type: ignore[misc]
    assert sum(not isinstance(_fast(raw), type) and _fast(raw) is not None for raw in month) > 500


def test_copy_rows_make_copy_rows_bytes_with_tickets_kept_between_batches(month):
    """fact_store.copy_rows (a rebuild's COPY, one loop a batch, the tickets' fields kept
    between batches) gives the bytes of copy_row's rows joined, whatever form the event id
    has (the canonical one converted in the loop, any other by uuid_bytes)."""
    facts = [f for f in map(fact_of_raw, month) if f is not None]
    u = uuid.UUID(int=7)
    forms = [str(u).upper(), u.hex, "{" + str(u) + "}", str(u)[:35] + "g", str(u) + " "]
    odd = [dataclasses.replace(facts[i], event_id=form) for i, form in enumerate(forms[:3])]
    tickets: dict[str, bytes] = {}
    for batch in (facts[:7], facts[7:500], odd, facts[500:]):
        assert copy_rows(batch, tickets) == b"".join(map(copy_row, batch))
    assert set(tickets) == {f.ticket_id for f in facts + odd}
    for bad in forms[3:]:
        with pytest.raises(psycopg.DataError):
            copy_rows([dataclasses.replace(facts[0], event_id=bad)])
