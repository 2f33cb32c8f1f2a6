"""Characters no one's text holds and that break those who read it.

NUL (PostgreSQL's text cannot store it), the other C0 controls but tab and line breaks, DEL,
the noncharacters U+FFFE/U+FFFF and lone surrogates: an .xlsx export, Open311's XML and the
pages cannot carry them (one such ticket made every export unreadable, session 17). The
services that take people's text refuse them at the door (422, the character named), before
anything is written.
"""

from __future__ import annotations

import re
from typing import Any

# What XML 1.0 cannot carry at all, even escaped (C0 controls but tab, LF and CR; U+FFFE,
# U+FFFF; lone surrogates): left out where text is written as XML (Open311's answers, .xlsx
# exports), since text stored before the door refused them may still hold them.
_NOT_XML_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff"
NOT_XML = re.compile(f"[{_NOT_XML_CHARS}]")
UNWRITABLE = re.compile(f"[{_NOT_XML_CHARS}\x7f]")  # and DEL, which no one's text holds


def unwritable_in(value: Any) -> str | None:
    """The first character `UNWRITABLE` names in a parsed JSON value's strings (keys too), or
    None. Walked with a stack, not by recursion: a body may nest a thousand lists deep."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = UNWRITABLE.search(item)
            if found:
                return found.group()
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def writable(data: Any) -> Any:
    """`data` unchanged, or ValueError naming the character (a pydantic `mode="before"` model
    validator's body: the model's 422 then says which)."""
    found = unwritable_in(data)
    if found is not None:
        raise ValueError(f"text cannot contain the control or noncharacter U+{ord(found):04X}"
                         " (tab and line breaks are fine)")
    return data
