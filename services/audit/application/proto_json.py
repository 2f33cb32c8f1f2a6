"""Protobuf messages as JSON objects, equal to ``MessageToDict(m, preserving_proto_field_name=
True)`` at a fraction of its cost.

json_format walks each message in Python and asks, for every set field, what kind of field it
is (map entry? repeated? which of eight types?): ~45 µs of the ledger page's ~50 µs an entry
went there. The answer per field depends only on the descriptor, so it is worked out once per
message type here, as a function per field; a message is then its ``ListFields()`` (C, set
fields only, in field-number order as json_format gives them) through those functions.
Whatever this does not handle itself (maps, well-known types other than Timestamp, floats
that are not finite, enums with a JSON name option) goes to json_format, so the output is
json_format's by construction; tests/unit/audit/test_proto_json.py compares both on every
event type of the catalogue.
"""

from __future__ import annotations

import base64
import keyword
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
_converters: dict[str, Callable[[Message], dict[str, Any]]] = {}

_INT64 = (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)
_SAME = (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32,
         FieldDescriptor.CPPTYPE_BOOL)


def message_dict(message: Message, omit: str = "") -> dict[str, Any]:
    """``MessageToDict(message, preserving_proto_field_name=True)``, without the field named
    ``omit`` (the envelope's payload bytes, shown decoded beside it)."""
    key = message.DESCRIPTOR.full_name + "/" + omit
    convert = _converters.get(key)
    if convert is None:
        convert = _converters[key] = _message_converter(message.DESCRIPTOR, omit)
    return convert(message)


def _json_format(message: Message) -> Any:
    return MessageToDict(message, preserving_proto_field_name=True)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class _NotFiniteError(ValueError):
    """A NaN or an infinity: json_format writes them as text; the message goes to it."""


def _double(value: float) -> float:
    if math.isfinite(value):
        return value
    raise _NotFiniteError


def _without(omit: str) -> Callable[[Message], dict[str, Any]]:
    def convert(message: Message) -> dict[str, Any]:
        out = _json_format(message)
        out.pop(omit, None)
        return out  # type: ignore[no-any-return]
    return convert


def _message_converter(desc: Descriptor, omit: str = "") -> Callable[[Message], dict[str, Any]]:
    if desc.full_name.startswith("google.protobuf.") or desc.GetOptions().map_entry:
        if desc.full_name == "google.protobuf.Timestamp":
            return _timestamp  # type: ignore[return-value]
        return _without(omit)
    converters: dict[str, Any] = {"_fallback": _without(omit), "_NotFiniteError": _NotFiniteError,
                                  "_negative_zero": _negative_zero}
    lines = ["def convert(m):", "    out = {}", "    try:", "        pass"]
    for i, fd in enumerate(sorted(desc.fields, key=lambda f: f.number)):  # ListFields' order
        convert = _field_converter(fd)
        if convert is _json_format:  # this message as a whole goes to json_format
            return _without(omit)
        if fd.name == omit:
            continue
        converters[f"c{i}"] = convert
        value = (f"m.{fd.name}" if fd.name.isidentifier() and not keyword.iskeyword(fd.name)
                 else f"getattr(m, {fd.name!r})")
        put = f"out[{fd.name!r}] = "
        if fd.is_repeated:
            each = "list(v)" if convert is None else f"[c{i}(x) for x in v]"
            lines += [f"        v = {value}", f"        if v: {put}{each}"]
        elif fd.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE or fd.has_presence:
            got = value if convert is None else f"c{i}({value})"
            lines += [f"        if m.HasField({fd.name!r}): {put}{got}"]
        else:
            got = "v" if convert is None else f"c{i}(v)"
            # a zero is not set (proto3); -0.0 is, as ListFields sees it
            test = "v or _negative_zero(v)" if convert is _double else "v"
            lines += [f"        v = {value}", f"        if {test}: {put}{got}"]
    lines += ["    except _NotFiniteError:", "        return _fallback(m)", "    return out"]
    exec("\n".join(lines), converters)  # source made above from the descriptor
    return converters["convert"]  # type: ignore[no-any-return]


def _negative_zero(value: float) -> bool:
    return value == 0.0 and math.copysign(1.0, value) < 0


def _field_converter(fd: FieldDescriptor) -> Convert | None:
    """None: the value as it is; _json_format: the whole message goes to json_format."""
    cpp = fd.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        if fd.message_type.GetOptions().map_entry:
            return _json_format
        return message_dict
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return _b64 if fd.type == FieldDescriptor.TYPE_BYTES else None
    if cpp in _SAME:
        return None
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    return _json_format  # enums, 32-bit floats: rare here, left to json_format


_EPOCH = datetime(1970, 1, 1)
_FIRST, _LAST = -62135596800, 253402300799  # 0001-01-01 to 9999-12-31, as Timestamp allows


def _timestamp(message: Any) -> str:
    """Timestamp.ToJsonString: RFC 3339, Z, 0, 3, 6 or 9 fractional digits."""
    seconds, nanos = message.seconds, message.nanos
    if not (_FIRST <= seconds <= _LAST and 0 <= nanos < 1_000_000_000):
        return message.ToJsonString()  # type: ignore[no-any-return]  # raises as json_format
    text = (_EPOCH + timedelta(seconds=seconds)).isoformat()
    if not nanos:
        return text + "Z"
    if not nanos % 1_000_000:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if not nanos % 1000:
        return f"{text}.{nanos // 1000:06d}Z"
    return f"{text}.{nanos:09d}Z"
