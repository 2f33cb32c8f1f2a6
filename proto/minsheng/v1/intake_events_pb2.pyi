from minsheng.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TicketSubmitted(_message.Message):
    __slots__ = ("channel", "text_masked", "title_masked", "category_hint", "place", "citizen_pseudonym", "contact_masked", "requester_kind", "attachments", "adapter_id", "external_ref")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_MASKED_FIELD_NUMBER: _ClassVar[int]
    TITLE_MASKED_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_HINT_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    CONTACT_MASKED_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_KIND_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REF_FIELD_NUMBER: _ClassVar[int]
    channel: str
    text_masked: str
    title_masked: str
    category_hint: str
    place: _common_pb2.Place
    citizen_pseudonym: str
    contact_masked: str
    requester_kind: str
    attachments: _containers.RepeatedCompositeFieldContainer[_common_pb2.AttachmentRef]
    adapter_id: str
    external_ref: str
    def __init__(self, channel: _Optional[str] = ..., text_masked: _Optional[str] = ..., title_masked: _Optional[str] = ..., category_hint: _Optional[str] = ..., place: _Optional[_Union[_common_pb2.Place, _Mapping]] = ..., citizen_pseudonym: _Optional[str] = ..., contact_masked: _Optional[str] = ..., requester_kind: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[_common_pb2.AttachmentRef, _Mapping]]] = ..., adapter_id: _Optional[str] = ..., external_ref: _Optional[str] = ...) -> None: ...

class TicketAccepted(_message.Message):
    __slots__ = ("flags",)
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    flags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, flags: _Optional[_Iterable[str]] = ...) -> None: ...

class TicketRejected(_message.Message):
    __slots__ = ("reason_code", "reason_text")
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    reason_code: str
    reason_text: str
    def __init__(self, reason_code: _Optional[str] = ..., reason_text: _Optional[str] = ...) -> None: ...

class TicketAnsweredOnSpot(_message.Message):
    __slots__ = ("answer_masked", "source", "source_date", "knowledge_ref", "operator_id")
    ANSWER_MASKED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DATE_FIELD_NUMBER: _ClassVar[int]
    KNOWLEDGE_REF_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    answer_masked: str
    source: str
    source_date: str
    knowledge_ref: str
    operator_id: str
    def __init__(self, answer_masked: _Optional[str] = ..., source: _Optional[str] = ..., source_date: _Optional[str] = ..., knowledge_ref: _Optional[str] = ..., operator_id: _Optional[str] = ...) -> None: ...

class TicketMergedIntoCase(_message.Message):
    __slots__ = ("case_id", "primary_ticket_id", "primary_code", "score", "confirmed", "by")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_CODE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    primary_ticket_id: str
    primary_code: str
    score: float
    confirmed: bool
    by: str
    def __init__(self, case_id: _Optional[str] = ..., primary_ticket_id: _Optional[str] = ..., primary_code: _Optional[str] = ..., score: _Optional[float] = ..., confirmed: _Optional[bool] = ..., by: _Optional[str] = ...) -> None: ...

class TicketUnmergedFromCase(_message.Message):
    __slots__ = ("case_id", "primary_ticket_id", "reason", "by")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    primary_ticket_id: str
    reason: str
    by: str
    def __init__(self, case_id: _Optional[str] = ..., primary_ticket_id: _Optional[str] = ..., reason: _Optional[str] = ..., by: _Optional[str] = ...) -> None: ...

class CitizenIdentityErased(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
