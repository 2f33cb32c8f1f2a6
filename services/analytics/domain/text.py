"""Chinese text to weighted terms: jieba segmentation, stop words, TF-IDF, and a small
deterministic single-pass clustering by cosine similarity to cluster centroids.

Why single-pass and not k-means/NMF: it needs no number of topics chosen in advance, it is
deterministic for a given input order (we sort by time, then ticket id), and it can run
incrementally as tickets stream in. Its weakness, order sensitivity, is acceptable for
texts as short and repetitive as hotline complaints.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
_NOT_A_TERM = re.compile(r"^[\W\d_a-zA-Z]+$")

Vector = dict[str, float]


def load_stopwords(path: Path | None = None) -> frozenset[str]:
    lines = (path or DATA_DIR / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def load_aspect_lexicon(path: Path | None = None) -> list[dict[str, Any]]:
    """Themes with their aspect keyword lists (see data/aspects.json)."""
    data = json.loads((path or DATA_DIR / "aspects.json").read_text(encoding="utf-8"))
    return list(data["themes"])


# Place names of this many characters or more are words of the tokenizer (颍东区, 向阳路,
# 东城街道: jieba cut them into 颍/东区, 向阳/路, 东城/街道). Two-character short forms (中市,
# 新华, 李兴) are only kept out of the terms: as words they would cut 李兴旺 into 李兴/旺.
PLACE_WORD_MIN = 3


class Segmenter:
    """jieba with the project's stop words and lexicon words, built on first use.

    Its own `jieba.Tokenizer` keeps our added words out of jieba's global dictionary, which
    other services in the same process may use. `places` (dispatch's gazetteer: counties,
    towns, sub-districts, roads, estates) are never terms: a term names what a matter is,
    where it is belongs to hot topics' by_place and by_county.
    """

    def __init__(self, stopwords: frozenset[str] | None = None,
                 extra_words: Iterable[str] = (), places: Iterable[str] = ()) -> None:
        self._stopwords = stopwords
        self._extra_words = tuple(extra_words)
        self._places = frozenset(places)
        self._tokenizer: Any = None

    def _ready(self) -> Any:
        if self._tokenizer is None:
            import jieba  # imported here: building its dictionary takes a second

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            for word in self._extra_words:
                tokenizer.add_word(word, freq=20000)
            for place in sorted(self._places):
                if len(place) >= PLACE_WORD_MIN:
                    tokenizer.add_word(place, freq=20000)
            stopwords = load_stopwords() if self._stopwords is None else self._stopwords
            self._stopwords = stopwords | self._places
            self._tokenizer = tokenizer
        return self._tokenizer

    def terms(self, text: str) -> list[str]:
        """Content words of a text: no stop words, place names, single characters, digits or
        masked parts."""
        tokenizer = self._ready()
        stop = self._stopwords or frozenset()
        return [t for t in (w.strip() for w in tokenizer.lcut(text))
                if len(t) >= 2 and t not in stop and "*" not in t and not _NOT_A_TERM.match(t)]


def aspect_words() -> list[str]:
    """The aspect keywords of data/aspects.json: words of the tokenizer."""
    return [k for theme in load_aspect_lexicon() for a in theme["aspects"]
            for k in a["keywords"]]


@lru_cache(maxsize=1)
def default_segmenter() -> Segmenter:
    """The aspect words, no place names: the service builds its own with the gazetteer's
    (`hot_topic_segmenter`, once, in bootstrap)."""
    return Segmenter(extra_words=aspect_words())


def hot_topic_segmenter(places: Iterable[str]) -> Segmenter:
    """The aspect words and the city's place names (adapters.registry.load_place_names)."""
    return Segmenter(extra_words=aspect_words(), places=places)


def idf_table(documents: Sequence[Sequence[str]]) -> dict[str, float]:
    """Smoothed IDF: ln((1 + N) / (1 + df)) + 1, so a term in every document still counts."""
    n = len(documents)
    df = Counter(term for doc in documents for term in set(doc))
    return {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}


def tfidf(terms: Sequence[str], idf: dict[str, float]) -> Vector:
    """L2-normalised TF-IDF vector; terms unknown to the IDF table get the rarest weight."""
    if not terms:
        return {}
    default = max(idf.values(), default=1.0)
    counts = Counter(terms)
    raw = {t: c * idf.get(t, default) for t, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    return {t: v / norm for t, v in sorted(raw.items())}


def dot(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


@dataclass
class Cluster:
    members: list[int] = field(default_factory=list)
    total: Vector = field(default_factory=dict)  # sum of member vectors; centroid direction
    norm: float = 0.0

    def similarity(self, vector: Vector) -> float:
        return 0.0 if self.norm == 0 else dot(vector, self.total) / self.norm

    def add(self, index: int, vector: Vector) -> None:
        self.members.append(index)
        for t, v in vector.items():
            self.total[t] = self.total.get(t, 0.0) + v
        self.norm = math.sqrt(sum(v * v for v in self.total.values()))

    def top_terms(self, n: int = 5) -> list[str]:
        return [t for t, _ in sorted(self.total.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def single_pass_clusters(vectors: Sequence[Vector], threshold: float) -> list[Cluster]:
    """Each vector joins the most similar cluster (ties: the older one) when the cosine to
    its centroid reaches `threshold`, otherwise it starts a new cluster."""
    clusters: list[Cluster] = []
    for index, vector in enumerate(vectors):
        best, best_sim = None, threshold
        for cluster in clusters:
            sim = cluster.similarity(vector)
            if sim >= best_sim and (best is None or sim > best_sim):
                best, best_sim = cluster, sim
        if best is None:
            best = Cluster()
            clusters.append(best)
        best.add(index, vector)
    return clusters
