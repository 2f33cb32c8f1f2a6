import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadlineSet(_message.Message):
    __slots__ = ("grade", "due_at", "working_days", "provisional", "clock_no", "explanation_due_at", "unit", "policy_version")
    GRADE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    grade: str
    due_at: _timestamp_pb2.Timestamp
    working_days: int
    provisional: bool
    clock_no: int
    explanation_due_at: _timestamp_pb2.Timestamp
    unit: str
    policy_version: str
    def __init__(self, grade: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., working_days: _Optional[int] = ..., provisional: _Optional[bool] = ..., clock_no: _Optional[int] = ..., explanation_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unit: _Optional[str] = ..., policy_version: _Optional[str] = ...) -> None: ...

class DeadlineWarned(_message.Message):
    __slots__ = ("kind", "due_at", "clock_no", "unit")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    due_at: _timestamp_pb2.Timestamp
    clock_no: int
    unit: str
    def __init__(self, kind: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class DeadlineMet(_message.Message):
    __slots__ = ("due_at", "replied_at", "clock_no", "unit")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    REPLIED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    replied_at: _timestamp_pb2.Timestamp
    clock_no: int
    unit: str
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replied_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class DeadlineMissed(_message.Message):
    __slots__ = ("due_at", "clock_no", "unit")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    clock_no: int
    unit: str
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class ClockPaused(_message.Message):
    __slots__ = ("reason", "clock_no", "unit")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    clock_no: int
    unit: str
    def __init__(self, reason: _Optional[str] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class ClockResumed(_message.Message):
    __slots__ = ("due_at", "clock_no", "provisional", "unit")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    clock_no: int
    provisional: bool
    unit: str
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., provisional: _Optional[bool] = ..., unit: _Optional[str] = ...) -> None: ...

class DeadlineExtended(_message.Message):
    __slots__ = ("working_days", "due_at", "approved_by", "clock_no", "provisional", "unit")
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    working_days: int
    due_at: _timestamp_pb2.Timestamp
    approved_by: str
    clock_no: int
    provisional: bool
    unit: str
    def __init__(self, working_days: _Optional[int] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., approved_by: _Optional[str] = ..., clock_no: _Optional[int] = ..., provisional: _Optional[bool] = ..., unit: _Optional[str] = ...) -> None: ...

class ExtensionRefused(_message.Message):
    __slots__ = ("reason", "refused_by", "clock_no", "unit")
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFUSED_BY_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    refused_by: str
    clock_no: int
    unit: str
    def __init__(self, reason: _Optional[str] = ..., refused_by: _Optional[str] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class DeadlineRecomputed(_message.Message):
    __slots__ = ("previous_due_at", "due_at", "provisional", "clock_no", "unit", "explanation_due_at")
    PREVIOUS_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    previous_due_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    provisional: bool
    clock_no: int
    unit: str
    explanation_due_at: _timestamp_pb2.Timestamp
    def __init__(self, previous_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provisional: _Optional[bool] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ..., explanation_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SupervisionOrderIssued(_message.Message):
    __slots__ = ("order_id", "unit", "kind", "issued_by", "reason", "answer_due_at", "clock_no", "due_at")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ISSUED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    unit: str
    kind: str
    issued_by: str
    reason: str
    answer_due_at: _timestamp_pb2.Timestamp
    clock_no: int
    due_at: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., unit: _Optional[str] = ..., kind: _Optional[str] = ..., issued_by: _Optional[str] = ..., reason: _Optional[str] = ..., answer_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SupervisionOrderAnswered(_message.Message):
    __slots__ = ("order_id", "unit", "text_masked", "late")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TEXT_MASKED_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    unit: str
    text_masked: str
    late: bool
    def __init__(self, order_id: _Optional[str] = ..., unit: _Optional[str] = ..., text_masked: _Optional[str] = ..., late: _Optional[bool] = ...) -> None: ...

class SupervisionOrderEscalated(_message.Message):
    __slots__ = ("order_id", "level", "to_units", "answer_due_at", "unit")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TO_UNITS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    level: int
    to_units: _containers.RepeatedScalarFieldContainer[str]
    answer_due_at: _timestamp_pb2.Timestamp
    unit: str
    def __init__(self, order_id: _Optional[str] = ..., level: _Optional[int] = ..., to_units: _Optional[_Iterable[str]] = ..., answer_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unit: _Optional[str] = ...) -> None: ...

class SupervisionOrderClosed(_message.Message):
    __slots__ = ("order_id", "closed_by", "note", "unit", "answered")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    closed_by: str
    note: str
    unit: str
    answered: bool
    def __init__(self, order_id: _Optional[str] = ..., closed_by: _Optional[str] = ..., note: _Optional[str] = ..., unit: _Optional[str] = ..., answered: _Optional[bool] = ...) -> None: ...

class DeadlineRepliedLate(_message.Message):
    __slots__ = ("due_at", "replied_at", "clock_no", "unit")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    REPLIED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    replied_at: _timestamp_pb2.Timestamp
    clock_no: int
    unit: str
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replied_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class DeadlineReopened(_message.Message):
    __slots__ = ("due_at", "clock_no", "unit", "reason", "overdue")
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    due_at: _timestamp_pb2.Timestamp
    clock_no: int
    unit: str
    reason: str
    overdue: bool
    def __init__(self, due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ..., reason: _Optional[str] = ..., overdue: _Optional[bool] = ...) -> None: ...

class SignForDeadlineSet(_message.Message):
    __slots__ = ("unit", "sign_for_due_at", "reason", "clock_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SIGN_FOR_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    sign_for_due_at: _timestamp_pb2.Timestamp
    reason: str
    clock_no: int
    def __init__(self, unit: _Optional[str] = ..., sign_for_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., clock_no: _Optional[int] = ...) -> None: ...

class DeadlineCoordinated(_message.Message):
    __slots__ = ("lead_unit", "due_at", "min_working_days", "provisional", "clock_no")
    LEAD_UNIT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    MIN_WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    lead_unit: str
    due_at: _timestamp_pb2.Timestamp
    min_working_days: int
    provisional: bool
    clock_no: int
    def __init__(self, lead_unit: _Optional[str] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_working_days: _Optional[int] = ..., provisional: _Optional[bool] = ..., clock_no: _Optional[int] = ...) -> None: ...

class ClockStopped(_message.Message):
    __slots__ = ("reason", "clock_no", "unit")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CLOCK_NO_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    clock_no: int
    unit: str
    def __init__(self, reason: _Optional[str] = ..., clock_no: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...
