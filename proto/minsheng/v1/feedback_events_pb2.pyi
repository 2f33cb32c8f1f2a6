from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

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

class TicketClosed(_message.Message):
    __slots__ = ("unit", "rating")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    unit: str
    rating: str
    def __init__(self, unit: _Optional[str] = ..., rating: _Optional[str] = ...) -> None: ...
