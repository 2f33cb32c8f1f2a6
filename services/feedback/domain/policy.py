"""Feedback policy figures, kept as data in `services/feedback/data/` and loaded on demand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def load_data_file(name: str, data_dir: Path | None = None) -> Any:
    """Read one JSON data file of the feedback service (never at import time)."""
    path = (data_dir or DATA_DIR) / name
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True)
class FeedbackPolicy:
    rating_window_days: int = 7
    max_reopens: int = 2
    comment_max_chars: int = 500
    remark_max_chars: int = 1000

    def __post_init__(self) -> None:
        if self.rating_window_days < 1:
            raise ValueError("rating_window_days must be at least 1 day")
        if self.max_reopens < 0:
            raise ValueError("max_reopens cannot be negative")

    @property
    def rating_window(self) -> timedelta:
        return timedelta(days=self.rating_window_days)


def load_feedback_policy(data_dir: Path | None = None) -> FeedbackPolicy:
    raw = load_data_file("feedback_policy.json", data_dir)
    return FeedbackPolicy(
        rating_window_days=int(raw["rating_window_days"]),
        max_reopens=int(raw["max_reopens"]),
        comment_max_chars=int(raw["comment_max_chars"]),
        remark_max_chars=int(raw["remark_max_chars"]),
    )
