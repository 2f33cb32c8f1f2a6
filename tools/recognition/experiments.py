"""What was tried to route more requests automatically (issue 15's "< 10 % to a dispatcher"),
measured the way `train` reads the shipped threshold (docs/recognition.md, "2026-12-05 night").

    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition.experiments [--test]

Each variant is scored out of fold on the train part (5 folds by family of matters, first
matter scored, a second matter for another unit capping at 0.5), its temperature and threshold
read there by `train.sure_threshold` (>= 95 % right in 99 % of the resamplings of matters),
and the share it would route automatically out of fold printed. With `--test`, each variant is
then fitted on the whole train part and measured once on the held-out test part at its own
train-read threshold: a record, not a selection (choosing by these figures would tune on the
test part). scikit-learn scoring of the same features as the service's; the shipped model's
own figures come from `evaluate`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.svm import LinearSVC

from services.dispatch.domain.labelled import load_labelled_requests, split
from services.dispatch.domain.linear import char_ngrams, matters
from services.dispatch.domain.responsibilities import load_responsibilities
from tools.recognition import train as trained
from tools.recognition.fresh import fresh_requests
from tools.recognition.third import third_requests

Analyzer = Callable[[str], list[str]]


def _with_duties(units_too: bool = True) -> Analyzer:
    """Character 1-2-grams plus one token per 权责清单 subcategory (and unit) whose phrase is in
    the text: the list as features whose weight the model learns (idea d), not a fixed boost."""
    duties = load_responsibilities()

    def analyse(text: str) -> list[str]:
        found = duties.match(text)
        extra = [f"§{s}" for s in found.subcategories]
        if units_too:
            extra += [f"§u:{u}" for u in found.units]
        return char_ngrams(text, 1, 2) + extra
    return analyse


def _svc(c: float = 0.3, **kw: Any) -> Callable[[], Any]:
    return lambda: LinearSVC(C=c, random_state=0, **kw)


def variants() -> dict[str, list[tuple[Analyzer, Callable[[], Any]]]]:
    """Name -> the models whose probabilities are averaged (one model: no ensemble)."""
    c12: Analyzer = lambda t: char_ngrams(t, 1, 2)  # noqa: E731
    c13: Analyzer = lambda t: char_ngrams(t, 1, 3)  # noqa: E731
    duty, duty_sub = _with_duties(), _with_duties(units_too=False)
    logreg = lambda: LogisticRegression(C=20.0, max_iter=2000)  # noqa: E731
    return {
        "shipped: LinearSVC C=0.3, char 1-2": [(c12, _svc())],
        "char 1-3": [(c13, _svc())],
        "+ list as features": [(duty, _svc())],
        "+ list (subcategory tokens only)": [(duty_sub, _svc())],
        "+ list, C=0.5": [(duty, _svc(0.5))],
        "+ list, C=0.2": [(duty, _svc(0.2))],
        "+ list, balanced classes": [(duty, _svc(class_weight="balanced"))],
        "+ list, LogisticRegression": [(duty, logreg)],
        "+ list, SVC and LogisticRegression averaged": [(duty, _svc()), (duty, logreg)],
        "SVC char 1-2 and char 1-3 averaged": [(c12, _svc()), (c13, _svc())],
    }


class Bench:
    def __init__(self) -> None:
        train_part, test_part = split(load_labelled_requests())
        self.seeds = trained.taxonomy_seeds()
        self.parts = [matters(t) for t in trained.texts_of(train_part)]
        # the generated test part, the second one (`fresh.py`) and the third (`third.py`,
        # session 9), scored together
        fresh, third = fresh_requests(), third_requests()
        self.n_generated, self.n_fresh = len(test_part), len(fresh)
        self.held_out = test_part + fresh + third
        self.test_parts = [matters(t) for t in trained.texts_of(self.held_out)]
        self.y = np.array([r.subcategory for r in train_part])
        self.y_test = np.array([r.subcategory for r in self.held_out])
        self.groups = trained.fold_groups(train_part)
        self.classes = np.unique(self.y)
        self.units = np.array([trained.unit_of(c) for c in self.classes])

    def scores(self, texts: Sequence[str], y: np.ndarray, parts: Sequence[list[str]],
               analyse: Analyzer, make: Callable[[], Any]) -> tuple[np.ndarray, np.ndarray]:
        """(scores of each first matter, capped by a second matter for another unit)."""
        vec = TfidfVectorizer(analyzer=analyse, sublinear_tf=True)
        x = vec.fit_transform(list(texts) + [w for w, _ in self.seeds])
        model = make().fit(x, list(y) + [s for _, s in self.seeds])
        out = np.full((len(parts), len(self.classes)), -1e3)
        out[:, np.searchsorted(self.classes, model.classes_)] = model.decision_function(
            vec.transform([p[0] for p in parts]))
        capped = np.zeros(len(parts), dtype=bool)
        later = [(i, q) for i, p in enumerate(parts) for q in p[1:]]
        if later:
            tops = model.classes_[model.decision_function(
                vec.transform([q for _, q in later])).argmax(axis=1)]
            for (i, _), other in zip(later, tops, strict=True):
                capped[i] |= trained.unit_of(other) != trained.unit_of(self.classes[out[i].argmax()])
        return out, capped

    def probabilities(self, models: list[tuple[Analyzer, Callable[[], Any]]], test: bool,
                      shuffle: int | None = None,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Out-of-fold probabilities and caps on the train part (`shuffle`: the fold
        assignment, as `train.FOLD_ASSIGNMENTS`), and with `test` those of the held-out parts
        by the models fitted on the whole train part."""
        texts = [" ".join(p) for p in self.parts]
        splitter = (GroupKFold(n_splits=5) if shuffle is None
                    else GroupKFold(n_splits=5, shuffle=True, random_state=shuffle))
        folds = list(splitter.split(texts, self.y, self.groups))
        oof, test_p, capped, test_capped = [], [], np.zeros(len(texts), bool), None
        for analyse, make in models:
            s = np.zeros((len(texts), len(self.classes)))
            for tr, te in folds:
                s[te], c = self.scores([texts[i] for i in tr], self.y[tr],
                                       [self.parts[i] for i in te], analyse, make)
                capped[te] |= c
            t = trained.fit_temperature(s, self.y, self.classes)
            oof.append(trained.softmax(s, t))
            if test:
                st, test_capped = self.scores(texts, self.y, self.test_parts, analyse, make)
                test_p.append(trained.softmax(st, t))
        return (np.mean(oof, axis=0), capped,
                np.mean(test_p, axis=0) if test else None, test_capped)

    def unit_confidence(self, p: np.ndarray, capped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best = self.units[p.argmax(axis=1)]
        sure = np.array([p[i, self.units == u].sum() for i, u in enumerate(best)])
        return best, np.where(capped, np.minimum(sure, 0.5), sure)


def run(test: bool = False, only: Sequence[str] = ()) -> list[dict[str, Any]]:
    bench, rows = Bench(), []
    gold = np.array([trained.unit_of(c) for c in bench.y])
    gold_test = np.array([trained.unit_of(c) for c in bench.y_test])
    for name, models in variants().items():
        if only and not any(o in name for o in only):
            continue
        p, capped, pt, ct = bench.probabilities(models, test)
        unit, sure = bench.unit_confidence(p, capped)
        right = unit == gold
        threshold = trained.sure_threshold(sure, right, bench.groups)
        auto = sure >= threshold
        row = {"variant": name, "threshold": round(threshold, 3),
               "oof_unit_accuracy": round(float(right.mean()), 4),
               "oof_auto": round(float(auto.mean()), 4),
               "oof_auto_right": round(float(right[auto].mean()), 4)}
        if pt is not None and ct is not None:
            unit_t, sure_t = bench.unit_confidence(pt, ct)
            right_t, auto_t = unit_t == gold_test, sure_t >= threshold
            fresh_end = bench.n_generated + bench.n_fresh
            for part, rows_of in (("test", slice(0, bench.n_generated)),
                                  ("fresh", slice(bench.n_generated, fresh_end)),
                                  ("third", slice(fresh_end, None))):
                r, a = right_t[rows_of], auto_t[rows_of]
                row |= {f"{part}_unit_accuracy": round(float(r.mean()), 4),
                        f"{part}_auto": round(float(a.mean()), 4),
                        f"{part}_auto_right": round(float(r[a].mean()), 4)}
        print(row, flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tools.recognition.experiments")
    parser.add_argument("--test", action="store_true",
                        help="also measure each variant once on the held-out test parts "
                             "(the generated one and the second, `fresh.py`)")
    parser.add_argument("--only", action="append", default=[],
                        help="only the variants whose name contains this (repeatable)")
    args = parser.parse_args()
    run(args.test, args.only)
