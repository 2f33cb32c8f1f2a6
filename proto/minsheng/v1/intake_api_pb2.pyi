import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BusContact(_message.Message):
    __slots__ = ("name", "phone", "id_number", "address", "organisation", "email")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    phone: str
    id_number: str
    address: str
    organisation: str
    email: str
    def __init__(self, name: _Optional[str] = ..., phone: _Optional[str] = ..., id_number: _Optional[str] = ..., address: _Optional[str] = ..., organisation: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class BusLocation(_message.Message):
    __slots__ = ("lat", "lon", "label")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    label: str
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class BusAttachment(_message.Message):
    __slots__ = ("sha256", "kind")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    kind: str
    def __init__(self, sha256: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class IntakeRequest(_message.Message):
    __slots__ = ("request_id", "token", "channel", "occurred_at", "requester_kind", "anonymous", "contact", "category_hint", "title", "text", "location", "has_location", "address", "attachments", "fields", "attributes", "sealed", "sealed_for")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_KIND_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_HINT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HAS_LOCATION_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    SEALED_FOR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    token: str
    channel: str
    occurred_at: _timestamp_pb2.Timestamp
    requester_kind: str
    anonymous: bool
    contact: BusContact
    category_hint: str
    title: str
    text: str
    location: BusLocation
    has_location: bool
    address: str
    attachments: _containers.RepeatedCompositeFieldContainer[BusAttachment]
    fields: _containers.ScalarMap[str, str]
    attributes: _containers.ScalarMap[str, str]
    sealed: bytes
    sealed_for: str
    def __init__(self, request_id: _Optional[str] = ..., token: _Optional[str] = ..., channel: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requester_kind: _Optional[str] = ..., anonymous: _Optional[bool] = ..., contact: _Optional[_Union[BusContact, _Mapping]] = ..., category_hint: _Optional[str] = ..., title: _Optional[str] = ..., text: _Optional[str] = ..., location: _Optional[_Union[BusLocation, _Mapping]] = ..., has_location: _Optional[bool] = ..., address: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[BusAttachment, _Mapping]]] = ..., fields: _Optional[_Mapping[str, str]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., sealed: _Optional[bytes] = ..., sealed_for: _Optional[str] = ...) -> None: ...

class IntakeReply(_message.Message):
    __slots__ = ("request_id", "adapter_id", "status", "code", "ticket_id", "reason_code", "reason_text", "replayed", "retry_after_seconds")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter_id: str
    status: str
    code: str
    ticket_id: str
    reason_code: str
    reason_text: str
    replayed: bool
    retry_after_seconds: float
    def __init__(self, request_id: _Optional[str] = ..., adapter_id: _Optional[str] = ..., status: _Optional[str] = ..., code: _Optional[str] = ..., ticket_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., reason_text: _Optional[str] = ..., replayed: _Optional[bool] = ..., retry_after_seconds: _Optional[float] = ...) -> None: ...
