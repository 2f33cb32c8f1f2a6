from minsheng.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TicketAssigned(_message.Message):
    __slots__ = ("unit", "category", "urgency", "text_masked", "county", "rule", "confidence", "assignment_no", "subcategory", "request_type", "subdistrict", "role", "parent_unit", "unit_kind", "title_masked", "channel", "place", "territory_confidence", "territory_reasons")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    TEXT_MASKED_FIELD_NUMBER: _ClassVar[int]
    COUNTY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    SUBCATEGORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBDISTRICT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PARENT_UNIT_FIELD_NUMBER: _ClassVar[int]
    UNIT_KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_MASKED_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_REASONS_FIELD_NUMBER: _ClassVar[int]
    unit: str
    category: str
    urgency: str
    text_masked: str
    county: str
    rule: str
    confidence: float
    assignment_no: int
    subcategory: str
    request_type: str
    subdistrict: str
    role: str
    parent_unit: str
    unit_kind: str
    title_masked: str
    channel: str
    place: _common_pb2.Place
    territory_confidence: float
    territory_reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, unit: _Optional[str] = ..., category: _Optional[str] = ..., urgency: _Optional[str] = ..., text_masked: _Optional[str] = ..., county: _Optional[str] = ..., rule: _Optional[str] = ..., confidence: _Optional[float] = ..., assignment_no: _Optional[int] = ..., subcategory: _Optional[str] = ..., request_type: _Optional[str] = ..., subdistrict: _Optional[str] = ..., role: _Optional[str] = ..., parent_unit: _Optional[str] = ..., unit_kind: _Optional[str] = ..., title_masked: _Optional[str] = ..., channel: _Optional[str] = ..., place: _Optional[_Union[_common_pb2.Place, _Mapping]] = ..., territory_confidence: _Optional[float] = ..., territory_reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class TicketQueuedForDispatcher(_message.Message):
    __slots__ = ("reason", "suggested_unit", "confidence", "queue", "category", "subcategory", "request_type", "urgency", "county", "subdistrict", "territory_confidence", "territory_reasons")
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_UNIT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SUBCATEGORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    COUNTY_FIELD_NUMBER: _ClassVar[int]
    SUBDISTRICT_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    TERRITORY_REASONS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    suggested_unit: str
    confidence: float
    queue: str
    category: str
    subcategory: str
    request_type: str
    urgency: str
    county: str
    subdistrict: str
    territory_confidence: float
    territory_reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, reason: _Optional[str] = ..., suggested_unit: _Optional[str] = ..., confidence: _Optional[float] = ..., queue: _Optional[str] = ..., category: _Optional[str] = ..., subcategory: _Optional[str] = ..., request_type: _Optional[str] = ..., urgency: _Optional[str] = ..., county: _Optional[str] = ..., subdistrict: _Optional[str] = ..., territory_confidence: _Optional[float] = ..., territory_reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class AssignmentSignedFor(_message.Message):
    __slots__ = ("unit", "assignment_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ...) -> None: ...

class AssignmentBouncedBack(_message.Message):
    __slots__ = ("unit", "assignment_no", "reason")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    reason: str
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class AssignmentProgressNoted(_message.Message):
    __slots__ = ("unit", "assignment_no", "note_masked")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    NOTE_MASKED_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    note_masked: str
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., note_masked: _Optional[str] = ...) -> None: ...

class AssignmentTransferred(_message.Message):
    __slots__ = ("from_unit", "to_unit", "assignment_no", "reason", "decided_by")
    FROM_UNIT_FIELD_NUMBER: _ClassVar[int]
    TO_UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    from_unit: str
    to_unit: str
    assignment_no: int
    reason: str
    decided_by: str
    def __init__(self, from_unit: _Optional[str] = ..., to_unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., reason: _Optional[str] = ..., decided_by: _Optional[str] = ...) -> None: ...

class CoordinationDecided(_message.Message):
    __slots__ = ("lead_unit", "co_units", "decision", "decided_by", "assignment_no")
    LEAD_UNIT_FIELD_NUMBER: _ClassVar[int]
    CO_UNITS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    lead_unit: str
    co_units: _containers.RepeatedScalarFieldContainer[str]
    decision: str
    decided_by: str
    assignment_no: int
    def __init__(self, lead_unit: _Optional[str] = ..., co_units: _Optional[_Iterable[str]] = ..., decision: _Optional[str] = ..., decided_by: _Optional[str] = ..., assignment_no: _Optional[int] = ...) -> None: ...

class AssignmentReplied(_message.Message):
    __slots__ = ("unit", "assignment_no", "reply_masked", "outcome", "expected_by")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    REPLY_MASKED_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BY_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    reply_masked: str
    outcome: str
    expected_by: str
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., reply_masked: _Optional[str] = ..., outcome: _Optional[str] = ..., expected_by: _Optional[str] = ...) -> None: ...

class ReplyReviewed(_message.Message):
    __slots__ = ("unit", "assignment_no", "accepted", "reason", "reply_masked", "outcome", "reviewed_by", "interim", "expected_by")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REPLY_MASKED_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_BY_FIELD_NUMBER: _ClassVar[int]
    INTERIM_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BY_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    accepted: bool
    reason: str
    reply_masked: str
    outcome: str
    reviewed_by: str
    interim: bool
    expected_by: str
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., reply_masked: _Optional[str] = ..., outcome: _Optional[str] = ..., reviewed_by: _Optional[str] = ..., interim: _Optional[bool] = ..., expected_by: _Optional[str] = ...) -> None: ...

class TicketReclassified(_message.Message):
    __slots__ = ("category", "subcategory", "request_type", "urgency", "working_days", "reclassified_by")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SUBCATEGORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    RECLASSIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    category: str
    subcategory: str
    request_type: str
    urgency: str
    working_days: int
    reclassified_by: str
    def __init__(self, category: _Optional[str] = ..., subcategory: _Optional[str] = ..., request_type: _Optional[str] = ..., urgency: _Optional[str] = ..., working_days: _Optional[int] = ..., reclassified_by: _Optional[str] = ...) -> None: ...

class ExtensionRequested(_message.Message):
    __slots__ = ("unit", "working_days", "reason", "assignment_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    working_days: int
    reason: str
    assignment_no: int
    def __init__(self, unit: _Optional[str] = ..., working_days: _Optional[int] = ..., reason: _Optional[str] = ..., assignment_no: _Optional[int] = ...) -> None: ...

class DispatchClosed(_message.Message):
    __slots__ = ("unit", "assignment_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ...) -> None: ...

class AssignmentWithdrawn(_message.Message):
    __slots__ = ("unit", "assignment_no", "reason", "case_id", "primary_ticket_id")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    reason: str
    case_id: str
    primary_ticket_id: str
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., reason: _Optional[str] = ..., case_id: _Optional[str] = ..., primary_ticket_id: _Optional[str] = ...) -> None: ...

class TransferRequested(_message.Message):
    __slots__ = ("unit", "to_unit", "reason", "assignment_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TO_UNIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    to_unit: str
    reason: str
    assignment_no: int
    def __init__(self, unit: _Optional[str] = ..., to_unit: _Optional[str] = ..., reason: _Optional[str] = ..., assignment_no: _Optional[int] = ...) -> None: ...

class TransferRejected(_message.Message):
    __slots__ = ("unit", "to_unit", "reason", "decided_by", "assignment_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TO_UNIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    to_unit: str
    reason: str
    decided_by: str
    assignment_no: int
    def __init__(self, unit: _Optional[str] = ..., to_unit: _Optional[str] = ..., reason: _Optional[str] = ..., decided_by: _Optional[str] = ..., assignment_no: _Optional[int] = ...) -> None: ...

class CaseMergeRefused(_message.Message):
    __slots__ = ("case_id", "primary_ticket_id", "primary_code", "reason", "state", "merge_event_id")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MERGE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    primary_ticket_id: str
    primary_code: str
    reason: str
    state: str
    merge_event_id: str
    def __init__(self, case_id: _Optional[str] = ..., primary_ticket_id: _Optional[str] = ..., primary_code: _Optional[str] = ..., reason: _Optional[str] = ..., state: _Optional[str] = ..., merge_event_id: _Optional[str] = ...) -> None: ...

class CaseMergeTaken(_message.Message):
    __slots__ = ("case_id", "primary_ticket_id", "primary_code", "merge_event_id")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_CODE_FIELD_NUMBER: _ClassVar[int]
    MERGE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    primary_ticket_id: str
    primary_code: str
    merge_event_id: str
    def __init__(self, case_id: _Optional[str] = ..., primary_ticket_id: _Optional[str] = ..., primary_code: _Optional[str] = ..., merge_event_id: _Optional[str] = ...) -> None: ...
