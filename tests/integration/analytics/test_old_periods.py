"""Old periods on the real Kafka and PostgreSQL: a service that keeps 3 days, 2 weeks and 1
month of buckets in memory answers every day, week and month of two simulated months, every
dimension, as a rebuild that keeps everything does (the old periods folded from the facts
table on demand), and a late fact into an old day shows in its next answer."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from minsheng.v1 import feedback_events_pb2

from backbone import events
from backbone.kafka import make_producer
from backbone.runtime import serve
from services.analytics.adapters.registry import load_names, ranking_groups
from services.analytics.application.rebuild import fold_envelopes
from services.analytics.bootstrap import build
from services.analytics.domain.figures import figures, table
from services.analytics.domain.kpis import CITY, COUNTERS, DIMENSIONS
from services.analytics.domain.periods import local_date
from services.analytics.domain.ranking import monthly_report
from services.analytics.settings import AnalyticsSettings
from tests import janitor
from tests.integration.analytics.month import SH, month_of, simulate
from tests.integration.analytics.test_analytics_service import Running, eventually, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def old(infra):
    unique = janitor.claim(uuid.uuid4().hex[:8])
    settings = AnalyticsSettings(
        environment="test", topic_prefix=f"to{unique}.", pg_schema=f"analytics_old_{unique}",
        http_port=free_port(), clock="event", ranking_min_volume=10, auto_publish=False,
        fact_grace_s=2.0, analytics_tickets_kept=40, analytics_days_kept=3,
        analytics_weeks_kept=2, analytics_months_kept=1, analytics_old_buckets_cached=256)
    service = await build(settings)
    task = asyncio.create_task(serve(service))
    producer = make_producer(settings)
    await producer.start()
    month = simulate(seed=7, per_unit=8)
    r = Running(settings, service, month, producer)
    await eventually(lambda: service.http.state.kpis is not None, what="the service")
    await r.publish(month.envelopes)
    want = facts_of(r)
    await eventually(lambda: r.kpis.fact_count >= want,
                     what="the month's facts folded")
    yield r
    await producer.stop()
    await r.http.aclose()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, 20)


def facts_of(r: Running) -> int:
    return fold_envelopes(r.sent).facts


def rebuilt(r: Running) -> Any:
    return fold_envelopes(r.sent)  # every fact published, every period kept


def periods(model: Any) -> list[tuple[str, str]]:
    return sorted({tuple(k.rsplit("|", 2)[1:]) for k in model.buckets})


async def kpi_rows(r: Running, kind: str, period: str, dimension: str,
                   value: str | None = None) -> list[dict[str, Any]]:
    params = {"dimension": dimension, "period": kind, "at": period}
    if value is not None:
        params["value"] = value
    body = await r.get("/v1/kpis", **params)
    return [{k: v for k, v in row.items() if k != "name"} for row in body["rows"]]


async def test_every_old_day_week_and_month_equals_a_rebuild(old):
    expected = rebuilt(old)
    kpis = old.kpis
    latest = local_date(kpis.latest)
    assert kpis.first_kept == {"day": (latest - timedelta(days=2)).isoformat(),
                               "week": kpis.first_kept["week"], "month": f"{latest:%Y-%m}"}
    with kpis.lock:  # nothing older in memory
        kept = {tuple(k.rsplit("|", 2)[1:]) for k in kpis.model.buckets}
    assert kept and all(p >= kpis.first_kept[k] for k, p in kept)
    assert len({p for k, p in kept if k == "day"}) <= 3
    old_ones = 0
    for kind, period in periods(expected.kpis.model):
        old_ones += not kpis.in_memory(kind, period)
        for dimension in DIMENSIONS:
            want = [f.as_dict() for f in table(expected.kpis.model, dimension, kind, period)]
            assert await kpi_rows(old, kind, period, dimension) == want, (kind, period, dimension)
    assert old_ones > 60  # the days of February and March, their weeks, both months
    unit = "funan"
    want = figures(expected.kpis.model, "unit", unit, "month", "2024-02").as_dict()
    assert await kpi_rows(old, "month", "2024-02", "unit", unit) == [want]


async def test_trends_counts_months_and_rankings_of_old_periods_equal_a_rebuild(old):
    expected = rebuilt(old).kpis
    days = [(datetime(2024, 2, 20) + timedelta(days=i)).date().isoformat() for i in range(45)]
    for dimension, value in (("all", CITY), ("county", "linquan"), ("unit", "property")):
        body = await old.get("/v1/kpis/trend", period="day", dimension=dimension, value=value,
                             **{"from": days[0], "to": days[-1]})
        assert body["points"] == [figures(expected.model, dimension, value, "day", d).as_dict()
                                  for d in days]
    totals: dict[str, dict[str, int]] = {}
    for key, bucket in expected.model.buckets.items():
        dim, unit, kind, _ = key.split("|")
        if dim == "unit" and kind == "month":
            row = totals.setdefault(unit, dict.fromkeys(COUNTERS, 0))
            for name in COUNTERS:
                row[name] += bucket[name]
    body = await old.get("/v1/counts/units")
    assert {u["unit"]: (u["received"], u["closed"], u["rated"]) for u in body["units"]} == {
        u: (c["assigned"], c["closed"], c["rated"]) for u, c in totals.items()}
    assert [m["month"] for m in (await old.get("/v1/months"))["months"]] == [
        "2024-02", "2024-03", "2024-04"]
    names = load_names(None)
    for month in ("2024-02", "2024-03"):
        preview = await old.get(f"/v1/rankings/{month}")
        want = monthly_report(expected.model, month, ranking_groups(expected.unit_kinds, names),
                              min_volume=10)
        assert preview["city"] == want["city"]
        for kind, group in want["groups"].items():
            got = preview["groups"][kind]
            assert [(r["unit"], r["rank"], r["score"], r["handled"]) for r in got["ranking"]] == [
                (r["unit"], r["rank"], r["score"], r["handled"]) for r in group["ranking"]]
            assert got["bottom3"] == group["bottom3"]


async def test_a_late_fact_into_an_old_day_shows_in_its_next_answer(old):
    ticket = next(t for t in old.month.tickets if month_of(t.at) == "2024-02" and t.closed
                  and t.rating == "satisfied" and t.callback is None)
    day = ticket.at.astimezone(SH).date().isoformat()
    assert not old.kpis.in_memory("day", day)
    before = await kpi_rows(old, "day", day, "unit", ticket.unit)  # folded, then cached
    assert before == await kpi_rows(old, "day", day, "unit", ticket.unit)
    late = events.make_envelope(
        payload=feedback_events_pb2.CallbackRecorded(reached=True, satisfaction="dissatisfied",
                                                     unit=ticket.unit),
        event_id=str(uuid.uuid4()), ticket_id=ticket.id, ticket_code="FYLATE",
        producer="feedback", occurred_at=datetime(2024, 3, 30, tzinfo=UTC))
    await old.publish([late])
    await old.folded(late.event_id)
    with old.kpis.lock:
        assert all(p >= old.kpis.first_kept[k]
                   for k, p in (tuple(k.rsplit("|", 2)[1:]) for k in old.kpis.model.buckets))
    after = await kpi_rows(old, "day", day, "unit", ticket.unit)
    expected = rebuilt(old).kpis.model
    assert after == [figures(expected, "unit", ticket.unit, "day", day).as_dict()]
    assert after != before and after[0]["satisfaction"] == pytest.approx(0.4)
