"""Rising terms and theme words name subjects, not the courtesy of a letter (found on the
running platform: the rising terms of every window led with 编号, 街道, 门前, 谢谢, 告知 ...)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.analytics.domain.hot_topics import TicketText, hot_themes, rising_terms
from services.analytics.domain.text import DATA_DIR, load_stopwords
from tests.unit.analytics.simulation import SH

MONDAY = datetime(2024, 3, 4, tzinfo=SH)
FILLER = {"谢谢", "您好", "你好", "编号", "告知", "请问", "麻烦", "你们", "一下", "反映", "问题",
          "答复", "街道", "门前", "交叉口", "支路", "很大", "一周"}
LETTERS = [
    "您好，请问颍州区鼓楼街道人民路与第12号支路交叉口门前下水道堵塞，污水漫到路面，"
    "麻烦你们处理一下，请告知处理结果，谢谢。编号a1b2c3",
    "你好，我反映一个问题：清河街道淮河路门前下水道堵塞好几天了，气味很大，"
    "请尽快答复，谢谢！编号d4e5f6",
    "您好，麻烦问一下，文峰街道三清路交叉口下水道污水漫到人行道上，一周了，"
    "请告知什么时候修，谢谢你们。编号0a9b8c",
]


def _docs(texts: list[str], start: datetime, n: int, prefix: str) -> list[TicketText]:
    return [TicketText(f"{prefix}{i:03d}", texts[i % len(texts)],
                       start + timedelta(hours=i), "排水与内涝", "颍州区") for i in range(n)]


def test_rising_terms_leave_out_courtesy_and_where_words() -> None:
    now = _docs(LETTERS, MONDAY + timedelta(weeks=1), 30, "N")
    before = _docs(["您好，谢谢你们。编号ffffff，请告知。"], MONDAY, 3, "B")
    rising = {r["term"] for r in rising_terms(now, [before])}
    assert "下水道" in rising and "污水" in rising
    assert not rising & FILLER, sorted(rising & FILLER)


def test_theme_words_name_the_subject() -> None:
    themes = hot_themes(_docs(LETTERS, MONDAY, 30, "T"))
    words = {w for t in themes for w in t.terms}
    assert themes and {"下水道", "污水"} & words, [t.terms for t in themes]
    assert not words & FILLER, sorted(words & FILLER)


def test_the_filler_words_are_data_not_code() -> None:
    words = load_stopwords(DATA_DIR / "stopwords.txt")
    assert words >= FILLER
