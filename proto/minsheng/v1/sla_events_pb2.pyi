import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadlineSet(_message.Message):
    __slots__ = ("grade", "due_at", "working_days", "provisional", "clock_no")
    GRADE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    grade: str
    due_at: _timestamp_pb2.Timestamp
    working_days: int
    provisional: bool
    clock_no: int
    def __init__(self, grade: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., working_days: _Optional[int] = ..., provisional: _Optional[bool] = ..., clock_no: _Optional[int] = ...) -> None: ...

class DeadlineMet(_message.Message):
    __slots__ = ("due_at", "replied_at", "clock_no")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    REPLIED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    replied_at: _timestamp_pb2.Timestamp
    clock_no: int
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replied_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ...) -> None: ...

class DeadlineMissed(_message.Message):
    __slots__ = ("due_at", "clock_no", "unit")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    clock_no: int
    unit: str
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...
