"""The stored events' state, encoded as eventsourcing's JSONTranscoder encodes it, faster.

Every service stores its events through eventsourcing's mapper, whose JSONTranscoder encodes
an event's state with the standard library's encoder and a Python `default` hook for each
UUID, datetime and Decimal (a `{"_type_": name, "_data_": value}` object, the transcoding's
documented form); a fresh C encoder is made for every event. That was about a fifth of a
group commit's Python. `StoredStateTranscoder` writes the SAME bytes with orjson: the state's
UUIDs, datetimes and Decimals are first replaced by their transcoding's object (one walk
over the values, plain values untouched), then orjson writes the JSON in C. Anything else,
or anything orjson would write differently (a float that repr() writes with an exponent or
not at all, a non-string key, an integer past 64 bits, a subclass of a plain type, a type
with a registered transcoding of its own), takes eventsourcing's own encoder for the whole event, so the bytes never differ
(tested against it on every stored event of the demo platform and on generated states).

`StoredStateTranscoder` decodes as eventsourcing does. `StoredStateReader` is the same
transcoder (same registrations, same bytes written) reading stored events back with orjson
(in C) instead of the standard library's decoder with a Python `object_hook` called for every
JSON object: one walk then turns the transcodings' objects (`{"_type_": name, "_data_":
value}`, innermost first, exactly where the hook would: an object of two keys, those two) into
their values with the same registered transcodings. The objects are the ones the hook makes:
the same dicts (key order kept), lists, strings, ints and floats. Anything orjson refuses or
reads otherwise (NaN and Infinity, an integer past 64 bits, a lone surrogate, invalid UTF-8,
nesting past orjson's limit, an unknown transcoding) goes to eventsourcing's own decoder,
whose answer or error stands (tested against it on every registered transcoding, edge cases,
generated states and the stored events of every service's aggregates). A decode costs ~0.72x
eventsourcing's on the services' real stored events (~0.8 us less an event); that shows only
where a process decodes many stored events per ticket: feedback's relay, which chooses it
(FeedbackApplication.construct_transcoder). Dispatch's relay decodes ~9 a ticket of ~8.5 ms
of CPU and sla's consumer none, so neither is measurably cheaper with it and both keep
`StoredStateTranscoder` (docs/profiles/write-paths.md, session 16).

`StoredEventMapper` is eventsourcing's Mapper, its `to_stored_event` without the per-event
work that does not change between events of one class (the topic, the class version) and
with the StoredEvent made without its frozen dataclass's `__init__` (an `object.__setattr__`
per field), as eventsourcing itself makes domain events. Same StoredEvent, same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

# the transcodings eventsourcing's Application registers, which the fast path writes itself
_STOCK = {UUID: UUIDAsHex, Decimal: DecimalAsStr, datetime: DatetimeAsISO}
_PLAIN = frozenset((str, int, bool, type(None)))


class _NotPlain(Exception):
    """A value the fast path does not write byte for byte as eventsourcing does."""


def _plain(value: Any) -> Any:
    """`value` with its UUIDs, datetimes and Decimals as their transcodings' objects."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is datetime:
        # orjson writes an aware UTC or a naive datetime as isoformat() does (tested)
        tz = value.tzinfo
        return {"_type_": "datetime_iso",
                "_data_": value if tz is None or tz is UTC else value.isoformat()}
    if kind is float:
        # where repr() writes no exponent, orjson writes the same digits (json writes 1e-07
        # and NaN, orjson 1e-7 and null)
        if 1e-4 <= abs(value) < 1e16 or value == 0.0:
            return value
        raise _NotPlain
    if kind is UUID:
        return {"_type_": "uuid_hex", "_data_": value.hex}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _plain(v) for v in value]
    if kind is dict:
        out = {}
        for key, v in value.items():
            if type(key) is not str:  # json turns other keys into strings, orjson refuses
                raise _NotPlain
            out[key] = v if type(v) in _PLAIN else _plain(v)
        return out
    if kind is Decimal:
        return {"_type_": "decimal_str", "_data_": str(value)}
    raise _NotPlain


def _plain_state(values: dict[str, Any]) -> dict[str, Any]:
    """`_plain` of an event's attributes without its originator id and version."""
    out = {}
    for key, v in values.items():
        if key == "originator_id" or key == "originator_version":
            continue
        out[key] = v if type(v) in _PLAIN else _plain(v)
    return out


class StoredStateTranscoder(JSONTranscoder):
    """eventsourcing's JSONTranscoder (same registrations, same bytes, same decoding), its
    encoding done by orjson where that writes the same bytes."""

    def __init__(self) -> None:
        super().__init__()
        self._fast = False

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        # only while the transcodings are exactly eventsourcing's own three
        self._fast = {t: type(c) for t, c in self.types.items()} == _STOCK

    def encode(self, obj: Any) -> bytes:
        if self._fast and type(obj) is dict:
            try:
                return orjson.dumps(_plain(obj))
            except (_NotPlain, orjson.JSONEncodeError):
                pass
        return super().encode(obj)


class StoredStateReader(StoredStateTranscoder):
    """StoredStateTranscoder (same registrations, same bytes written), its decoding done by
    orjson where that reads what the standard library's decoder would."""

    def decode(self, data: bytes) -> Any:
        if type(data) is bytes:
            try:
                return _revive(orjson.loads(data), self.names)
            except (orjson.JSONDecodeError, _Unsure, RecursionError):
                pass
        return _DECODE(self, data)  # eventsourcing's: its answer, or its error


class _Unsure(Exception):
    """Left to eventsourcing's decoder, which gives the answer or the error it always gave."""


_BIG = 9.2e18  # under 2 ** 63: no float orjson made of a 64-bit integer's text is beyond it
_WALK = frozenset((dict, list, float))
_DECODE = JSONTranscoder.decode


def _revive(obj: Any, names: dict[str, Transcoding]) -> Any:
    """`obj` (orjson's) with every transcoding's object, innermost first, turned into its
    value, as the standard decoder's `object_hook` (`JSONTranscoder._decode_obj`) does."""
    kind = type(obj)
    if kind is dict:
        for key, value in obj.items():
            if type(value) in _WALK:
                obj[key] = _revive(value, names)
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
            try:
                transcoding = names[obj["_type_"]]
            except (KeyError, TypeError):
                raise _Unsure from None  # the standard decoder's own error (or answer)
            return transcoding.decode(obj["_data_"])
        return obj
    if kind is list:
        for i, value in enumerate(obj):
            if type(value) in _WALK:
                obj[i] = _revive(value, names)
        return obj
    if kind is float and not -_BIG < obj < _BIG:
        # orjson reads an integer past 64 bits as a float; the standard decoder as an int
        raise _Unsure
    return obj


class StoredEventMapper(Mapper[Any]):
    """eventsourcing's Mapper; `to_stored_event` does what it does, with less per event."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if self.compressor is not None or self.cipher is not None:
            return super().to_stored_event(domain_event)
        kind = type(domain_event)
        known = _CLASSES.get(kind)
        if known is None:
            known = _CLASSES[kind] = (get_topic(kind), getattr(kind, "class_version", 1))
        topic, class_version = known
        values = vars(domain_event)
        transcoder: Any = self.transcoder
        data = None
        if class_version == 1 and type(transcoder).encode is _ENCODE and transcoder._fast:
            # the state's transcoding written from the event's own attributes, the two
            # originator fields left out, in one walk (no copy of them to pop those from
            # first): the same dict, in the same order, as the copy below gives the transcoder
            try:
                data = orjson.dumps(_plain_state(values))
            except (_NotPlain, orjson.JSONEncodeError):
                pass
        if data is None:
            state = dict(values)
            del state["originator_id"], state["originator_version"]
            if class_version > 1:
                state["class_version"] = class_version
            data = transcoder.encode(state)
        stored = _new(StoredEvent)
        d = stored.__dict__  # each field set in it (no second dict to update it from)
        d["originator_id"] = values["originator_id"]
        d["originator_version"] = values["originator_version"]
        d["topic"] = topic
        d["state"] = data
        return stored


_CLASSES: dict[type, tuple[str, int]] = {}  # an event class's topic and class version
_ENCODE = StoredStateTranscoder.encode  # (a subclass that writes otherwise takes its own)
_new = object.__new__
