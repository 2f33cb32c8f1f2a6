import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScheduleDay(_message.Message):
    __slots__ = ("date", "name")
    DATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    date: str
    name: str
    def __init__(self, date: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class OfficialScheduleLoaded(_message.Message):
    __slots__ = ("event_id", "year", "source", "provisional", "holidays", "make_up_working_days", "loaded_by", "loaded_at", "load_no", "trace_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    HOLIDAYS_FIELD_NUMBER: _ClassVar[int]
    MAKE_UP_WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    LOADED_BY_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    LOAD_NO_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    year: int
    source: str
    provisional: bool
    holidays: _containers.RepeatedCompositeFieldContainer[ScheduleDay]
    make_up_working_days: _containers.RepeatedCompositeFieldContainer[ScheduleDay]
    loaded_by: str
    loaded_at: _timestamp_pb2.Timestamp
    load_no: int
    trace_id: str
    def __init__(self, event_id: _Optional[str] = ..., year: _Optional[int] = ..., source: _Optional[str] = ..., provisional: _Optional[bool] = ..., holidays: _Optional[_Iterable[_Union[ScheduleDay, _Mapping]]] = ..., make_up_working_days: _Optional[_Iterable[_Union[ScheduleDay, _Mapping]]] = ..., loaded_by: _Optional[str] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., load_no: _Optional[int] = ..., trace_id: _Optional[str] = ...) -> None: ...
