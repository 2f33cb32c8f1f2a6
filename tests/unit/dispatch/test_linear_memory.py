"""The linear model as the service holds it: flat arrays by feature number, read from the model
file an entry at a time. The same model as a whole-file parse gives, nothing but the tables on
the classifier's path (the dictionaries tools and tests read are made on first use), and a
fraction of the memory the model's Python objects took."""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

from services.dispatch.domain.classifier import ClassificationError
from services.dispatch.domain.datafiles import load_jsonl, read_data_file
from services.dispatch.domain.linear import (
    HEADS,
    MODEL_FILE,
    Head,
    LinearClassifier,
    LinearModel,
    load_linear_model,
    matters,
)
from services.dispatch.domain.places import load_gazetteer
from services.dispatch.domain.responsibilities import load_responsibilities
from services.dispatch.domain.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def text() -> str:
    return read_data_file(MODEL_FILE)


@pytest.fixture(scope="module")
def parsed(text) -> dict:
    return json.loads(text)


def same_model(a: LinearModel, b: LinearModel) -> None:
    ta, tb = a.tables, b.tables
    assert ta.names == tb.names and ta.number == tb.number
    assert ta.idf == tb.idf and ta.pairs == tb.pairs and ta.intercept == tb.intercept
    assert (a.ngram, a.threshold, a.meta) == (b.ngram, b.threshold, b.meta)
    for name in HEADS:
        ha, hb = getattr(a, name), getattr(b, name)
        assert (ha.classes, ha.intercept, ha.temperature, ha.lo, ha.hi) == (
            hb.classes, hb.intercept, hb.temperature, hb.lo, hb.hi)


def test_read_an_entry_at_a_time_is_the_model_of_the_whole_file(text, parsed):
    model = LinearModel.from_json(text)
    same_model(model, LinearModel.from_dict(parsed))
    # what the file says, as the dictionaries tools and tests read
    assert model.idf == {f: float(x) for f, x in parsed["idf"].items()}
    assert list(model.idf) == list(parsed["idf"])
    for name in HEADS:
        head, d = getattr(model, name), parsed["heads"][name]
        weights = {f: tuple((int(k), float(w)) for k, w in pairs)
                   for f, pairs in d["weights"].items()}
        assert head.weights == weights
        assert head.by_class == {f: dict(p) for f, p in weights.items()}
        assert head.classes == tuple(d["classes"])
        assert head.intercept == tuple(d["intercept"])
        assert head.temperature == d["temperature"]
        assert Head.from_dict(d).weights == weights
    assert model.threshold == parsed["threshold"] and model.meta == parsed["meta"]


def test_white_space_and_the_order_of_the_file_change_nothing(text, parsed):
    model = LinearModel.from_json(text)
    same_model(LinearModel.from_json(json.dumps(parsed, ensure_ascii=False, indent=1)), model)
    heads_first = {"heads": parsed["heads"], **{k: v for k, v in parsed.items() if k != "heads"}}
    same_model(LinearModel.from_json(json.dumps(heads_first)), model)  # read whole


def test_a_broken_file_is_refused(text, parsed):
    for broken in (text[:len(text) // 2], text.replace('"heads":{', '"heads":[', 1),
                   text + "{}", text.replace(":", ";", 3)):
        with pytest.raises(ValueError):  # json.JSONDecodeError, as json.loads raises
            LinearModel.from_json(broken)
    twice = json.loads(text)
    sub = twice["heads"]["subcategory"]
    sub["weights"] = {f: [*pairs, [len(sub["classes"]), 0.5]]
                      for f, pairs in sub["weights"].items()}
    with pytest.raises(ClassificationError):  # a class the head does not have
        LinearModel.from_dict(twice)
    with pytest.raises(KeyError):
        LinearModel.from_json(json.dumps({k: v for k, v in parsed.items() if k != "threshold"}))


def test_the_classifier_uses_the_tables_only():
    model = load_linear_model()
    classifier = LinearClassifier(load_taxonomy(), model,
                                  blank_places=load_gazetteer().without_places,
                                  duties=load_responsibilities())
    for r in load_jsonl("labelled_requests.jsonl")[:50]:
        later = classifier.classify(r["text"], address=r["address"], explain=False)
        classifier.explain(later, r["text"], address=r["address"])
        classifier.classify(r["text"], address=r["address"])
    # the dictionaries (cached properties) were never made
    assert "idf" not in vars(model)
    for name in HEADS:
        assert "weights" not in vars(getattr(model, name))
        assert "by_class" not in vars(getattr(model, name))


def test_a_heads_scores_and_evidence_of_a_vector_are_the_tables(parsed):
    model = load_linear_model()
    tables = model.tables
    for r in load_jsonl("labelled_requests.jsonl")[:100]:
        part = matters(r["text"])[0]
        vector, features = model.vector(part), tables.features(part)
        for name in HEADS:
            head = getattr(model, name)
            plain = list(head.intercept)
            weights = parsed["heads"][name]["weights"]
            for f, x in vector.items():
                for k, w in weights.get(f, ()):
                    plain[k] += w * x
            assert head.scores(vector) == plain == tables.scores(head, features)
        label = head.classes[0]
        assert head.evidence(vector, label) == tables.evidence(head, features, label)
    # n-grams the model does not know weigh nothing
    assert model.subcategory.scores({"§§": 1.0}) == list(model.subcategory.intercept)


def test_the_model_holds_a_fraction_of_its_file_in_memory(text):
    """Traced by tracemalloc: the model was 8.4 times the file's size held (8.9 MiB in 92,000
    objects) and 15.6 times at the parse's peak; now 1.7 times held and 4.6 at the peak (the
    file's bytes and text while it is read)."""
    gc.collect()
    tracemalloc.start()
    try:
        model = LinearModel.from_json(read_data_file(MODEL_FILE))
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = len(text.encode())
    assert held < 2.5 * size, (held, size)
    assert peak < 6 * size, (peak, size)
    assert len(model.tables.names) == len(json.loads(text)["idf"])
