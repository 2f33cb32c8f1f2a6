from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from services.analytics.domain.figures import figures
from services.analytics.domain.kpis import KpiModel
from services.analytics.domain.ranking import (
    UnknownUnitKindError,
    composite_score,
    monthly_report,
    rank_units,
    rectification_flags,
)
from services.analytics.domain.report_render import render_csv, render_html
from tests.unit.analytics.simulation import COUNTIES, DEPARTMENTS, SH


def plant(model: KpiModel, month: str, unit: str, n: int, quality: float) -> None:
    """n tickets for one unit; the first round(quality*n) are closed, on time and satisfied,
    the rest are replied late and rated dissatisfied (and left open)."""
    year, mon = map(int, month.split("-"))
    at = datetime(year, mon, 3, 10, tzinfo=SH)
    good = round(quality * n)
    for i in range(n):
        tid = f"{month}-{unit}-{i}"
        model.received(tid, at, channel="hotline", county="颍州区", category="城市管理")
        model.accepted(tid, at)
        model.assigned(tid, at, unit=unit)
        model.signed_for(tid, at, unit=unit, elapsed=timedelta(minutes=20))
        ok = i < good
        model.replied(tid, at, unit=unit, on_time=ok, handling_time=timedelta(days=1))
        if ok:
            model.closed(tid, at, unit=unit)
        model.rated(tid, at, unit=unit, rating="satisfied" if ok else "dissatisfied")


def registry() -> dict[str, str]:
    return {**{d: "department" for d in DEPARTMENTS}, **{c: "county" for c in COUNTIES}}


def month_model(month: str, bad_counties: list[str]) -> KpiModel:
    m = KpiModel()
    for i, d in enumerate(DEPARTMENTS):  # quality falls with the list position
        plant(m, month, d, 10 if d == "市自然资源局" else 50, 0.98 - 0.03 * i)
    for i, c in enumerate(COUNTIES):
        plant(m, month, c, 100, 0.5 if c in bad_counties else 0.97 - 0.02 * i)
    return m


def test_ranking_orders_by_documented_score() -> None:
    m = month_model("2024-03", ["阜南县", "颍上县"])
    f = figures(m, "unit", "市城管局", "month", "2024-03")
    assert composite_score(f) == pytest.approx(0.4 * 0.98 + 0.4 * 0.98 + 0.2 * 0.98)
    ranking = rank_units(m, "2024-03", registry())
    ranked = [r.unit for r in ranking["department"] if r.rank is not None]
    assert ranked == DEPARTMENTS[:-1]  # the 10-ticket unit is not ranked
    unranked = ranking["department"][-1]
    assert unranked.unit == "市自然资源局" and "少于 30 件" in unranked.reason
    report = monthly_report(m, "2024-03", registry())
    assert report["groups"]["department"]["top"] == DEPARTMENTS[:5]
    assert report["groups"]["department"]["bottom"] == DEPARTMENTS[10:5:-1]
    assert report["groups"]["county"]["top"] == ["颍州区", "颍东区", "颍泉区"]
    assert set(report["groups"]["county"]["bottom3"]) == {"阜南县", "颍上县", "太和县"}
    assert report["city"]["received"] == 11 * 50 + 10 + 8 * 100


def test_bottom_three_twice_running_is_flagged() -> None:
    feb_model = month_model("2024-02", ["阜南县", "临泉县", "界首市"])
    feb = monthly_report(feb_model, "2024-02", registry())
    mar_model = month_model("2024-03", ["阜南县", "颍上县", "颍东区"])
    mar = monthly_report(mar_model, "2024-03", registry(), last_month_report=feb)
    flags = rectification_flags(mar, feb)
    counties = [f.unit for f in flags if f.kind == "county"]
    assert counties == ["阜南县"]
    # departments keep their order every month, so the same bottom three are flagged
    assert sorted(f.unit for f in flags if f.kind == "department") == sorted(DEPARTMENTS[8:11])
    assert "约谈整改" in flags[0].reason and mar["rectification"][0]["month"] == "2024-03"


def test_report_renders_to_chinese_html_and_csv() -> None:
    feb = monthly_report(month_model("2024-02", ["阜南县"]), "2024-02", registry())
    mar = monthly_report(month_model("2024-03", ["阜南县"]), "2024-03", registry(),
                         last_month_report=feb)
    page = render_html(mar)
    assert "<html lang=\"zh-CN\">" in page and "市直部门排名" in page
    assert "阜南县连续两个月" in page
    # read on phones too: laid out at the phone's width (it was 980 px, shrunk to fit)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    # its own empty icon: no request for /favicon.ico, no 404 in analytics' log
    assert '<link rel="icon" href="data:,">' in page.split("</head>")[0]
    rows = list(csv.reader(io.StringIO(render_csv(mar))))
    assert rows[0][0] == "分组" and len(rows) == 1 + len(registry())
    assert rows[1][1:3] == ["1", "市城管局"]


def test_unknown_unit_kind_is_refused() -> None:
    with pytest.raises(UnknownUnitKindError, match="city department"):
        rank_units(KpiModel(), "2024-03", {"某单位": "school"})


def test_a_unit_published_in_the_top_list_is_not_in_the_bottom_three() -> None:
    # four ranked counties: the top 3 are published as the best; rank 2 and 3 were also in
    # the "bottom 3" that flags 约谈整改, so a county shown among the best two months running
    # was summoned for rectification
    def four_counties(month: str) -> KpiModel:
        m = KpiModel()
        for i, c in enumerate(COUNTIES[:4]):
            plant(m, month, c, 40, 0.95 - 0.05 * i)
        return m
    feb = monthly_report(four_counties("2024-02"), "2024-02", registry())
    mar = monthly_report(four_counties("2024-03"), "2024-03", registry(), last_month_report=feb)
    group = mar["groups"]["county"]
    assert group["top"] == COUNTIES[:3] and group["bottom"] == [COUNTIES[3]]
    assert group["bottom3"] == [COUNTIES[3]]
    assert [f["unit"] for f in mar["rectification"]] == [COUNTIES[3]]
    # departments: six ranked, the top 5 published; only the sixth is in the bottom 3
    m = KpiModel()
    for i, d in enumerate(DEPARTMENTS[:6]):
        plant(m, "2024-03", d, 40, 0.95 - 0.05 * i)
    assert monthly_report(m, "2024-03", registry())["groups"]["department"]["bottom3"] == [
        DEPARTMENTS[5]]
