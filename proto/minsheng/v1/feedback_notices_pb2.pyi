import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CitizenNotice(_message.Message):
    __slots__ = ("notice_id", "ticket_id", "ticket_code", "channel", "kind", "citizen_pseudonym", "subject", "body", "link", "rating_token", "rating_due_at", "outcome", "unit", "reply_round", "fields", "composed_at", "trace_id", "causation_id")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    RATING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RATING_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    COMPOSED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    ticket_id: str
    ticket_code: str
    channel: str
    kind: str
    citizen_pseudonym: str
    subject: str
    body: str
    link: str
    rating_token: str
    rating_due_at: _timestamp_pb2.Timestamp
    outcome: str
    unit: str
    reply_round: int
    fields: _containers.ScalarMap[str, str]
    composed_at: _timestamp_pb2.Timestamp
    trace_id: str
    causation_id: str
    def __init__(self, notice_id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., channel: _Optional[str] = ..., kind: _Optional[str] = ..., citizen_pseudonym: _Optional[str] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., link: _Optional[str] = ..., rating_token: _Optional[str] = ..., rating_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[str] = ..., unit: _Optional[str] = ..., reply_round: _Optional[int] = ..., fields: _Optional[_Mapping[str, str]] = ..., composed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., causation_id: _Optional[str] = ...) -> None: ...
