"""Reading the dispatch service's data files (taxonomy, units, routing table, labelled set).

Always on call, never at import: a module import must not touch the disk (STYLE.md rule 4).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def read_data_file(name: str) -> str:
    """Text of a file under `services/dispatch/data/`."""
    return resources.files("services.dispatch").joinpath(f"data/{name}").read_text("utf-8")


def load_json(name: str) -> Any:
    return json.loads(read_data_file(name))


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_data_file(name).splitlines() if line.strip()]
