"""Chinese request texts from templates with slots, shaped per channel.

The words come from ``wording`` (many issues per subcategory, optional details, paraphrases);
this module fills the slots and shapes the result per channel: first-person on WeChat and the
web, an operator's third-person summary on the hotline, a letter in the mayor's mailbox,
because that is how the real channels differ.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tools.simulator import wording
from tools.simulator.city import City, Estate, Territory, load_data
from tools.simulator.people import ANONYMOUS, ENTERPRISE, Citizen
from tools.simulator.routing import route_of

CHANNELS = ("wechat_mini", "wechat_official", "hotline_12345", "mayor_mailbox", "media_hotline", "web")
CHANNEL_WEIGHTS = (0.34, 0.10, 0.39, 0.06, 0.03, 0.08)
MEDIA_PROGRAMMES = ("《民声直通车》", "《颍州热线》", "《阜阳民生帮帮团》")

# How often each channel carries a category: the mini-program makes the citizen pick one, the
# hotline operator always classifies, the web form offers it, letters and broadcasts never do.
HINT_SHARES = {"wechat_mini": 0.85, "wechat_official": 0.2, "hotline_12345": 1.0,
               "mayor_mailbox": 0.0, "media_hotline": 0.0, "web": 0.5}


@dataclass(frozen=True, slots=True)
class Subcategory:
    level1: str
    level2: str
    route: str
    request_type: str
    urgency: str
    titles: tuple[str, ...]
    issues: tuple[str, ...]
    asks: tuple[str, ...]
    # True: only these issues (a planted episode's one matter), not the subcategory's other wordings
    exclusive: bool = False
    # True: told as scripted, without extra details (an episode whose routing is its answer)
    plain: bool = False


def load_taxonomy() -> tuple[list[str], list[float], dict[str, tuple[list[Subcategory], list[float]]]]:
    """Level-1 names with weights, and per level 1 its subcategories with weights."""
    data = load_data("templates.json")
    names, weights, subs = [], [], {}
    for cat in data["categories"]:
        names.append(cat["level1"])
        weights.append(float(cat["weight"]))
        subs[cat["level1"]] = (
            [Subcategory(cat["level1"], s["level2"], _route(cat, s), s["type"], s["urgency"],
                         tuple(s["titles"]), tuple(s["issues"]), tuple(s["asks"])) for s in cat["subs"]],
            [float(s["weight"]) for s in cat["subs"]],
        )
    return names, weights, subs


def _route(cat: dict[str, Any], sub: dict[str, Any]) -> str:
    """The platform's routing table decides who handles a matter that names its platform
    subcategory (``tools.simulator.routing``); the category's own route only for one that does
    not (praise: the county of the place)."""
    return route_of(sub["platform"]) if "platform" in sub else str(cat["route"])


class Slots(dict[str, str]):
    """Template slots, drawn only when a template asks for them (keeps 90k requests fast)."""

    def __init__(self, rng: random.Random, city: City, territory: Territory, estate: Estate,
                 company: str | None = None) -> None:
        super().__init__()
        self._rng, self._city, self._territory, self._estate = rng, city, territory, estate
        self._company = company

    def __missing__(self, key: str) -> str:
        value = self._draw(key)
        self[key] = value
        return value

    def _draw(self, key: str) -> str:
        rng, t, e = self._rng, self._territory, self._estate
        words = load_data("templates.json")
        phrasing = load_data("phrasing.json")
        if key == "estate":
            return e.name
        if key == "road":
            return e.road
        if key == "road2":
            return rng.choice([r for r in t.roads if r != e.road] or t.roads)
        if key == "street":
            return e.subdistrict
        if key == "district":
            return t.name
        if key == "shop":
            return rng.choice(t.shops)
        if key in ("eatery", "store", "training"):
            # A shop of the kind the sentence needs: nobody eats at a hardware store.
            prefixes = load_data("city.json")["shop_prefixes"]
            return rng.choice(prefixes) + rng.choice(words["shop_groups"][key])
        if key == "company":
            return self._company or rng.choice(t.companies)
        if key == "school":
            return t.name.rstrip("区县市") + rng.choice(self._city.schools)
        if key == "hospital":
            return t.name.rstrip("区县市") + rng.choice(self._city.hospitals)
        if key == "building":
            return f"{rng.randint(1, 24)}号楼"
        if key == "days":
            return rng.choice(words["days"])
        if key == "hour":
            return rng.choice(words["hours"])
        if key == "amount":
            return str(rng.choice(words["amounts"]))
        if key == "big_amount":
            return str(rng.choice(words["big_amounts"]))
        if key == "bus":
            return str(rng.randint(1, 60))
        if key == "unit_no":
            return rng.choice(phrasing["units"])
        if key == "clock":
            return rng.choice(phrasing["clocks"])
        if key in ("month", "count"):
            return str(rng.randint(2, 9))
        if key == "fee_old":
            return str(rng.randint(5, 8))
        if key == "fee_new":
            return str(rng.randint(0, 5))
        raise KeyError(key)


def _opener(rng: random.Random, citizen: Citizen, slots: Slots) -> str:
    openers = load_data("templates.json")["openers"][citizen.kind]
    return rng.choice(openers).format_map(slots)


def _closer(rng: random.Random) -> str:
    return rng.choice(load_data("templates.json")["closers"])


def _picture_refs(rng: random.Random, at: datetime, count: int) -> list[dict[str, Any]]:
    # Phase 2 turns content_seed into deterministic image bytes; the plan holds references only.
    return [{"name": f"IMG_{at:%Y%m%d_%H%M%S}_{i + 1}.jpg", "mime": "image/jpeg",
             "content_seed": rng.randrange(2**31)} for i in range(count)]


_OPENID_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def _openid(rng: random.Random) -> str:
    """A WeChat-like openid; digit runs stay short so no id can pass for a phone or ID number."""
    chars, run = ["o"], 0
    for _ in range(27):
        if run < 3 and rng.random() < 0.3:
            chars.append(str(rng.randrange(10)))
            run += 1
        else:
            chars.append(rng.choice(_OPENID_LETTERS))
            run = 0
    return "".join(chars)


def _contact(citizen: Citizen) -> dict[str, str | None] | None:
    if citizen.kind == ANONYMOUS:
        return None
    contact = {"name": citizen.name, "phone": citizen.phone}
    if citizen.kind == ENTERPRISE:
        contact |= {"company": citizen.company, "credit_code": citizen.credit_code}
    return contact


def render(rng: random.Random, channel: str, *, ref: str, at: datetime, sub: Subcategory,
           slots: Slots, citizen: Citizen, lon: float, lat: float) -> tuple[dict[str, Any], list[str]]:
    """The channel adapter's input for one request, and the PII kinds planted in its text."""
    spoken = channel in ("hotline_12345", "media_hotline")
    w = wording.compose(rng, level2=sub.level2, titles=sub.titles, issues=sub.issues, asks=sub.asks,
                        slots=slots, citizen=citizen, first_person=not spoken, exclusive=sub.exclusive,
                        plain=sub.plain)
    hint = sub.level1 if rng.random() < HINT_SHARES[channel] else None
    if channel in ("wechat_mini", "wechat_official"):
        text = wording.message(rng, w, _opener(rng, citizen, slots), _closer(rng))
        payload: dict[str, Any] = {
            "openid": _openid(rng), "text": text,
            "pictures": _picture_refs(rng, at, rng.choice((0, 0, 1, 1, 2, 3))),
            "contact": _contact(citizen), "category_hint": hint}
        if channel == "wechat_mini":
            payload["location"] = {"lon": lon, "lat": lat, "label": f"{slots['district']}{slots['road']}"}
            payload["video"] = _picture_refs(rng, at, 1)[0] | {"mime": "video/mp4"} if rng.random() < 0.05 else None
            payload["public"] = rng.random() < 0.8
    elif channel == "hotline_12345":
        who = "来电人" if citizen.kind != ENTERPRISE else f"{citizen.company}来电"
        payload = {"call_id": f"HL{at:%Y%m%d-%H%M%S}-{ref[-4:]}", "operator_id": f"op{rng.randint(1, 60):03d}",
                   "caller_number": None if citizen.kind == ANONYMOUS else citizen.phone,
                   "caller_name": None if citizen.kind == ANONYMOUS else citizen.name,
                   "call_seconds": rng.randint(60, 900), "category_hint": hint,
                   "summary": wording.hotline_summary(rng, w, who, slots["district"])}
    elif channel == "mayor_mailbox":
        sender = _contact(citizen)
        if sender is not None:
            sender |= {"email": f"user{rng.randrange(10**6):06d}@example.com", "address": citizen.address}
        payload = {"letter_id": f"SZXX{at:%Y%m%d}{ref[-5:]}", "subject": w.title, "sender": sender,
                   "body": wording.letter(rng, w, slots)}
    elif channel == "media_hotline":
        payload = {"programme": rng.choice(MEDIA_PROGRAMMES), "reporter": f"记者{rng.randint(1, 12):02d}号",
                   "caller_number": None if citizen.kind == ANONYMOUS else citizen.phone,
                   "summary": wording.media_summary(rng, w, slots["district"]),
                   "broadcast_at": None}
    elif channel == "web":
        contact = _contact(citizen) or {}
        payload = {"title": w.title, "content": wording.web_form(rng, w, _opener(rng, citizen, slots), _closer(rng)),
                   "name": contact.get("name"), "phone": contact.get("phone"), "email": None,
                   "address": citizen.address, "public": rng.random() < 0.6, "category_hint": hint}
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return payload, w.pii


# Free-text fields per channel: what the privacy test scans and what a detector must clean.
TEXT_FIELDS = {
    "wechat_mini": ("text",), "wechat_official": ("text",), "hotline_12345": ("summary",),
    "mayor_mailbox": ("subject", "body"), "media_hotline": ("summary",), "web": ("title", "content"),
}
