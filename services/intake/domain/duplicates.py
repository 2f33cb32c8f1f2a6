"""Likely duplicates (并单 candidates): the same problem reported by several citizens.

A pair is a candidate only when it falls in the time window and the categories do not
contradict each other; it is then scored by place and text:

* place: 1.0 within ``near_metres`` (haversine), falling linearly to 0 at ``far_metres``;
  the same normalised address counts as 1.0. Without a pin on both sides (hotline calls,
  letters and web forms mostly have none) the places the texts name decide: an estate,
  park, school or crossing named in both: 1.0 (one spot); only a road, street or town in
  common: 0.5 (a road is long: naming it is not being near); both name places but none in
  common: the pair is ruled out (two problems in two places, however alike the words); no
  place named: 0.3 (weak: such a pair merges only on nearly the same words). Measured on a simulated month
  (`python -m tools.simulator merges`): this took merges outside the planted episodes at
  100 requests a day from 28 % (a flat 0.5) to 6 %, keeping the planted ones (docs/intake.md).
* text: cosine similarity of character bigrams after removing the boilerplate every complaint
  shares ("希望相关部门尽快解决"). Bigrams need no dictionary and cope with typos and the
  missing word boundaries of Chinese; on our labelled set they did as well as jieba tokens.

The detector only proposes; a dispatcher confirms or undoes a merge (see ``ticket.Case``).
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
EARTH_RADIUS_M = 6_371_000.0

_BOILERPLATE = (
    "希望相关部门尽快解决", "希望相关部门", "请相关部门", "希望有关部门", "请有关部门", "尽快处理", "尽快解决",
    "及时处理", "给予解决", "帮忙解决", "解决一下", "谢谢", "您好", "你好", "我要反映", "我想反映",
    "反映一下", "反映", "市民来电", "来电反映", "来电人称", "来电称", "市民称", "问题",
)
_KEEP_RE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]+")
# Place names say *where*, which the place score already weighs; left in the text they make two
# different problems at one crossing look alike. Drop up to 4 characters before a place word.
_PLACE_WORDS = ("交叉口", "工业园", "路口", "大道", "小区", "广场", "家园", "花园", "景苑", "公园", "大桥",
                "医院", "小学", "街道", "镇", "路", "街")
# Words ending in 路/街/镇 that name no place ("走路都没法走", "马路上").
_NOT_PLACES = frozenset({"走路", "马路", "道路", "公路", "铁路", "水路", "网路", "出路", "小路", "大路",
                         "上路", "了路", "带路", "让路", "堵路", "挡路", "修路", "过街", "逛街", "上街",
                         "沿街", "临街", "满街", "城镇", "乡镇", "村镇"})
# An estate, park, school or crossing is one spot; a road, street or town is long.
_SMALL_PLACE_WORDS = ("交叉口", "路口", "小区", "广场", "家园", "花园", "景苑", "公园", "大桥", "医院", "小学")
_PLACE_NAME_RE = re.compile(
    r"[\u4e00-\u9fff]{1,4}?(?:交叉口|路口|大道|小区|广场|家园|花园|景苑|公园|大桥|医院|小学|工业园|街道|(?:镇|路|街)(?![灯面边上段况灯况]))"
)


@dataclass(frozen=True, slots=True)
class DuplicatePolicy:
    window: timedelta = timedelta(hours=72)
    near_metres: float = 300.0
    far_metres: float = 1000.0
    text_weight: float = 0.6
    place_weight: float = 0.4
    # An automatic merge hides a ticket behind another one, so precision comes first: a
    # missed duplicate costs a unit some double work and a dispatcher can still merge by hand.
    # On duplicate_pairs.json (174 pairs): threshold 0.40 / min text 0.05 gave precision 0.90,
    # recall 0.93 but merged most of a simulated city's templated requests; 0.45 / 0.10 gives
    # precision 0.95, recall 0.72 (docs/intake.md).
    threshold: float = 0.45
    min_text_similarity: float = 0.10  # nearby but about something else is not a duplicate
    same_named_place: float = 0.5  # place score without pins, both texts naming one place
    unknown_place: float = 0.3  # place score without pins or any named place


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    """What the detector needs of a ticket (masked text is fine: masks rarely carry meaning)."""

    ticket_id: str
    text: str
    submitted_at: datetime
    category: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    # what the detector derives of it (`_derived`), kept with it: a recent ticket is a
    # candidate for hundreds of others
    derived: Any = field(default=None, init=False, repr=False, compare=False)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


# What a pair's scoring reads of a ticket, derived once and kept with its snapshot
# (`TicketSnapshot.derived`): one tuple, unpacked by `find_duplicates` in one step instead of a
# dozen attribute reads per candidate (~100 per acceptance). A window ticket is a candidate for
# hundreds of others and the projector keeps every one of the last `keep` (6 days: ~18,000 at
# a city's rate), so it holds only what the scoring reads (docs/profiles/memory.md):
#   (ticket_id, at: submitted_at in whole microseconds (exact, as a timedelta compares),
#    category, address (normalised), places (a tuple of interned names), pinned,
#    grams, norm, repeats, layers)
# A text is scored by its layers (below), against a text of another vocabulary generation too
# (the new text's bigrams are looked up in that generation's vocabulary), so a candidate keeps
# no bigram of its own: its bigram counts (a Counter, ~1.6 KB) were most of what it kept.
# Only a text of more distinct bigrams than a vocabulary holds (no layers) keeps ``grams`` (the
# tuple of its bigrams) and ``repeats`` (each bigram that occurs more than once and its count
# less one, flat: (g, n - 1, g, n - 1, ...)); any other keeps () for both.
_ID, _AT, _CATEGORY, _ADDRESS, _PLACES, _PINNED, _GRAMS, _NORM, _REPEATS, _BITS = range(10)


def _derived(t: TicketSnapshot) -> tuple[Any, ...]:
    found = t.derived
    if found is None:
        at = t.submitted_at
        grams, norm = _profile(t.text)
        micros = (at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)) // _MICROSECOND
        address = normalise_address(t.address) if t.address else None
        intern = sys.intern
        places = tuple(intern(p) for p in _places_in(t.text, t.address))
        layers = _layers(t.text) if grams else None
        if layers is None and grams:
            kept = tuple(grams)
            repeats = tuple(x for g, n in grams.items() if n > 1 for x in (g, n - 1))
        else:
            kept = repeats = ()
        found = (t.ticket_id, micros, t.category, address, places,
                 t.lat is not None and t.lon is not None, kept, norm, repeats, layers)
        object.__setattr__(t, "derived", found)
    return found


def haversine_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


# The caches below spare a text seen again in a new snapshot (one read from the index) its
# work: what a snapshot derives is kept with it (`_derived`), so the recent tickets' window
# never needs them. Sized for the ~100 candidates an acceptance reads from the index, not for
# history: at 50,000 they kept every text of the last weeks (~10 KB each, measured:
# docs/profiles/memory.md) long after its ticket left the window.
_TEXTS_KEPT = 4096


@lru_cache(maxsize=_TEXTS_KEPT)
def normalise_address(address: str) -> str:
    """Drop province/city prefixes, spaces and punctuation so two spellings compare equal."""
    text = re.sub(r"[\s,，。.、\-()（）]", "", address)
    for prefix in ("安徽省", "阜阳市"):
        text = text.removeprefix(prefix)
    return text


@lru_cache(maxsize=_TEXTS_KEPT)
def _profile(text: str) -> tuple[Counter[str], float]:
    """Bigram counts and their norm. Neither a set of them nor the counts are kept per
    candidate (they were ~3 KB and ~1.6 KB of a window ticket's ~11 KB): pairs are scored
    with the layers below; only a text without layers keeps its bigrams (see `_derived`)."""
    grams = _bigrams(text)
    return grams, math.sqrt(sum(n * n for n in grams.values()))


# Each bigram ever seen gets a bit of its own (in the order first seen, never reassigned), so
# a text's bigrams are an int and the bigrams two texts share are one AND of two ints: with
# `layers` (bit set in layer k: the bigram occurs more than k times), the dot product of two
# count vectors is sum(|A_i & B_j|) = sum(ga[g] * gb[g]), exactly. Measured on the
# simulator's texts (~60 bigrams each), 0.8 µs a pair against ~2.5 µs for the frozenset
# intersection and its sum: the intersection was most of 并单's scoring. The vocabulary is
# capped (a text of more distinct bigrams than it holds has no layers and is scored with its
# bigrams), so neither it nor a text's ints grow without bound: a layer is at most 2 KB (the
# simulator's 3,000 texts: 6,595 bigrams; a text's layers ~0.6 KB, ~0.9 KB at a city's rate:
# now most of what a candidate keeps).
# The layers are kept with the snapshot (`_derived`); the cache here only spares a text
# seen again in a new snapshot (read from the index) its layers.
_VOCAB: dict[str, int] = {}
_VOCAB_MAX = 1 << 14
_VOCAB_LOCK = threading.Lock()
# A full vocabulary starts a new generation (a new, empty one): a long-running projector meets
# new bigrams every day and would otherwise score every text with one past the cap by its sets
# for good. Layers carry their generation's vocabulary first (it lives as long as a text's
# layers refer to it, and is no longer added to); a text is scored against one of another
# generation with its bigrams looked up in that vocabulary (`_layers_in`): a bigram it lacks is
# in no text of that generation, so the dot product is the same integer.
_GENERATION = 0


@lru_cache(maxsize=4096)
def _layers(text: str) -> tuple[Any, ...] | None:
    """(vocabulary, layer 0, layer 1, ...), or None for a text of more distinct bigrams than a
    whole vocabulary holds."""
    global _VOCAB, _GENERATION
    grams = _profile(text)[0]
    if len(grams) > _VOCAB_MAX:
        return None
    bits: list[list[int]] = []  # per layer, the bits set
    with _VOCAB_LOCK:
        if len(_VOCAB) + sum(g not in _VOCAB for g in grams) > _VOCAB_MAX:
            _VOCAB, _GENERATION = {}, _GENERATION + 1
            _layers.cache_clear()  # (what it holds is of the old generation)
        vocab = _VOCAB
        for g, n in grams.items():
            b = vocab.get(g)
            if b is None:
                b = vocab[g] = len(vocab)
            while len(bits) < n:
                bits.append([])
            for k in range(n):
                bits[k].append(b)
    return (vocab, *map(_as_int, bits))


def _as_int(found: list[int]) -> int:
    """The bits set, as an int (set in a buffer, made an int once: not one big int per bit)."""
    buf = bytearray((max(found) >> 3) + 1)
    for b in found:
        buf[b >> 3] |= 1 << (b & 7)
    return int.from_bytes(buf, "little")


def _layers_in(grams: Counter[str], vocab: dict[str, int]) -> tuple[Any, ...]:
    """A text's layers in a vocabulary (another generation's), without what it lacks: (vocab,
    layer 0, ...); only (vocab,) when it has none of them. Nothing is added to it."""
    bits: list[list[int]] = []
    get = vocab.get
    for g, n in grams.items():
        b = get(g)
        if b is None:
            continue
        while len(bits) < n:
            bits.append([])
        for k in range(n):
            bits[k].append(b)
    return (vocab, *map(_as_int, bits))


def _bigrams(text: str) -> Counter[str]:
    """The text's bigram counts. Each bigram is interned: the recent tickets' window holds
    thousands of texts made of a few thousand distinct bigrams, and a two-character string of
    its own per text and bigram was ~4.5 KB of a window ticket's ~11 KB (an interned string
    is dropped with its last user: nothing grows with history)."""
    for phrase in _BOILERPLATE:
        text = text.replace(phrase, " ")
    text = _PLACE_NAME_RE.sub(" ", text)
    grams: Counter[str] = Counter()
    intern = sys.intern
    for run in _KEEP_RE.findall(text.lower()):
        if len(run) == 1:
            grams[intern(run)] += 1
        grams.update(intern(run[i : i + 2]) for i in range(len(run) - 1))
    return grams


def text_similarity(a: str, b: str) -> float:
    """Cosine similarity of character-bigram counts, 0..1."""
    (ga, na), (gb, nb) = _profile(a), _profile(b)
    if not ga or not gb:
        return 0.0
    # the bigrams in common found by the set intersection (in C): most pairs share few
    dot = sum(ga[g] * gb[g] for g in frozenset(ga).intersection(gb))
    return dot / (na * nb)


@lru_cache(maxsize=_TEXTS_KEPT)
def named_places(text: str) -> frozenset[str]:
    """The places a text names, each as its place word and the two characters before it
    ("颍州区清河路小区" -> 清河路, 河路小区): enough to tell 清河路 from 人民路 without a gazetteer."""
    places = set()
    for match in _PLACE_NAME_RE.finditer(text):
        name = match.group()
        word = next((w for w in _PLACE_WORDS if name.endswith(w)), name[-1])
        if len(word) == 1 and name[-2:] in _NOT_PLACES:
            continue
        places.add(name[-(len(word) + 2):])
    return frozenset(places)


def _places_of(t: TicketSnapshot) -> frozenset[str]:
    return _places_in(t.text, t.address)


@lru_cache(maxsize=_TEXTS_KEPT)
def _places_in(text: str, address: str | None) -> frozenset[str]:
    return named_places(text) | (named_places(address) if address else frozenset())


def place_similarity(a: TicketSnapshot, b: TicketSnapshot, policy: DuplicatePolicy) -> float:
    if a.address and b.address and normalise_address(a.address) == normalise_address(b.address):
        return 1.0
    if None in (a.lat, a.lon, b.lat, b.lon):
        pa, pb = _places_of(a), _places_of(b)
        if pa and pb:
            shared = pa & pb
            if not shared:
                return 0.0
            small = any(name.endswith(_SMALL_PLACE_WORDS) for name in shared)
            return 1.0 if small else policy.same_named_place
        return policy.unknown_place
    distance = haversine_metres(a.lat, a.lon, b.lat, b.lon)  # type: ignore[arg-type]
    if distance <= policy.near_metres:
        return 1.0
    if distance >= policy.far_metres:
        return 0.0
    return 1.0 - (distance - policy.near_metres) / (policy.far_metres - policy.near_metres)


def duplicate_score(new: TicketSnapshot, other: TicketSnapshot, policy: DuplicatePolicy) -> float:
    """0..1; 0 when the pair is ruled out by time window or category."""
    if abs(new.submitted_at - other.submitted_at) > policy.window:
        return 0.0
    if new.category and other.category and new.category != other.category:
        return 0.0
    place = place_similarity(new, other, policy)
    if place == 0.0 and None in (new.lat, new.lon, other.lat, other.lon):
        return 0.0  # no pins, and the texts name different places: two problems
    text = text_similarity(new.text, other.text)
    if text < policy.min_text_similarity:
        return 0.0
    return policy.text_weight * text + policy.place_weight * place


def find_duplicates(
    new: TicketSnapshot, candidates: Iterable[TicketSnapshot], policy: DuplicatePolicy | None = None
) -> list[tuple[str, float]]:
    """Candidates that are likely the same problem as ``new``, best first, with their score.

    ``duplicate_score`` for each candidate, with what it computes of ``new`` (its bigrams,
    places, address) computed once: the projector scores ~100 candidates per acceptance."""
    policy = policy or DuplicatePolicy()
    if policy.threshold <= 0:  # then even a pair ruled out (0) is listed: the plain way
        scored = [(c.ticket_id, round(duplicate_score(new, c, policy), 4))
                  for c in candidates if c.ticket_id != new.ticket_id]
        return sorted((s for s in scored if s[1] >= policy.threshold), key=lambda s: -s[1])
    mine = _derived(new)
    at, window, category = mine[_AT], policy.window // _MICROSECOND, new.category
    pinned = new.lat is not None and new.lon is not None
    address, na = mine[_ADDRESS], mine[_NORM]
    places = frozenset(mine[_PLACES])
    # its bigram counts and their set: only for a candidate of another vocabulary generation
    # or without layers (made when one comes: most acceptances need neither)
    ga: Counter[str] | None = None
    ka: frozenset[str] | None = None
    mine_id = new.ticket_id
    near, far = policy.near_metres, policy.far_metres
    same_named, unknown = policy.same_named_place, policy.unknown_place
    min_text, threshold = policy.min_text_similarity, policy.threshold
    text_weight, place_weight = policy.text_weight, policy.place_weight
    bits = mine[_BITS]  # (vocabulary, layers...)
    vocab = bits[0] if bits is not None else None
    elsewhere: dict[int, tuple[Any, ...]] = {}  # its layers in other generations, by id
    found = []
    for c in candidates:
        (ticket_id, their_at, their_category, their_address, their_places, their_pin, gb, nb,
         their_repeats, their_bits) = c.derived or _derived(c)
        if ticket_id == mine_id:
            continue
        apart = at - their_at
        if apart > window or -apart > window:
            continue
        if category and their_category and category != their_category:
            continue
        if address is not None and address == their_address:
            place = 1.0
        elif not pinned or not their_pin:
            if places and their_places:
                if places.isdisjoint(their_places):
                    continue  # no pins, and the texts name different places: two problems
                small = any(name.endswith(_SMALL_PLACE_WORDS)
                            for name in places.intersection(their_places))
                place = 1.0 if small else same_named
            else:
                place = unknown
        else:
            distance = haversine_metres(new.lat, new.lon, c.lat, c.lon)  # type: ignore[arg-type]
            if distance <= near:
                place = 1.0
            elif distance >= far:
                place = 0.0
            else:
                place = 1.0 - (distance - near) / (far - near)
        if their_bits is not None and na:
            if their_bits[0] is vocab:  # (of one generation: most)
                mine_bits = bits
            else:  # of another generation: its bigrams looked up in their vocabulary
                mine_bits = elsewhere.get(id(their_bits[0]))
                if mine_bits is None:
                    if ga is None:
                        ga = _profile(new.text)[0]
                    mine_bits = elsewhere[id(their_bits[0])] = _layers_in(ga, their_bits[0])
            if len(their_bits) == 2 and len(mine_bits) == 2:
                dot = (mine_bits[1] & their_bits[1]).bit_count()  # both: every bigram once
            else:
                # the layers nest (layer k+1 within layer k): every bigram in common is in
                # both first layers' AND, and a layer with none in common ends its loop
                dot = 0
                common = mine_bits[1] & their_bits[1] if len(mine_bits) > 1 else 0
                if common:
                    for x in mine_bits[1:]:
                        x &= common
                        if not x:
                            break
                        for y in their_bits[1:]:
                            n = (x & y).bit_count()
                            if not n:
                                break
                            dot += n
            text = dot / (na * nb)
        elif na and gb:  # their text has more bigrams than a vocabulary holds: no layers
            if ga is None:
                ga = _profile(new.text)[0]
            if ka is None:
                ka = frozenset(ga)
            # sum(ga[g] * gb[g] for g in common), the same integers: each bigram in common
            # once (in C), then what their repeated ones add
            common = ka.intersection(gb)
            dot = sum(map(ga.__getitem__, common))
            for i in range(0, len(their_repeats), 2):
                g = their_repeats[i]
                if g in ka:
                    dot += ga[g] * their_repeats[i + 1]
            text = dot / (na * nb)
        else:
            text = 0.0
        if text < min_text:
            continue
        score = round(text_weight * text + place_weight * place, 4)
        if score >= threshold:
            found.append((ticket_id, score))
    return sorted(found, key=lambda s: -s[1])


# -- evaluation on the labelled set -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledPair:
    a: TicketSnapshot
    b: TicketSnapshot
    duplicate: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class DetectionQuality:
    pairs: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0


def _snapshot(raw: dict[str, Any], fallback_id: str) -> TicketSnapshot:
    return TicketSnapshot(
        ticket_id=raw.get("id", fallback_id), text=raw["text"],
        submitted_at=datetime.fromisoformat(raw["at"]), category=raw.get("category"),
        lat=raw.get("lat"), lon=raw.get("lon"), address=raw.get("address"),
    )


def load_labelled_pairs(path: Path | None = None) -> list[LabelledPair]:
    raw = json.loads((path or DATA_DIR / "duplicate_pairs.json").read_text(encoding="utf-8"))
    return [
        LabelledPair(_snapshot(p["a"], f"{i}a"), _snapshot(p["b"], f"{i}b"), bool(p["duplicate"]), p.get("note", ""))
        for i, p in enumerate(raw["pairs"])
    ]


def evaluate(pairs: Sequence[LabelledPair], policy: DuplicatePolicy | None = None) -> DetectionQuality:
    """Precision and recall of ``find_duplicates`` on labelled pairs."""
    tp = fp = fn = 0
    for pair in pairs:
        flagged = bool(find_duplicates(pair.a, [pair.b], policy))
        tp += flagged and pair.duplicate
        fp += flagged and not pair.duplicate
        fn += (not flagged) and pair.duplicate
    return DetectionQuality(len(pairs), tp, fp, fn)
