"""Render a monthly report (from ranking.monthly_report) to a Chinese HTML page and to CSV."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

GROUP_TITLES = {"department": "市直部门", "county": "县（市、区）"}
CSV_HEADER = ["分组", "排名", "单位", "办理量", "办结量", "办结率", "满意率", "按时答复率",
              "综合得分", "说明"]


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _score(score: float | None) -> str:
    return "—" if score is None else f"{score * 100:.2f}"


def _name(row: dict[str, Any]) -> str:
    return row.get("unit_name") or row["unit"]


def _names(group: dict[str, Any], units: list[str]) -> str:
    by_code = {row["unit"]: _name(row) for row in group["ranking"]}
    return "、".join(by_code.get(u, u) for u in units) or "无"


def render_csv(report: dict[str, Any]) -> str:
    """One row per unit, UTF-8 text; the service adds a BOM so Excel opens it in Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for kind, group in report["groups"].items():
        for row in group["ranking"]:
            writer.writerow([
                GROUP_TITLES[kind], row["rank"] or "", _name(row), row["handled"],
                row["closed"], percent(row["completion_rate"]), percent(row["satisfaction"]),
                percent(row["on_time_rate"]), _score(row["score"]), row["reason"],
            ])
    return out.getvalue()


def render_html(report: dict[str, Any]) -> str:
    month = escape(report["month"])
    city = report["city"]
    w = report["weights"]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="zh-CN"><head><meta charset="utf-8"><title>{month} 诉求办理亮晒比</title>',
        # a phone lays the page out at its own width (without this, 980 px shrunk to fit);
        # a ranking table wider than the screen scrolls inside itself
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no request for /favicon.ico (a 404 in the logs)
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
        ".bottom{color:#b00}@media (max-width:700px){table{display:block;overflow-x:auto}}"
        "</style></head><body>",
        f"<h1>{month} 12345 诉求办理情况通报（亮晒比）</h1>",
        f"<p>全市受理 {city['accepted']} 件，办结 {city['closed']} 件，"
        f"办结率 {percent(city['completion_rate'])}，满意率 {percent(city['satisfaction'])}，"
        f"按时答复率 {percent(city['on_time_rate'])}。</p>",
        f"<p>综合得分 = 办结率×{w['completion_rate']} + 满意率×{w['satisfaction']} + "
        f"按时答复率×{w['on_time_rate']}；办理量少于 {report['min_volume']} 件的单位不参与排名。</p>",
    ]
    for kind, group in report["groups"].items():
        title = GROUP_TITLES[kind]
        parts.append(f"<h2>{title}排名</h2>")
        parts.append(f"<p>前列：{escape(_names(group, group['top']))}；"
                     f'<span class="bottom">后列：{escape(_names(group, group["bottom"]))}'
                     "</span></p>")
        parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in CSV_HEADER[1:])
                     + "</tr>")
        for row in group["ranking"]:
            cls = ' class="bottom"' if row["unit"] in group["bottom"] else ""
            cells = [row["rank"] or "—", _name(row), row["handled"], row["closed"],
                     percent(row["completion_rate"]), percent(row["satisfaction"]),
                     percent(row["on_time_rate"]), _score(row["score"]), row["reason"]]
            parts.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells)
                         + "</tr>")
        parts.append("</table>")
    parts.append("<h2>约谈整改</h2>")
    if report["rectification"]:
        parts.append("<ul>" + "".join(f"<li>{escape(f['reason'])}</li>"
                                      for f in report["rectification"]) + "</ul>")
    else:
        parts.append("<p>本月无连续两月位列后三名的单位。</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
