"""One net catches all (一网尽收): each channel's input, and its mapping onto one ticket draft.

Every channel model is frozen and rejects unknown fields, so an adapter that sends a field we do
not understand hears about it instead of losing data silently. ``parse_channel_input`` picks the
model by the ``channel`` field and turns pydantic's errors into one readable reason.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from backbone.privacy import echo
from backbone.text import writable
from services.intake.domain.citizen import CitizenIdentity, RequesterKind

MAX_TEXT = 2000  # a hotline summary or a mailbox letter; longer goes in an attachment
MAX_TITLE = 100
SHA256_HEX = r"^[0-9a-f]{64}$"


class Channel(StrEnum):
    WECHAT_MINI = "wechat_mini"
    WECHAT_OFFICIAL = "wechat_official"
    HOTLINE_12345 = "hotline_12345"
    MAYOR_MAILBOX = "mayor_mailbox"
    MEDIA_HOTLINE = "media_hotline"
    WEB = "web"
    OPEN311 = "open311"


# 一诉一码 writes a ticket's day as YYMMDD and reads it back as 20YY (ticket_code.py): a
# request can only be dated on a day of 2000-2099, Beijing time. Anything else is a typo or a
# probe; on the event clock of a local platform (`make up`) it would also have become intake's
# time for every request after it (a year past 9999 then failed them all).
_BEIJING = ZoneInfo("Asia/Shanghai")
FIRST_STATED = datetime(2000, 1, 1, tzinfo=_BEIJING)
END_STATED = datetime(2100, 1, 1, tzinfo=_BEIJING)


class StatedTimeError(ValueError):
    """A stated time (`occurred_at`) no ticket code can carry."""


def check_stated_time(when: datetime | None) -> datetime | None:
    """`when` if a ticket code can carry its day; raise StatedTimeError if not. A time without
    a zone passes: the clock refuses it with its own reason (backbone.clock)."""
    if when is not None and when.tzinfo is not None and not FIRST_STATED <= when < END_STATED:
        raise StatedTimeError("occurred_at must lie between 2000-01-01 and 2099-12-31 (Beijing "
                              "time): a ticket code carries its day as YYMMDD")
    return when


class ChannelInputError(ValueError):
    """The adapter's input does not fit its channel's model; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Contact(_Frozen):
    name: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=30, pattern=r"^[0-9+\-\s()（）]{5,30}$")
    id_number: str | None = Field(default=None, max_length=18, pattern=r"^[0-9A-Za-z]{15,18}$")
    address: str | None = Field(default=None, max_length=200)
    organisation: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=100, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


def coordinate(value: Any) -> Any:
    """A latitude or longitude as given: a number, or a string of plain decimal digits (a
    form's field, as GeoReport v2 posts them). Raise ValueError for anything else: a boolean
    (pydantic, and Python's float(), read false as 0.0 and true as 1.0: a place in the sea),
    "nan", "inf", "1e1" or "3_0"."""
    if isinstance(value, bool):
        raise ValueError("a coordinate is a number, not true or false")
    if isinstance(value, str):
        if not _DECIMAL.match(value.strip()):
            raise ValueError("a coordinate is a decimal number like 32.89")
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a coordinate is a finite number")
    return value


Latitude = Annotated[float, Field(ge=-90, le=90), BeforeValidator(coordinate)]
Longitude = Annotated[float, Field(ge=-180, le=180), BeforeValidator(coordinate)]


class LocationPin(_Frozen):
    lat: Latitude
    lon: Longitude
    label: str | None = Field(default=None, max_length=200, description="address text the pin shows")


class AttachmentRef(_Frozen):
    """An attachment already uploaded and stored by content hash; events never carry bytes."""

    sha256: str = Field(pattern=SHA256_HEX)
    kind: Literal["image", "video", "document"]


class _Common(_Frozen):
    request_id: str = Field(min_length=1, max_length=100, description="adapter's id, the idempotency key")
    requester_kind: RequesterKind = RequesterKind.CITIZEN
    anonymous: bool = False
    contact: Contact | None = None
    category_hint: str | None = Field(default=None, max_length=50)
    occurred_at: datetime | None = Field(
        default=None, description="when the citizen called or wrote (with time zone); default: now")

    @model_validator(mode="before")
    @classmethod
    def _writable_text(cls, data: Any) -> Any:
        return writable(data)  # NUL, controls, noncharacters: backbone.text

    @field_validator("occurred_at")
    @classmethod
    def _a_day_a_code_can_carry(cls, value: datetime | None) -> datetime | None:
        return check_stated_time(value)

    @field_validator("contact")
    @classmethod
    def _contact_not_empty(cls, value: Contact | None) -> Contact | None:
        if value is not None and not any(value.model_dump().values()):
            return None
        return value


class WeChatMiniInput(_Common):
    channel: Literal["wechat_mini"]
    openid: str | None = Field(default=None, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    pictures: list[AttachmentRef] = Field(default_factory=list, max_length=9)
    videos: list[AttachmentRef] = Field(default_factory=list, max_length=1, description="short video")
    location: LocationPin | None = None


class WeChatOfficialInput(WeChatMiniInput):
    channel: Literal["wechat_official"]  # type: ignore[assignment]


class OnSpotAnswer(_Frozen):
    """解惑: the answer the operator gave during the call, and where it comes from."""

    answer: str = Field(min_length=2, max_length=MAX_TEXT)
    source: str = Field(min_length=2, max_length=300)
    source_date: date
    knowledge_ref: str = Field(default="", max_length=64)


class HotlineInput(_Common):
    channel: Literal["hotline_12345"]
    call_id: str = Field(min_length=1, max_length=64)
    caller_number: str = Field(min_length=3, max_length=30, pattern=r"^[0-9+\-\s]{3,30}$")
    operator_id: str = Field(min_length=1, max_length=32)
    summary: str = Field(min_length=1, max_length=MAX_TEXT)
    address: str | None = Field(default=None, max_length=200)
    location: LocationPin | None = None
    answered_on_spot: OnSpotAnswer | None = Field(
        default=None, description="a question answered during the call: nothing is dispatched")


class Sender(_Frozen):
    name: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=100, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=30, pattern=r"^[0-9+\-\s()]{5,30}$")
    address: str | None = Field(default=None, max_length=200)


class MayorMailboxInput(_Common):
    channel: Literal["mayor_mailbox"]
    subject: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = Field(min_length=1, max_length=MAX_TEXT)
    sender: Sender | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=5)


class MediaHotlineInput(_Common):
    channel: Literal["media_hotline"]
    programme: str = Field(min_length=1, max_length=100, description="e.g. 阜阳新闻综合频道《民生热线》")
    aired_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    summary: str = Field(min_length=1, max_length=MAX_TEXT)
    location: LocationPin | None = None


class WebFormInput(_Common):
    channel: Literal["web"]
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = Field(min_length=1, max_length=MAX_TEXT)
    location: LocationPin | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=9)


class Open311Input(_Common):
    """GeoReport v2 ``POST requests`` fields (the HTTP layer maps form names onto these)."""

    channel: Literal["open311"]
    service_code: str = Field(min_length=1, max_length=50)
    description: str = Field(min_length=1, max_length=MAX_TEXT)
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: str | None = Field(default=None, max_length=200)
    media_url: str | None = Field(default=None, max_length=500)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=30)

    @model_validator(mode="after")
    def _lat_and_long_together(self) -> Open311Input:
        if (self.lat is None) != (self.long is None):  # one alone was dropped without a word
            raise ValueError("lat and long go together: give both, or neither")
        return self


ChannelInput = Annotated[
    WeChatMiniInput | WeChatOfficialInput | HotlineInput | MayorMailboxInput | MediaHotlineInput
    | WebFormInput | Open311Input,
    Field(discriminator="channel"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ChannelInput)


class Place(_Frozen):
    lat: float | None = None
    lon: float | None = None
    address: str | None = None  # as given; masked before it enters an event


class TicketDraft(_Frozen):
    """The one ticket model every channel maps onto. Still holds clear personal data:
    the service layer seals ``identity`` and masks ``text`` before any event is made."""

    channel: Channel
    idempotency_key: str
    channel_ref: str | None
    title: str | None
    text: str
    place: Place | None
    identity: CitizenIdentity | None
    requester_kind: RequesterKind
    anonymous: bool
    category_hint: str | None
    attachments: list[AttachmentRef]
    answered_on_spot: OnSpotAnswer | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _readable(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_channel_input(payload: dict[str, Any]) -> ChannelInput:
    """Validate an adapter's payload against its channel's model; raise with a readable reason."""
    if not isinstance(payload, dict):
        raise ChannelInputError("input must be a JSON object")
    channel = payload.get("channel")
    if channel not in {c.value for c in Channel}:
        known = ", ".join(c.value for c in Channel)
        raise ChannelInputError(f"unknown channel {echo(channel)}; expected one of: {known}")
    try:
        return _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        raise ChannelInputError(_readable(exc)) from exc


def _identity(contact: Contact | None, kind: RequesterKind, anonymous: bool) -> CitizenIdentity | None:
    if contact is None or anonymous:
        # Anonymous: we keep no identity at all, so nothing can leak and nothing needs erasing.
        return None
    return CitizenIdentity(
        name=contact.name, phone=contact.phone, id_number=contact.id_number,
        address=contact.address, kind=kind.value, organisation=contact.organisation,
    )


def _place(pin: LocationPin | None, address: str | None = None) -> Place | None:
    if pin is None and not address:
        return None
    return Place(lat=pin.lat if pin else None, lon=pin.lon if pin else None,
                 address=address or (pin.label if pin else None))


def to_ticket_draft(source: ChannelInput) -> TicketDraft:
    """Map one channel's input onto the one ticket model."""
    common: dict[str, Any] = dict(
        channel=Channel(source.channel), idempotency_key=f"{source.channel}:{source.request_id}",
        requester_kind=source.requester_kind, anonymous=source.anonymous,
        category_hint=source.category_hint,
    )
    contact = source.contact
    if isinstance(source, WeChatMiniInput):  # also the official account
        return TicketDraft(**common, channel_ref=source.openid, title=None, text=source.text,
                           place=_place(source.location), attachments=source.pictures + source.videos,
                           identity=_identity(contact, source.requester_kind, source.anonymous))
    if isinstance(source, HotlineInput):
        # The caller's number is who called; a contact given on the call overrides nothing else.
        contact = contact or Contact(phone=source.caller_number)
        if contact.phone is None:
            contact = contact.model_copy(update={"phone": source.caller_number})
        return TicketDraft(**common, channel_ref=source.call_id, title=None, text=source.summary,
                           place=_place(source.location, source.address), attachments=[],
                           identity=_identity(contact, source.requester_kind, source.anonymous),
                           answered_on_spot=source.answered_on_spot)
    if isinstance(source, MayorMailboxInput):
        if source.sender is not None and contact is None:
            contact = Contact(**source.sender.model_dump())
        return TicketDraft(**common, channel_ref=None, title=source.subject, text=source.body,
                           place=_place(None, contact.address if contact else None),
                           attachments=source.attachments,
                           identity=_identity(contact, source.requester_kind, source.anonymous))
    if isinstance(source, MediaHotlineInput):
        return TicketDraft(**common, channel_ref=source.programme, title=None, text=source.summary,
                           place=_place(source.location), attachments=[],
                           identity=_identity(contact, source.requester_kind, source.anonymous))
    if isinstance(source, WebFormInput):
        return TicketDraft(**common, channel_ref=None, title=source.title, text=source.body,
                           place=_place(source.location), attachments=source.attachments,
                           identity=_identity(contact, source.requester_kind, source.anonymous))
    pin = LocationPin(lat=source.lat, lon=source.long) if source.lat is not None and source.long is not None else None
    return TicketDraft(**{**common, "category_hint": source.category_hint or source.service_code},
                       channel_ref=source.service_code, title=None, text=source.description,
                       place=_place(pin, source.address_string), attachments=[],
                       identity=_identity(contact, source.requester_kind, source.anonymous))
