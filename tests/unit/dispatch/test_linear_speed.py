"""The classifier's faster inference gives the same floats as the plain code it replaced:
n-grams, the TF-IDF vector (same values, same order) and the evidence, on the labelled
requests with the committed model."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from services.dispatch.domain.datafiles import load_jsonl
from services.dispatch.domain.linear import LinearModel, load_linear_model, matters, normalise


def plain_ngrams(text: str, lo: int, hi: int) -> list[str]:
    grams: list[str] = []
    for run in normalise(text).split():
        for n in range(lo, hi + 1):
            grams.extend(run[i:i + n] for i in range(len(run) - n + 1))
    return grams


def plain_vector(model: LinearModel, text: str) -> dict[str, float]:
    counts = Counter(g for g in plain_ngrams(text, *model.ngram) if g in model.idf)
    v = {g: (1.0 + math.log(c)) * model.idf[g] for g, c in counts.items()}
    norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
    return {g: x / norm for g, x in v.items()}


def plain_evidence(model: LinearModel, vector: dict[str, float], label: str) -> list[str]:
    head = model.subcategory
    k = head.classes.index(label)
    pushed = []
    for f, x in vector.items():
        for i, w in head.weights.get(f, ()):
            if i == k and w > 0:
                pushed.append((w * x, f))
    pushed.sort(key=lambda p: (len(p[1]) > 1, p[0]), reverse=True)
    chosen: list[str] = []
    for _, f in pushed:
        if not any(f in c or c in f for c in chosen):
            chosen.append(f)
        if len(chosen) == 3:
            break
    return chosen


@pytest.fixture(scope="module")
def model() -> LinearModel:
    return load_linear_model()


def test_vectors_and_evidence_are_the_same_floats_as_the_plain_code(model):
    texts = [r["text"] for r in load_jsonl("labelled_requests.jsonl")][:400]
    assert texts
    for text in texts:
        part = matters(text)[0]
        vector = model.vector(part)
        plain = plain_vector(model, part)
        assert list(vector.items()) == list(plain.items())  # values and order
        for label in {model.subcategory.probabilities(vector)[0][0], model.subcategory.classes[0]}:
            assert model.subcategory.evidence(vector, label) == plain_evidence(model, vector,
                                                                                label)
