"""Feedback's stored events read back by orjson (StoredStateReader) are the objects
eventsourcing's own decoder makes, and the bytes written are backbone's."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder

from backbone.transcoder import StoredStateTranscoder
from services.feedback.application.app import FeedbackApplication
from services.feedback.application.transcoding import StoredStateReader
from tests.unit.feedback.test_rating import T0, _reopen_once, replied


def _transcoders() -> tuple[StoredStateReader, JSONTranscoder]:
    app = Application()
    reader, stock = StoredStateReader(), JSONTranscoder()
    app.register_transcodings(reader)
    app.register_transcodings(stock)
    return reader, stock


def _typed(value: Any) -> Any:
    """The value with every element's type beside it: 1 == 1.0 == True must not pass."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _same(data: bytes) -> None:
    reader, stock = _transcoders()
    try:
        expected: Any = ("ok", _typed(stock.decode(data)))
    except Exception as exc:
        expected = ("error", type(exc))
    try:
        got: Any = ("ok", _typed(reader.decode(data)))
    except Exception as exc:
        got = ("error", type(exc))
    assert got == expected, data


def test_the_feedback_apps_transcoder_reads_with_orjson_and_writes_backbones_bytes() -> None:
    app = FeedbackApplication(env={"TRANSCODER_TOPIC": "backbone.transcoder:StoredStateTranscoder",
                                   "MAPPER_TOPIC": "backbone.transcoder:StoredEventMapper"})
    assert type(app.mapper.transcoder) is StoredStateReader
    writer = StoredStateTranscoder()
    Application().register_transcodings(writer)
    fb = replied()
    for n in range(1, 3):
        _reopen_once(fb, T0 + timedelta(days=n))
        fb.deliver_reply(unit_code="YZ-QHJD", reply_outcome="resolved",
                         delivered_at=T0 + timedelta(days=n))
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0 + timedelta(days=5))
    fb.close(at=T0 + timedelta(days=5))
    app.save(fb)
    stock = Application()
    for stored in app.recorder.select_notifications(start=1, limit=100):
        assert stored.state == writer.encode(writer.decode(stored.state))  # backbone's bytes
        _same(stored.state)
        mine, theirs = app.mapper.to_domain_event(stored), stock.mapper.to_domain_event(stored)
        assert type(mine) is type(theirs) and _typed(vars(mine)) == _typed(vars(theirs))
    assert vars(app.repository.get(fb.id)) == vars(fb)


def test_generated_states_read_back_the_same() -> None:
    rnd = random.Random(13)
    _, stock = _transcoders()

    def value(depth: int) -> Any:
        kind = rnd.randrange(12 if depth < 3 else 8)
        return [lambda: rnd.randrange(-2 ** 63, 2 ** 64), lambda: rnd.random() * 10 ** rnd.randrange(-8, 20),
                lambda: "".join(rnd.choice("ab中文\n\"\\é😀") for _ in range(rnd.randrange(6))),
                lambda: rnd.choice([True, False, None]), lambda: uuid.UUID(int=rnd.getrandbits(128)),
                lambda: datetime(2026, 1, 1, tzinfo=rnd.choice([UTC, timezone(timedelta(hours=8))]))
                + timedelta(microseconds=rnd.randrange(10 ** 12)),
                lambda: Decimal(rnd.randrange(10 ** 6)) / 100, lambda: 2 ** rnd.randrange(60, 90),
                lambda: [value(depth + 1) for _ in range(rnd.randrange(4))],
                lambda: {f"k{i}": value(depth + 1) for i in range(rnd.randrange(4))},
                lambda: {"_type_": "uuid_hex", "_data_": uuid.UUID(int=rnd.getrandbits(128)).hex},
                lambda: [],
                ][kind]()

    for _ in range(2000):
        _same(stock.encode({f"f{i}": value(0) for i in range(rnd.randrange(1, 6))}))


@pytest.mark.parametrize("data", [
    b'{"a":18446744073709551616}', b'{"a":[-9223372036854775809]}', b'{"a":1e400}',
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":"\\ud800"}', b'{"a":1,"a":2}', b'{"a":-0}',
    b'{"a":-0.0}', b'{"a":1E5}', b'{"_type_":"uuid_hex","_data_":"00000000000000000000000000000001"}',
    b'{"_type_":"nope","_data_":1}', b'{"_type_":[1],"_data_":1}', b'{"_type_":"uuid_hex"}',
    b'{"_type_":"decimal_str","_data_":"1.50","x":1}', b'[{"_type_":"decimal_str","_data_":"2"}]',
    b'{"x":{"_type_":"datetime_iso","_data_":"2026-12-07T00:00:00+00:00"}}', b'5', b'"s"',
    b'null', b'', b'{', b'\xff', b'{"a":"\xe4\xb8\xad"}', b' {"a" : [ 1 , 2 ] } ',
])
def test_edge_cases_read_or_fail_as_eventsourcings_decoder_does(data: bytes) -> None:
    _same(data)
