"""backbone.transcoder writes the very bytes eventsourcing's JSONTranscoder writes, and reads
what it reads: stored events keep one format, whichever encoder wrote them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Transcoding,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from backbone.transcoder import StoredEventMapper, StoredStateTranscoder


def _pair() -> tuple[JSONTranscoder, StoredStateTranscoder]:
    stock, fast = JSONTranscoder(), StoredStateTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # as Application registers them
        stock.register(t)
        fast.register(t)
    return stock, fast


STOCK, FAST = _pair()


class Kind(StrEnum):
    A = "a"


def _same(state: dict) -> None:
    try:
        expected = STOCK.encode(state)
    except Exception as exc:  # what the stock encoder refuses, the fast one refuses alike
        with pytest.raises(type(exc)):
            FAST.encode(state)
        return
    assert FAST.encode(state) == expected


@pytest.mark.parametrize("value", [
    datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC), datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC),
    datetime(2026, 12, 6, 1, 2, 3), datetime(999, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30, seconds=-5))),
    uuid4(), Decimal("1.10"), Decimal("NaN"), 1.5, 1e16, 1e-7, -0.0, math.nan, math.inf,
    2 ** 63, 2 ** 64 + 1, -(2 ** 70), True, None, "", "\x00\x1f\x7f\"\\\n\t\u2028 工单 🙂",
    "\ud800", Kind.A, [uuid4(), (1, "x"), {"k": datetime(2026, 1, 1, tzinfo=UTC)}],
    {1: "int key"}, {"nested": {"deeper": [Decimal("2"), None, 3.25]}}, (), [], {},
])
def test_the_same_bytes_as_eventsourcing(value):
    _same({"timestamp": datetime(2026, 12, 6, tzinfo=UTC), "value": value})


_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.uuids()
            | st.decimals(allow_nan=False) | st.datetimes()
            | st.datetimes(timezones=st.just(UTC)))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.tuples(inner, inner)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values, max_size=8))
def test_generated_states_encode_as_eventsourcing_does(state):
    _same(state)


def test_decoding_is_eventsourcing_s_own():
    assert StoredStateTranscoder.decode is JSONTranscoder.decode


def test_a_transcoding_of_its_own_takes_eventsourcing_s_encoder():
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    class PointAsInt(Transcoding):
        type = Point
        name = "point"

        def encode(self, obj: Point) -> int:
            return obj.x

        def decode(self, data: int) -> Point:
            return Point(data)

    stock, fast = _pair()
    stock.register(PointAsInt())
    fast.register(PointAsInt())
    state = {"at": Point(3), "id": UUID(int=7)}
    assert fast.encode(state) == stock.encode(state)


def test_every_service_s_application_uses_it():
    from backbone.settings import ServiceSettings
    from backbone.store import application_env

    env = application_env(ServiceSettings(environment="development"))
    app = Application(env={**env, "PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert isinstance(app.mapper.transcoder, StoredStateTranscoder)
    assert app.mapper.transcoder._fast
    assert isinstance(app.mapper, StoredEventMapper)


class Ticket(Aggregate):
    @event("Opened")
    def __init__(self, code: str, at: datetime) -> None:
        self.code, self.at = code, at

    @event("Noted")
    def note(self, words: list[str]) -> None:
        self.words = words


class TicketV2(Ticket):
    class Noted(Aggregate.Event):
        class_version = 2
        words: list[str]


def test_the_mapper_stores_events_as_eventsourcing_s_does():
    _, fast = _pair()
    stock, ours = Mapper(transcoder=STOCK), StoredEventMapper(transcoder=fast)
    ticket = Ticket("FY-1", datetime(2026, 12, 6, tzinfo=UTC))
    ticket.note(["a", "工"])
    for e in ticket.collect_events():
        assert ours.to_stored_event(e) == stock.to_stored_event(e)
        assert ours.to_domain_event(ours.to_stored_event(e)).__dict__ == e.__dict__
    versioned = TicketV2.Noted(originator_id=uuid4(), originator_version=2,
                               timestamp=datetime(2026, 12, 6, tzinfo=UTC), words=["b"])
    assert ours.to_stored_event(versioned) == stock.to_stored_event(versioned)
    assert b'"class_version":2' in ours.to_stored_event(versioned).state
