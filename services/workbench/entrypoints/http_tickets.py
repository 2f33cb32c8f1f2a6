"""The ticket list (filters, search, sort, keyset pages), its export, and one ticket's page."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from psycopg_pool import ConnectionPool

from backbone import auth
from backbone.clock import CalendarDay
from backbone.http import ClientError, NotFoundError
from backbone.privacy import echo
from services.workbench.adapters import readmodel
from services.workbench.adapters.attachments import AttachmentStore
from services.workbench.adapters.upstream import Services, UpstreamError
from services.workbench.application.export import named, to_xlsx
from services.workbench.domain.listing import (
    CHINA,
    MAX_PAGE,
    ListQueryError,
    Order,
    TicketFilter,
)
from services.workbench.entrypoints.deps import ListReaderDep, token_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Text = Annotated[str, Query(max_length=64)]


def ticket_filter(principal: auth.Principal, *, date_from: date | None, date_to: date | None,
                  channel: str, county: str, unit: str, category: str, status: str,
                  overdue: bool | None, rating: str, q: str) -> TicketFilter:
    try:
        f = TicketFilter(date_from=date_from, date_to=date_to, channel=channel, county=county,
                         unit=unit, category=category, status=status, overdue=overdue,
                         rating=rating, q=q).check()
    except ListQueryError as exc:
        raise ClientError(str(exc)) from exc
    return f.scoped_to(principal.unit) if principal.role == "unit" else f


def order_of(sort: str) -> Order:
    try:
        return Order.parse(sort)
    except ListQueryError as exc:
        raise ClientError(str(exc)) from exc


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def timeline(history: dict[str, Any]) -> dict[str, Any]:
    """The ledger's entries as the page shows them: what, when, who, and the entry's hash."""
    if "entries" not in history:
        return history
    return {"verification": history.get("verification"), "entries": [
        {"seq": e["ticket_seq"], "event_type": e["event_type"], "occurred_at": e["occurred_at"],
         "actor": (e.get("envelope") or {}).get("actor"),
         "producer": (e.get("envelope") or {}).get("producer"),
         "payload": e.get("payload"), "entry_hash": e["entry_hash"]}
        for e in history["entries"]]}


# the parts of one ticket's page that other services hold, as the page names them
PARTS = {"timeline": "审计台账", "clocks": "办理时限", "orders": "督办记录",
         "feedback": "回访与评价", "case": "并案信息"}


def unavailable(part: str, exc: UpstreamError) -> dict[str, Any]:
    """What the page shows instead of a part another service could not give: the part's name
    and, for a refusal, its reason; never a host, a status name or an exception."""
    name = PARTS.get(part, part)
    if exc.status >= 500:
        detail = f"{name}暂时无法读取，请稍后再试"
    elif isinstance(exc.detail, str):
        detail = f"{name}无法读取：{exc.detail}"
    else:
        detail = f"{name}无法读取（{exc.status}）"
    return {"unavailable": True, "status": exc.status, "detail": detail}


def router(*, pool: ConnectionPool, schema: str, services: Services,
           attachments: AttachmentStore, export_max_rows: int) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["tickets"])

    def filters(principal: auth.Principal, date_from: CalendarDay | None = None,
                date_to: CalendarDay | None = None, channel: Text = "", county: Text = "",
                unit: Text = "", category: Text = "", status: Text = "",
                overdue: bool | None = None, rating: Text = "",
                q: Annotated[str, Query(max_length=100)] = "") -> TicketFilter:
        return ticket_filter(principal, date_from=date_from, date_to=date_to, channel=channel,
                             county=county, unit=unit, category=category, status=status,
                             overdue=overdue, rating=rating, q=q)

    @api.get("/tickets")
    def list_tickets(principal: ListReaderDep, date_from: CalendarDay | None = None,
                     date_to: CalendarDay | None = None, channel: Text = "", county: Text = "",
                     unit: Text = "", category: Text = "", status: Text = "",
                     overdue: bool | None = None, rating: Text = "",
                     q: Annotated[str, Query(max_length=100)] = "",
                     sort: Text = "-submitted_at",
                     cursor: Annotated[str, Query(max_length=400)] = "",
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50) -> dict[str, Any]:
        """One page of tickets (a unit sees its own); `next_cursor` fetches the next."""
        f = filters(principal, date_from, date_to, channel, county, unit, category, status,
                    overdue, rating, q)
        order = order_of(sort)
        try:
            rows, next_cursor = readmodel.page(pool, schema, f, order, limit=limit,
                                               cursor=cursor)
        except ListQueryError as exc:
            raise ClientError(str(exc)) from exc
        total = readmodel.count(pool, schema, f, cap=10_000) if not cursor else None
        return {"items": [jsonable(r) for r in rows], "next_cursor": next_cursor,
                "total": total, "total_capped_at": 10_000}

    @api.get("/names")
    async def names(request: Request, _: ListReaderDep) -> dict[str, Any]:
        """Chinese names of units and categories, for the page's lists and filters."""
        return await services.names(token=token_of(request))

    @api.get("/tickets.xlsx", response_class=Response)
    async def export(request: Request, principal: ListReaderDep, date_from: CalendarDay | None = None,
               date_to: CalendarDay | None = None, channel: Text = "", county: Text = "",
               unit: Text = "", category: Text = "", status: Text = "",
               overdue: bool | None = None, rating: Text = "",
               q: Annotated[str, Query(max_length=100)] = "",
               sort: Text = "-submitted_at") -> Response:
        """The filtered list as an Excel file with Chinese headers (every row, not one page)."""
        f = filters(principal, date_from, date_to, channel, county, unit, category, status,
                    overdue, rating, q)
        order = order_of(sort)
        total = await run_in_threadpool(readmodel.count, pool, schema, f, export_max_rows + 1)
        if total > export_max_rows:
            raise ClientError(f"筛选结果超过 {export_max_rows} 条，请缩小日期范围后再导出")
        try:
            known = await services.names(token=token_of(request))
        except UpstreamError:  # dispatch unreachable: the sheet shows codes instead of names
            known = {}
        rows = await run_in_threadpool(readmodel.rows_for_export, pool, schema, f, order,
                                       export_max_rows)
        sheet = await run_in_threadpool(to_xlsx, named(rows, known))
        name = f"工单列表-{datetime.now(CHINA):%Y%m%d-%H%M}.xlsx"
        return Response(sheet, media_type=XLSX, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store"})

    @api.get("/tickets/{code}")
    async def ticket_page(code: str, request: Request,
                          principal: ListReaderDep) -> dict[str, Any]:
        """One ticket: its row, timeline (audit ledger), clocks (sla), feedback and case."""
        row = await run_in_threadpool(readmodel.by_code, pool, schema, code.strip().upper())
        if row is None or (principal.role == "unit" and principal.unit not in row["units"]):
            shown = echo(code[:40])  # a phone or a name typed here is not repeated (logs)
            raise NotFoundError(f"没有编号为 {shown} 的工单（或不属于本单位）" if shown[:1] in "'\""
                                else "没有这个编号的工单（或不属于本单位）")
        token = token_of(request)

        async def part(name: str, call: Any) -> Any:
            try:
                return await call
            except UpstreamError as exc:
                return unavailable(name, exc)

        staff = principal.role != "unit"
        calls = {
            "timeline": services.get("audit", f"/v1/tickets/{row['code']}/history",
                                     token=token),
            "clocks": services.get("sla", f"/v1/tickets/{row['ticket_id']}/clocks", token=token),
            "orders": services.get("sla", "/v1/supervision-orders", token=token,
                                   params={"ticket_id": row["ticket_id"]}),
        }
        if staff:
            calls["feedback"] = services.get("feedback", f"/v1/tickets/{row['code']}/feedback",
                                             token=token)
        if row["case_id"] and principal.role in ("dispatcher", "supervisor"):
            calls["case"] = services.get("intake", f"/v1/tickets/{row['code']}/case",
                                         token=token)
        results = dict(zip(calls, await asyncio.gather(*(part(*c) for c in calls.items())),
                           strict=True))
        results["timeline"] = timeline(results["timeline"])
        return {"ticket": jsonable(row), **results}

    @api.get("/tickets/{code}/attachments/{sha256}", response_class=Response)
    def attachment(code: str, sha256: str, principal: ListReaderDep) -> Response:
        """A reply's attachment, to the staff and the units that may see the ticket."""
        if not 12 <= len(sha256) <= 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ClientError("附件引用应为 12 至 64 位小写十六进制")
        row = readmodel.by_code(pool, schema, code.strip().upper())
        if row is None or (principal.role == "unit" and principal.unit not in row["units"]):
            raise NotFoundError("没有这个工单（或不属于本单位）")
        found = attachments.get(row["code"], sha256)
        if found is None:
            raise NotFoundError("没有这个附件")
        name, media_type, content = found
        return Response(content, media_type=media_type, headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"})

    return api
