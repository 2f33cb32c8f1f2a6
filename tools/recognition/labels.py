"""Dispatchers' corrections as labelled data for the next training.

Every classification a dispatcher gives (confirm or reclassify, `POST .../classify`) is kept
in dispatch's read model, table `<schema>.classification_labels` (masked text and address,
category, subcategory, request type, urgency, who, when). This writes them, newest label per
text, to `services/dispatch/data/dispatcher_labels.jsonl`, which `train` adds to the train
part. Masked text only: no personal data leaves the read model.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.recognition.train import CORRECTIONS_PATH


def export_labels(dsn: str, schema: str = "dispatch", path: Path = CORRECTIONS_PATH) -> int:
    import psycopg
    from psycopg import sql

    query = sql.SQL("SELECT text_masked, address_masked, category, subcategory, request_type,"
                    " urgency FROM {}.classification_labels ORDER BY id").format(
                        sql.Identifier(schema))
    newest: dict[str, dict[str, str]] = {}
    with psycopg.connect(dsn) as conn:
        for text, address, category, sub, kind, urgency in conn.execute(query):
            newest[text] = {"text": text, "address": address or "", "category": category,
                            "subcategory": sub, "type": kind, "urgency": urgency}
    with path.open("w", encoding="utf-8") as f:
        for r in newest.values():
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(newest)
