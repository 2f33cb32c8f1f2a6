import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Assignment(_message.Message):
    __slots__ = ("ticket_id", "ticket_code", "unit", "status", "category", "urgency", "text_masked", "county", "assignment_no", "assigned_at", "role")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    TEXT_MASKED_FIELD_NUMBER: _ClassVar[int]
    COUNTY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ticket_code: str
    unit: str
    status: str
    category: str
    urgency: str
    text_masked: str
    county: str
    assignment_no: int
    assigned_at: _timestamp_pb2.Timestamp
    role: str
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., unit: _Optional[str] = ..., status: _Optional[str] = ..., category: _Optional[str] = ..., urgency: _Optional[str] = ..., text_masked: _Optional[str] = ..., county: _Optional[str] = ..., assignment_no: _Optional[int] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., role: _Optional[str] = ...) -> None: ...

class StreamAssignmentsRequest(_message.Message):
    __slots__ = ("include_open",)
    INCLUDE_OPEN_FIELD_NUMBER: _ClassVar[int]
    include_open: bool
    def __init__(self, include_open: _Optional[bool] = ...) -> None: ...

class ListAssignmentsRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: str
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAssignmentsResponse(_message.Message):
    __slots__ = ("assignments", "next_page_token")
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    next_page_token: str
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SignForRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "request_id")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    request_id: str
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class BounceBackRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "reason", "request_id")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    reason: str
    request_id: str
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "note", "request_id")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    note: str
    request_id: str
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., note: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReplyRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "reply", "outcome", "request_id")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    reply: str
    outcome: str
    request_id: str
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., reply: _Optional[str] = ..., outcome: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RequestExtensionRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "working_days", "reason", "request_id")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    working_days: int
    reason: str
    request_id: str
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., working_days: _Optional[int] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AssignmentAck(_message.Message):
    __slots__ = ("ticket_id", "ticket_code", "status")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ticket_code: str
    status: str
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...
