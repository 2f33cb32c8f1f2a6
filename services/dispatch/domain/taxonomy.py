"""Grading and classification (分级分类): the category tree, request types and urgency grades."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.dispatch.domain.datafiles import load_json


class RequestType(StrEnum):
    COMPLAINT = "complaint"  # 投诉
    HELP = "help"  # 求助
    CONSULTATION = "consultation"  # 咨询
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬
    REPORT = "report"  # 举报


class Urgency(StrEnum):
    URGENT = "urgent"  # 紧急: 2 working days, and the unit should act at once
    SIMPLE = "simple"  # 简易: 2 working days
    GENERAL = "general"  # 一般: 5 working days
    COMPLEX = "complex"  # 复杂: longer, explained to the citizen


class UnknownCategoryError(ValueError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not in the category taxonomy")


@dataclass(frozen=True)
class Taxonomy:
    version: int
    category_names: Mapping[str, str]  # top-level code -> 中文名
    subcategory_names: Mapping[str, str]  # second-level code -> 中文名
    parent_of: Mapping[str, str]  # second-level code -> top-level code
    urgent_keywords: tuple[str, ...]
    working_days: Mapping[str, int | None]  # urgency code -> handling limit
    keywords: Mapping[str, tuple[str, ...]]  # second-level code -> seed words for the classifier
    type_cues: Mapping[
        str, tuple[str, ...]
    ]  # request type -> words that signal it (请问, 建议, 表扬)

    def category_of(self, subcategory: str) -> str:
        try:
            return self.parent_of[subcategory]
        except KeyError:
            raise UnknownCategoryError(f"subcategory {subcategory!r}") from None

    def check(self, category: str, subcategory: str) -> None:
        """Refuse a pair that is not a branch of the tree (e.g. a dispatcher's typo)."""
        if category not in self.category_names:
            raise UnknownCategoryError(f"category {category!r}")
        if self.category_of(subcategory) != category:
            raise UnknownCategoryError(f"subcategory {subcategory!r} under {category!r}")

    def label_zh(self, subcategory: str) -> str:
        return f"{self.category_names[self.category_of(subcategory)]}/{self.subcategory_names[subcategory]}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Taxonomy:
        parent_of, sub_names, keywords = {}, {}, {}
        for cat in data["categories"]:
            for sub in cat["subcategories"]:
                parent_of[sub["code"]] = cat["code"]
                sub_names[sub["code"]] = sub["name_zh"]
                keywords[sub["code"]] = tuple(sub.get("keywords", ()))
        return cls(
            version=int(data["version"]),
            category_names={c["code"]: c["name_zh"] for c in data["categories"]},
            subcategory_names=sub_names,
            parent_of=parent_of,
            urgent_keywords=tuple(data.get("urgent_keywords", ())),
            working_days={g["code"]: g["working_days"] for g in data["urgency_grades"]},
            keywords=keywords,
            type_cues={t["code"]: tuple(t.get("cues", ())) for t in data["request_types"]},
        )


def load_taxonomy() -> Taxonomy:
    return Taxonomy.from_dict(load_json("taxonomy.json"))
