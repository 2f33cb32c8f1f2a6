"""Which of analytics' stored events become public events: a published monthly report gives
one RectificationFlagged per flagged unit, keyed by the subject "unit:<code>:<YYYY-MM>"."""

from __future__ import annotations

from collections.abc import Callable

from minsheng.v1 import analytics_events_pb2

from backbone.relay import Outgoing, Publication
from services.analytics.application.reports import subject_id


def translate_for(lifecycle_topic: str) -> Callable[[Publication], list[Outgoing]]:
    def translate(pub: Publication) -> list[Outgoing]:
        if type(pub.event).__qualname__ != "MonthlyReport.Published":
            return []
        out = []
        for n, flag in enumerate(pub.event.report.get("rectification", []), start=1):
            subject = subject_id(flag["unit"], flag["month"])
            payload = analytics_events_pb2.RectificationFlagged(
                unit=flag["unit"], unit_kind=flag["kind"], month=flag["month"],
                previous_month=flag["previous_month"], reason=flag["reason"])
            env = pub.envelope(payload, n=n, ticket_id=subject, ticket_code=subject)
            out.append(Outgoing(lifecycle_topic, subject, env))
        return out

    return translate
