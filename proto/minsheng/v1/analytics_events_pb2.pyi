from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RectificationFlagged(_message.Message):
    __slots__ = ("unit", "unit_kind", "month", "previous_month", "reason")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    UNIT_KIND_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MONTH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    unit: str
    unit_kind: str
    month: str
    previous_month: str
    reason: str
    def __init__(self, unit: _Optional[str] = ..., unit_kind: _Optional[str] = ..., month: _Optional[str] = ..., previous_month: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class HotTopicReported(_message.Message):
    __slots__ = ("topic_id", "title", "category", "place", "count", "window_start", "window_end")
    TOPIC_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    topic_id: str
    title: str
    category: str
    place: str
    count: int
    window_start: str
    window_end: str
    def __init__(self, topic_id: _Optional[str] = ..., title: _Optional[str] = ..., category: _Optional[str] = ..., place: _Optional[str] = ..., count: _Optional[int] = ..., window_start: _Optional[str] = ..., window_end: _Optional[str] = ...) -> None: ...

class SurgeDetected(_message.Message):
    __slots__ = ("county", "subcategory", "window_start", "window_end", "count", "baseline", "threshold", "detected_at", "ticket_codes")
    COUNTY_FIELD_NUMBER: _ClassVar[int]
    SUBCATEGORY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODES_FIELD_NUMBER: _ClassVar[int]
    county: str
    subcategory: str
    window_start: str
    window_end: str
    count: int
    baseline: float
    threshold: int
    detected_at: str
    ticket_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, county: _Optional[str] = ..., subcategory: _Optional[str] = ..., window_start: _Optional[str] = ..., window_end: _Optional[str] = ..., count: _Optional[int] = ..., baseline: _Optional[float] = ..., threshold: _Optional[int] = ..., detected_at: _Optional[str] = ..., ticket_codes: _Optional[_Iterable[str]] = ...) -> None: ...
