"""Analytics' HTTP API: KPIs, rankings, reports, hot topics (roles: supervisor, dispatcher,
observer, deputy; publishing: supervisor). Published reports are also public (pages.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import HTMLResponse, Response

from backbone import auth
from backbone.clock import Clock
from backbone.http import ClientError, require
from services.analytics.adapters.registry import Names
from services.analytics.application.hot_topics import HotTopics, check_window
from services.analytics.application.reports import Reports, check_month
from services.analytics.domain.facts import Fact
from services.analytics.domain.figures import figures, table
from services.analytics.domain.fold import LiveKpis
from services.analytics.domain.kpis import CITY, DIMENSIONS
from services.analytics.domain.periods import PeriodKind, city_tz, period_bounds, period_of_date
from services.analytics.domain.report_render import render_csv, render_html
from services.analytics.domain.ticket_map import map_cells

ReaderDep = Annotated[auth.Principal, require("supervisor", "dispatcher", "observer", "deputy")]
SupervisorDep = Annotated[auth.Principal, require("supervisor")]

PERIOD_FORMS = {"day": re.compile(r"^\d{4}-\d{2}-\d{2}$"), "week": re.compile(r"^\d{4}-W\d{2}$"),
                "month": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")}
MAX_POINTS = 400


def check_period(kind: str, at: str) -> None:
    if kind not in PERIOD_FORMS:
        raise ClientError(f"period must be day, week or month, not {kind!r}")
    example = {"day": "2024-03-05", "week": "2024-W10", "month": "2024-03"}[kind]
    if not at:
        raise ClientError(f"say which {kind}: at={example}")
    if not PERIOD_FORMS[kind].match(at):
        raise ClientError(f"a {kind} is written like {example}, not {at!r}")
    try:  # in the calendar: no 2026-02-30, 2026-W00, 2026-W54 or year 0; its end too
        period_bounds(kind, at)
    except (ValueError, OverflowError):
        raise ClientError(f"there is no {kind} {at!r} in the calendar") from None


def check_dimension(dimension: str) -> None:
    if dimension not in DIMENSIONS:
        raise ClientError(f"dimension must be one of {', '.join(DIMENSIONS)}, not {dimension!r}")


def periods_between(kind: str, start: date, end: date) -> list[str]:
    """Names of the periods of `kind` touching [start, end], in order."""
    if end < start:
        raise ClientError("to must not be before from")
    names: list[str] = []
    day = start
    while day <= end:
        name = period_of_date(day, PeriodKind(kind))
        if not names or names[-1] != name:
            names.append(name)
            if len(names) > MAX_POINTS:
                raise ClientError(f"at most {MAX_POINTS} points per trend")
        if day == date.max:
            break
        day += timedelta(days=1)
    for name in (names[0], names[-1]):  # the periods' bounds (a week of 0001, ...)
        check_period(kind, name)
    return names


class CsvResponse(Response):
    """A CSV file (its routes' OpenAPI says text/csv, not the JSON FastAPI assumes)."""

    media_type = "text/csv"


def csv_response(text: str, month: str) -> Response:
    return CsvResponse("\ufeff" + text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="minsheng-ranking-{month}.csv"'})


def surge_view(row: dict[str, Any], names: Names) -> dict[str, Any]:
    start, end = row["window_start"], row["window_end"]
    return {"subject": row["subject"], "county": row["county"],
            "county_name": names.county(row["county"]), "subcategory": row["subcategory"],
            "subcategory_name": names.category(row["subcategory"]),
            "window_start": start.astimezone(city_tz()).isoformat(),
            "window_end": end.astimezone(city_tz()).isoformat(),
            "window_minutes": round((end - start).total_seconds() / 60),
            "count": row["count"], "baseline": row["baseline"], "threshold": row["threshold"],
            "detected_at": row["detected_at"].astimezone(city_tz()).isoformat(),
            "tickets": row["ticket_codes"]}


def router(*, live: LiveKpis, reports: Reports, hot: HotTopics, names: Names,
           clock: Clock, window: Callable[[datetime, datetime], list[list[Fact]]],
           basemap: dict[str, Any] | None = None,
           surges: Callable[[int], list[dict[str, Any]]] | None = None) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["analytics"])

    def named(row: dict[str, Any]) -> dict[str, Any]:
        dim, value = row["dimension"], row["value"]
        label = {"unit": names.unit, "county": names.county,
                 "category": names.category}.get(dim, str)(value)
        return {**row, "name": label}

    @api.get("/counts/units")
    def unit_counts(principal: ReaderDep) -> dict[str, Any]:
        """Per unit, all time: tickets assigned to it (received), closed, and rated."""
        totals = {u: {"received": c["assigned"], "closed": c["closed"], "rated": c["rated"]}
                  for u, c in live.month_totals("unit").items()}  # every month, old ones too
        return {"units": [{"unit": u, "name": names.unit(u), **totals[u]}
                          for u in sorted(totals)]}

    @api.get("/kpis")
    def kpis(principal: ReaderDep, dimension: str = "all", period: str = "month",
             at: Annotated[str, Query(description="2024-03-05, 2024-W10 or 2024-03")] = "",
             value: str | None = None) -> dict[str, Any]:
        """KPI figures of every value of a dimension (or one value) in one period."""
        check_dimension(dimension)
        check_period(period, at)
        model = live.model_for(period, at, dimension, value)  # an old period: from the table
        rows = ([figures(model, dimension, value, period, at)] if value
                else table(model, dimension, period, at))
        return {"dimension": dimension, "period": period, "at": at,
                "rows": [named(r.as_dict()) for r in rows]}

    @api.get("/kpis/trend")
    def trend(principal: ReaderDep, start: Annotated[date, Query(alias="from")],
              end: Annotated[date, Query(alias="to")], dimension: str = "all",
              value: str = CITY, period: str = "day") -> dict[str, Any]:
        """One value's figures period by period from `from` to `to` (dates, inclusive)."""
        check_dimension(dimension)
        if period not in PERIOD_FORMS:
            raise ClientError(f"period must be day, week or month, not {period!r}")
        names_ = periods_between(period, start, end)
        models = live.models_for(period, names_, dimension, value)
        points = [figures(models[p], dimension, value, period, p).as_dict() for p in names_]
        return {"dimension": dimension, "value": value, "period": period, "points": points}

    @api.get("/months")
    def months(principal: ReaderDep) -> dict[str, Any]:
        """Months with tickets, and which of them have a published report."""
        found = reports.months_with_data()
        return {"months": [{"month": m, "published": reports.published(m) is not None}
                           for m in found],
                "now": clock.now().astimezone(city_tz()).isoformat()}

    @api.get("/rankings/{month}")
    def ranking(month: str, principal: ReaderDep) -> dict[str, Any]:
        """The month's 亮晒比 report: the published one, or a live preview (published=false)."""
        return reports.report(month)

    @api.post("/rankings/{month}/publish")
    def publish(month: str, principal: SupervisorDep,
                at: Annotated[datetime | None, Body(embed=True)] = None) -> dict[str, Any]:
        """Publish the month's report once (and flag units in the bottom 3 two months running)."""
        check_month(month)
        report, created = reports.publish(month, by=principal.sub,
                                          at=clock.command_time(at, moves_clock=False))
        return {"created": created, "report": report}

    @api.get("/reports/{month}.html", response_class=HTMLResponse)
    def report_page(month: str, principal: ReaderDep) -> HTMLResponse:
        """The month's report as a page (a preview until published)."""
        return HTMLResponse(render_html(reports.report(month)))

    @api.get("/reports/{month}.csv", response_class=CsvResponse)
    def report_csv(month: str, principal: ReaderDep) -> Response:
        """The month's ranking as a CSV file (UTF-8 with BOM, opens in Excel)."""
        return csv_response(render_csv(reports.report(month)), month)

    @api.get("/hot-topics")
    def hot_topics(principal: ReaderDep, start: Annotated[datetime, Query(alias="from")],
                   end: Annotated[datetime, Query(alias="to")], by: str | None = None,
                   min_count: Annotated[int, Query(ge=2, le=1000)] = 10) -> dict[str, Any]:
        """Themes, aspects, recurring problems at one place and rising terms in a window."""
        return hot.overview(start, end, by=by, min_count=min_count)

    @api.get("/hot-topics/special-report")
    def hot_topic_report(principal: ReaderDep, place: str, aspect: str,
                         start: Annotated[datetime, Query(alias="from")],
                         end: Annotated[datetime, Query(alias="to")]) -> dict[str, Any]:
        """热点专报 of one recurring problem: count, daily trend, masked examples, units."""
        return hot.special_report(place=place, aspect=aspect, start=start, end=end)

    @api.get("/map")
    def ticket_map(principal: ReaderDep, start: Annotated[datetime, Query(alias="from")],
                   end: Annotated[datetime, Query(alias="to")]) -> dict[str, Any]:
        """Tickets submitted in a window with a location, counted per ~1 km cell, and the
        base layer to draw them on (the operator's tiles, or the shipped city outline)."""
        check_window(start, end, "a map's window")  # its tickets' facts come from the table
        cells = map_cells(window(start, end), start, end)
        return {"cells": [{**c.as_dict(), "county_name": names.county(c.county)}
                          for c in cells],
                "located": sum(c.count for c in cells), "basemap": basemap or {}}

    @api.get("/surges")
    def surge_alerts(principal: ReaderDep,
                     limit: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
        """突发预警: the latest surge alerts (a county's tickets of one kind far above usual
        in one window), newest first."""
        rows = surges(limit) if surges else []
        return {"alerts": [surge_view(r, names) for r in rows]}

    @api.get("/names")
    def display_names(principal: ReaderDep) -> dict[str, Any]:
        """Display names of unit, county and category codes."""
        return names.as_dict()

    return api
