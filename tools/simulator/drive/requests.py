"""The plan's channel shapes turned into intake's channel adapters' API input (pure, no I/O).

The plan records what each channel's adapter would see (a WeChat message, an operator's record
of a call, a letter); intake's API (services/intake/domain/channels.py) wants one model per
channel. Picture and video bytes are made here from the plan's ``content_seed``, so the same
plan always uploads the same attachments (stored once by content hash).
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

# A hidden caller number (来电号码隐藏): the hotline still records that a call came in.
HIDDEN_NUMBER = "00000"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_TAIL = b"\xff\xd9"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def attachment_bytes(ref: dict[str, Any], size: int = 2048) -> tuple[str, str, bytes]:
    """(file name, mime type, bytes) of a picture or video the plan refers to, from its seed."""
    body = random.Random(ref["content_seed"]).randbytes(size)
    if ref.get("mime", "").startswith("video/"):
        return ref["name"].rsplit(".", 1)[0] + ".mp4", "video/mp4", MP4_HEAD + body
    return ref["name"], "image/jpeg", JPEG_HEAD + body + JPEG_TAIL


def plan_attachments(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The pictures (then the video) a plan request carries, in order."""
    found = list(request.get("pictures") or [])
    if request.get("video"):
        found.append(request["video"] | {"mime": "video/mp4"})
    return found


def _contact(name: str | None = None, phone: str | None = None, email: str | None = None,
             address: str | None = None, organisation: str | None = None) -> dict[str, str] | None:
    contact = {"name": name, "phone": phone, "email": email, "address": address,
               "organisation": organisation}
    kept = {k: v for k, v in contact.items() if v}
    return kept or None


def _from_plan_contact(contact: dict[str, Any] | None) -> dict[str, str] | None:
    if not contact:
        return None
    return _contact(contact.get("name"), contact.get("phone"), contact.get("email"),
                    contact.get("address"), contact.get("company"))


def _who(contact: dict[str, Any] | None) -> dict[str, Any]:
    if not contact:
        return {"anonymous": True}
    kind = "enterprise" if contact.get("company") else "citizen"
    return {"requester_kind": kind}


def to_channel_input(submit: dict[str, Any], *, occurred_at: datetime | None,
                     attachment_refs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /v1/requests`` for one plan ``submit`` action's payload.

    ``attachment_refs`` are the uploaded attachments ({sha256, kind}) in ``plan_attachments``
    order; ``occurred_at`` is when the citizen called or wrote (the event time)."""
    channel, request = submit["channel"], submit["request"]
    body: dict[str, Any] = {"channel": channel, "request_id": submit["request_id"]}
    if occurred_at is not None:
        body["occurred_at"] = occurred_at.isoformat()
    refs = attachment_refs or []
    if request.get("category_hint"):
        body["category_hint"] = request["category_hint"]
    if channel in ("wechat_mini", "wechat_official"):
        contact = request.get("contact")
        body |= _who(contact) | {"openid": request.get("openid"), "text": request["text"],
                                 "contact": _from_plan_contact(contact)}
        body["pictures"] = [r for r in refs if r["kind"] == "image"]
        body["videos"] = [r for r in refs if r["kind"] == "video"]
        if channel == "wechat_mini" and request.get("location"):
            body["location"] = request["location"]
    elif channel == "hotline_12345":
        number = request.get("caller_number")
        body |= {"call_id": request["call_id"], "operator_id": request["operator_id"],
                 "caller_number": number or HIDDEN_NUMBER, "summary": request["summary"]}
        if number:
            body["contact"] = _contact(request.get("caller_name"), number)
        else:
            body["anonymous"] = True
    elif channel == "mayor_mailbox":
        sender = request.get("sender")
        body |= _who(sender) | {"subject": request["subject"], "body": request["body"]}
        if sender:
            body["sender"] = {k: sender.get(k) for k in ("name", "phone", "email", "address")
                              if sender.get(k)}
            if sender.get("company"):
                body["contact"] = _from_plan_contact(sender)
    elif channel == "media_hotline":
        number = request.get("caller_number")
        body |= {"programme": request["programme"], "summary": request["summary"]}
        if request.get("broadcast_at"):
            body["aired_on"] = str(request["broadcast_at"])[:10]
        if number:
            body["contact"] = _contact(phone=number)
        else:
            body["anonymous"] = True
    elif channel == "web":
        contact = _contact(request.get("name"), request.get("phone"), request.get("email"),
                           request.get("address"))
        body |= ({"anonymous": True} if contact is None else {}) | {
            "title": request["title"], "body": request["content"], "contact": contact}
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return {k: v for k, v in body.items() if v is not None and v != []}
