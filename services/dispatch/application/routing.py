"""Classification and routing as the running service uses them (thread-safe).

The classifier is the linear model trained by `python -m tools.recognition train` and
committed as `data/recognition_model.json` (routing v2 and later); routing v1 keeps the naive
Bayes trained at start. Every label a dispatcher gives is kept in the read model's
`classification_labels`: it is remembered at once for the same text, and it is labelled data
for the next training (`python -m tools.recognition export-labels`, then `train`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.dispatch.application.units import UnitBook
from services.dispatch.domain.classifier import (
    Classification,
    ClassificationError,
    Label,
    RequestClassifier,
)
from services.dispatch.domain.labelled import load_labelled_requests, train_classifier
from services.dispatch.domain.linear import LinearClassifier, load_linear_model
from services.dispatch.domain.places import Gazetteer, Place, Territory, load_gazetteer
from services.dispatch.domain.responsibilities import load_responsibilities
from services.dispatch.domain.routing import (
    NeedsDispatcher,
    RoutingDecision,
    RoutingTable,
    load_routing_table,
    route,
)
from services.dispatch.domain.taxonomy import Taxonomy, load_taxonomy


@dataclass(frozen=True)
class TaughtLabel:
    text: str
    address: str
    label: Label


class Router:
    def __init__(self, *, taxonomy: Taxonomy, gazetteer: Gazetteer, table: RoutingTable,
                 units: UnitBook, classifier: RequestClassifier | LinearClassifier) -> None:
        self.taxonomy = taxonomy
        self.gazetteer = gazetteer
        self.table = table
        self.units = units
        self._classifier = classifier
        self._lock = threading.Lock()  # NaiveBayes counters are read and written

    @classmethod
    def build(cls, *, units: UnitBook, routing_version: int,
              taught: Iterable[TaughtLabel] = (),
              extra_places: Iterable[Mapping[str, Any]] = (),
              extra_responsibilities: Iterable[Mapping[str, Any]] = ()) -> Router:
        taxonomy = load_taxonomy()
        table = load_routing_table(routing_version)
        table.check_against(units.registry, set(taxonomy.parent_of))
        gazetteer = load_gazetteer(extra_places)
        classifier: RequestClassifier | LinearClassifier
        if table.calibrated:
            # 权责清单: checked against the table and the registry before anything is routed
            duties = load_responsibilities(extra_responsibilities)
            duties.check_against(table.rules, (u.code for u in units.registry.active()))
            classifier = LinearClassifier(taxonomy, load_linear_model(),
                                          blank_places=gazetteer.without_places, duties=duties)
            table = table.calibrated_to(classifier.threshold)
        else:
            classifier = train_classifier(RequestClassifier(taxonomy), load_labelled_requests())
        router = cls(taxonomy=taxonomy, gazetteer=gazetteer, table=table,
                     units=units, classifier=classifier)
        for t in taught:
            try:
                router.learn(t.text, t.label, address=t.address)
            except ClassificationError:
                continue  # a label of a subcategory since retired: it teaches nothing now
        return router

    def locate(self, place: Place) -> Territory:
        return self.gazetteer.locate(place)

    def suggest(self, text: str, *, address: str = "", explain: bool = True) -> Classification:
        """The classifier's suggestion; `explain=False`: the linear model leaves out the words
        that weighed most (`evidence`, read only by a dispatcher) until `explain` is asked."""
        with self._lock:
            if isinstance(self._classifier, LinearClassifier):
                return self._classifier.classify(text, address=address, explain=explain)
            return self._classifier.classify(text, address=address)

    def explain(self, suggestion: Classification, text: str, *,
                address: str = "") -> Classification:
        """A suggestion of `suggest(..., explain=False)` with its evidence, as `suggest` gives
        it (the naive Bayes classifier always explains)."""
        if not isinstance(self._classifier, LinearClassifier):
            return suggestion
        with self._lock:
            return self._classifier.explain(suggestion, text, address=address)

    def route(self, classification: Classification, place: Place | Territory
              ) -> RoutingDecision | NeedsDispatcher:
        return route(classification, place, table=self.table, gazetteer=self.gazetteer,
                     registry=self.units.registry)

    def check_label(self, label: Label) -> None:
        self._classifier.check_label(label)

    def learn(self, text: str, label: Label, *, address: str = "") -> None:
        with self._lock:
            self._classifier.learn(text, label, address=address)
