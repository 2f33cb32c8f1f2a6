"""A ticket code as a caller may type it, in the form intake writes it (FY-261127-00042-K).

Every service that takes a ticket by its code reads it the same way: any case, with or
without its separators (hyphens, spaces, dots, underscores, as it is typed or read out).
What is not a code's shape is a 400 naming the form; the check character itself is intake's
to verify (services/intake/domain/ticket_code.py).
"""

from __future__ import annotations

import re

from backbone.http import ClientError
from backbone.privacy import echo

_CODE = re.compile(r"^([A-Z]{2})([0-9]{6})([0-9]{5,})([A-Z0-9])$")
_SEPARATORS = re.compile(r"[\s\-_.·—－]+")


def spelled_code(text: str) -> str | None:
    """`text` as intake writes a code, or None when it has no ticket code's shape (a ticket
    id, say, for services that take either)."""
    match = _CODE.match(_SEPARATORS.sub("", text).upper())
    return "-".join(match.groups()) if match else None


def ticket_code(code: str) -> str:
    """`code` as intake writes it; ClientError (400) when it is not a ticket code's shape."""
    spelled = spelled_code(code)
    if spelled is None:
        # (not repeated when it may be personal data: a phone number typed for a code)
        raise ClientError(f"{echo(code[:40])} is not a ticket code (like FY-261127-00042-K)")
    return spelled
