"""The map's base layer: the operator's tile server if configured, else the city outline
shipped with the platform (works on a closed network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHIPPED_OUTLINE = (Path(__file__).resolve().parents[2] / "intake" / "data"
                   / "fuyang_boundary.json")


def load_basemap(*, tile_url: str, outline_file: str, attribution: str) -> dict[str, Any]:
    """What the dashboard draws under the tickets: {tiles, attribution, outline, bbox}."""
    path = Path(outline_file) if outline_file else SHIPPED_OUTLINE
    shape = json.loads(path.read_text(encoding="utf-8"))
    return {"tiles": tile_url, "attribution": attribution, "name": shape.get("name", ""),
            "bbox": shape["bbox"], "outline": shape["polygon"]}
