from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class NoticeDelivered(_message.Message):
    __slots__ = ("notice_id", "channel", "route", "kind", "attempts", "gateway_ref", "reply_round")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_REF_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    channel: str
    route: str
    kind: str
    attempts: int
    gateway_ref: str
    reply_round: int
    def __init__(self, notice_id: _Optional[str] = ..., channel: _Optional[str] = ..., route: _Optional[str] = ..., kind: _Optional[str] = ..., attempts: _Optional[int] = ..., gateway_ref: _Optional[str] = ..., reply_round: _Optional[int] = ...) -> None: ...

class NoticeDeliveryFailed(_message.Message):
    __slots__ = ("notice_id", "channel", "route", "kind", "attempts", "reason", "final", "next_attempt_at", "reply_round")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    REPLY_ROUND_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    channel: str
    route: str
    kind: str
    attempts: int
    reason: str
    final: bool
    next_attempt_at: str
    reply_round: int
    def __init__(self, notice_id: _Optional[str] = ..., channel: _Optional[str] = ..., route: _Optional[str] = ..., kind: _Optional[str] = ..., attempts: _Optional[int] = ..., reason: _Optional[str] = ..., final: _Optional[bool] = ..., next_attempt_at: _Optional[str] = ..., reply_round: _Optional[int] = ...) -> None: ...
