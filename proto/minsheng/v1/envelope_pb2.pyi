import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from minsheng.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("event_id", "ticket_id", "ticket_code", "event_type", "producer", "occurred_at", "actor", "causation_id", "trace_id", "schema_version", "payload")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    ticket_id: str
    ticket_code: str
    event_type: str
    producer: str
    occurred_at: _timestamp_pb2.Timestamp
    actor: _common_pb2.Actor
    causation_id: str
    trace_id: str
    schema_version: int
    payload: bytes
    def __init__(self, event_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., event_type: _Optional[str] = ..., producer: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., causation_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., schema_version: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...
