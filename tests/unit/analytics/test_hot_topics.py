from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from services.analytics.domain.hot_topics import (
    TicketText,
    classify_aspect,
    hot_themes,
    hot_themes_by,
    recurring_problems,
    rising_terms,
    special_report,
    weekly_windows,
)
from tests.unit.analytics.simulation import COUNTIES, SH

MONDAY = datetime(2024, 3, 4, tzinfo=SH)  # four ISO weeks: W10..W13
HOT_ESTATE = "锦绣华庭小区"
ESTATES = [HOT_ESTATE, "阳光花园", "清河家园", "金色家园", "翡翠华庭", "幸福小区", "文峰小区",
           "颍河新村", "东方公寓", "泉北小区", "和谐家园", "书香华庭", "兴业小区", "青年公寓",
           "桃源小区"]
ROADS = ["人民路", "清河路", "淮河路", "三清路", "颍州大道", "文峰街", "鼓楼街", "阜阳大道"]
FEE_TEXTS = [
    "{p}物业费今年突然上涨，物业公司没有公示就涨价，业主不认可",
    "{p}物业乱收费，物业费比合同多收了一倍",
    "{p}物业公司催缴物业费态度强硬，收费标准不透明",
    "{p}物业费收费标准没有经过业主大会，涨价不合理",
    "{p}物业收取公摊电费，费用明细不公开，物业费过高",
    "{p}物业费上涨后服务没有改善，业主要求说明收费依据",
    "{p}物业多收物业费，缴费后没有发票",
    "{p}物业公司擅自提高物业费价格，业主强烈不满",
]
PROPERTY_NOISE = [
    "{p}电梯坏了一个月没人修，老人上下楼困难", "{p}楼道灯损坏，晚上出行不安全",
    "{p}保安不在岗，陌生人随意进出，存在安全隐患", "{p}有人飞线充电，消防通道被堵",
    "{p}维修资金使用不公示，账目不清楚", "{p}车位被外来车辆占用，停车难",
    "{p}垃圾清运不及时，异味很大", "{p}绿化带杂草丛生，蚊虫很多",
    "{p}物业管家服务态度差，报修推诿拖延", "{p}物业费收费不合理，希望核查",
]
OTHER_NOISE = [
    ("城市管理", "{r}路灯不亮，晚上很黑"), ("城市管理", "{r}占道经营，摊贩很多"),
    ("交通出行", "{r}公交车班次太少，等车时间长"), ("交通出行", "{r}红绿灯时间设置不合理"),
    ("市场监管", "{r}一家超市销售过期食品"), ("市场监管", "{r}餐馆后厨卫生差"),
    ("环境保护", "{r}附近工地夜间施工噪音扰民"), ("环境保护", "{r}工厂排放废气，气味刺鼻"),
    ("教育", "孩子就近入学被拒，学校说学区已满"), ("劳动社保", "公司拖欠工资三个月未发"),
    ("医疗卫生", "医院挂号难，排队时间太长"), ("劳动社保", "社保转移手续办理太慢"),
]


def noise(rng: random.Random, n: int) -> list[TicketText]:
    docs = []
    for i in range(n):
        at = MONDAY + timedelta(minutes=rng.randrange(28 * 24 * 60))
        if rng.random() < 0.3:
            place = rng.choice(ESTATES)
            text, category = rng.choice(PROPERTY_NOISE).format(p=place), "物业管理"
        else:
            category, template = rng.choice(OTHER_NOISE)
            place = rng.choice(ROADS) if "{r}" in template else None
            text = template.format(r=place or "")
        docs.append(TicketText(f"N{i:04d}", text, at, category, rng.choice(COUNTIES), place,
                               (rng.choice(["市房产局", "市城管局", "颍州区"]),)))
    return docs


def planted(rng: random.Random) -> list[TicketText]:
    week2 = MONDAY + timedelta(weeks=1)
    return [TicketText(f"H{i:03d}", FEE_TEXTS[i % len(FEE_TEXTS)].format(p=HOT_ESTATE),
                       week2 + timedelta(minutes=rng.randrange(7 * 24 * 60)), "物业管理",
                       "颍州区", HOT_ESTATE, ("颍州区", "市房产局"))
            for i in range(40)]


@pytest.fixture(scope="module")
def docs() -> list[TicketText]:
    rng = random.Random(12345)
    return noise(rng, 700) + planted(rng)


def test_planted_hot_spot_is_flagged_with_place_and_aspect(docs) -> None:
    windows = weekly_windows(MONDAY, 4)
    flagged = {i: recurring_problems(docs, lo, hi) for i, (lo, hi) in enumerate(windows)}
    assert [len(flagged[i]) for i in range(4)] == [0, 1, 0, 0]  # noise never flagged
    problem = flagged[1][0]
    assert (problem.place, problem.theme, problem.aspect) == ("颍州区" + HOT_ESTATE, "物业管理", "收费")
    assert {f"H{i:03d}" for i in range(40)} <= set(problem.ticket_ids)
    assert problem.count < 45  # the few noise fee complaints there, not the whole estate


def test_noise_alone_flags_nothing() -> None:
    lone = noise(random.Random(99), 700)
    assert all(not recurring_problems(lone, lo, hi) for lo, hi in weekly_windows(MONDAY, 4))


def test_hot_theme_and_rising_terms_point_at_the_estate(docs) -> None:
    week = [d for d in docs if MONDAY + timedelta(weeks=1) <= d.at < MONDAY + timedelta(weeks=2)]
    before = [d for d in docs if d.at < MONDAY + timedelta(weeks=1)]
    top = hot_themes(week)[0]
    assert "物业费" in top.terms and next(iter(top.by_place)) == "颍州区" + HOT_ESTATE
    assert top.size >= 35
    rising = {r["term"] for r in rising_terms(week, [before])}
    assert {"物业费", "锦绣"} <= rising
    assert "路灯" not in rising


def test_themes_by_week_find_the_spot_only_in_its_week(docs) -> None:
    by_week = hot_themes_by(docs, "week", min_size=20)
    assert [w for w, themes in by_week.items() if any("物业费" in t.terms for t in themes)] \
        == ["2024-W11"]


def test_special_report_has_counts_trend_examples_units(docs) -> None:
    lo, hi = weekly_windows(MONDAY, 4)[1]
    problem = recurring_problems(docs, lo, hi)[0]
    report = special_report(problem, docs, previous_windows=1)
    assert report["count"] == problem.count and "热点专报" in report["title"]
    assert sum(report["trend"]["daily"].values()) == problem.count
    assert report["trend"]["previous_windows"][0]["count"] < 5
    assert len(report["examples"]) == 3 and HOT_ESTATE in report["examples"][0]["text"]
    assert report["units"]["市房产局"] >= 40


def test_one_estate_written_four_ways_is_one_place_and_one_problem() -> None:
    """Citizens name an estate after their county and town, or after "我住在", or alone; the
    place ran back over whatever preceded it (up to 8 characters), so 12 fee complaints at one
    estate in one day were four places of 3 and no recurring problem (found on the running
    platform). A road is a place within its county: 沙河路 of two counties is two places."""
    lead = ["太和县城关镇幸福家园小区", "太和县幸福家园小区", "幸福家园小区", "我住在太和县幸福家园小区"]
    body = ["物业费今年突然上涨，没有公示就涨价", "物业乱收费，比合同多收了一倍",
            "物业公司催缴物业费态度强硬，收费标准不透明"]
    docs = [TicketText(f"E{i:02d}", lead[i % 4] + body[i % 3], MONDAY + timedelta(hours=i),
                       "物业管理", "太和县") for i in range(12)]
    assert {d.where() for d in docs} == {"太和县幸福家园小区"}
    found = recurring_problems(docs, MONDAY, MONDAY + timedelta(days=1))
    assert [(p.place, p.aspect, p.count) for p in found] == [("太和县幸福家园小区", "收费", 12)]
    roads = [TicketText("R1", "太和县城关镇沙河路与第685号支路交叉口路灯不亮", MONDAY, "路灯照明", "太和县"),
             TicketText("R2", "阜南县鹿城镇沙河路路灯不亮", MONDAY, "路灯照明", "阜南县"),
             TicketText("R3", "界首市东城街道人民路上摊贩很多", MONDAY, "占道经营", "界首市"),
             TicketText("R4", "清河街道某小区垃圾三天没有清运", MONDAY, "垃圾清运", "未知")]
    assert [d.where() for d in roads] == ["太和县沙河路", "阜南县沙河路", "界首市人民路", None]


@pytest.mark.parametrize(("text", "aspect"), [
    ("阳光花园物业费涨价不合理", "收费"),
    ("物业管家态度恶劣，报修推诿", "服务质量"),
    ("小区电梯坏了没人修", "公共设施"),
    ("小区保安不在岗，消防通道堵塞", "安全管理"),
    ("小区维修资金账目不公示", "维修资金"),
    ("小区车位被占，停车难", "停车"),
    ("小区垃圾清运不及时，异味大", "环境卫生"),
])
def test_the_seven_aspects(text: str, aspect: str) -> None:
    doc = TicketText("x", text, MONDAY, "物业管理", "颍州区")
    found = classify_aspect(doc)
    assert found is not None and found.aspect == aspect


def test_text_outside_any_theme_has_no_aspect() -> None:
    assert classify_aspect(TicketText("x", "公司拖欠工资", MONDAY, "劳动社保", "颍州区")) is None
