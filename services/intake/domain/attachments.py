"""Attachments: the type is read from the content's magic bytes, never from the file name.

An attachment is stored once by its SHA-256 (the reference events carry); the same photo sent by
two citizens is one blob.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import filetype

MB = 1024 * 1024

# kind -> (allowed MIME types, size limit in bytes, how many one ticket may carry)
ATTACHMENT_POLICY: dict[str, tuple[frozenset[str], int, int]] = {
    "image": (frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}), 10 * MB, 9),
    "video": (frozenset({"video/mp4", "video/quicktime"}), 50 * MB, 1),
    "document": (frozenset({"application/pdf"}), 20 * MB, 5),
}


class AttachmentRejectedError(ValueError):
    """The attachment is of a type we do not take, too large, empty, or one too many."""


@dataclass(frozen=True, slots=True)
class Attachment:
    sha256: str
    mime: str
    kind: str
    size: int


def inspect_attachment(content: bytes) -> Attachment:
    """Type from content bytes, size checked against that type's limit; raise with a reason."""
    if not content:
        raise AttachmentRejectedError("the attachment is empty")
    guess = filetype.guess(content)
    mime = guess.mime if guess is not None else None
    for kind, (mimes, limit, _) in ATTACHMENT_POLICY.items():
        if mime in mimes:
            if len(content) > limit:
                raise AttachmentRejectedError(
                    f"{kind} is {len(content) / MB:.1f} MB; the limit for a {kind} is {limit // MB} MB"
                )
            return Attachment(hashlib.sha256(content).hexdigest(), mime, kind, len(content))
    allowed = ", ".join(sorted(m for mimes, _, _ in ATTACHMENT_POLICY.values() for m in mimes))
    found = mime or "an unrecognised format"
    raise AttachmentRejectedError(f"the content is {found}; accepted types are {allowed}")


def check_attachment_counts(attachments: Sequence[Attachment]) -> None:
    """One ticket carries at most 9 pictures, 1 short video and 5 documents."""
    for kind, (_, _, most) in ATTACHMENT_POLICY.items():
        count = sum(1 for a in attachments if a.kind == kind)
        if count > most:
            raise AttachmentRejectedError(f"{count} {kind} attachments; at most {most} per ticket")
