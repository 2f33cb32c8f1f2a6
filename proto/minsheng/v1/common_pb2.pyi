from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Actor(_message.Message):
    __slots__ = ("role", "id", "unit")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    role: str
    id: str
    unit: str
    def __init__(self, role: _Optional[str] = ..., id: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class GeoPoint(_message.Message):
    __slots__ = ("lon", "lat")
    LON_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    lon: float
    lat: float
    def __init__(self, lon: _Optional[float] = ..., lat: _Optional[float] = ...) -> None: ...

class Place(_message.Message):
    __slots__ = ("point", "has_point", "county", "subdistrict", "address_masked", "outside_city")
    POINT_FIELD_NUMBER: _ClassVar[int]
    HAS_POINT_FIELD_NUMBER: _ClassVar[int]
    COUNTY_FIELD_NUMBER: _ClassVar[int]
    SUBDISTRICT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_MASKED_FIELD_NUMBER: _ClassVar[int]
    OUTSIDE_CITY_FIELD_NUMBER: _ClassVar[int]
    point: GeoPoint
    has_point: bool
    county: str
    subdistrict: str
    address_masked: str
    outside_city: bool
    def __init__(self, point: _Optional[_Union[GeoPoint, _Mapping]] = ..., has_point: _Optional[bool] = ..., county: _Optional[str] = ..., subdistrict: _Optional[str] = ..., address_masked: _Optional[str] = ..., outside_city: _Optional[bool] = ...) -> None: ...

class AttachmentRef(_message.Message):
    __slots__ = ("sha256", "media_type", "size")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    media_type: str
    size: int
    def __init__(self, sha256: _Optional[str] = ..., media_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...
