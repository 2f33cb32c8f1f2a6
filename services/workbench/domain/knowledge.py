"""The knowledge base (知识库): answers the hotline gives on the spot (policies, office hours,
fees, who does what), each with its source and the date it was last checked."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backbone.clock import CalendarDay
from backbone.text import writable

TOPICS = ("政策", "办事时间", "收费标准", "职责分工", "办事指南")


class KnowledgeEntry(BaseModel):
    """One answer as staff write it; unknown fields refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
    topic: str = Field(min_length=1, max_length=20, description="one of " + "、".join(TOPICS))
    question: str = Field(min_length=2, max_length=200)
    answer: str = Field(min_length=2, max_length=4000)
    source: str = Field(min_length=2, max_length=300, description="文件、网站或单位")
    source_date: CalendarDay = Field(
        description="the source's date, or when it was last checked (YYYY-MM-DD)")
    unit: str = Field(default="", max_length=64, description="the unit that does this, if any")
    keywords: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="before")
    @classmethod
    def _writable_text(cls, data: Any) -> Any:
        return writable(data)  # read out to citizens: no NUL or controls (backbone.text)

    @field_validator("topic")
    @classmethod
    def _known_topic(cls, topic: str) -> str:
        if topic not in TOPICS:
            raise ValueError("topic is one of " + "、".join(TOPICS))
        return topic

    def searchable(self) -> str:
        return " ".join([self.topic, self.question, self.answer, " ".join(self.keywords)])
