"""Hot terms and themes name what a matter is, not where: the city's place names come from
dispatch's gazetteer (and the operators' landmark file), are whole words of the tokenizer and
never terms (found on the running platform: the rising terms held 东城, 新华, 中市, 太和县, and
jieba's pieces of 颍东区 and 向阳路: 东区, 阳路)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.analytics.adapters.registry import Names, load_place_names
from services.analytics.application.hot_topics import HotTopics
from services.analytics.domain.facts import Fact
from services.analytics.domain.hot_topics import TicketText, hot_themes, rising_terms
from services.analytics.domain.text import hot_topic_segmenter
from tests.unit.analytics.simulation import SH

MONDAY = datetime(2024, 3, 4, tzinfo=SH)
LEAKED = {"颍东区", "颍东", "东区", "向阳路", "向阳", "阳路", "东城街道", "东城", "新华", "新华路",
          "中市", "中市街道", "太和县", "太和", "凤凰嘉园", "凤凰", "嘉园"}
SUBJECTS = {"下水道", "污水", "路灯", "垃圾"}
TEXTS = [
    "颍东区向阳路下水道堵塞，污水漫到路面，气味很大",
    "东城街道人民路的下水道堵了三天，污水横流",
    "新华路边的路灯坏了一个月，晚上一片漆黑，下水道也冒污水",
    "中市街道这边垃圾没人清运，下水道堵塞，污水到处流",
    "太和县城关镇路灯不亮，垃圾堆在路边，下水道返臭",
    "我住在临泉县凤凰嘉园，小区门口下水道堵塞，污水外溢",
]


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory):
    # an operator's landmark file (MINSHENG_DISPATCH_PLACES_EXTRA): the city's own estates
    extra = tmp_path_factory.mktemp("places") / "extra.json"
    extra.write_text(json.dumps({"landmarks": [
        {"name": "凤凰嘉园", "county": "linquan", "kind": "estate"}]}, ensure_ascii=False),
        encoding="utf-8")
    return hot_topic_segmenter(load_place_names(extra=str(extra)))


def _docs(n: int, start: datetime, prefix: str, texts: list[str]) -> list[TicketText]:
    return [TicketText(f"{prefix}{i:03d}", texts[i % len(texts)], start + timedelta(hours=i),
                       "排水与内涝", "颍东区") for i in range(n)]


def test_place_names_are_no_terms_and_subjects_are(segmenter) -> None:
    terms = {t for text in TEXTS for t in segmenter.terms(text)}
    assert not terms & LEAKED, sorted(terms & LEAKED)
    assert terms >= SUBJECTS, sorted(SUBJECTS - terms)


def test_rising_terms_and_themes_hold_no_place(segmenter) -> None:
    now = _docs(72, MONDAY + timedelta(weeks=1), "N", TEXTS)
    before = _docs(3, MONDAY, "B", ["颍州区文峰街道一切正常，谢谢。"])
    rising = {r["term"] for r in rising_terms(now, [before], segmenter=segmenter)}
    assert {"下水道", "污水"} <= rising and not rising & LEAKED, sorted(rising)
    words = {w for t in hot_themes(now, segmenter=segmenter) for w in t.terms}
    assert {"下水道", "污水"} <= words and not words & LEAKED, sorted(words)


def test_the_service_overview_uses_one_segmenter_with_the_places(segmenter) -> None:
    """HotTopics gives its segmenter to every query: themes, rising terms, aspects."""
    start = MONDAY + timedelta(weeks=1)
    docs = _docs(3, MONDAY, "B", ["颍州区文峰街道一切正常，谢谢。"]) + _docs(72, start, "N", TEXTS)
    facts = [[Fact(f"e-{d.ticket_id}", d.ticket_id, "submitted", d.at,
                   {"text": d.text, "county": "yingdong", "channel": "web"})] for d in docs]
    hot = HotTopics(lambda lo, hi: facts, Names(), segmenter)
    body = hot.overview(start, start + timedelta(weeks=1))
    rising = {r["term"] for r in body["rising"]}
    words = {w for t in body["themes"] for w in t["terms"]}
    assert {"下水道", "污水"} <= rising & words
    assert not (rising | words) & LEAKED, sorted((rising | words) & LEAKED)


def test_the_place_names_are_dispatchs() -> None:
    """Read where they live: the gazetteer's counties, towns, sub-districts and roads."""
    names = load_place_names()
    assert {"颍东区", "太和县", "东城街道", "中市街道", "中市", "新华", "向阳路"} <= names


def test_a_configured_landmark_file_that_is_missing_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_place_names(extra=str(tmp_path / "typo.json"))
