import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from minsheng.v1 import envelope_pb2 as _envelope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetTicketStateRequest(_message.Message):
    __slots__ = ("ticket_id", "ticket_code", "at")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ticket_code: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CitizenMessage(_message.Message):
    __slots__ = ("told_at", "event_type", "text")
    TOLD_AT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    told_at: _timestamp_pb2.Timestamp
    event_type: str
    text: str
    def __init__(self, told_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_type: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class TicketState(_message.Message):
    __slots__ = ("ticket_id", "existed", "first_event_at", "status", "ticket_code", "owner_unit", "deadline", "deadline_status", "rating", "citizen_was_told", "as_of", "events_applied", "events_in_ledger", "unknown_events", "note")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    EXISTED_FIELD_NUMBER: _ClassVar[int]
    FIRST_EVENT_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    OWNER_UNIT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_STATUS_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_WAS_TOLD_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_IN_LEDGER_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    existed: bool
    first_event_at: _timestamp_pb2.Timestamp
    status: str
    ticket_code: str
    owner_unit: str
    deadline: _timestamp_pb2.Timestamp
    deadline_status: str
    rating: str
    citizen_was_told: _containers.RepeatedCompositeFieldContainer[CitizenMessage]
    as_of: _timestamp_pb2.Timestamp
    events_applied: int
    events_in_ledger: int
    unknown_events: _containers.RepeatedScalarFieldContainer[str]
    note: str
    def __init__(self, ticket_id: _Optional[str] = ..., existed: _Optional[bool] = ..., first_event_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ..., ticket_code: _Optional[str] = ..., owner_unit: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline_status: _Optional[str] = ..., rating: _Optional[str] = ..., citizen_was_told: _Optional[_Iterable[_Union[CitizenMessage, _Mapping]]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events_applied: _Optional[int] = ..., events_in_ledger: _Optional[int] = ..., unknown_events: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ...) -> None: ...

class ReplayTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "ticket_code", "with_proofs")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    WITH_PROOFS_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ticket_code: str
    with_proofs: bool
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ..., with_proofs: _Optional[bool] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("ledger_seq", "partition", "offset", "ticket_seq", "envelope", "raw", "prev_hash", "entry_hash", "recorded_at", "topic", "ticket_id", "leaf_hash", "payload_json", "inclusion_proof")
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TICKET_SEQ_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    ledger_seq: int
    partition: int
    offset: int
    ticket_seq: int
    envelope: _envelope_pb2.Envelope
    raw: bytes
    prev_hash: bytes
    entry_hash: bytes
    recorded_at: _timestamp_pb2.Timestamp
    topic: str
    ticket_id: str
    leaf_hash: bytes
    payload_json: str
    inclusion_proof: InclusionProof
    def __init__(self, ledger_seq: _Optional[int] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., ticket_seq: _Optional[int] = ..., envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., raw: _Optional[bytes] = ..., prev_hash: _Optional[bytes] = ..., entry_hash: _Optional[bytes] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topic: _Optional[str] = ..., ticket_id: _Optional[str] = ..., leaf_hash: _Optional[bytes] = ..., payload_json: _Optional[str] = ..., inclusion_proof: _Optional[_Union[InclusionProof, _Mapping]] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("tree_size", "path", "checkpoint")
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    path: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: str
    def __init__(self, tree_size: _Optional[int] = ..., path: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[str] = ...) -> None: ...
