"""The classifier's faster inference gives the same floats as the plain code it replaced:
n-grams, the TF-IDF vector (same values, same order), the heads' scores by feature tables and
the evidence, on the labelled requests with the committed model; a suggestion explained later
(only for a dispatcher) is the one explained at once."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from services.dispatch.domain.classifier import Label
from services.dispatch.domain.datafiles import load_jsonl
from services.dispatch.domain.linear import (
    LinearClassifier,
    LinearModel,
    load_linear_model,
    matters,
    normalise,
)
from services.dispatch.domain.places import load_gazetteer
from services.dispatch.domain.responsibilities import load_responsibilities
from services.dispatch.domain.taxonomy import load_taxonomy


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


def test_the_feature_tables_give_the_same_floats_as_the_vector_and_heads(model):
    tables = model.tables
    texts = [r["text"] for r in load_jsonl("labelled_requests.jsonl")][:400]
    for text in texts:
        part = matters(text)[0]
        vector = model.vector(part)
        features = tables.features(part)
        assert [(tables.names[i], x) for i, x in features] == list(vector.items())
        for head in (model.subcategory, model.request_type, model.urgency):
            assert tables.scores(head, features) == head.scores(vector)
        best = model.subcategory.probabilities(vector)[0][0]
        for label in {best, model.subcategory.classes[0]}:
            assert (tables.evidence(model.subcategory, features, label)
                    == plain_evidence(model, vector, label))


def test_a_suggestion_explained_later_is_the_suggestion_explained_at_once(model):
    gazetteer = load_gazetteer()
    classifier = LinearClassifier(load_taxonomy(), model, blank_places=gazetteer.without_places,
                                  duties=load_responsibilities())
    records = load_jsonl("labelled_requests.jsonl")[:300]
    multi = [r for r in load_jsonl("labelled_requests.jsonl") if "另外" in r["text"]][:20]
    assert multi
    for r in records + multi:
        at_once = classifier.classify(r["text"], address=r["address"])
        later = classifier.classify(r["text"], address=r["address"], explain=False)
        assert later.evidence == tuple(e for e in at_once.evidence if e.startswith("另含事项"))
        assert classifier.explain(later, r["text"], address=r["address"]) == at_once
    # another text classified meanwhile: explained by classifying it again, same answer
    first, second = records[0], records[1]
    later = classifier.classify(first["text"], address=first["address"], explain=False)
    classifier.classify(second["text"], address=second["address"], explain=False)
    assert (classifier.explain(later, first["text"], address=first["address"])
            == classifier.classify(first["text"], address=first["address"]))


def test_a_taught_text_is_explained_later_as_at_once(model):
    classifier = LinearClassifier(load_taxonomy(), model, duties=load_responsibilities())
    records = load_jsonl("labelled_requests.jsonl")[:40]
    other = next(s for s in model.subcategory.classes if s != records[0]["subcategory"])
    classifier.learn(records[0]["text"], Label(subcategory=other))
    for r in records:
        at_once = classifier.classify(r["text"])
        later = classifier.classify(r["text"], explain=False)
        assert classifier.explain(later, r["text"]) == at_once
    assert classifier.classify(records[0]["text"]).subcategory == other


def plain_ranked(head, s, allowed=None):
    keep = range(len(s)) if allowed is None else [
        i for i, c in enumerate(head.classes) if c in set(allowed)]
    top = max(s[i] for i in keep)
    e = {i: math.exp((s[i] - top) / head.temperature) for i in keep}
    z = sum(e.values())
    return sorted(((head.classes[i], v / z) for i, v in e.items()), key=lambda p: -p[1])


def test_the_three_heads_walked_at_once_rank_as_each_head_alone(model):
    tables = model.tables
    calm = ("simple", "general", "complex")
    texts = [r["text"] for r in load_jsonl("labelled_requests.jsonl")][:400]
    for text in texts:
        features = tables.features(matters(text)[0])
        every = tables.every_score(features)
        vector = model.vector(matters(text)[0])
        for head in (model.subcategory, model.request_type, model.urgency):
            assert tables.of(head, every) == head.scores(vector)
            assert head.ranked(tables.of(head, every)) == plain_ranked(head,
                                                                        head.scores(vector))
        urgency = model.urgency
        allowed = [c for c in urgency.classes if c in calm]
        assert len(allowed) == 3
        assert (urgency.ranked(tables.of(urgency, every), allowed)
                == plain_ranked(urgency, urgency.scores(vector), allowed))
