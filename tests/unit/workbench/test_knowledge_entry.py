"""A knowledge-base entry (知识库) is read out to citizens on the hotline: like every text the
platform takes from people, it holds no control characters or noncharacters (helper-120:
schemathesis stored a topic "\\x08µ" and a question with U+0001 and U+000C through
POST /v1/knowledge; backbone.text is what intake and feedback refuse at the door)."""

import pydantic
import pytest

from services.workbench.domain.knowledge import KnowledgeEntry

GOOD = {"topic": "办事时间", "question": "公积金中心几点上班？",
        "answer": "工作日上午9:00—12:00，\n下午13:30—17:00。", "source": "公积金中心 办事指南",
        "source_date": "2026-09-01"}


@pytest.mark.parametrize("field", ["topic", "question", "answer", "source", "unit"])
@pytest.mark.parametrize("bad", ["\x08", "\x01", "\x0c", "\ufffe", "\x7f", "\x00"])
def test_control_characters_are_refused_in_every_text(field, bad):
    with pytest.raises(pydantic.ValidationError, match=r"U\+00|U\+FFFE"):
        KnowledgeEntry(**{**GOOD, field: f"公积金{bad}中心"})
    with pytest.raises(pydantic.ValidationError):
        KnowledgeEntry(**{**GOOD, "keywords": ["公积金", f"x{bad}"]})


def test_tabs_and_line_breaks_are_text():
    entry = KnowledgeEntry(**GOOD)
    assert "\n" in entry.answer


@pytest.mark.parametrize("day", [0, "0", 1700000000, "0925-01-01", "2026-9-1", "20260901",
                                 "2026-09-01T00:00:00"])
def test_the_source_date_is_a_day_as_people_write_it(day):
    """pydantic alone read `0` as 1970-01-01 and took the year 925 (helper-120's fuzzing)."""
    with pytest.raises(pydantic.ValidationError, match=r"YYYY-MM-DD|not a day"):
        KnowledgeEntry(**{**GOOD, "source_date": day})


def test_the_topic_is_one_of_the_knowledge_base_s_topics():
    with pytest.raises(pydantic.ValidationError, match="topic is one of"):
        KnowledgeEntry(**{**GOOD, "topic": "随便"})
