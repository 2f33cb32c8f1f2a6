"""Masking a request's free text with what the request says about its own citizen.

``backbone.privacy.mask_personal_data`` finds personal data by its shape and by cues, and is
conservative on purpose (docs/security.md): a name with no cue it knows ("市民柏子涵反映",
"业主甄慧敏来电", "请联系甄慧敏本人"), an ID number written in groups ("341202 19880715 432X"),
a home written without a road ("阳光花园12栋1203", "幸福里小区3-2-501") are left as they are.
But a request that carries a contact tells intake exactly which name, phone, ID number and
address are the citizen's: every writing of those in the text, the title and the place's
label is masked too, before any event is made (the contact's own masked address keeps no
digit either: ``CitizenIdentity.masked``).
"""

from __future__ import annotations

import re

from backbone.privacy import mask_id_number, mask_name, mask_personal_data, mask_phone
from services.intake.domain.citizen import CitizenIdentity, normalise_phone

__all__ = ["mask_with_contact"]

_SEPARATORS = r"[\s\-－.·()（）]*"  # what people put between the digits of a number
_SPACES = r"\s*"
_DIGIT_FORMS = {str(d): f"[{d}{chr(0xFF10 + d)}]" for d in range(10)}
_ANY_DIGIT = re.compile(r"[0-9０-９]")
_COUNTRY_PREFIX = r"(?:(?:\+|＋|00)?86" + _SEPARATORS + ")?"


def _digits_pattern(digits: str) -> str:
    return _SEPARATORS.join(_DIGIT_FORMS[d] for d in digits)


def _number_re(digits: str, prefix: str = "") -> re.Pattern[str]:
    return re.compile(r"(?<![0-9０-９])" + prefix + _digits_pattern(digits) + r"(?![0-9０-９])")


def _address_tail(address: str) -> str | None:
    """The part of a home address from its first number on ("12栋1203", "3-2-501",
    "88号3栋2单元501室"), when it holds at least two numbers: the household itself."""
    first = _ANY_DIGIT.search(address)
    if first is None:
        return None
    tail = address[first.start():].strip()
    if len(re.findall(r"[0-9０-９]+", tail)) < 2:
        return None
    return tail


_NO_SEPARATORS = re.compile(r"[\s\-－.·()（）]+")
_ASCII_DIGITS = str.maketrans({0xFF10 + d: 0x30 + d for d in range(10)})
_FULL_WIDTH_DIGIT = re.compile("[\uff10-\uff19]")


def _compact(text: str) -> str:
    """``text`` without separators or spaces, its full-width digits as ASCII, upper case: a
    value the patterns below would find in ``text`` stands in it as one run. Looked at first,
    so the value's patterns (compiled anew for every contact: ~3 ms a request) are made only
    for a text that may hold it (the rare case). A text without full-width digits (most) is
    not translated: `translate` looks up every character (~6 us a submission's text)."""
    text = _NO_SEPARATORS.sub("", text)
    if _FULL_WIDTH_DIGIT.search(text):
        text = text.translate(_ASCII_DIGITS)
    return text.upper()


def _loose(text: str) -> str:
    """``text`` as a pattern that allows spaces between its characters."""
    return _SPACES.join(re.escape(ch) for ch in text if not ch.isspace())


def mask_with_contact(text: str, identity: CitizenIdentity | None) -> str:
    """``mask_personal_data(text)``, then every writing of the contact's own name, phone, ID
    number and address that the patterns left in clear."""
    masked = mask_personal_data(text)
    if identity is None or not masked:
        return masked
    compact = _compact(masked)
    if identity.id_number:
        value = re.sub(r"\s", "", identity.id_number).upper()
        if len(value) >= 8 and value in compact:
            pattern = _SEPARATORS.join(
                "[Xx]" if ch == "X" else _DIGIT_FORMS.get(ch, re.escape(ch)) for ch in value)
            masked = re.sub(r"(?<![0-9A-Za-z０-９])" + pattern + r"(?![0-9A-Za-z０-９])",
                            mask_id_number(value), masked)
    if identity.phone:
        digits = normalise_phone(identity.phone)
        if len(digits) >= 7 and digits[-7:] in compact:  # a landline's local number at least
            masked = _number_re(digits, _COUNTRY_PREFIX).sub(mask_phone(digits), masked)
            if digits.startswith("0") and len(digits) >= 10:  # a landline: its local number alone
                # (area codes have 3 or 4 digits, local numbers 7 or 8: try both that fit)
                for local in {digits[-n:] for n in (8, 7) if len(digits) - n >= 3}:
                    masked = _number_re(local).sub(mask_phone(local), masked)
    if identity.address:
        address = identity.address.strip()
        for part in (address, _address_tail(address)):
            if part and len(part) >= 4 and _compact(part) in compact:
                masked = re.sub(_loose(part), lambda m: _ANY_DIGIT.sub("*", mask_personal_data(m.group())),
                                masked)
    if identity.name:
        name = re.sub(r"\s", "", identity.name)
        if len(name) >= 2 and name.upper() in compact:
            masked = re.sub(_loose(name), mask_name(name), masked)
    return masked
