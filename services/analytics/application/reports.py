"""The monthly 亮晒比 report: preview, publish (once per month), rectification flags.

A published report is a fact of its own: the `MonthlyReport` aggregate stores exactly what
was published (figures cut at that moment; later facts do not rewrite it), and the outbox
relay turns its rectification flags into RectificationFlagged events. Why eventsourcing here
and not for the KPIs: publishing has an invariant (once per month, and the flags follow from
the previous *published* report), and its events must reach Kafka exactly as stored.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from backbone.http import ClientError, ConflictError
from backbone.store import EventContext
from services.analytics.adapters.registry import Names, ranking_groups
from services.analytics.domain.fold import LiveKpis
from services.analytics.domain.periods import month_bounds, previous_month
from services.analytics.domain.ranking import monthly_report

log = logging.getLogger(__name__)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NS = uuid.UUID("9a3c1f0e-5d2b-4e7a-8c61-0f2e3d4c5b6a")


class MonthError(ClientError):
    code = "bad_month"


class MonthNotOverError(ConflictError):
    code = "month_not_over"


def check_month(month: str) -> str:
    if not _MONTH.match(month):
        raise MonthError(f"month must look like 2024-03, not {month!r}")
    try:  # it and the month before (a report compares with it) are in the calendar
        month_bounds(month), month_bounds(previous_month(month))
    except ValueError:
        raise MonthError(f"there is no month {month!r} in the calendar (years 1 to 9999)"
                         ) from None
    return month


def subject_id(unit: str, month: str) -> str:
    """The subject of a rectification flag (in the envelope's ticket_id and the Kafka key)."""
    return f"unit:{unit}:{month}"


class AnalyticsApplication(Application):
    name = "analytics"


class MonthlyReport(Aggregate):
    @staticmethod
    def create_id(month: str) -> uuid.UUID:  # type: ignore[override]
        return uuid.uuid5(_NS, f"monthly-report:{month}")

    @event("Published")
    def __init__(self, *, month: str, report: dict[str, Any], published_by: str,
                 timestamp: datetime) -> None:
        self.month = month
        self.report = report
        self.published_by = published_by


class Reports:
    def __init__(self, *, app: Application, live: LiveKpis, names: Names, min_volume: int,
                 publish_after: timedelta = timedelta(0)):
        self.app = app
        self.live = live
        self.names = names
        self.min_volume = min_volume
        self.publish_after = publish_after

    def published(self, month: str) -> dict[str, Any] | None:
        try:
            aggregate: MonthlyReport = self.app.repository.get(
                MonthlyReport.create_id(check_month(month)))
        except AggregateNotFoundError:
            return None
        return {**aggregate.report, "published": True,
                "published_at": aggregate.created_on.isoformat(),
                "published_by": aggregate.published_by}

    def preview(self, month: str) -> dict[str, Any]:
        """The report as it would be published now (figures as they stand)."""
        check_month(month)
        last = self.published(previous_month(month))
        with self.live.lock:
            units = ranking_groups(self.live.unit_kinds, self.names)
        model = self.live.model_for("month", month)  # an old month: folded from the table
        report = monthly_report(model, month, units, last_month_report=last,
                                min_volume=self.min_volume)
        for group in report["groups"].values():
            for row in group["ranking"]:
                row["unit_name"] = self.names.unit(row["unit"])
        for flag in report["rectification"]:
            flag["unit_name"] = self.names.unit(flag["unit"])
            if flag["reason"].startswith(flag["unit"]):  # say it with the unit's name
                flag["reason"] = flag["unit_name"] + flag["reason"][len(flag["unit"]):]
        report["previous_report_published"] = last is not None
        return {**report, "published": False}

    def report(self, month: str) -> dict[str, Any]:
        return self.published(month) or self.preview(month)

    def publish(self, month: str, *, by: str, at: datetime) -> tuple[dict[str, Any], bool]:
        """Publish once; a second call returns what was published first (and False). A month
        not over at `at` is refused: its figures, ranking and flags would be cut short."""
        existing = self.published(month)
        if existing is not None:
            return existing, False
        _, end = month_bounds(check_month(month))
        if at < end:
            raise MonthNotOverError(
                f"the {month} report can be published once the month is over "
                f"({end.strftime('%Y-%m-%d %H:%M')} in Fuyang); until then it is a preview")
        report = {k: v for k, v in self.preview(month).items() if k != "published"}
        aggregate = MonthlyReport(month=month, report=report, published_by=by, timestamp=at)
        try:
            self.app.save(aggregate, context=EventContext(
                ticket_id=f"report:{month}", actor_role="supervisor", actor_id=by))
        except IntegrityError:  # another replica or request published it meanwhile
            return self.published(month) or report, False
        log.info("published the %s report with %d rectification flag(s)", month,
                 len(report["rectification"]))
        return self.published(month) or report, True

    def months_with_data(self) -> list[str]:
        return self.live.months()  # those out of memory too

    def publish_due(self, now: datetime) -> list[str]:
        """Publish, oldest first, every month whose end (+ the grace) the clock has passed."""
        done = []
        for month in self.months_with_data():
            _, end = month_bounds(month)
            if now < end + self.publish_after or self.published(month) is not None:
                continue
            _, created = self.publish(month, by="auto", at=max(now, end))
            if created:
                done.append(month)
        return done
