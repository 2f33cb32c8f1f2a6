"""Dispatchers' corrections as labelled data for the next training.

Two kinds are kept in dispatch's read model, in the transaction of the events:
- `<schema>.classification_labels`: a dispatcher's classification (confirm or reclassify,
  `POST .../classification`): masked text and address, category, subcategory, type, urgency;
- `<schema>.routing_labels`: a unit a dispatcher chose by hand (assign, transfer, coordinate).
  A unit names what a request is about only in part: the label kept is the most probable
  subcategory (by the current model) among those the routing table sends to that unit (or, for
  a county or zone, among the territorial ones); a unit no subcategory goes to teaches nothing.

This writes both, newest label per text, to `services/dispatch/data/dispatcher_labels.jsonl`,
which `train` adds to the train part. Masked text only: no personal data leaves the read model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.recognition.train import CORRECTIONS_PATH


def export_labels(dsn: str, schema: str = "dispatch", path: Path = CORRECTIONS_PATH) -> int:
    import psycopg
    from psycopg import sql

    classified = sql.SQL("SELECT text_masked, address_masked, category, subcategory,"
                         " request_type, urgency FROM {}.classification_labels ORDER BY id"
                         ).format(sql.Identifier(schema))
    routed = sql.SQL("SELECT text_masked, address_masked, unit FROM {}.routing_labels"
                     " ORDER BY id").format(sql.Identifier(schema))
    newest: dict[str, dict[str, str]] = {}
    with psycopg.connect(dsn) as conn:
        infer = _unit_to_subcategory()
        for text, address, unit in conn.execute(routed):
            label = infer(text, address or "", unit)
            if label:
                newest[text] = label
        # A classification is the dispatcher's own word on the matter: it wins over a unit.
        for text, address, category, sub, kind, urgency in conn.execute(classified):
            newest[text] = {"text": text, "address": address or "", "category": category,
                            "subcategory": sub, "type": kind, "urgency": urgency}
    with path.open("w", encoding="utf-8") as f:
        for r in newest.values():
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(newest)


def _unit_to_subcategory() -> Any:
    from services.dispatch.domain.linear import LinearClassifier, load_linear_model
    from services.dispatch.domain.places import load_gazetteer
    from services.dispatch.domain.routing import load_routing_table
    from services.dispatch.domain.taxonomy import load_taxonomy
    from services.dispatch.domain.units import load_unit_registry

    taxonomy = load_taxonomy()
    clf = LinearClassifier(taxonomy, load_linear_model(), load_gazetteer().without_places)
    rules = load_routing_table(2).rules
    registry = load_unit_registry()

    def infer(text: str, address: str, unit: str) -> dict[str, str] | None:
        known = registry.units.get(unit)
        territorial = known is not None and known.is_territorial
        allowed = {sub for sub, r in rules.items()
                   if (r.territorial if territorial else r.unit == unit)}
        if not allowed:
            return None
        c = clf.classify(text, address=address)
        what = clf.blank_places(text.replace(address, " ") if address else text)
        scores = dict(clf.model.subcategory.probabilities(clf.model.vector(what)))
        best = max(sorted(allowed), key=lambda s: scores.get(s, 0.0))
        return {"text": text, "address": address, "category": taxonomy.category_of(best),
                "subcategory": best, "type": c.request_type, "urgency": c.urgency}

    return infer
