"""How each citizen words a request: varied enough that two people never write alike.

A request is built from pieces: the problem (one of many issues per subcategory, its slots
filled with places, objects, amounts, durations), optional details in any order (what the
subcategory adds, how long it has lasted, who was already told, how it hurts, how the citizen
feels), and the ask. Paraphrases are swapped at random. Each channel then has its own register
(``texts.render``): a colloquial WeChat message, an operator's third-person hotline summary, a
formal letter to the mayor. Why all this: intake's duplicate detector compares texts, and
templated texts made it merge half of a simulated city (docs/simulator.md, "Texts").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tools.simulator.city import load_data
from tools.simulator.people import Citizen

# Share of personal requests that put personal data into their free text (the privacy test load).
PII_PHONE_SHARE = 0.06
PII_ID_SHARE = 0.02
PII_ADDRESS_SHARE = 0.08
# How often a request carries each kind of optional detail.
DETAIL_SHARES = {"sub": 0.6, "personal": 0.5, "history": 0.35, "impact": 0.4, "emotion": 0.3}
WHEN_SHARE = 0.35
PARAPHRASE_SHARE = 0.7
# An issue's later clauses are each left out with this chance: people tell what struck them.
CLAUSE_DROP_SHARE = 0.35


def phrasing() -> dict[str, Any]:
    return load_data("phrasing.json")


@dataclass(frozen=True, slots=True)
class Wording:
    """One request in the citizen's own words, before a channel shapes it."""

    title: str
    issue: str      # the problem and its details, no final full stop
    ask: str
    pii: list[str]


@lru_cache(maxsize=4096)
def _swappable(template: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(word found, its synonym group) per group that has a word in ``template`` (cached: a
    full-scale month fills the same few hundred templates 90k times)."""
    found = []
    for group in phrasing()["paraphrase"]:
        word = next((w for w in group if w in template), None)
        if word is not None:
            found.append((word, tuple(group)))
    return tuple(found)


def paraphrase(rng: random.Random, text: str, share: float = PARAPHRASE_SHARE) -> str:
    """Swap some stock phrases for a synonym (before the slots are filled: names stay)."""
    for word, group in _swappable(text):
        if word in text and rng.random() < share:
            text = text.replace(word, rng.choice(group))
    return text


def third_person(text: str) -> str:
    """An operator's summary speaks of the caller, not as the caller."""
    for mine, theirs in (("我们", "他们"), ("我家", "其家"), ("我的", "其"), ("我", "其")):
        text = text.replace(mine, theirs)
    return text


def _some_clauses(rng: random.Random, template: str) -> str:
    """The first clause (what and where) and a random selection of the rest, in order."""
    first, *rest = template.split("，")
    kept = [c for c in rest if rng.random() >= CLAUSE_DROP_SHARE]
    return "，".join([first, *kept])


def _fill(rng: random.Random, template: str, slots: dict[str, str]) -> str:
    return paraphrase(rng, template).format_map(slots)


def _details(rng: random.Random, level2: str) -> list[str]:
    words = phrasing()
    pools = {"sub": words["subs"].get(level2, {}).get("details", []), "personal": words["personal"],
             "history": words["history"],
             "impact": words["impact"], "emotion": words["emotion"]}
    picked = [rng.choice(pool) for kind, pool in pools.items()
              if pool and rng.random() < DETAIL_SHARES[kind]]
    rng.shuffle(picked)
    return picked


def issues_of(level2: str, base: tuple[str, ...]) -> tuple[str, ...]:
    return base + tuple(phrasing()["subs"].get(level2, {}).get("issues", ()))


def compose(rng: random.Random, *, level2: str, titles: tuple[str, ...], issues: tuple[str, ...],
            asks: tuple[str, ...], slots: dict[str, str], citizen: Citizen,
            first_person: bool = True, exclusive: bool = False, plain: bool = False) -> Wording:
    """Title, issue (with details) and ask for one request; PII sentences go into the text.

    ``first_person`` is how the citizen writes; the hotline operator's summary speaks of "来电人".
    ``exclusive``: one matter many people report (an episode): its facts, told in full.
    ``plain``: the issue and the ask exactly as scripted, nothing added.
    """
    words = phrasing()
    if exclusive:  # the matter's facts as everyone tells them; details still differ
        issue = rng.choice(issues).format_map(slots)
    else:
        issue = _fill(rng, _some_clauses(rng, rng.choice(issues_of(level2, issues))), slots)
    if not plain and rng.random() < WHEN_SHARE:
        issue = _fill(rng, rng.choice(words["when"]), slots) + "，" + issue
    for detail in () if plain else _details(rng, level2):
        issue += rng.choice(("，", "，", "。")) + _fill(rng, detail, slots)
    ask = rng.choice(asks).format_map(slots) if plain else _fill(rng, rng.choice(asks), slots)
    urge = "" if plain else rng.choice(words["urge"])
    if urge:
        ask += "，" + urge
    title = rng.choice(words["title_forms"]).replace("{title}", rng.choice(titles)).format_map(slots)
    pii: list[str] = []
    if citizen.kind == "person":
        if rng.random() < PII_ADDRESS_SHARE:
            issue = (f"我家住在{citizen.address}，" if first_person else f"（家住{citizen.address}）") + issue
            pii.append("address")
        if rng.random() < PII_PHONE_SHARE:
            ask += f"，我的电话是{citizen.phone}" if first_person else f"，联系电话{citizen.phone}"
            pii.append("phone")
        if rng.random() < PII_ID_SHARE:
            ask += (f"，本人{citizen.name}，身份证号{citizen.id_number}" if first_person
                    else f"，来电人{citizen.name}，身份证号{citizen.id_number}")
            pii.extend(("id_number", "name"))
    if not first_person:
        issue, ask = third_person(issue), third_person(ask)
    return Wording(title, issue, ask, pii)


# -- each channel's register ----------------------------------------------------------------


def _end(rng: random.Random, colloquial: bool) -> str:
    return rng.choice(("！", "。", "！！", "。")) if colloquial else "。"


def message(rng: random.Random, w: Wording, opener: str, closer: str) -> str:
    """A WeChat message: short, colloquial, sometimes exclaiming."""
    words = phrasing()
    opener = opener if rng.random() < 0.5 else rng.choice(words["wechat_openers"])
    closer = closer if rng.random() < 0.5 else rng.choice(words["wechat_closers"])
    return f"{opener}{w.issue}{_end(rng, True)}{w.ask}{_end(rng, True)}{closer}"


def web_form(rng: random.Random, w: Wording, opener: str, closer: str) -> str:
    """The web form: written, but still the citizen's own words."""
    return f"{opener}{w.issue}。{w.ask}。{closer}"


def letter(rng: random.Random, w: Wording, slots: dict[str, str]) -> str:
    """A letter to the mayor's mailbox: formal opening, the matter, a closing and a signature."""
    words = phrasing()
    intro = rng.choice(words["mail_intros"]).format_map(slots)
    bridge = rng.choice(words["mail_bridges"])
    closing = rng.choice(words["mail_closings"])
    signature = rng.choice(words["mail_signatures"]).format_map(slots)
    sign = f"\n{signature}" if signature else ""
    return (f"尊敬的市长：\n  您好！{intro}{bridge}{w.issue}。{w.ask}。{closing}\n  此致\n敬礼！{sign}")


def hotline_summary(rng: random.Random, w: Wording, who: str, district: str) -> str:
    """The 12345 operator's record of a call, in the third person."""
    words = phrasing()
    lead = who if who != "来电人" else rng.choice(words["hotline_leads"])
    where = f"（{district}）" if rng.random() < 0.7 else ""
    ask_lead = rng.choice(words["hotline_ask_leads"])
    ask = w.ask if ask_lead.endswith("：") else w.ask.removeprefix("请").removeprefix("希望")
    note = rng.choice(words["hotline_notes"])
    return f"{lead}{where}：{w.issue}。{ask_lead}{ask}。{note}"


def media_summary(rng: random.Random, w: Wording, district: str) -> str:
    words = phrasing()
    return (f"{rng.choice(words['media_leads'])}（{district}）：{w.issue}。诉求：{w.ask}。"
            f"{rng.choice(words['media_tails'])}")
