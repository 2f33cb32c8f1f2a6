"""The classifier dispatch runs: a linear model over TF-IDF character n-grams, scored here.

Chosen by measurement (docs/recognition.md, `python -m tools.recognition evaluate`): trained
with scikit-learn, exported as a plain table (`data/recognition_model.json`: n-gram -> idf
and the few class weights that matter), held as flat arrays by feature number (`FeatureTables`,
~2 MB) and scored in pure Python, so the service needs neither scikit-learn nor numpy, loads
the model in a fraction of a second and classifies a text in well under a millisecond. Probabilities are the softmax of the scores at a
temperature fitted on out-of-fold predictions, so that "0.97" means right about 97 times in
100 on requests the model had not seen; routing trusts only what is above the threshold that
kept the held-out part at least 95 % right.

Urgency is decided first by keyword rules (a gas leak is urgent whatever the model thinks).
A dispatcher's correction is remembered for the same text at once and recorded as labelled
data (`classification_labels`) for the next training.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import operator
import re
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.dispatch.domain.classifier import (
    Classification,
    ClassificationError,
    Label,
    check_label,
)
from services.dispatch.domain.datafiles import read_data_file
from services.dispatch.domain.responsibilities import (
    CONFLICT_CAP,
    CONFLICT_RULES,
    DISAGREEMENT_RULES,
    ResponsibilityList,
    reweigh,
)
from services.dispatch.domain.taxonomy import Taxonomy, Urgency

MODEL_FILE = "recognition_model.json"
_NOT_TEXT = re.compile(r"[\s\d\W_]+")
# "另外…", "还有一件事…": a second matter. The first is the request's own; when the second
# would go elsewhere, a dispatcher decides (lead and co-handling units), so the confidence
# is capped below any routing threshold.
_SECOND_MATTER = re.compile(r"另外|此外|还有一件事|还有个事|还有就是|顺便(?:反映|说|问)|同时还")
MULTI_MATTER_CAP = 0.5


def matters(text: str) -> list[str]:
    """The request split where a second matter starts; parts too short to be one are joined."""
    parts = [p for p in _SECOND_MATTER.split(text)]
    out = [parts[0]]
    for p in parts[1:]:
        if len(normalise(p).replace(" ", "")) >= 4:
            out.append(p)
        else:
            out[-1] += p
    return out


def normalise(text: str) -> str:
    """Letters only: digits, spaces and punctuation carry no matter (and differ by channel)."""
    return _NOT_TEXT.sub(" ", text.lower()).strip()


def char_ngrams(text: str, lo: int = 1, hi: int = 3) -> list[str]:
    """Character n-grams inside each run of letters (never across punctuation)."""
    grams: list[str] = []
    for run in normalise(text).split():
        for n in range(lo, hi + 1):
            if n == 1:
                grams.extend(run)
            elif n == 2:  # each character and the next, joined by `map`: no Python step each
                grams.extend(map(operator.add, run, run[1:]))
            else:
                grams.extend([run[i:i + n] for i in range(len(run) - n + 1)])
    return grams


@dataclass(frozen=True)
class Head:
    """One linear decision (subcategory, request type or urgency) over shared features: its
    classes, intercept and temperature. Its weights are its classes' part (`lo`..`hi`) of the
    model's `FeatureTables`, where the heads' classes are side by side; `weights` and
    `by_class`, the same as dictionaries, are made on first use (by tools and tests; the
    service scores with the tables)."""

    classes: tuple[str, ...]
    intercept: tuple[float, ...]
    temperature: float
    tables: FeatureTables = dataclasses.field(repr=False, compare=False)
    lo: int = 0  # where its classes start in the tables' heads side by side
    hi: int = 0  # and end

    def scores(self, vector: Mapping[str, float]) -> list[float]:
        return self.tables.scores(self, self.tables.numbered(vector))

    def probabilities(self, vector: Mapping[str, float],
                      allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        return self.ranked(self.scores(vector), allowed)

    def ranked(self, s: list[float],
               allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The classes (all, or those `allowed`) by the softmax of the scores `s`, best first."""
        classes: Iterable[str] = self.classes
        if allowed is not None:
            wanted = set(allowed)
            kept = [(c, v) for c, v in zip(classes, s, strict=True) if c in wanted]
            classes, s = [c for c, _ in kept], [v for _, v in kept]
        top, t, exp = max(s), self.temperature, math.exp
        e = [exp((v - top) / t) for v in s]
        z = sum(e)
        # best first; equal ones in the classes' order (a stable sort, reversed)
        return sorted(zip(classes, [v / z for v in e], strict=True), key=_probability,
                      reverse=True)

    def evidence(self, vector: Mapping[str, float], label: str, n: int = 3) -> list[str]:
        """The n-grams that pushed most towards `label`: the reason shown to a dispatcher."""
        return self.tables.evidence(self, self.tables.numbered(vector), label, n)

    @functools.cached_property
    def weights(self) -> Mapping[str, tuple[tuple[int, float], ...]]:
        """feature -> (class index, weight), as the model file has them (features in the
        model's order): for tools and tests, never on the service's path."""
        (start, ks, ws), lo, hi = self.tables.pairs, self.lo, self.hi
        out = {}
        for i, f in enumerate(self.tables.names):
            pairs = tuple((k - lo, ws[j]) for j in range(start[i], start[i + 1])
                          if lo <= (k := ks[j]) < hi)
            if pairs:
                out[f] = pairs
        return out

    @functools.cached_property
    def by_class(self) -> Mapping[str, Mapping[int, float]]:
        """feature -> class index -> weight (a feature has one weight per class at most)."""
        return {f: dict(pairs) for f, pairs in self.weights.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Head:
        """A head alone (its features are those it weighs, idf 1)."""
        read = _Reading()
        for f in d["weights"]:
            read.feature(f, 1.0)
        read.head("head", d)
        return read.done((1, 1))["head"]


def _probability(p: tuple[str, float]) -> float:
    return p[1]


def strongest(pushed: list[tuple[float, str]], n: int) -> list[str]:
    """The n strongest (push, n-gram) of `pushed`, none inside another."""
    # Words before single characters: "垃圾" says more to a dispatcher than "垃".
    pushed.sort(key=lambda p: (len(p[1]) > 1, p[0]), reverse=True)
    chosen: list[str] = []
    for _, f in pushed:
        if not any(f in c or c in f for c in chosen):
            chosen.append(f)
        if len(chosen) == n:
            break
    return chosen


HEADS = ("subcategory", "request_type", "urgency")


@dataclass(frozen=True)
class LinearModel:
    tables: FeatureTables = dataclasses.field(repr=False)
    ngram: tuple[int, int]
    subcategory: Head
    request_type: Head
    urgency: Head
    threshold: float  # auto-route at or above this subcategory probability
    meta: Mapping[str, Any]

    @functools.cached_property
    def idf(self) -> Mapping[str, float]:
        """n-gram -> idf, as the model file has it: for tools and tests (the service reads
        `tables.idf` by feature number)."""
        return dict(zip(self.tables.names, self.tables.idf, strict=True))

    def vector(self, text: str) -> dict[str, float]:
        """Sublinear TF-IDF, L2-normalised, as scikit-learn's TfidfVectorizer computes it."""
        names = self.tables.names
        return {names[i]: x for i, x in self.tables.features(text)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LinearModel:
        read = _Reading()
        for f, x in d["idf"].items():
            read.feature(f, x)
        for name in HEADS:
            read.head(name, d["heads"][name])
        return read.model(d)

    @classmethod
    def from_json(cls, text: str) -> LinearModel:
        """`from_dict(json.loads(text))` without the whole file's objects at once: the model
        file's n-grams and heads are read one entry at a time into the tables (a full parse
        of the 1.1 MB file made ~16 MiB of objects at its peak, and the process kept most of
        that memory from the system after they were freed). `tools.recognition train` writes
        the idf before the heads; a file that has them the other way round is read whole."""
        try:
            return _read_model(text)
        except _NotInOrder:
            return cls.from_dict(json.loads(text))


_CALM = tuple(u.value for u in Urgency if u is not Urgency.URGENT)
_LOG_1P = tuple([0.0] + [1.0 + math.log(c) for c in range(1, 256)])  # 1 + log(count)


class FeatureTables:
    """The model as tables by feature number, what the classifier scores with: n-gram ->
    feature number (the one dictionary look-up per n-gram), idf by feature number, and the
    three heads' (class, weight) pairs in flat arrays by feature number. Same arithmetic in
    the same order as the plain TF-IDF vector and dot products, so the same floats
    (tests/unit/dispatch/test_linear_speed.py checks every labelled text).

    The three heads are one: their classes side by side (subcategory 0..54, request type
    next, urgency last), so a feature's pairs of every head are one span of three flat arrays:
    where each feature's pairs start (`start`), their classes (a byte each, `ks`) and weights
    (`ws`). A text's features are walked once, not once per head (a third of the per-feature
    work and of the memory a text touches: in the running service, with its caches cold, that
    is what it costs). Each class still gets its own pushes in the features' order, so each
    head's scores are the same floats as that head's alone."""

    def __init__(self, number: dict[str, int], idf: array[float], ngram: tuple[int, int],
                 intercept: tuple[float, ...],
                 pairs: tuple[array[int], bytes, array[float]]) -> None:
        self.number = number
        self.names = tuple(number)
        self.idf = idf
        self.ngram = ngram
        self.intercept = intercept
        self.pairs = pairs

    def features(self, text: str) -> list[tuple[int, float]]:
        """`LinearModel.vector(text)` as (feature number, value), in the same order."""
        number, idf, log_1p = self.number, self.idf, _LOG_1P
        v = []
        for g, c in Counter(char_ngrams(text, *self.ngram)).items():
            i = number.get(g)
            if i is not None:
                v.append((i, (log_1p[c] if c < 256 else 1.0 + math.log(c)) * idf[i]))
        norm = math.sqrt(sum(x * x for _, x in v)) or 1.0
        return [(i, x / norm) for i, x in v]

    def numbered(self, vector: Mapping[str, float]) -> list[tuple[int, float]]:
        """A vector by n-gram as (feature number, value), in its order (n-grams the model does
        not know weigh nothing)."""
        number = self.number
        return [(number[f], x) for f, x in vector.items() if f in number]

    def every_score(self, features: list[tuple[int, float]]) -> list[float]:
        """Every head's scores of the vector these features are, side by side (`of`)."""
        start, ks, ws = self.pairs
        s = list(self.intercept)
        for i, x in features:
            a, b = start[i], start[i + 1]
            for k, w in zip(ks[a:b], ws[a:b], strict=False):  # same length: made so
                s[k] += w * x
        return s

    def of(self, head: Head, every: list[float]) -> list[float]:
        """`head`'s part of `every_score`."""
        return every[head.lo:head.hi]

    def scores(self, head: Head, features: list[tuple[int, float]]) -> list[float]:
        """`head.scores` of the vector these features are."""
        return self.of(head, self.every_score(features))

    def probabilities(self, head: Head, features: list[tuple[int, float]],
                      allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        return head.ranked(self.scores(head, features), allowed)

    def evidence(self, head: Head, features: list[tuple[int, float]], label: str,
                 n: int = 3) -> list[str]:
        """The n-grams that pushed most towards `label` (`head.evidence` of the vector these
        features are): the reason shown to a dispatcher."""
        k = head.classes.index(label) + head.lo
        (start, ks, ws), names = self.pairs, self.names
        pushed = []
        for i, x in features:
            j = ks.find(k, start[i], start[i + 1])  # a feature has one weight per class at most
            if j >= 0 and ws[j] > 0:
                pushed.append((ws[j] * x, names[i]))
        return strongest(pushed, n)


class _HeadPairs:
    """One head's (class, weight) pairs as read, by feature number: where each feature's pairs
    start and end in two flat arrays (laid side by side with the other heads' at the end)."""

    def __init__(self, n: int) -> None:
        self.at = array("l", [-1]) * n
        self.end = array("l", [0]) * n
        self.ks = bytearray()
        self.ws = array("d")

    def add(self, i: int, pairs: Iterable[Iterable[Any]]) -> None:
        if self.at[i] >= 0:
            raise ClassificationError("a feature weighed twice by one head; retrain")
        ks, ws = self.ks, self.ws
        self.at[i] = len(ws)
        for k, w in pairs:
            ks.append(int(k))  # a class number, 0..255
            ws.append(w)
        self.end[i] = len(ws)


class _NotInOrder(Exception):
    """The model file's heads come before its idf: it is read whole."""


class _Reading:
    """A model as it is read: n-grams numbered with their idf, then each head's classes,
    intercept, temperature and pairs; `done` lays the heads side by side in `FeatureTables`."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.idf = array("d")
        self.heads: dict[str, tuple[tuple[str, ...], tuple[float, ...], float, _HeadPairs]] = {}

    def feature(self, f: str, idf: float) -> None:
        if not isinstance(f, str) or f in self.number:
            raise ClassificationError(f"feature {f!r} twice in the model; retrain")
        self.number[f] = len(self.idf)
        self.idf.append(idf)

    def pairs(self) -> _HeadPairs:
        return _HeadPairs(len(self.idf))

    def head(self, name: str, d: Mapping[str, Any], pairs: _HeadPairs | None = None) -> None:
        """A head of `d` (its classes, intercept and temperature, and its weights unless read
        into `pairs` already)."""
        if pairs is None:
            pairs, number = self.pairs(), self.number
            for f, p in d["weights"].items():
                i = number.get(f)
                if i is not None:  # an n-gram without idf is in no vector: it weighs nothing
                    pairs.add(i, p)
        classes = tuple(d["classes"])
        intercept = tuple(float(b) for b in d["intercept"])
        if len(intercept) != len(classes) or (pairs.ks and max(pairs.ks) >= len(classes)):
            raise ClassificationError(f"the {name} head's weights or intercept are not of its "
                                      f"{len(classes)} classes; retrain")
        self.heads[name] = (classes, intercept, float(d["temperature"]), pairs)

    def done(self, ngram: tuple[int, int]) -> dict[str, Head]:
        """The heads, in `HEADS`' order side by side in one `FeatureTables`."""
        names = sorted(self.heads, key=lambda h: HEADS.index(h) if h in HEADS else len(HEADS))
        n, heads = len(self.idf), [self.heads[h] for h in names]
        spans: list[tuple[int, int]] = []
        shifts: list[bytes] = []  # a head's class numbers to the heads' side by side
        intercept: list[float] = []
        for classes, own, _, _ in heads:
            spans.append((len(intercept), len(intercept) + len(classes)))
            shifts.append(bytes((k + len(intercept)) % 256 for k in range(256)))
            intercept.extend(own)
        if len(intercept) > 256:
            raise ClassificationError("heads of more than 256 classes; widen FeatureTables")
        start, ks, ws = array("l", [0]), bytearray(), array("d")
        read = [(p.at, p.end, p.ks, p.ws, shift)
                for (_, _, _, p), shift in zip(heads, shifts, strict=True)]
        for i in range(n):
            for at, end, hks, hws, shift in read:
                a = at[i]
                if a >= 0:
                    b = end[i]
                    ks += hks[a:b].translate(shift)
                    ws += hws[a:b]
            start.append(len(ws))
        self.heads.clear()
        tables = FeatureTables(self.number, self.idf, ngram, tuple(intercept),
                               (start, bytes(ks), ws))
        return {name: Head(classes=classes, intercept=own, temperature=t, tables=tables,
                           lo=lo, hi=hi)
                for name, (classes, own, t, _), (lo, hi) in zip(names, heads, spans, strict=True)}

    def model(self, d: Mapping[str, Any]) -> LinearModel:
        ngram = (int(d["ngram"][0]), int(d["ngram"][1]))
        heads = self.done(ngram)
        return LinearModel(tables=heads["subcategory"].tables, ngram=ngram,
                           subcategory=heads["subcategory"],
                           request_type=heads["request_type"], urgency=heads["urgency"],
                           threshold=float(d["threshold"]), meta=d.get("meta", {}))


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's white space
_OPEN = re.compile(r"[ \t\n\r]*\{[ \t\n\r]*(\}?)")  # an object's start, and its end if empty
_COLON = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")
_NEXT = re.compile(r"[ \t\n\r]*([,}])[ \t\n\r]*")  # after a value: the next key, or the end
_DECODER = json.JSONDecoder()


def _walk(text: str, i: int, value: Callable[[str, int], int]) -> int:
    """Walks the JSON object at `text[i:]`: `value(key, j)` reads the key's value, which starts
    at `j`, and says where it ends. Returns where the object ends."""
    colon, after, decode = _COLON.match, _NEXT.match, _DECODER.raw_decode
    opening = _OPEN.match(text, i)
    if opening is None:
        raise json.JSONDecodeError("Expecting an object", text, i)
    i = opening.end()
    if opening.group(1):
        return i
    while True:
        if text[i:i + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes",
                                       text, i)
        key, i = decode(text, i)
        m = colon(text, i)
        if m is None:
            raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
        i = value(key, m.end())
        m = after(text, i)
        if m is None:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
        i = m.end()
        if m.group(1) == "}":
            return i


def _read_model(text: str) -> LinearModel:
    """The model file read an entry at a time (`LinearModel.from_json`)."""
    read, decode = _Reading(), _DECODER.raw_decode
    top: dict[str, Any] = {}
    number = read.number

    def idf(f: str, i: int) -> int:
        x, end = decode(text, i)
        read.feature(f, x)
        return end

    def head(name: str, i: int) -> int:
        if name not in HEADS:
            return decode(text, i)[1]
        fields: dict[str, Any] = {}
        pairs = read.pairs()

        def weight(f: str, j: int) -> int:
            p, end = decode(text, j)
            k = number.get(f)
            if k is not None:  # an n-gram without idf is in no vector: it weighs nothing
                pairs.add(k, p)
            return end

        def field(key: str, j: int) -> int:
            if key == "weights":
                fields[key] = None
                return _walk(text, j, weight)
            fields[key], end = decode(text, j)
            return end

        end = _walk(text, i, field)
        if "weights" not in fields:  # refused, as by from_dict
            raise KeyError("weights")
        read.head(name, fields, pairs)
        return end

    def entry(key: str, i: int) -> int:
        if key == "idf":
            top[key] = None
            return _walk(text, i, idf)
        if key == "heads":
            if "idf" not in top:
                raise _NotInOrder
            return _walk(text, i, head)
        top[key], end = decode(text, i)
        return end

    end = _walk(text, 0, entry)
    if _SPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
        raise json.JSONDecodeError("Extra data", text, end)
    for name in HEADS:
        if name not in read.heads:
            raise KeyError(name)
    return read.model(top)


def load_linear_model() -> LinearModel:
    return LinearModel.from_json(read_data_file(MODEL_FILE))


class LinearClassifier:
    """Suggests category, subcategory, request type and urgency; the same interface as the
    naive Bayes `RequestClassifier` it replaced (which `tools.recognition` still measures)."""

    def __init__(self, taxonomy: Taxonomy, model: LinearModel,
                 blank_places: Callable[[str], str] | None = None,
                 duties: ResponsibilityList | None = None) -> None:
        self.taxonomy = taxonomy
        self.model = model
        # 权责清单 (`domain/responsibilities.py`): its weight and conflict rule were read out of
        # fold with the model, and so was the threshold; without a list, the model's own.
        self.duties = duties
        self.duty_weight = float(model.meta.get("responsibility_weight", 1.0))
        self.duty_conflict = str(model.meta.get("responsibility_conflict", "ignore"))
        if self.duty_conflict not in CONFLICT_RULES:
            raise ClassificationError(f"unknown responsibility conflict rule "
                                      f"{self.duty_conflict!r}; retrain")
        self.duty_disagreement = str(model.meta.get("responsibility_disagreement", "ignore"))
        if self.duty_disagreement not in DISAGREEMENT_RULES:
            raise ClassificationError(f"unknown responsibility disagreement rule "
                                      f"{self.duty_disagreement!r}; retrain")
        # Where a matter is says nothing of what it is: the gazetteer blanks place names
        # (`Gazetteer.without_places`), in training as here.
        self.blank_places = blank_places or (lambda text: text)
        unknown = set(model.subcategory.classes) - set(taxonomy.parent_of)
        if unknown:
            raise ClassificationError(f"the model knows subcategories the taxonomy does not: "
                                      f"{sorted(unknown)}; retrain")
        self._taught: dict[str, Label] = {}
        self._lock = threading.Lock()
        # Whether any danger keyword is in a text, in one scan (most texts have none; those
        # that have are then looked through keyword by keyword, as before)
        self._urgent = re.compile("|".join(map(re.escape, taxonomy.urgent_keywords))
                                  if taxonomy.urgent_keywords else "(?!)")
        self._unexplained: tuple[str, list[tuple[int, float]], str] | None = None

    @property
    def threshold(self) -> float:
        if self.duties is None:
            return float(self.model.meta.get("threshold_without_list", self.model.threshold))
        return self.model.threshold

    def classify(self, text: str, *, address: str = "", explain: bool = True) -> Classification:
        """The suggestion for a request. `explain=False`: without the n-grams that weighed
        most (`evidence`, shown only to a dispatcher); `explain(...)` adds them when the
        request goes to one."""
        text = self.blank_places(text.replace(address, " ") if address else text)
        taught = self._taught.get(normalise(text)) if self._taught else None
        tables = self.tables
        parts = matters(text)
        features = tables.features(parts[0])
        every = tables.every_score(features)  # the three heads' scores in one walk
        head = self.model.subcategory
        subs = head.ranked(tables.of(head, every))
        duty_reasons: tuple[str, ...] = ()
        duty_capped = False
        if self.duties is not None:
            listed = self.duties.match(parts[0])
            subs = reweigh(subs, listed, self.duty_weight)
            duty_reasons = listed.reasons(self.taxonomy.subcategory_names)
            duty_capped = listed.conflicting and self.duty_conflict == "cap"
            unit = self.duties.unit_of(subs[0][0])
            if self.duty_disagreement == "cap" and listed.disagrees(unit):
                assert unit is not None
                duty_capped = True
                duty_reasons = (*duty_reasons, listed.disagreement(unit))
        types = self.model.request_type.ranked(tables.of(self.model.request_type, every))
        urgency, urgency_conf, hits = self._urgency(text, every)
        sub, conf = subs[0]
        distribution, others = tuple(subs), []
        kind, kind_conf = types[0]
        evidence = tables.evidence(head, features, sub) if explain else []
        if duty_capped:
            conf = min(conf, CONFLICT_CAP)
        for other in parts[1:]:
            second = tables.probabilities(head, tables.features(other))[0][0]
            others.append(second)
            if second != sub:
                conf = min(conf, MULTI_MATTER_CAP)
                evidence.append(f"另含事项：{self.taxonomy.subcategory_names[second]}")
                subs = [*subs[:1], (second, 0.0), *(p for p in subs[1:] if p[0] != second)]
        if not explain:  # what `explain` needs to add the words, kept for the last one only
            self._unexplained = (text, features, sub)
        if taught is not None:  # a dispatcher has already said what this very text is
            sub, conf = taught.subcategory or sub, 1.0 if taught.subcategory else conf
            distribution, others = ((), []) if taught.subcategory else (distribution, others)
            duty_capped = duty_capped and not taught.subcategory
            kind = taught.request_type or kind
            if taught.urgency and not hits:
                urgency = taught.urgency
        return Classification(
            category=self.taxonomy.category_of(sub), subcategory=sub, request_type=kind,
            urgency=urgency, confidence=conf, type_confidence=kind_conf,
            urgent_keywords=hits, urgency_confidence=urgency_conf,
            alternatives=tuple(p for p in subs[:4] if p[0] != sub)[:3],
            evidence=tuple(evidence), distribution=distribution, other_matters=tuple(others),
            duty_reasons=duty_reasons, duty_capped=duty_capped)

    def explain(self, suggestion: Classification, text: str, *,
                address: str = "") -> Classification:
        """`suggestion`, made by `classify(text, address=address, explain=False)`, with the
        n-grams that weighed most for its subcategory first in `evidence`, as `classify`
        gives them. The last unexplained classification's features are kept for this; for any
        other text it is classified again."""
        blanked = self.blank_places(text.replace(address, " ") if address else text)
        kept = self._unexplained
        if kept is None or kept[0] != blanked:
            return self.classify(text, address=address)
        _, features, sub = kept
        words = self.tables.evidence(self.model.subcategory, features, sub)
        return dataclasses.replace(suggestion, evidence=(*words, *suggestion.evidence))

    @property
    def tables(self) -> FeatureTables:
        return self.model.tables

    def urgent_keywords_in(self, text: str) -> tuple[str, ...]:
        if self._urgent.search(text) is None:
            return ()
        return tuple(k for k in self.taxonomy.urgent_keywords if k in text)

    def _urgency(self, text: str, every: list[float]) -> tuple[str, float, tuple[str, ...]]:
        hits = self.urgent_keywords_in(text)
        if hits:
            return Urgency.URGENT.value, 0.95, hits
        # Without a danger keyword the model may not call it urgent: a false "urgent" pulls a
        # unit off other work, a missed one is caught by the dispatcher's check.
        head = self.model.urgency
        ranked = head.ranked(self.tables.of(head, every), _CALM)
        return ranked[0][0], ranked[0][1], ()

    def learn(self, text: str, label: Label, weight: int = 1, *, address: str = "") -> None:
        """Remember a dispatcher's label for this text (the model itself learns it at the next
        `python -m tools.recognition train`, which reads the recorded labels)."""
        self.check_label(label)
        text = self.blank_places(text.replace(address, " ") if address else text)
        with self._lock:
            self._taught[normalise(text)] = label

    def check_label(self, label: Label) -> None:
        check_label(label, self.taxonomy)
