"""backbone.transcoder writes the very bytes eventsourcing's JSONTranscoder writes, and reads
back the very objects its decoder makes (types, key order, nested transcodings; whatever orjson
reads otherwise left to eventsourcing's decoder): stored events keep one format, whichever
encoder wrote them, and read back the same, whichever decoder reads them."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any
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

from backbone.transcoder import StoredEventMapper, StoredStateReader, StoredStateTranscoder


def _pair() -> tuple[JSONTranscoder, StoredStateTranscoder]:
    stock, fast = JSONTranscoder(), StoredStateTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # as Application registers them
        stock.register(t)
        fast.register(t)
    return stock, fast


STOCK, FAST = _pair()
READER = StoredStateReader()
for _t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
    READER.register(_t)


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


def _typed(value: Any) -> Any:
    """The value with every element's type beside it (1 == 1.0 == True must not pass), dict
    keys in their order."""
    if type(value) is dict:
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [_typed(v) for v in value])
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    return (type(value).__name__, repr(value))


def _read_alike(data: bytes, stock: JSONTranscoder = STOCK,
                fast: StoredStateReader = READER) -> None:
    try:
        expected: Any = ("ok", _typed(stock.decode(data)))
    except Exception as exc:  # what the stock decoder refuses, the fast one refuses alike
        expected = ("error", type(exc), str(exc))
    try:
        got: Any = ("ok", _typed(fast.decode(data)))
    except Exception as exc:
        got = ("error", type(exc), str(exc))
    assert got == expected, data


@pytest.mark.parametrize("value", [
    datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC), datetime(2026, 12, 6, 1, 2, 3),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30, seconds=-5))),
    uuid4(), UUID(int=0), Decimal("1.10"), Decimal("-0E-7"), Decimal("NaN"), Decimal("sNaN"),
    Decimal("Infinity"), 1.5, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 0, -1,
    math.nan, math.inf, -math.inf, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, 2 ** 64 + 1,
    -(2 ** 63), -(2 ** 63) - 1, -(2 ** 70), 10 ** 30, True, False, None, "",
    "\x00\x1f\x7f\"\\\n\t\u2028 工单 🙂", "\ud800", "a\udfffb", Kind.A,
    [uuid4(), (1, "x"), {"k": datetime(2026, 1, 1, tzinfo=UTC)}],
    {"nested": {"deeper": [Decimal("2"), None, 3.25, [[uuid4()]]]}}, (), [], {},
    {"_type_": "uuid_hex"}, {"_type_": "x", "_data_": 1, "more": 2},
])
def test_every_transcoding_and_value_reads_back_as_eventsourcing_reads_it(value):
    state = {"timestamp": datetime(2026, 12, 6, tzinfo=UTC), "value": value}
    try:
        data = STOCK.encode(state)
    except Exception:  # not storable at all
        return
    _read_alike(data)
    assert READER.encode(state) == FAST.encode(state)
    assert _typed(READER.decode(READER.encode(state))) == _typed(STOCK.decode(data))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values, max_size=8))
def test_generated_states_read_back_as_eventsourcing_reads_them(state):
    try:
        data = STOCK.encode(state)
    except Exception:
        return
    _read_alike(data)


def test_random_states_read_back_as_eventsourcing_reads_them() -> None:
    rnd = random.Random(13)

    def value(depth: int) -> Any:
        kind = rnd.randrange(12 if depth < 3 else 8)
        return [lambda: rnd.randrange(-2 ** 64, 2 ** 65),
                lambda: rnd.random() * 10 ** rnd.randrange(-8, 25),
                lambda: "".join(rnd.choice("ab中文\n\"\\é😀") for _ in range(rnd.randrange(6))),
                lambda: rnd.choice([True, False, None, math.nan, math.inf]),
                lambda: UUID(int=rnd.getrandbits(128)),
                lambda: datetime(2026, 1, 1, tzinfo=rnd.choice([UTC, timezone(timedelta(hours=8))]))
                + timedelta(microseconds=rnd.randrange(10 ** 12)),
                lambda: Decimal(rnd.randrange(10 ** 6)) / 100, lambda: 2 ** rnd.randrange(60, 90),
                lambda: [value(depth + 1) for _ in range(rnd.randrange(4))],
                lambda: {f"k{rnd.randrange(9)}": value(depth + 1) for _ in range(rnd.randrange(4))},
                lambda: {"_type_": "uuid_hex", "_data_": UUID(int=rnd.getrandbits(128)).hex},
                lambda: [],
                ][kind]()

    for n in range(3000):
        data = STOCK.encode({f"f{i}": value(0) for i in range(rnd.randrange(1, 6))})
        _read_alike(data)
        if n % 3 == 0:  # a lone surrogate can only be stored escaped: é (only ever in a string)
            _read_alike(data.replace("é".encode(), b"\\ud800"))


def test_a_stored_state_is_read_by_orjson_not_by_eventsourcing_s_decoder(monkeypatch) -> None:
    import backbone.transcoder

    data = STOCK.encode({"timestamp": datetime(2026, 12, 6, tzinfo=UTC), "ids": [uuid4()],
                         "n": 1, "x": 0.5, "m": {"d": Decimal("1.5")}})
    expected = _typed(STOCK.decode(data))
    monkeypatch.setattr(backbone.transcoder, "_DECODE", None)
    assert _typed(READER.decode(data)) == expected


def test_every_other_service_decodes_as_eventsourcing_does():
    # the reader pays only where a process decodes many stored events (feedback's relay)
    assert StoredStateTranscoder.decode is JSONTranscoder.decode
    assert StoredStateReader.encode is StoredStateTranscoder.encode


@pytest.mark.parametrize("data", [
    b'{"a":18446744073709551616}', b'{"a":[-9223372036854775809]}', b'{"a":9223372036854775808}',
    b'{"a":18446744073709551615}', b'{"a":-9223372036854775808}', b'{"a":1e400}', b'{"a":-1e400}',
    b'{"a":1e-400}', b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":"\\ud800"}',
    b'{"a":"\\udc00\\ud800"}', b'{"a":"\\ud83d\\ude00"}', b'{"a":1,"a":2}', b'{"a":1,"b":2,"a":3}',
    b'{"a":-0}', b'{"a":-0.0}', b'{"a":1E5}', b'{"a":1.0}', b'{"a":0.1}', b'{"a":01}',
    b'{"a":2.2250738585072011e-308}', b'{"a":123456789012345678901234567890.5}',
    b'{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"}',
    b'{"_type_":"uuid_hex","_data_":"not hex"}', b'{"_type_":"uuid_hex","_data_":7}',
    b'{"_type_":"nope","_data_":1}', b'{"_type_":[1],"_data_":1}', b'{"_type_":1,"_data_":1}',
    b'{"_type_":"uuid_hex"}', b'{"_data_":"x","_type_":"decimal_str"}',
    b'{"_type_":"decimal_str","_data_":"1.50","x":1}', b'[{"_type_":"decimal_str","_data_":"2"}]',
    b'{"x":{"_type_":"datetime_iso","_data_":"2026-12-07T00:00:00+00:00"}}',
    b'{"x":{"_type_":"datetime_iso","_data_":"2026-12-07T00:00:00"}}',
    b'{"x":{"_type_":"nope","_data_":1},"y":NaN}', b'{"x":{"_type_":"nope","_data_":1},"y":1e400}',
    b'{"x":1e400,"y":{"_type_":"nope","_data_":1}}', b'{"x":{"_type_":"nope","_data_":1},"y":"\\ud800"}',
    b'5', b'"s"', b'null', b'[]', b'', b'{', b'{}x', b'\xff', b'\xef\xbb\xbf{}',
    b'{"a":"\xe4\xb8\xad"}', b'{"a":"\xed\xa0\x80"}', b' {"a" : [ 1 , 2 ] } \n',
    b'[' * 2000 + b']' * 2000, b'{"a":' * 900 + b'1' + b'}' * 900,
])
def test_edge_cases_read_or_fail_as_eventsourcing_s_decoder_does(data: bytes) -> None:
    _read_alike(data)


def test_a_transcoding_of_its_own_reads_innermost_first_as_eventsourcing_s(monkeypatch) -> None:
    class Span:
        def __init__(self, start: datetime, ids: list[UUID]) -> None:
            self.start, self.ids = start, ids

        def __eq__(self, other: object) -> bool:
            return vars(self) == vars(other)

        def __repr__(self) -> str:
            return repr(_typed(vars(self)))

    class SpanAsDict(Transcoding):
        type = Span
        name = "span"

        def encode(self, obj: Span) -> dict:
            return {"start": obj.start, "ids": obj.ids, "n": len(obj.ids)}

        def decode(self, data: dict) -> Span:
            assert type(data["start"]) is datetime and all(type(i) is UUID for i in data["ids"])
            return Span(data["start"], data["ids"])

    stock, fast = _pair()[0], StoredStateReader()
    Application().register_transcodings(fast)
    stock.register(SpanAsDict())
    fast.register(SpanAsDict())
    state = {"span": Span(datetime(2026, 1, 1, tzinfo=UTC), [uuid4(), uuid4()]),
             "spans": [Span(datetime(2026, 1, 2), [])]}
    data = stock.encode(state)
    expected = _typed(stock.decode(data))
    assert stock.decode(data) == state
    import backbone.transcoder

    monkeypatch.setattr(backbone.transcoder, "_DECODE", None)  # orjson's reading, no fallback
    assert fast.decode(data) == state and _typed(fast.decode(data)) == expected


def test_the_stored_events_of_a_service_s_aggregate_read_back_as_eventsourcing_s() -> None:
    from services.feedback.application.app import FeedbackApplication
    from tests.unit.feedback.test_rating import closed_after_reopens

    env = {"TRANSCODER_TOPIC": "backbone.transcoder:StoredStateTranscoder",
           "MAPPER_TOPIC": "backbone.transcoder:StoredEventMapper"}
    app = FeedbackApplication(env=env)
    assert type(app.mapper.transcoder) is StoredStateReader and app.mapper.transcoder._fast
    assert isinstance(app.mapper, StoredEventMapper)
    fb = closed_after_reopens(2)
    app.save(fb)
    stock: Application[Any] = Application()
    for stored in app.recorder.select_notifications(start=1, limit=100):
        assert stored.state == FAST.encode(READER.decode(stored.state))  # the bytes stored
        _read_alike(stored.state)
        mine, theirs = app.mapper.to_domain_event(stored), stock.mapper.to_domain_event(stored)
        assert type(mine) is type(theirs) and _typed(vars(mine)) == _typed(vars(theirs))
    assert vars(app.repository.get(fb.id)) == vars(fb)


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
