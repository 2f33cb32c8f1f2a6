"""Automatic classification suggestion from the citizen's Chinese text.

Multinomial naive Bayes over jieba words plus character bigrams, written here rather than
pulled from scikit-learn: it is ~60 lines, trains in milliseconds on a few hundred requests,
its state is a plain dict the service can persist, and it learns one correction at a time
(`learn`), which is how dispatchers teach it. Urgency is decided first by keyword rules
(a gas leak is urgent whatever the model thinks) and only then by the model.

The result is a suggestion with a confidence; the dispatcher confirms or corrects it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.dispatch.domain.taxonomy import RequestType, Taxonomy, Urgency

_NOT_WORD = re.compile(r"[\s\W\d_a-zA-Z]+")
# 请问/建议/感谢 are kept: they carry the request type.
_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "我",
        "在",
        "和",
        "也",
        "都",
        "就",
        "很",
        "还",
        "被",
        "把",
        "给",
        "让",
        "对",
        "一个",
        "这个",
        "那个",
        "我们",
        "他们",
        "已经",
    ]
)


# A seed document (a subcategory's name and words) counts as this many labelled requests.
# Measured on the held-out set: 1 -> 46% subcategory accuracy, 2 -> 60%, 4 -> 70%.
SEED_WEIGHT = 4


class ClassificationError(ValueError):
    """A label or training example the classifier cannot accept."""


class Tokenizer:
    """jieba segmentation with a private dictionary, so our domain words don't leak into other users."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        import jieba  # imported on first use: building jieba's prefix dictionary takes ~1s

        self._jieba = jieba.Tokenizer()
        for word in extra_words:
            self._jieba.add_word(word, freq=2000)

    def features(self, text: str) -> list[str]:
        words = [
            w for w in self._jieba.lcut(text) if not _NOT_WORD.fullmatch(w) and w not in _STOPWORDS
        ]
        chars = _NOT_WORD.sub("", text)
        # Character bigrams catch compounds the segmenter splits differently each time
        # (燃气味/燃气 味); words keep the longer, sharper terms.
        bigrams = ["2:" + chars[i : i + 2] for i in range(len(chars) - 1)]
        return words + bigrams


class NaiveBayes:
    """Multinomial naive Bayes with Laplace smoothing, trainable one example at a time."""

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self.class_counts: Counter[str] = Counter()
        self.feature_counts: dict[str, Counter[str]] = {}
        self.feature_totals: Counter[str] = Counter()
        self.vocabulary: set[str] = set()

    def learn(self, features: list[str], label: str, weight: int = 1) -> None:
        if weight < 1:
            raise ClassificationError("a training example needs a positive weight")
        self.class_counts[label] += weight
        counts = self.feature_counts.setdefault(label, Counter())
        for f in features:
            counts[f] += weight
        self.feature_totals[label] += weight * len(features)
        self.vocabulary.update(features)

    def posterior(
        self, features: list[str], labels: Iterable[str] | None = None
    ) -> list[tuple[str, float]]:
        """(label, probability) pairs, best first; restricted to `labels` when given."""
        candidates = [lab for lab in (labels or self.class_counts) if self.class_counts[lab] > 0]
        if not candidates:
            return []
        total_docs = sum(self.class_counts[lab] for lab in candidates)
        v = len(self.vocabulary) + 1
        scores = {}
        for lab in candidates:
            counts, denom = self.feature_counts[lab], self.feature_totals[lab] + self.alpha * v
            score = math.log(self.class_counts[lab] / total_docs)
            for f in features:
                if f in self.vocabulary:
                    score += math.log((counts[f] + self.alpha) / denom)
            scores[lab] = score
        top = max(scores.values())
        exp = {lab: math.exp(s - top) for lab, s in scores.items()}
        z = sum(exp.values())
        return sorted(((lab, e / z) for lab, e in exp.items()), key=lambda p: -p[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "class_counts": dict(self.class_counts),
            "feature_counts": {k: dict(v) for k, v in self.feature_counts.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NaiveBayes:
        nb = cls(alpha=float(data["alpha"]))
        nb.class_counts.update(data["class_counts"])
        for label, counts in data["feature_counts"].items():
            nb.feature_counts[label] = Counter(counts)
            nb.feature_totals[label] = sum(counts.values())
            nb.vocabulary.update(counts)
        return nb


@dataclass(frozen=True)
class Label:
    """What a dispatcher confirms: any field left None is not taught."""

    subcategory: str | None = None
    request_type: str | None = None
    urgency: str | None = None


@dataclass(frozen=True)
class Classification:
    category: str
    subcategory: str
    request_type: str
    urgency: str
    confidence: float  # of the subcategory (and so of the category); routing trusts this
    type_confidence: float
    urgency_confidence: float
    urgent_keywords: tuple[str, ...] = ()
    alternatives: tuple[tuple[str, float], ...] = ()  # next-best subcategories for the console
    evidence: tuple[str, ...] = ()  # the words that weighed most for the subcategory
    # The first matter's probability of every subcategory (the linear model; empty when a
    # person decided or the model gives none) and the best subcategory of each later matter
    # ("另外…"): routing sums the probabilities of the subcategories that go to the same unit
    # (`routing.unit_confidence`).
    distribution: tuple[tuple[str, float], ...] = ()
    other_matters: tuple[str, ...] = ()
    # 权责清单 (`domain/responsibilities.py`): the phrases found and what they say, shown in the
    # routing reasons; capped: phrases of several units, a dispatcher decides.
    duty_reasons: tuple[str, ...] = ()
    duty_capped: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Event-ready form: only JSON-transcodable values."""
        return {
            "category": self.category,
            "subcategory": self.subcategory,
            "request_type": self.request_type,
            "urgency": self.urgency,
            "confidence": round(self.confidence, 4),
        }


class RequestClassifier:
    """Suggests category, subcategory, request type and urgency for one request text."""

    def __init__(self, taxonomy: Taxonomy, tokenizer: Tokenizer | None = None) -> None:
        self.taxonomy = taxonomy
        self.tokenizer = tokenizer or Tokenizer(extra_words=taxonomy.urgent_keywords)
        self.subcategories = NaiveBayes()
        self.types = NaiveBayes()
        self.urgencies = NaiveBayes()

    def learn(self, text: str, label: Label, weight: int = 1, *, address: str = "") -> None:
        """Teach one example (a training record or a dispatcher's correction)."""
        self.check_label(label)
        if address:
            text = text.replace(address, " ")
        features = self.tokenizer.features(text)
        if label.subcategory:
            self.subcategories.learn(features, label.subcategory, weight)
        if label.request_type:
            self.types.learn(features, label.request_type, weight)
        if label.urgency:
            self.urgencies.learn(features, label.urgency, weight)

    def seed_from_taxonomy(self, weight: int = SEED_WEIGHT) -> None:
        """Teach each subcategory its name and seed words, so that a subcategory with few or
        no labelled examples can still be suggested (and a thin training set generalises)."""
        for sub, words in self.taxonomy.keywords.items():
            name = self.taxonomy.subcategory_names[sub]
            self.subcategories.learn(self.tokenizer.features(" ".join((name, *words))), sub, weight)
        for request_type, cues in self.taxonomy.type_cues.items():
            self.types.learn(self.tokenizer.features(" ".join(cues)), request_type, weight)

    def learn_many(self, examples: Iterable[tuple[str, Label, str]]) -> None:
        """Teach (text, label, address) triples."""
        for text, label, address in examples:
            self.learn(text, label, address=address)

    def classify(self, text: str, *, address: str = "") -> Classification:
        """Suggest a classification; `address`, when known, is cut out of the text because
        place names say where a matter is, not what it is."""
        if not self.subcategories.class_counts:
            raise ClassificationError("the classifier has not been trained")
        if address:
            text = text.replace(address, " ")
        features = self.tokenizer.features(text)
        subs = self.subcategories.posterior(features)
        types = self.types.posterior(features) or [(RequestType.COMPLAINT.value, 0.0)]
        urgency, urgency_conf, hits = self._urgency(text, features)
        sub, conf = subs[0]
        return Classification(
            category=self.taxonomy.category_of(sub),
            subcategory=sub,
            request_type=types[0][0],
            urgency=urgency,
            confidence=conf,
            type_confidence=types[0][1],
            urgency_confidence=urgency_conf,
            urgent_keywords=hits,
            alternatives=tuple(subs[1:4]),
        )

    def urgent_keywords_in(self, text: str) -> tuple[str, ...]:
        return tuple(k for k in self.taxonomy.urgent_keywords if k in text)

    def _urgency(self, text: str, features: list[str]) -> tuple[str, float, tuple[str, ...]]:
        hits = self.urgent_keywords_in(text)
        if hits:
            return Urgency.URGENT.value, 0.95, hits
        # Without a danger keyword the model may not call it urgent: a false "urgent"
        # pulls a unit off other work, a missed one is caught by the dispatcher's check.
        calm = [u.value for u in Urgency if u is not Urgency.URGENT]
        ranked = self.urgencies.posterior(features, calm) or [(Urgency.GENERAL.value, 0.0)]
        return ranked[0][0], ranked[0][1], ()

    def check_label(self, label: Label) -> None:
        check_label(label, self.taxonomy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "taxonomy_version": self.taxonomy.version,
            "subcategories": self.subcategories.to_dict(),
            "types": self.types.to_dict(),
            "urgencies": self.urgencies.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], taxonomy: Taxonomy, tokenizer: Tokenizer | None = None
    ) -> RequestClassifier:
        clf = cls(taxonomy, tokenizer)
        clf.subcategories = NaiveBayes.from_dict(data["subcategories"])
        clf.types = NaiveBayes.from_dict(data["types"])
        clf.urgencies = NaiveBayes.from_dict(data["urgencies"])
        return clf


def check_label(label: Label, taxonomy: Any) -> None:
    """Raises ClassificationError for a label naming what the taxonomy does not know (one
    rule for every classifier: a dispatcher's correction is checked the same way)."""
    if label.subcategory is not None and label.subcategory not in taxonomy.parent_of:
        raise ClassificationError(f"unknown subcategory {label.subcategory!r}")
    if label.request_type is not None and label.request_type not in {
        t.value for t in RequestType
    }:
        raise ClassificationError(f"unknown request type {label.request_type!r}")
    if label.urgency is not None and label.urgency not in {u.value for u in Urgency}:
        raise ClassificationError(f"unknown urgency grade {label.urgency!r}")
