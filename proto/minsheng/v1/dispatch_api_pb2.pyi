import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Assignment(_message.Message):
    __slots__ = ("ticket_id", "ticket_code", "unit", "status", "category", "urgency", "text_masked", "county", "assignment_no", "assigned_at", "role", "subcategory", "request_type", "subdistrict", "title_masked", "channel", "sign_for_due_at", "bounce_back_due_at", "lead_unit", "co_units", "address_masked")
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
    SUBCATEGORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBDISTRICT_FIELD_NUMBER: _ClassVar[int]
    TITLE_MASKED_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SIGN_FOR_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    BOUNCE_BACK_DUE_AT_FIELD_NUMBER: _ClassVar[int]
    LEAD_UNIT_FIELD_NUMBER: _ClassVar[int]
    CO_UNITS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_MASKED_FIELD_NUMBER: _ClassVar[int]
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
    subcategory: str
    request_type: str
    subdistrict: str
    title_masked: str
    channel: str
    sign_for_due_at: _timestamp_pb2.Timestamp
    bounce_back_due_at: _timestamp_pb2.Timestamp
    lead_unit: str
    co_units: _containers.RepeatedScalarFieldContainer[str]
    address_masked: str
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., unit: _Optional[str] = ..., status: _Optional[str] = ..., category: _Optional[str] = ..., urgency: _Optional[str] = ..., text_masked: _Optional[str] = ..., county: _Optional[str] = ..., assignment_no: _Optional[int] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., role: _Optional[str] = ..., subcategory: _Optional[str] = ..., request_type: _Optional[str] = ..., subdistrict: _Optional[str] = ..., title_masked: _Optional[str] = ..., channel: _Optional[str] = ..., sign_for_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bounce_back_due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lead_unit: _Optional[str] = ..., co_units: _Optional[_Iterable[str]] = ..., address_masked: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("ticket_code", "ticket_id", "request_id", "at")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BounceBackRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "reason", "request_id", "at")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    reason: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddNoteRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "note", "request_id", "at")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    note: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., note: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReplyRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "reply", "outcome", "request_id", "at", "expected_by")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BY_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    reply: str
    outcome: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    expected_by: str
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., reply: _Optional[str] = ..., outcome: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expected_by: _Optional[str] = ...) -> None: ...

class RequestExtensionRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "working_days", "reason", "request_id", "at")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    working_days: int
    reason: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., working_days: _Optional[int] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RequestTransferRequest(_message.Message):
    __slots__ = ("ticket_code", "ticket_id", "to_unit", "reason", "request_id", "at")
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TO_UNIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ticket_code: str
    ticket_id: str
    to_unit: str
    reason: str
    request_id: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., to_unit: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AssignmentAck(_message.Message):
    __slots__ = ("ticket_id", "ticket_code", "status", "assignment_no", "replayed")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ticket_code: str
    status: str
    assignment_no: int
    replayed: bool
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., status: _Optional[str] = ..., assignment_no: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...
