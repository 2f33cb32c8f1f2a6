"""The labelled request set: loading, the deterministic train/test split, and scoring.

Records written from the same matter (`case`) always fall on the same side of the split, so a
test text is never a near-copy of a training text. The generated set (tools/recognition)
names the side of each record (`split`); records without it are split by the case's hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.dispatch.domain.classifier import Classification, Label, RequestClassifier
from services.dispatch.domain.datafiles import load_jsonl
from services.dispatch.domain.places import Gazetteer, Place
from services.dispatch.domain.routing import RoutingDecision, RoutingTable, route
from services.dispatch.domain.units import UnitRegistry

TEST_SHARE_OUT_OF_4 = 1  # one case in four is held out


@dataclass(frozen=True)
class LabelledRequest:
    case: str
    text: str
    category: str
    subcategory: str
    request_type: str
    urgency: str
    county: str  # territory code, "" when the text names no place
    subdistrict: str
    address: str
    # "train" | "test" when the set says so, else by the case's hash; "set-aside": a train
    # matter written almost as a test matter is, in neither part (tools/recognition/generate.py)
    split: str = ""

    @property
    def label(self) -> Label:
        return Label(
            subcategory=self.subcategory, request_type=self.request_type, urgency=self.urgency
        )

    @property
    def held_out(self) -> bool:
        if self.split:
            return self.split == "test"
        digest = hashlib.sha256(self.case.encode("utf-8")).digest()
        return digest[0] % 4 < TEST_SHARE_OUT_OF_4

    @classmethod
    def from_dict(cls, r: Mapping[str, Any]) -> LabelledRequest:
        return cls(
            case=r["case"],
            text=r["text"],
            category=r["category"],
            subcategory=r["subcategory"],
            request_type=r["type"],
            urgency=r["urgency"],
            county=r.get("county", ""),
            subdistrict=r.get("subdistrict", ""),
            address=r.get("address", ""),
            split=r.get("split", ""),
        )


def load_labelled_requests() -> list[LabelledRequest]:
    return [LabelledRequest.from_dict(r) for r in load_jsonl("labelled_requests.jsonl")]


def split(
    records: Iterable[LabelledRequest],
) -> tuple[list[LabelledRequest], list[LabelledRequest]]:
    """(train, test), the same every run on every machine; set-aside records in neither."""
    train: list[LabelledRequest] = []
    test: list[LabelledRequest] = []
    for r in records:
        if r.split != "set-aside":
            (test if r.held_out else train).append(r)
    return train, test


def train_classifier(
    classifier: RequestClassifier, train: Iterable[LabelledRequest]
) -> RequestClassifier:
    classifier.seed_from_taxonomy()
    classifier.learn_many((r.text, r.label, r.address) for r in train)
    return classifier


def score_classifier(
    classifier: RequestClassifier, test: list[LabelledRequest]
) -> dict[str, float]:
    """Accuracy on each axis, as fractions of `test`."""
    if not test:
        raise ValueError("nothing to score")
    hits = {
        "category": 0,
        "subcategory": 0,
        "request_type": 0,
        "urgency": 0,
        "urgent_recall_n": 0,
        "urgent_recall_hit": 0,
    }
    for r in test:
        c = classifier.classify(r.text, address=r.address)
        hits["category"] += c.category == r.category
        hits["subcategory"] += c.subcategory == r.subcategory
        hits["request_type"] += c.request_type == r.request_type
        hits["urgency"] += c.urgency == r.urgency
        if r.urgency == "urgent":
            hits["urgent_recall_n"] += 1
            hits["urgent_recall_hit"] += c.urgency == "urgent"
    n = len(test)
    scores = {k: hits[k] / n for k in ("category", "subcategory", "request_type", "urgency")}
    scores["urgent_recall"] = hits["urgent_recall_hit"] / max(1, hits["urgent_recall_n"])
    return scores


def expected_unit(r: LabelledRequest, table: RoutingTable) -> str | None:
    """Where the record should go by its gold labels; None when no unit can be named."""
    rule = table.rules[r.subcategory]
    if not rule.territorial:
        return rule.unit
    return r.county or None


class Classifies(Protocol):
    def classify(self, text: str, *, address: str = "") -> Classification: ...


def score_routing(
    classifier: Classifies,
    test: list[LabelledRequest],
    *,
    table: RoutingTable,
    gazetteer: Gazetteer,
    registry: UnitRegistry,
) -> dict[str, float]:
    """auto_share: routed without a person; auto_accuracy: of those, to the right unit;
    wrong_share: sent to a wrong unit (the costly error); correct_share: right unit, overall."""
    auto = right = 0
    for r in test:
        c = classifier.classify(r.text, address=r.address)
        decision = route(
            c, Place(address=r.address, text=r.text), table=table, gazetteer=gazetteer,
            registry=registry,
        )
        if isinstance(decision, RoutingDecision):
            auto += 1
            right += decision.unit_code == expected_unit(r, table)
    n = len(test)
    return {
        "auto_share": auto / n,
        "auto_accuracy": right / max(1, auto),
        "wrong_share": (auto - right) / n,
        "correct_share": right / n,
    }
