"""Feedback's stored events read back with orjson: the same objects, less of the relay's time.

The relay decodes every stored event of feedback's log (`Mapper.to_domain_event`) to fold the
record and compose the notices; eventsourcing's JSONTranscoder decodes with the standard
library's decoder and a Python `object_hook` called for every JSON object (~8 % of the event
loop's samples at the bench's rate, docs/profiles/feedback-cpu.md). `StoredStateReader`
parses with orjson (in C) and then, in one walk, turns the transcodings' objects
(`{"_type_": name, "_data_": value}`, innermost first, exactly where the hook would: an object
of two keys, those two) into their values with the same registered transcodings. The
objects are the ones the hook makes: the same dicts (key order kept), lists, strings,
numbers. Anything orjson refuses or reads otherwise (NaN, an integer past 64 bits, a lone
surrogate) goes to eventsourcing's own decoder, whose answer or error stands. Encoding is
backbone's `StoredStateTranscoder`, unchanged: the bytes stored are the same.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import TranscodingNotRegisteredError

from backbone.transcoder import StoredStateTranscoder


class StoredStateReader(StoredStateTranscoder):
    """backbone's StoredStateTranscoder (same registrations, same bytes written), its
    decoding by orjson where that reads what the standard library's decoder would."""

    def decode(self, data: bytes) -> Any:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        try:
            return self._revive(obj)
        except _Unsure:
            return super().decode(data)

    def _revive(self, obj: Any) -> Any:
        """`obj` with every transcoding's object (innermost first) turned into its value,
        as the standard decoder's `object_hook` (`JSONTranscoder._decode_obj`) does."""
        kind = type(obj)
        if kind is dict:
            for key, value in obj.items():
                if type(value) in _WALK:
                    obj[key] = self._revive(value)
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                try:
                    transcoding = self.names[obj["_type_"]]
                except (KeyError, TypeError):
                    raise _Unsure from None  # the standard decoder's own error (or answer)
                return transcoding.decode(obj["_data_"])
            return obj
        if kind is list:
            for i, value in enumerate(obj):
                if type(value) in _WALK:
                    obj[i] = self._revive(value)
            return obj
        if kind is float and not -_BIG < obj < _BIG:
            # orjson reads an integer past 64 bits as a float; the standard decoder as an int
            raise _Unsure
        return obj


_BIG = 9.2e18  # under 2 ** 63: no float orjson made of a 64-bit integer's text is beyond it
_WALK = frozenset((dict, list, float))


class _Unsure(Exception):
    """Left to eventsourcing's decoder, which gives the answer or the error it always gave."""


__all__ = ["StoredStateReader", "TranscodingNotRegisteredError"]
