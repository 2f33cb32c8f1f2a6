import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from minsheng.v1 import envelope_pb2 as _envelope_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplayTicketRequest(_message.Message):
    __slots__ = ("ticket_id", "ticket_code")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_CODE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    ticket_code: str
    def __init__(self, ticket_id: _Optional[str] = ..., ticket_code: _Optional[str] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("ledger_seq", "partition", "offset", "ticket_seq", "envelope", "raw", "prev_hash", "entry_hash", "recorded_at")
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TICKET_SEQ_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    ledger_seq: int
    partition: int
    offset: int
    ticket_seq: int
    envelope: _envelope_pb2.Envelope
    raw: bytes
    prev_hash: bytes
    entry_hash: bytes
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, ledger_seq: _Optional[int] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., ticket_seq: _Optional[int] = ..., envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., raw: _Optional[bytes] = ..., prev_hash: _Optional[bytes] = ..., entry_hash: _Optional[bytes] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
