import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CitizenNotified(_message.Message):
    __slots__ = ("channel", "unit", "outcome", "reply_masked", "reply_round", "rating_due_at", "notices", "primary_ticket_id", "expected_by")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REPLY_MASKED_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    RATING_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BY_FIELD_NUMBER: _ClassVar[int]
    channel: str
    unit: str
    outcome: str
    reply_masked: str
    reply_round: int
    rating_due_at: _timestamp_pb2.Timestamp
    notices: int
    primary_ticket_id: str
    expected_by: str
    def __init__(self, channel: _Optional[str] = ..., unit: _Optional[str] = ..., outcome: _Optional[str] = ..., reply_masked: _Optional[str] = ..., reply_round: _Optional[int] = ..., rating_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., notices: _Optional[int] = ..., primary_ticket_id: _Optional[str] = ..., expected_by: _Optional[str] = ...) -> None: ...

class TicketRated(_message.Message):
    __slots__ = ("rating", "comment_masked", "via", "unit", "reply_round")
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_MASKED_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    rating: str
    comment_masked: str
    via: str
    unit: str
    reply_round: int
    def __init__(self, rating: _Optional[str] = ..., comment_masked: _Optional[str] = ..., via: _Optional[str] = ..., unit: _Optional[str] = ..., reply_round: _Optional[int] = ...) -> None: ...

class TicketMarkedUnrated(_message.Message):
    __slots__ = ("unit", "reply_round")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    unit: str
    reply_round: int
    def __init__(self, unit: _Optional[str] = ..., reply_round: _Optional[int] = ...) -> None: ...

class CallbackRecorded(_message.Message):
    __slots__ = ("reached", "resolved", "satisfaction", "staff_id", "unit", "note_masked", "reply_round")
    REACHED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    STAFF_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    NOTE_MASKED_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    reached: bool
    resolved: bool
    satisfaction: str
    staff_id: str
    unit: str
    note_masked: str
    reply_round: int
    def __init__(self, reached: _Optional[bool] = ..., resolved: _Optional[bool] = ..., satisfaction: _Optional[str] = ..., staff_id: _Optional[str] = ..., unit: _Optional[str] = ..., note_masked: _Optional[str] = ..., reply_round: _Optional[int] = ...) -> None: ...

class TicketReopened(_message.Message):
    __slots__ = ("reopen_count", "reason", "unit", "confirmed_by", "staff_id", "reply_round")
    REOPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    STAFF_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    reopen_count: int
    reason: str
    unit: str
    confirmed_by: str
    staff_id: str
    reply_round: int
    def __init__(self, reopen_count: _Optional[int] = ..., reason: _Optional[str] = ..., unit: _Optional[str] = ..., confirmed_by: _Optional[str] = ..., staff_id: _Optional[str] = ..., reply_round: _Optional[int] = ...) -> None: ...

class TicketClosed(_message.Message):
    __slots__ = ("unit", "rating", "reply_round", "reopen_count")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    REOPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    unit: str
    rating: str
    reply_round: int
    reopen_count: int
    def __init__(self, unit: _Optional[str] = ..., rating: _Optional[str] = ..., reply_round: _Optional[int] = ..., reopen_count: _Optional[int] = ...) -> None: ...

class RemarkAdded(_message.Message):
    __slots__ = ("follower_role", "follower_id", "remark_masked", "unit", "units")
    FOLLOWER_ROLE_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    REMARK_MASKED_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    follower_role: str
    follower_id: str
    remark_masked: str
    unit: str
    units: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, follower_role: _Optional[str] = ..., follower_id: _Optional[str] = ..., remark_masked: _Optional[str] = ..., unit: _Optional[str] = ..., units: _Optional[_Iterable[str]] = ...) -> None: ...

class PushedToSupervision(_message.Message):
    __slots__ = ("follower_role", "follower_id", "reason", "unit", "channel", "reopen_count")
    FOLLOWER_ROLE_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REOPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    follower_role: str
    follower_id: str
    reason: str
    unit: str
    channel: str
    reopen_count: int
    def __init__(self, follower_role: _Optional[str] = ..., follower_id: _Optional[str] = ..., reason: _Optional[str] = ..., unit: _Optional[str] = ..., channel: _Optional[str] = ..., reopen_count: _Optional[int] = ...) -> None: ...
