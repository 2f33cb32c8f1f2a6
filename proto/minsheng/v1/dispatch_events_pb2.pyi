from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TicketAssigned(_message.Message):
    __slots__ = ("unit", "category", "urgency", "text_masked", "county", "rule", "confidence", "assignment_no")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    TEXT_MASKED_FIELD_NUMBER: _ClassVar[int]
    COUNTY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    unit: str
    category: str
    urgency: str
    text_masked: str
    county: str
    rule: str
    confidence: float
    assignment_no: int
    def __init__(self, unit: _Optional[str] = ..., category: _Optional[str] = ..., urgency: _Optional[str] = ..., text_masked: _Optional[str] = ..., county: _Optional[str] = ..., rule: _Optional[str] = ..., confidence: _Optional[float] = ..., assignment_no: _Optional[int] = ...) -> None: ...

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

class AssignmentReplied(_message.Message):
    __slots__ = ("unit", "assignment_no", "reply_masked", "outcome")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_NO_FIELD_NUMBER: _ClassVar[int]
    REPLY_MASKED_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    unit: str
    assignment_no: int
    reply_masked: str
    outcome: str
    def __init__(self, unit: _Optional[str] = ..., assignment_no: _Optional[int] = ..., reply_masked: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...
