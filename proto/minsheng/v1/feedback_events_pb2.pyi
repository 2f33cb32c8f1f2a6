from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CitizenNotified(_message.Message):
    __slots__ = ("channel", "unit", "outcome", "reply_masked")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REPLY_MASKED_FIELD_NUMBER: _ClassVar[int]
    channel: str
    unit: str
    outcome: str
    reply_masked: str
    def __init__(self, channel: _Optional[str] = ..., unit: _Optional[str] = ..., outcome: _Optional[str] = ..., reply_masked: _Optional[str] = ...) -> None: ...

class TicketRated(_message.Message):
    __slots__ = ("rating", "comment_masked", "via", "unit")
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_MASKED_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    rating: str
    comment_masked: str
    via: str
    unit: str
    def __init__(self, rating: _Optional[str] = ..., comment_masked: _Optional[str] = ..., via: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class TicketMarkedUnrated(_message.Message):
    __slots__ = ("unit",)
    UNIT_FIELD_NUMBER: _ClassVar[int]
    unit: str
    def __init__(self, unit: _Optional[str] = ...) -> None: ...

class CallbackRecorded(_message.Message):
    __slots__ = ("reached", "resolved", "satisfaction", "staff_id", "unit", "note_masked")
    REACHED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    STAFF_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    NOTE_MASKED_FIELD_NUMBER: _ClassVar[int]
    reached: bool
    resolved: bool
    satisfaction: str
    staff_id: str
    unit: str
    note_masked: str
    def __init__(self, reached: _Optional[bool] = ..., resolved: _Optional[bool] = ..., satisfaction: _Optional[str] = ..., staff_id: _Optional[str] = ..., unit: _Optional[str] = ..., note_masked: _Optional[str] = ...) -> None: ...

class TicketReopened(_message.Message):
    __slots__ = ("reopen_count", "reason", "unit")
    REOPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    reopen_count: int
    reason: str
    unit: str
    def __init__(self, reopen_count: _Optional[int] = ..., reason: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class TicketClosed(_message.Message):
    __slots__ = ("unit", "rating")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    unit: str
    rating: str
    def __init__(self, unit: _Optional[str] = ..., rating: _Optional[str] = ...) -> None: ...

class RemarkAdded(_message.Message):
    __slots__ = ("follower_role", "follower_id", "remark_masked", "unit")
    FOLLOWER_ROLE_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    REMARK_MASKED_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    follower_role: str
    follower_id: str
    remark_masked: str
    unit: str
    def __init__(self, follower_role: _Optional[str] = ..., follower_id: _Optional[str] = ..., remark_masked: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class PushedToSupervision(_message.Message):
    __slots__ = ("follower_role", "follower_id", "reason", "unit")
    FOLLOWER_ROLE_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    follower_role: str
    follower_id: str
    reason: str
    unit: str
    def __init__(self, follower_role: _Optional[str] = ..., follower_id: _Optional[str] = ..., reason: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...
